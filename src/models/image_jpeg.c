/* image_jpeg.c - JPEG through libjpeg-turbo (image.h).
 *
 * libjpeg reports errors by calling error_exit, which must not return: we
 * keep its message and longjmp back here.  It reports corrupt or truncated
 * data as warnings and goes on (filling the rest with gray); an input with
 * invented pixels is worse than a refusal, so a warning ends the decode too. */
#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>

#include "image.h"
#include "../core/alloc.h"

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr; /* first: libjpeg's err pointer is ours */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void on_error(j_common_ptr cinfo)
{
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->mgr.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) on_error(cinfo); /* a warning: corrupt data */
}

mc_status mc_image_read_jpeg(const unsigned char *b, size_t len, const char *origin, mc_image *im)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    /* volatile: set between setjmp and longjmp */
    float *volatile px = NULL;
    unsigned char *volatile row = NULL;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = on_error;
    fail.mgr.emit_message = on_message;
    fail.msg[0] = 0;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&cinfo);
        mc_free(px);
        mc_free(row);
        return mc_error_set(MC_ERR_FORMAT, "%s: JPEG: %s", origin, fail.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, b, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    long w = (long)cinfo.image_width, h = (long)cinfo.image_height;
    if (w * h > MC_IMAGE_MAX_PIXELS) {
        jpeg_destroy_decompress(&cinfo);
        return mc_error_set(MC_ERR_FORMAT, "%s: JPEG is %ldx%ld, over the %ld pixels an input image may have", origin,
                            w, h, MC_IMAGE_MAX_PIXELS);
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return mc_error_set(MC_ERR_FORMAT, "%s: JPEG is CMYK, which has no RGB conversion here", origin);
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)w * 3;
    px = mc_alloc(stride * (size_t)h * sizeof(float));
    row = mc_alloc(stride);
    if (!px || !row) {
        jpeg_destroy_decompress(&cinfo);
        mc_free(px);
        mc_free(row);
        return mc_error_set(MC_ERR_NOMEM, "%s: out of memory for a %ldx%ld image", origin, w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        for (size_t k = 0; k < stride; k++) px[y * stride + k] = row[k] / 255.0f;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    mc_free(row);
    im->w = (int)w, im->h = (int)h, im->px = px;
    return MC_OK;
}
