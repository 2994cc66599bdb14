/* check_image.c - the input decoder (models/image*.c) and the resize
 * (models/resize.c): PPM headers with comments wherever whitespace may
 * stand, 8- and 16-bit samples, JPEG and PNG (encoded here by libjpeg and
 * libpng), raw float32 tensors and uint8 frames; images of any size resized
 * to the input (values computed by hand); every refusal names the input and
 * what is wrong; every allocation failure is MC_ERR_NOMEM. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "core/alloc.h"
#include "models/image.h"
#include "models/resize.h"
#include "testutil.h"

/* a 2x2 RGB input (C=3, W=2, H=2) */
static mc_shape shape2(void)
{
    mc_shape s = {{3, 2, 2, 1}};
    return s;
}

static const unsigned char PIX[12] = {0, 51, 102, 153, 204, 255, 1, 2, 3, 250, 128, 64};

typedef struct good_case {
    const char *header; /* the pixel bytes PIX follow */
} good_case;

static const good_case goods[] = {
    {"P6 2 2 255\n"},
    {"P6\n2 2\n255\n"},
    {"P6\n# a comment after the magic\n2 2\n255\n"},
    {"P6 2# a comment right after the width\n2 255\n"},
    {"P6 2 2\n# comment before the maxval\n# and another\n255\n"},
    {"P6\t2\r\n2\t255 "},
    {"P6#x\n2 2 255\r"},
};

START_TEST(ppm_headers_with_comments_and_any_whitespace_decode)
{
    unsigned char buf[256];
    size_t h = strlen(goods[_i].header);
    memcpy(buf, goods[_i].header, h);
    memcpy(buf + h, PIX, sizeof PIX);
    float out[12];
    ck_assert_msg(mc_image_decode(buf, h + sizeof PIX, "good.ppm", shape2(), out) == MC_OK, "%s: %s",
                  goods[_i].header, mc_error_last());
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(out[i], PIX[i] / 255.0f, 1e-7);
}
END_TEST

START_TEST(sixteen_bit_ppm_samples_are_big_endian_over_their_maxval)
{
    unsigned char buf[64];
    size_t h = (size_t)snprintf((char *)buf, sizeof buf, "P6 2 2 1000\n");
    for (int i = 0; i < 12; i++) {
        unsigned v = (unsigned)i * 90; /* 0..990 */
        buf[h + 2 * i] = (unsigned char)(v >> 8);
        buf[h + 2 * i + 1] = (unsigned char)(v & 255);
    }
    float out[12];
    ck_assert_int_eq(mc_image_decode(buf, h + 24, "deep.ppm", shape2(), out), MC_OK);
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(out[i], i * 90 / 1000.0f, 1e-6);
    /* a sample over the maxval is refused, naming it */
    buf[h + 2 * 5] = 0xff;
    ck_assert_int_eq(mc_image_decode(buf, h + 24, "deep.ppm", shape2(), out), MC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "sample 5"));
}
END_TEST

typedef struct bad_case {
    const char *header;
    size_t pixels; /* bytes of PIX after it */
    mc_status st;
    const char *needle; /* in the message, besides the input's name */
} bad_case;

static const bad_case bads[] = {
    {"P6 2 2 255\n", 11, MC_ERR_FORMAT, "truncated: 11 bytes of 12"},
    {"P6 2 2", 0, MC_ERR_FORMAT, "maxval is missing"},
    {"P6 x 2 255\n", 12, MC_ERR_FORMAT, "width is missing"},
    {"P6 2 0 255\n", 12, MC_ERR_FORMAT, "height 0 is out of range"},
    {"P6 2 2 65536\n", 12, MC_ERR_FORMAT, "maxval 65536 is out of range"},
    {"P6 2 2 99999999999\n", 12, MC_ERR_FORMAT, "maxval"},
    {"P6 2 2 255#no whitespace ends it\n", 12, MC_ERR_FORMAT, "no whitespace after the maxval"},
    {"P6 3 2 255\n", 12, MC_ERR_FORMAT, "truncated: 12 bytes of 18"},
    {"P6 5000 5000 255\n", 12, MC_ERR_FORMAT, "PPM is 5000x5000, over the 16777216 pixels"},
    {"P5 2 2 255\n", 12, MC_ERR_FORMAT, "neither"},
    {"", 5, MC_ERR_FORMAT, "5 bytes is neither"},
};

START_TEST(bad_inputs_are_refused_naming_the_input_and_the_fault)
{
    const bad_case *c = &bads[_i];
    unsigned char buf[256];
    size_t h = strlen(c->header);
    memcpy(buf, c->header, h);
    memcpy(buf + h, PIX, c->pixels);
    float out[12];
    ck_assert_int_eq(mc_image_decode(buf, h + c->pixels, "bad.ppm", shape2(), out), c->st);
    ck_assert_msg(strstr(mc_error_last(), "bad.ppm") && strstr(mc_error_last(), c->needle), "case %d: %s", _i,
                  mc_error_last());
}
END_TEST

START_TEST(raw_float32_tensors_and_uint8_frames_are_told_apart_by_size)
{
    float in[12], out[12];
    for (int i = 0; i < 12; i++) in[i] = (float)i - 5.5f;
    memcpy(in, "P6", 2); /* a tensor whose first bytes read "P6" is still a tensor */
    ck_assert_int_eq(mc_image_decode((const unsigned char *)in, sizeof in, "t.f32", shape2(), out), MC_OK);
    ck_assert_int_eq(memcmp(in, out, sizeof in), 0);
    ck_assert_int_eq(mc_image_decode(PIX, sizeof PIX, "f.u8", shape2(), out), MC_OK);
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(out[i], PIX[i] / 255.0f, 1e-7);
}
END_TEST


/* ---- resize: exact values computed by hand (docs/input.md) ---- */

typedef struct resize_case {
    const char *what;
    int sw, sh, c, dw, dh;
    float src[12], want[12];
} resize_case;

static const resize_case resizes[] = {
    {"4->2 area: pairs averaged", 4, 1, 1, 2, 1, {1, 2, 3, 4}, {1.5f, 3.5f}},
    {"3->2 area: the middle cell split in halves", 3, 1, 1, 2, 1, {0, 3, 6}, {1, 5}},
    {"5->2 area: spans of 2.5 cells", 5, 1, 1, 2, 1, {0, 1, 2, 3, 4}, {0.8f, 3.2f}},
    {"2->4 bilinear: positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)", 2, 1, 1, 4, 1, {0, 4}, {0, 1, 3, 4}},
    {"2->3 bilinear: positions -1/6 (clamped), 0.5, 7/6 (clamped)", 2, 1, 1, 3, 1, {0, 4}, {0, 2, 4}},
    {"vertical 2->1 area", 1, 2, 1, 1, 1, {2, 6}, {4}},
    {"shrink W and enlarge H at once", 4, 1, 1, 2, 2, {1, 2, 3, 4}, {1.5f, 3.5f, 1.5f, 3.5f}},
    {"2x2->3x3 bilinear on both axes", 2, 2, 1, 3, 3, {0, 3, 6, 9}, {0, 1.5f, 3, 3, 4.5f, 6, 6, 7.5f, 9}},
    {"same size is a copy", 3, 2, 1, 3, 2, {1, -2, 3, 4, 5.5f, 6}, {1, -2, 3, 4, 5.5f, 6}},
    {"channels do not mix", 2, 1, 3, 1, 1, {1, 2, 3, 5, 6, 7}, {3, 4, 5}},
};

START_TEST(resize_gives_the_hand_computed_values)
{
    const resize_case *r = &resizes[_i];
    float out[12];
    ck_assert_int_eq(mc_resize(r->src, r->sw, r->sh, r->c, out, r->dw, r->dh), MC_OK);
    for (int k = 0; k < r->dw * r->dh * r->c; k++)
        ck_assert_msg(fabsf(out[k] - r->want[k]) <= 1e-6f, "%s: value %d is %g, want %g", r->what, k, out[k],
                      r->want[k]);
}
END_TEST

START_TEST(resize_refuses_empty_sides_and_reports_allocation_failure)
{
    float a[4] = {0}, b[4];
    ck_assert_int_eq(mc_resize(a, 0, 1, 1, b, 1, 1), MC_ERR_INVALID_ARG);
    ck_assert_int_eq(mc_resize(a, 2, 2, 1, b, 1, 0), MC_ERR_INVALID_ARG);
    for (long n = 0; n < 6; n++) {
        mc_alloc_fail_after(n);
        mc_status st = mc_resize(a, 4, 1, 1, b, 3, 1);
        mc_alloc_fail_after(-1);
        ck_assert_msg(st == MC_ERR_NOMEM || st == MC_OK, "fail after %ld: %d", n, st);
        if (n == 0) ck_assert_int_eq(st, MC_ERR_NOMEM);
    }
    ck_assert_uint_eq(mc_alloc_bytes_in_use(), 0);
}
END_TEST

/* A 300x200 PPM (any size) feeds a 224x224 input: constant along x (area
 * averaging of a constant), a ramp along y enlarged bilinearly, whose
 * value at output row o is the ramp at (o + 0.5) * 200/224 - 0.5. */
START_TEST(a_300x200_ppm_is_resized_to_the_input)
{
    int w = 300, h = 200;
    size_t hd = 0, n = (size_t)w * h * 3 * 2 + 64;
    unsigned char *buf = malloc(n);
    hd = (size_t)snprintf((char *)buf, 64, "P6 %d %d 65535\n", w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++) {
            unsigned v = (unsigned)(y * 65535 / 199);
            buf[hd + 2 * ((size_t)y * w * 3 + x)] = (unsigned char)(v >> 8);
            buf[hd + 2 * ((size_t)y * w * 3 + x) + 1] = (unsigned char)(v & 255);
        }
    mc_shape s = {{3, 224, 224, 1}};
    float *out = malloc(sizeof(float) * 224 * 224 * 3);
    ck_assert_msg(mc_image_decode(buf, hd + (size_t)w * h * 6, "wide.ppm", s, out) == MC_OK, "%s", mc_error_last());
    for (int o = 0; o < 224; o++) {
        double y = (o + 0.5) * 200.0 / 224.0 - 0.5;
        if (y < 0) y = 0;
        if (y > 199) y = 199;
        int y0 = (int)y, y1 = y0 + 1 < 200 ? y0 + 1 : y0;
        double f = y - y0;
        double want = (1 - f) * (double)(y0 * 65535 / 199) / 65535.0 + f * (double)(y1 * 65535 / 199) / 65535.0;
        for (int k = 0; k < 224 * 3; k++)
            ck_assert_msg(fabs(out[(size_t)o * 224 * 3 + k] - want) <= 2e-6, "row %d value %d: %g, want %g", o, k,
                          out[(size_t)o * 224 * 3 + k], want);
    }
    free(out);
    free(buf);
}
END_TEST

/* ---- PNG and JPEG, encoded here ---- */

/* An 8-bit (or 16-bit when `deep`) PNG of fmt from libpng's simplified
 * writer; returns a malloc'd buffer. */
static unsigned char *png_encode(int w, int h, png_uint_32 fmt, const void *px, size_t *len)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w, im.height = (png_uint_32)h, im.format = fmt;
    png_alloc_size_t n = 0;
    ck_assert(png_image_write_get_memory_size(im, n, 0, px, 0, NULL));
    unsigned char *b = malloc(n);
    ck_assert(png_image_write_to_memory(&im, b, &n, 0, px, 0, NULL));
    *len = n;
    return b;
}

static const unsigned char RGB23[18] = {0, 10, 20, 30, 40, 50, 255, 128, 1, 7, 77, 177, 99, 0, 250, 12, 34, 56};

START_TEST(png_8_bit_rgb_gray_and_rgba_decode_exactly)
{
    mc_shape s = {{3, 3, 2, 1}}; /* 3 wide, 2 high: the image's own size */
    float out[18];
    size_t len;
    /* RGB */
    unsigned char *b = png_encode(3, 2, PNG_FORMAT_RGB, RGB23, &len);
    ck_assert_msg(mc_image_decode(b, len, "rgb.png", s, out) == MC_OK, "%s", mc_error_last());
    for (int k = 0; k < 18; k++) ck_assert_float_eq_tol(out[k], RGB23[k] / 255.0f, 1e-7);
    free(b);
    /* gray: copied to R, G and B */
    b = png_encode(3, 2, PNG_FORMAT_GRAY, RGB23, &len);
    ck_assert_int_eq(mc_image_decode(b, len, "gray.png", s, out), MC_OK);
    for (int k = 0; k < 18; k++) ck_assert_float_eq_tol(out[k], RGB23[k / 3] / 255.0f, 1e-7);
    free(b);
    /* RGBA: alpha dropped, colour as stored (the simplified writer
     * premultiplies nothing in 8-bit sRGB formats) */
    unsigned char rgba[24];
    for (int p = 0; p < 6; p++) {
        memcpy(rgba + 4 * p, RGB23 + 3 * p, 3);
        rgba[4 * p + 3] = 255;
    }
    b = png_encode(3, 2, PNG_FORMAT_RGBA, rgba, &len);
    ck_assert_int_eq(mc_image_decode(b, len, "rgba.png", s, out), MC_OK);
    for (int k = 0; k < 18; k++) ck_assert_float_eq_tol(out[k], RGB23[k] / 255.0f, 1e-7);
    free(b);
}
END_TEST

START_TEST(png_16_bit_samples_keep_their_precision)
{
    mc_shape s = {{3, 3, 2, 1}};
    png_uint_16 px[18];
    for (int k = 0; k < 18; k++) px[k] = (png_uint_16)(k * 3001 + 7);
    size_t len;
    unsigned char *b = png_encode(3, 2, PNG_FORMAT_LINEAR_RGB, px, &len);
    float out[18];
    ck_assert_msg(mc_image_decode(b, len, "deep.png", s, out) == MC_OK, "%s", mc_error_last());
    for (int k = 0; k < 18; k++) ck_assert_float_eq_tol(out[k], (k * 3001 + 7) / 65535.0f, 1e-7);
    free(b);
}
END_TEST

/* A JPEG of libjpeg's encoder at quality 100 (colour or gray). */
static unsigned char *jpeg_encode(int w, int h, int comps, const unsigned char *px, int progressive, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *b = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &b, &n);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h, c.input_components = comps;
    c.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1; /* 4:4:4, no chroma blur */
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = n;
    return b;
}

/* Flat 8x8 blocks survive JPEG almost exactly (one DC coefficient each):
 * a 16x8 image of two colours decodes within 2/255 of them. */
START_TEST(jpeg_colour_gray_and_progressive_decode_within_two_levels)
{
    static const unsigned char cols[2][3] = {{200, 40, 90}, {16, 128, 235}};
    unsigned char px[16 * 8 * 3], gray[16 * 8];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            memcpy(px + (y * 16 + x) * 3, cols[x / 8], 3);
            gray[y * 16 + x] = x < 8 ? 60 : 180;
        }
    mc_shape s = {{3, 16, 8, 1}};
    float out[16 * 8 * 3];
    for (int prog = 0; prog < 2; prog++) {
        size_t len;
        unsigned char *b = jpeg_encode(16, 8, 3, px, prog, &len);
        ck_assert_msg(mc_image_decode(b, len, "two.jpg", s, out) == MC_OK, "%s", mc_error_last());
        for (int k = 0; k < 16 * 8 * 3; k++)
            ck_assert_msg(fabsf(out[k] - px[k] / 255.0f) <= 2.0f / 255, "progressive %d value %d: %g against %d", prog,
                          k, out[k] * 255, px[k]);
        free(b);
    }
    size_t len;
    unsigned char *b = jpeg_encode(16, 8, 1, gray, 0, &len);
    ck_assert_int_eq(mc_image_decode(b, len, "gray.jpg", s, out), MC_OK);
    for (int k = 0; k < 16 * 8 * 3; k++) ck_assert(fabsf(out[k] - gray[k / 3] / 255.0f) <= 2.0f / 255);
    free(b);
}
END_TEST

/* Broken JPEG and PNG files, and images the input cannot take. */
START_TEST(broken_jpeg_and_png_are_refused_naming_the_file)
{
    unsigned char px[16 * 8 * 3];
    for (size_t k = 0; k < sizeof px; k++) px[k] = (unsigned char)(k * 7);
    size_t jl, pl;
    unsigned char *j = jpeg_encode(16, 8, 3, px, 0, &jl), *p = png_encode(16, 8, PNG_FORMAT_RGB, px, &pl);
    mc_shape s = {{3, 4, 4, 1}};
    float out[48];
    /* truncated */
    ck_assert_int_eq(mc_image_decode(j, jl / 2, "cut.jpg", s, out), MC_ERR_FORMAT);
    ck_assert_msg(strstr(mc_error_last(), "cut.jpg: JPEG: "), "%s", mc_error_last());
    ck_assert_int_eq(mc_image_decode(p, pl - 20, "cut.png", s, out), MC_ERR_FORMAT);
    ck_assert_msg(strstr(mc_error_last(), "cut.png: PNG: "), "%s", mc_error_last());
    /* a flipped byte in the PNG header chunk: its CRC fails */
    p[20] ^= 0x40;
    ck_assert_int_eq(mc_image_decode(p, pl, "crc.png", s, out), MC_ERR_FORMAT);
    ck_assert_msg(strstr(mc_error_last(), "crc.png: PNG: "), "%s", mc_error_last());
    p[20] ^= 0x40;
    /* a JPEG frame header claiming 40000x40000 pixels */
    for (size_t k = 0; k + 8 < jl; k++)
        if (j[k] == 0xff && j[k + 1] == 0xc0) {
            j[k + 5] = 0x9c, j[k + 6] = 0x40, j[k + 7] = 0x9c, j[k + 8] = 0x40;
            break;
        }
    ck_assert_int_eq(mc_image_decode(j, jl, "huge.jpg", s, out), MC_ERR_FORMAT);
    ck_assert_msg(strstr(mc_error_last(), "huge.jpg: JPEG is 40000x40000, over the"), "%s", mc_error_last());
    /* an image cannot feed a clip (C3D) nor a one-channel input */
    mc_shape clip = {{3, 4, 4, 16}}, mono = {{1, 4, 4, 1}};
    float big[48 * 16];
    ck_assert_int_eq(mc_image_decode(p, pl, "still.png", clip, big), MC_ERR_SHAPE);
    ck_assert_msg(strstr(mc_error_last(), "still.png: a 16x8 RGB image cannot feed the model's input 16x4x4x3"), "%s",
                  mc_error_last());
    ck_assert_int_eq(mc_image_decode(p, pl, "still.png", mono, out), MC_ERR_SHAPE);
    free(j);
    free(p);
}
END_TEST

/* Every allocation of every codec failing in turn: MC_ERR_NOMEM (or, for
 * libpng's own allocations, a refusal), never a crash or a leak. */
START_TEST(allocation_failures_in_every_codec_are_reported)
{
    unsigned char px[16 * 8 * 3];
    for (size_t k = 0; k < sizeof px; k++) px[k] = (unsigned char)(k * 5);
    size_t jl, pl;
    unsigned char *j = jpeg_encode(16, 8, 3, px, 0, &jl), *p = png_encode(16, 8, PNG_FORMAT_RGB, px, &pl);
    unsigned char ppm[16 * 8 * 3 + 32];
    size_t hd = (size_t)snprintf((char *)ppm, 32, "P6 16 8 255\n");
    memcpy(ppm + hd, px, sizeof px);
    struct {
        const unsigned char *b;
        size_t len;
        const char *name;
    } ins[] = {{j, jl, "a.jpg"}, {p, pl, "a.png"}, {ppm, hd + sizeof px, "a.ppm"}};
    mc_shape s = {{3, 5, 3, 1}};
    float out[45];
    for (int i = 0; i < 3; i++) {
        int failed = 0;
        for (long n = 0; n < 12; n++) {
            mc_alloc_fail_after(n);
            mc_status st = mc_image_decode(ins[i].b, ins[i].len, ins[i].name, s, out);
            mc_alloc_fail_after(-1);
            ck_assert_msg(st == MC_OK || st == MC_ERR_NOMEM || st == MC_ERR_FORMAT, "%s after %ld: %s", ins[i].name, n,
                          mc_error_last());
            if (st) ck_assert_ptr_nonnull(strstr(mc_error_last(), ins[i].name));
            failed += st != MC_OK;
        }
        ck_assert_msg(failed > 0, "%s: no allocation failure reached", ins[i].name);
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), 0);
    }
    free(j);
    free(p);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *t = tcase_create("decode");
    tcase_add_loop_test(t, ppm_headers_with_comments_and_any_whitespace_decode, 0,
                        (int)(sizeof goods / sizeof goods[0]));
    tcase_add_test(t, sixteen_bit_ppm_samples_are_big_endian_over_their_maxval);
    tcase_add_loop_test(t, bad_inputs_are_refused_naming_the_input_and_the_fault, 0, (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(t, raw_float32_tensors_and_uint8_frames_are_told_apart_by_size);
    tcase_add_test(t, a_300x200_ppm_is_resized_to_the_input);
    tcase_add_test(t, png_8_bit_rgb_gray_and_rgba_decode_exactly);
    tcase_add_test(t, png_16_bit_samples_keep_their_precision);
    tcase_add_test(t, jpeg_colour_gray_and_progressive_decode_within_two_levels);
    tcase_add_test(t, broken_jpeg_and_png_are_refused_naming_the_file);
    tcase_add_test(t, allocation_failures_in_every_codec_are_reported);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("resize");
    tcase_add_loop_test(r, resize_gives_the_hand_computed_values, 0, (int)(sizeof resizes / sizeof resizes[0]));
    tcase_add_test(r, resize_refuses_empty_sides_and_reports_allocation_failure);
    suite_add_tcase(s, r);
    return s;
}

int main(void) { return mc_test_run(image_suite()); }
