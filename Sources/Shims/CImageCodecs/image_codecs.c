// PNG through libpng's simplified API, JPEG through libjpeg(-turbo) with an error manager that longjmps back
// instead of calling exit(): a corrupt image in a dataset must be an error the caller reports, not a dead process.
#include "seer_image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

static void set_error(char *error, size_t error_size, const char *message) {
    if (error && error_size > 0) {
        snprintf(error, error_size, "%s", message);
    }
}

int seer_decode_png(const uint8_t *data, size_t size, int channels, uint8_t **pixels, int *width, int *height,
                    char *error, size_t error_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        set_error(error, error_size, image.message);
        png_image_free(&image);
        return -1;
    }
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(image);
    uint8_t *buffer = malloc(bytes);
    if (!buffer) {
        set_error(error, error_size, "out of memory");
        png_image_free(&image);
        return -1;
    }
    // Alpha is composited onto black when dropped. The background must be given: with NULL, libpng composites onto
    // whatever the buffer holds (png.h), here uninitialized memory, so the pixels would change from run to run.
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&image, &black, buffer, 0, NULL)) {
        set_error(error, error_size, image.message);
        free(buffer);
        png_image_free(&image);
        return -1;
    }
    *pixels = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}

struct seer_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void seer_jpeg_error_exit(j_common_ptr info) {
    struct seer_jpeg_error *error = (struct seer_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

static void seer_jpeg_silent(j_common_ptr info, int level) {
    (void)info;
    (void)level;
}

int seer_decode_jpeg(const uint8_t *data, size_t size, int channels, uint8_t **pixels, int *width, int *height,
                     char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    struct seer_jpeg_error jerr;
    uint8_t *volatile buffer = NULL;
    info.err = jpeg_std_error(&jerr.manager);
    jerr.manager.error_exit = seer_jpeg_error_exit;
    jerr.manager.emit_message = seer_jpeg_silent;
    jerr.message[0] = 0;
    if (setjmp(jerr.jump)) {
        set_error(error, error_size, jerr.message[0] ? jerr.message : "invalid JPEG data");
        jpeg_destroy_decompress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    if ((int)info.output_components != channels) {
        set_error(error, error_size, "libjpeg could not convert the image to the requested channels");
        jpeg_destroy_decompress(&info);
        return -1;
    }
    size_t stride = (size_t)info.output_width * (size_t)channels;
    buffer = malloc(stride * info.output_height);
    if (!buffer) {
        set_error(error, error_size, "out of memory");
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = buffer + (size_t)info.output_scanline * stride;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    *pixels = buffer;
    return 0;
}

void seer_image_free(uint8_t *pixels) { free(pixels); }
