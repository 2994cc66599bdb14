/* image.h - a model's input from the bytes of a file: a binary PPM (P6)
 * image, a float32 tensor or a uint8 frame of the input's shape.
 *
 * One decoder for `predict --input` and `initial --input`, working on a
 * buffer so the fuzz target (tests/fuzz/fuzz_image.c) reaches all of it. */
#ifndef MC_IMAGE_H
#define MC_IMAGE_H

#include <stddef.h>

#include "../core/status.h"
#include "../core/tensor.h"

/* Decodes `len` bytes (named `origin` in messages) into out[count(s)]:
 *  - "P6": a binary PPM of s's width and height with 3 channels; comments
 *    ("#" to the end of the line) may stand wherever the format allows
 *    whitespace in the header; maxval 1..255 (one byte a sample) or
 *    256..65535 (two bytes, most significant first); samples / maxval;
 *  - else, by size: count(s) float32 values (native byte order, as
 *    `predict --output` writes them), or count(s) bytes of a uint8 frame / 255.
 * Anything else is refused with a message naming origin, the sizes or the
 * header field at fault. */
mc_status mc_image_decode(const unsigned char *buf, size_t len, const char *origin, mc_shape s, float *out);

#endif
