/* image.c - a model's input from a file's bytes (image.h): images of the
 * common formats at any size, resized to the input; raw float32 tensors
 * and uint8 frames told apart by size. */
#include "image.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "resize.h"

void mc_image_free(mc_image *im)
{
    mc_free(im->px);
    im->px = NULL;
    im->w = im->h = 0;
}

mc_status mc_image_read(const unsigned char *buf, size_t len, const char *origin, mc_image *im)
{
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    im->w = im->h = 0;
    im->px = NULL;
    if (len >= 2 && buf[0] == 'P' && buf[1] == '6') return mc_image_read_ppm(buf, len, origin, im);
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) return mc_image_read_jpeg(buf, len, origin, im);
    if (len >= 8 && !memcmp(buf, png_magic, 8)) return mc_image_read_png(buf, len, origin, im);
    return mc_error_set(MC_ERR_UNSUPPORTED, "%s: not a P6 PPM, JPEG or PNG image", origin);
}

/* An image into the input s: three channels, one frame, any size. */
static mc_status image_to_input(const unsigned char *buf, size_t len, const char *origin, mc_shape s, float *out)
{
    mc_image im;
    mc_status st = mc_image_read(buf, len, origin, &im);
    if (st) return st;
    if (s.ne[0] != 3 || s.ne[3] != 1) {
        char sb[64];
        st = mc_error_set(MC_ERR_SHAPE, "%s: a %dx%d RGB image cannot feed the model's input %s (an image feeds 3 "
                          "channels and one frame)", origin, im.w, im.h, mc_shape_str(&s, sb, sizeof sb));
    } else {
        st = mc_resize(im.px, im.w, im.h, 3, out, s.ne[1], s.ne[2]);
        if (st) { /* name the file in resize's message */
            char why[160];
            snprintf(why, sizeof why, "%s", mc_error_last());
            st = mc_error_set(st, "%s: %s", origin, why);
        }
    }
    mc_image_free(&im);
    return st;
}

mc_status mc_image_decode(const unsigned char *buf, size_t len, const char *origin, mc_shape s, float *out)
{
    size_t n = mc_shape_count(&s);
    mc_status st = image_to_input(buf, len, origin, s, out);
    /* an image, or a raw tensor whose first bytes happen to read as a magic */
    if (st != MC_ERR_UNSUPPORTED && (!st || (len != n * sizeof(float) && len != n))) return st;
    if (len == n * sizeof(float)) {
        memcpy(out, buf, len);
        return MC_OK;
    }
    if (len == n) {
        for (size_t i = 0; i < n; i++) out[i] = buf[i] / 255.0f;
        return MC_OK;
    }
    char sb[64];
    return mc_error_set(MC_ERR_FORMAT,
                        "%s: %zu bytes is neither a %s float32 tensor (%zu bytes), uint8 frame (%zu bytes) nor a "
                        "P6 PPM, JPEG or PNG image", origin, len, mc_shape_str(&s, sb, sizeof sb), n * sizeof(float), n);
}
