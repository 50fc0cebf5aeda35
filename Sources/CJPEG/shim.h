// libjpeg reports fatal errors through error_exit, which must not return:
// these helpers catch them with setjmp, which Swift cannot do itself.
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    unsigned char *pixels; /* width * height * 3, RGB, malloc'd; caller frees */
    int width;
    int height;
    char message[JMSG_LENGTH_MAX];
} ds_jpeg_result;

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
} ds_jpeg_error;

static void ds_jpeg_error_exit(j_common_ptr info) {
    ds_jpeg_error *error = (ds_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

/* Prints nothing. Counts only the warning that the data ran out, so that a
   truncated file (a mere warning to libjpeg) is refused below, while recoverable
   damage such as extraneous bytes is tolerated, as OpenCV tolerates it for Darknet. */
static void ds_jpeg_silence(j_common_ptr info, int level) {
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) info->err->num_warnings++;
}

/* Decodes a JPEG held in memory to 8-bit RGB. Returns 0 on success; 2 when it has more
   than max_pixels pixels (result->width and height say how many), checked from the header
   before anything is decoded; otherwise 1 and result->message says why. */
static inline int ds_jpeg_decode(const unsigned char *bytes, unsigned long size, unsigned long max_pixels,
                                 ds_jpeg_result *result) {
    struct jpeg_decompress_struct info;
    ds_jpeg_error error;
    unsigned char *volatile pixels = NULL;
    result->pixels = NULL;
    result->message[0] = 0;
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = ds_jpeg_error_exit;
    error.base.emit_message = ds_jpeg_silence;
    error.message = result->message;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&info);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, bytes, size);
    jpeg_read_header(&info, TRUE);
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(result->message, JMSG_LENGTH_MAX, "CMYK JPEGs are not supported");
        jpeg_destroy_decompress(&info);
        return 1;
    }
    /* Checked before libjpeg allocates (a progressive file buffers it all). */
    if ((unsigned long long)info.image_width * info.image_height > max_pixels) {
        result->width = (int)info.image_width;
        result->height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return 2;
    }
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * 3;
    pixels = malloc(stride * info.output_height);
    if (!pixels) {
        snprintf(result->message, JMSG_LENGTH_MAX, "out of memory");
        jpeg_destroy_decompress(&info);
        return 1;
    }
    while (info.output_scanline < info.output_height && info.err->num_warnings == 0) {
        JSAMPROW row = pixels + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    /* A truncated file is reported as a warning; treat it as the error it is. */
    if (info.err->num_warnings > 0) {
        (*info.err->format_message)((j_common_ptr)&info, result->message);
        jpeg_destroy_decompress(&info);
        free(pixels);
        return 1;
    }
    jpeg_finish_decompress(&info);
    result->width = (int)info.output_width;
    result->height = (int)info.output_height;
    result->pixels = pixels;
    jpeg_destroy_decompress(&info);
    return 0;
}
