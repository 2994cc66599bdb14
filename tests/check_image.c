/* check_image.c - the input decoder (models/image.c): PPM headers with
 * comments wherever whitespace may stand, 8- and 16-bit samples, raw float32
 * tensors and uint8 frames; every refusal names the input and what is wrong. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/image.h"
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
    {"P6 3 2 255\n", 12, MC_ERR_SHAPE, "PPM is 3x2"},
    {"P6 2 3 255\n", 12, MC_ERR_SHAPE, "needs 2x2"},
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

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *t = tcase_create("decode");
    tcase_add_loop_test(t, ppm_headers_with_comments_and_any_whitespace_decode, 0,
                        (int)(sizeof goods / sizeof goods[0]));
    tcase_add_test(t, sixteen_bit_ppm_samples_are_big_endian_over_their_maxval);
    tcase_add_loop_test(t, bad_inputs_are_refused_naming_the_input_and_the_fault, 0, (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(t, raw_float32_tensors_and_uint8_frames_are_told_apart_by_size);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return mc_test_run(image_suite()); }
