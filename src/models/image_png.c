/* image_png.c - PNG through libpng (image.h).
 *
 * The classic API rather than the simplified one: the simplified API's
 * 16-bit output is linear light (it undoes the gamma) and its alpha removal
 * composites, while we want the samples as stored.  libpng reports errors
 * with longjmp to png_jmpbuf; the message is kept from our error callback. */
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "../core/alloc.h"

typedef struct png_src {
    const unsigned char *b;
    size_t len, at;
    char msg[160];
} png_src;

static void on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* benign (an odd ancillary chunk); errors are errors */
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (s->len - s->at < n) png_error(png, "truncated data");
    memcpy(out, s->b + s->at, n);
    s->at += n;
}

mc_status mc_image_read_png(const unsigned char *b, size_t len, const char *origin, mc_image *im)
{
    png_src src = {b, len, 0, "unknown error"};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return mc_error_set(MC_ERR_NOMEM, "%s: out of memory for the PNG reader", origin);
    }
    /* volatile: set between setjmp and longjmp */
    float *volatile px = NULL;
    unsigned char *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    volatile int too_big = 0;
    volatile long w = 0, h = 0;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        mc_free(px);
        mc_free(data);
        mc_free(rows);
        if (too_big)
            return mc_error_set(MC_ERR_FORMAT, "%s: PNG is %ldx%ld, over the %ld pixels an input image may have",
                                origin, w, h, MC_IMAGE_MAX_PIXELS);
        return mc_error_set(MC_ERR_FORMAT, "%s: PNG: %s", origin, src.msg);
    }
    png_set_read_fn(png, &src, on_read);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);
    w = (long)png_get_image_width(png, info), h = (long)png_get_image_height(png, info);
    if (w * h > MC_IMAGE_MAX_PIXELS) {
        too_big = 1;
        png_longjmp(png, 1);
    }
    int type = png_get_color_type(png, info);
    png_set_expand(png);                                  /* palette -> RGB, gray 1/2/4 -> 8 */
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int bytes = png_get_bit_depth(png, info) == 16 ? 2 : 1;
    size_t rowbytes = png_get_rowbytes(png, info), stride = (size_t)w * 3;
    if (rowbytes != stride * (size_t)bytes) png_error(png, "unexpected row size after the transforms");
    /* the largest sample: palette entries, and grays of 1, 2 or 4 bits once
     * png_set_expand has scaled them, are 8-bit */
    float maxv = bytes == 2 ? 65535.0f : 255.0f;
    data = mc_alloc(rowbytes * (size_t)h);
    rows = mc_alloc(sizeof(png_bytep) * (size_t)h);
    px = mc_alloc(stride * (size_t)h * sizeof(float));
    if (!data || !rows || !px) png_error(png, "out of memory");
    for (long y = 0; y < h; y++) rows[y] = data + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    for (size_t k = 0; k < stride * (size_t)h; k++)
        px[k] = (bytes == 2 ? (float)((unsigned)data[2 * k] << 8 | data[2 * k + 1]) : (float)data[k]) / maxv;
    png_destroy_read_struct(&png, &info, NULL);
    mc_free(data);
    mc_free(rows);
    im->w = (int)w, im->h = (int)h, im->px = px;
    return MC_OK;
}
