/* image.h - a model's input from the bytes of a file: an image (binary PPM,
 * JPEG or PNG) of any size, a float32 tensor or a uint8 frame of the
 * input's shape.
 *
 * One decoder for `predict --input`, `initial --input` and the frames of
 * `initial --video`, working on a buffer so the fuzz target
 * (tests/fuzz/fuzz_image.c) reaches all of it.  Images are resized to the
 * input's width and height by mc_resize (resize.h: area averaging when
 * shrinking, half-pixel bilinear when enlarging; docs/input.md). */
#ifndef MC_IMAGE_H
#define MC_IMAGE_H

#include <stddef.h>

#include "../core/status.h"
#include "../core/tensor.h"

/* The largest image decoded, in pixels (16 Mi: 4096 x 4096); a header
 * claiming more is refused before anything is allocated. */
#define MC_IMAGE_MAX_PIXELS (1L << 24)

/* A decoded image at its own size: h x w x 3 floats in [0, 1] (RGB,
 * row-major, channels innermost), from mc_alloc; free with mc_image_free. */
typedef struct mc_image {
    int w, h;
    float *px;
} mc_image;

void mc_image_free(mc_image *im);

/* Decodes an image of a known format into im, at its own size:
 *  - "P6": binary PPM; comments ("#" to the end of the line) wherever the
 *    format allows whitespace in the header; maxval 1..255 (one byte a
 *    sample) or 256..65535 (two bytes, most significant first); sample / maxval;
 *  - JPEG (FF D8 FF, libjpeg-turbo): baseline or progressive, grayscale or
 *    colour, converted to RGB by libjpeg; sample / 255.  Any warning of
 *    libjpeg (truncated or corrupt data) is a refusal;
 *  - PNG (libpng): any bit depth and colour type; palettes expanded, gray
 *    copied to R, G and B, alpha dropped (not composited); 16-bit samples
 *    / 65535, others / (2^depth - 1).
 * MC_ERR_UNSUPPORTED when the bytes are none of these (so a caller can
 * try something else), MC_ERR_FORMAT with a message naming origin and the
 * fault when they are one of them but broken. */
mc_status mc_image_read(const unsigned char *buf, size_t len, const char *origin, mc_image *im);

/* Decodes `len` bytes (named `origin` in messages) into out[count(s)]:
 *  - an image that mc_image_read reads, resized to s's width and height
 *    (s must have 3 channels and one frame);
 *  - else, by size: count(s) float32 values (native byte order, as
 *    `predict --output` writes them), or count(s) bytes of a uint8 frame / 255.
 * A raw tensor whose first bytes happen to read as an image's magic is
 * still taken by size when it does not decode as that image.  Anything
 * else is refused with a message naming origin, the sizes or the header
 * field at fault. */
mc_status mc_image_decode(const unsigned char *buf, size_t len, const char *origin, mc_shape s, float *out);

/* Image codecs of image_ppm.c, image_jpeg.c and image_png.c, for image.c.
 * Each takes bytes already known to start with its magic. */
mc_status mc_image_read_ppm(const unsigned char *b, size_t len, const char *origin, mc_image *im);
mc_status mc_image_read_jpeg(const unsigned char *b, size_t len, const char *origin, mc_image *im);
mc_status mc_image_read_png(const unsigned char *b, size_t len, const char *origin, mc_image *im);

#endif
