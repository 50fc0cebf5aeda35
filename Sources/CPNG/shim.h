// libpng reports fatal errors by longjmp, which Swift cannot catch:
// this helper does the decoding in C and returns a message instead.
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <png.h>

typedef struct {
    unsigned char *pixels; /* width * height * 3, RGB, malloc'd; caller frees */
    int width;
    int height;
    char message[256];
} ds_png_result;

typedef struct {
    const unsigned char *bytes;
    size_t size;
    size_t offset;
} ds_png_source;

static void ds_png_read(png_structp png, png_bytep out, png_size_t count) {
    ds_png_source *source = (ds_png_source *)png_get_io_ptr(png);
    if (source->size - source->offset < count) png_error(png, "file is truncated");
    memcpy(out, source->bytes + source->offset, count);
    source->offset += count;
}

static void ds_png_error(png_structp png, png_const_charp message) {
    ds_png_result *result = (ds_png_result *)png_get_error_ptr(png);
    snprintf(result->message, sizeof result->message, "%s", message);
    png_longjmp(png, 1);
}

static void ds_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

/* Decodes a PNG held in memory to 8-bit RGB the way OpenCV's imread(IMREAD_COLOR)
   does: palette and gray expanded, 16-bit reduced to its high byte, alpha dropped.
   Returns 0 on success; 2 when it has more than max_pixels pixels (result->width and
   height say how many), checked from the header before anything is decoded; otherwise 1
   and result->message says why. */
static inline int ds_png_decode(const unsigned char *bytes, size_t size, unsigned long max_pixels,
                                ds_png_result *result) {
    ds_png_source source = { bytes, size, 0 };
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    result->pixels = NULL;
    result->message[0] = 0;
    if (size < 8 || png_sig_cmp(bytes, 0, 8)) {
        snprintf(result->message, sizeof result->message, "not a PNG file");
        return 1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, result, ds_png_error, ds_png_warning);
    if (!png) { snprintf(result->message, sizeof result->message, "out of memory"); return 1; }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        if (!result->message[0]) snprintf(result->message, sizeof result->message, "out of memory");
        return 1;
    }
    png_set_read_fn(png, &source, ds_png_read);
    /* Metadata chunks are skipped unread: libpng allocates what their length claims before
       reading them (a 278-byte file whose eXIf claimed 620 MB, found by the fuzzer) and
       inflates compressed text; the Exif orientation is read from the bytes by Swift. */
    static const png_byte skipped[] = "eXIf\0iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, 6);
    png_set_chunk_malloc_max(png, 16 << 20);
    png_set_chunk_cache_max(png, 256);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if ((unsigned long long)width * height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        result->width = (int)width;
        result->height = (int)height;
        return 2;
    }
    int type = png_get_color_type(png, info);
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3) png_error(png, "unsupported PNG colour layout");
    pixels = malloc((size_t)width * height * 3);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = pixels + (size_t)y * width * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    result->width = (int)width;
    result->height = (int)height;
    result->pixels = pixels;
    return 0;
}

/* Writes 8-bit RGB rows as a PNG file. Returns 0 on success; otherwise message says why. */
static inline int ds_png_write(const char *path, const unsigned char *rgb, int width, int height,
                               char *message, size_t message_size) {
    ds_png_result result = { 0 };
    FILE *volatile file = fopen(path, "wb");
    if (!file) { snprintf(message, message_size, "cannot be written (does its folder exist?)"); return 1; }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &result, ds_png_error, ds_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(file);
        snprintf(message, message_size, "%s", result.message[0] ? result.message : "out of memory");
        return 1;
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; ++y) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(file) != 0) { snprintf(message, message_size, "could not be written completely"); return 1; }
    return 0;
}
