#ifndef SEER_IMAGE_CODECS_H
#define SEER_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// Decodes a PNG or JPEG held in memory into 8-bit pixels, row-major, `channels` interleaved per pixel (1: gray,
/// 3: RGB; colour images are converted to gray and gray ones expanded as needed, alpha is dropped).
///
/// Returns 0 and sets *pixels (free with seer_image_free), *width and *height; on failure returns -1 and writes a
/// message into `error` (at most error_size bytes, NUL-terminated). libjpeg's fatal errors return here through
/// setjmp instead of exiting the process.
int seer_decode_png(const uint8_t *data, size_t size, int channels, uint8_t **pixels, int *width, int *height,
                    char *error, size_t error_size);
int seer_decode_jpeg(const uint8_t *data, size_t size, int channels, uint8_t **pixels, int *width, int *height,
                     char *error, size_t error_size);
void seer_image_free(uint8_t *pixels);

#endif
