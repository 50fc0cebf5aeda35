#include <chafa.h>

/* GString's text and length, and its release, as functions Swift can call. */
static inline const char *ds_gstring_text(GString *string) { return string->str; }
static inline gsize ds_gstring_length(GString *string) { return string->len; }
static inline void ds_gstring_free(GString *string) { g_string_free(string, TRUE); }
