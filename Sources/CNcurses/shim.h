// ncursesw with wide characters, plus functions for what ncurses offers only as macros.
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <langinfo.h>
#include <sys/ioctl.h>
#include <ncursesw/curses.h>

static inline attr_t ds_attr_reverse(void) { return A_REVERSE; }
static inline attr_t ds_attr_bold(void) { return A_BOLD; }
static inline attr_t ds_attr_dim(void) { return A_DIM; }
static inline attr_t ds_color_pair(int pair) { return COLOR_PAIR(pair); }
static inline mmask_t ds_mouse_events(void) {
    return BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED;
}
static inline int ds_mouse_is_click(mmask_t state) { return (state & (BUTTON1_PRESSED | BUTTON1_CLICKED)) != 0; }
static inline int ds_mouse_is_wheel_up(mmask_t state) { return (state & BUTTON4_PRESSED) != 0; }
static inline int ds_mouse_is_wheel_down(mmask_t state) { return (state & BUTTON5_PRESSED) != 0; }

/* The terminal's size in cells and pixels (pixels are 0 where the terminal does not say). */
static inline int ds_window_size(int fd, int *rows, int *columns, int *xpixels, int *ypixels) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *rows = size.ws_row; *columns = size.ws_col; *xpixels = size.ws_xpixel; *ypixels = size.ws_ypixel;
    return 0;
}
