/* check_wire.c - tensor encodings on the wire (src/core/wire.h): float16 bit
 * patterns of edge values, every half round trip, a comparison with the
 * compiler's own _Float16 conversion where it has one, round trips of each
 * encoding within its documented bound on tables of tensors (zeros,
 * denormals, infinities, NaN, huge ranges, empty and odd lengths), and
 * truncated or mangled buffers refused with a message naming the sizes. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/wire.h"
#include "testutil.h"

/* ---- float16 bit patterns ---- */

static const struct { float x; uint16_t h; const char *why; } half_cases[] = {
    {0.0f, 0x0000, "zero"},
    {-0.0f, 0x8000, "negative zero keeps its sign"},
    {1.0f, 0x3c00, "one"},
    {-2.0f, 0xc000, "minus two"},
    {65504.0f, 0x7bff, "largest half"},
    {65519.0f, 0x7bff, "below the midpoint to 65536 rounds down"},
    {65520.0f, 0x7c00, "the midpoint rounds to even: inf"},
    {1e10f, 0x7c00, "overflow is inf"},
    {-1e38f, 0xfc00, "negative overflow is -inf"},
    {INFINITY, 0x7c00, "inf"},
    {-INFINITY, 0xfc00, "-inf"},
    {0x1p-14f, 0x0400, "smallest normal"},
    {0x1p-24f, 0x0001, "smallest subnormal"},
    {0x1p-25f, 0x0000, "half the smallest subnormal: tie to even zero"},
    {0x1.8p-25f, 0x0001, "above the tie rounds up"},
    {0x3p-25f, 0x0002, "tie between 1 and 2 steps: even"},
    {1e-40f, 0x0000, "a float denormal is zero"},
    {-1e-40f, 0x8000, "a negative float denormal is -0"},
    {1.0f + 0x1p-11f, 0x3c00, "tie after one: even (down)"},
    {1.0f + 0x3p-11f, 0x3c02, "tie after an odd mantissa: even (up)"},
    {0x1.ff8p-15f, 0x03ff, "largest subnormal"},
    {0x1.ffcp-15f, 0x0400, "tie after the largest subnormal: even, the smallest normal"},
    {3.14159265f, 0x4248, "pi"},
};

START_TEST(float16_bit_patterns_of_edge_values_are_ieee_round_to_nearest_even)
{
    for (size_t i = 0; i < sizeof half_cases / sizeof half_cases[0]; i++) {
        uint16_t h = mc_wire_f32_to_f16(half_cases[i].x);
        ck_assert_msg(h == half_cases[i].h, "%s: %a -> 0x%04x, expected 0x%04x", half_cases[i].why,
                      (double)half_cases[i].x, h, half_cases[i].h);
    }
    uint16_t nan = mc_wire_f32_to_f16(NAN), mnan = mc_wire_f32_to_f16(-NAN);
    ck_assert_msg((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) && !(nan & 0x8000), "NaN -> 0x%04x", nan);
    ck_assert_msg((mnan & 0x7e00) == 0x7e00 && (mnan & 0x8000), "-NaN -> 0x%04x (quiet, signed)", mnan);
    /* a signalling NaN whose payload sits in bits the half drops stays a NaN */
    uint32_t snan_bits = 0x7f800001u;
    float snan;
    memcpy(&snan, &snan_bits, sizeof snan);
    ck_assert(isnan(mc_wire_f16_to_f32(mc_wire_f32_to_f16(snan))));
}
END_TEST

START_TEST(every_half_decodes_exactly_and_encodes_back_to_itself)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = mc_wire_f16_to_f32((uint16_t)h);
        uint16_t back = mc_wire_f32_to_f16(f);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            ck_assert_msg(isnan(f) && (back & 0x3ff) && (back & 0x7c00) == 0x7c00, "NaN 0x%04x", h);
            ck_assert_int_eq(back & 0x8000, h & 0x8000);
            continue;
        }
        ck_assert_msg(back == h, "0x%04x -> %a -> 0x%04x", h, (double)f, back);
    }
    ck_assert(mc_wire_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(mc_wire_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(mc_wire_f16_to_f32(0xfc00) == -INFINITY);
}
END_TEST

START_TEST(float16_agrees_with_the_compilers_own_conversion)
{
#if defined(__FLT16_MAX__)
    for (uint64_t i = 0; i < 300000; i++) { /* random bit patterns: every exponent, both signs */
        uint32_t u = (uint32_t)mc_rng_u64(19, 0, i);
        float f;
        memcpy(&f, &u, sizeof f);
        if (isnan(f)) continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &ref, sizeof rb);
        ck_assert_msg(mc_wire_f32_to_f16(f) == rb, "%a: ours 0x%04x, compiler 0x%04x", (double)f,
                      mc_wire_f32_to_f16(f), rb);
        ck_assert(memcmp(&(float){(float)ref}, &(float){mc_wire_f16_to_f32(rb)}, sizeof(float)) == 0);
    }
#else
    /* no _Float16 in this compiler: the exhaustive round trip above stands */
    ck_assert(mc_wire_f32_to_f16(1.0f) == 0x3c00);
#endif
}
END_TEST

/* ---- round trips of whole tensors, table-driven ---- */

typedef enum fill {
    FILL_ZEROS,       /* +-0 */
    FILL_DENORMALS,   /* float denormals and half subnormals */
    FILL_ACTIVATIONS, /* ReLU-like: zeros and values up to ~50 */
    FILL_HUGE_RANGE,  /* 1e-30 .. 1e30, both signs */
    FILL_WITH_INF,    /* finite values and +-inf */
    FILL_WITH_NAN,    /* finite values and a NaN */
} fill;

static void fill_tensor(fill k, float *x, size_t n, uint64_t stream)
{
    for (size_t i = 0; i < n; i++) {
        double u = 0.5 + 0.5 * mc_rng_uniform(7, stream, i); /* [0, 1) */
        switch (k) {
        case FILL_ZEROS: x[i] = i % 2 ? -0.0f : 0.0f; break;
        case FILL_DENORMALS: x[i] = (float)((u - 0.5) * (i % 3 ? 1e-39 : 1e-6)); break;
        case FILL_ACTIVATIONS: x[i] = u < 0.4 ? 0.0f : (float)(u * 50.0); break;
        case FILL_HUGE_RANGE: x[i] = (float)((i % 2 ? -1 : 1) * pow(10.0, -30.0 + 60.0 * u)); break;
        case FILL_WITH_INF: x[i] = i % 5 == 3 ? (i % 2 ? -INFINITY : INFINITY) : (float)(u - 0.5); break;
        case FILL_WITH_NAN: x[i] = i == n / 2 ? NAN : (float)u; break;
        }
    }
}

static const struct {
    mc_wire w;
    fill k;
    size_t n;
    int refused; /* encoding must fail (int8 with NaN/inf) */
} trips[] = {
    {MC_WIRE_F32, FILL_HUGE_RANGE, 1001, 0}, {MC_WIRE_F32, FILL_WITH_NAN, 7, 0}, {MC_WIRE_F32, FILL_ZEROS, 0, 0},
    {MC_WIRE_F16, FILL_ZEROS, 17, 0},        {MC_WIRE_F16, FILL_DENORMALS, 33, 0}, {MC_WIRE_F16, FILL_ACTIVATIONS, 4099, 0},
    {MC_WIRE_F16, FILL_HUGE_RANGE, 1001, 0}, {MC_WIRE_F16, FILL_WITH_INF, 21, 0},  {MC_WIRE_F16, FILL_WITH_NAN, 9, 0},
    {MC_WIRE_F16, FILL_ZEROS, 0, 0},         {MC_WIRE_F16, FILL_ACTIVATIONS, 1, 0},
    {MC_WIRE_INT8, FILL_ZEROS, 17, 0},       {MC_WIRE_INT8, FILL_DENORMALS, 33, 0}, {MC_WIRE_INT8, FILL_ACTIVATIONS, 4099, 0},
    {MC_WIRE_INT8, FILL_HUGE_RANGE, 1001, 0}, {MC_WIRE_INT8, FILL_WITH_INF, 21, 1}, {MC_WIRE_INT8, FILL_WITH_NAN, 9, 1},
    {MC_WIRE_INT8, FILL_ZEROS, 0, 0},        {MC_WIRE_INT8, FILL_ACTIVATIONS, 3, 0},
};

/* Whether decoded d is within w's documented bound of x (wire.h); m = max|x|. */
static int within_bound(mc_wire w, float x, float d, float m)
{
    if (w == MC_WIRE_F32) return memcmp(&x, &d, sizeof x) == 0;
    if (w == MC_WIRE_F16) {
        if (isnan(x)) return isnan(d) && signbit(x) == signbit(d);
        if (fabsf(x) >= 65520.0f) return isinf(d) && signbit(x) == signbit(d);
        if (x == 0) return d == 0 && signbit(x) == signbit(d);
        return fabs((double)d - x) <= fmax(fabs((double)x) * 0x1p-11, 0x1p-25);
    }
    double bound = m < 0x1p-100f ? m : m / 254.0 * (1 + 1e-6);
    return fabs((double)d - x) <= bound;
}

START_TEST(each_encoding_round_trips_within_its_documented_bound)
{
    for (size_t c = 0; c < sizeof trips / sizeof trips[0]; c++) {
        const size_t n = trips[c].n;
        const mc_wire w = trips[c].w;
        float *x = malloc((n + 1) * sizeof *x), *d = malloc((n + 1) * sizeof *d);
        unsigned char *e = malloc(mc_wire_bytes(w, n) + 1);
        fill_tensor(trips[c].k, x, n, c);
        mc_status st = mc_wire_encode(w, x, n, e);
        if (trips[c].refused) {
            ck_assert_msg(st == MC_ERR_INVALID_ARG, "case %zu: %s of fill %d must be refused", c, mc_wire_name(w),
                          trips[c].k);
            ck_assert_msg(strstr(mc_error_last(), "element") && strstr(mc_error_last(), "int8"), "%s", mc_error_last());
        } else {
            ck_assert_msg(st == MC_OK, "case %zu: %s", c, mc_error_last());
            ck_assert_int_eq(mc_wire_decode(w, e, mc_wire_bytes(w, n), d, n), MC_OK);
            float m = 0;
            for (size_t i = 0; i < n; i++)
                if (fabsf(x[i]) > m) m = fabsf(x[i]);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(within_bound(w, x[i], d[i], m), "case %zu (%s, fill %d): element %zu %a -> %a",
                              c, mc_wire_name(w), trips[c].k, i, (double)x[i], (double)d[i]);
        }
        free(x);
        free(d);
        free(e);
    }
}
END_TEST

START_TEST(encoded_sizes_are_four_two_and_one_byte_per_value)
{
    ck_assert_uint_eq(mc_wire_bytes(MC_WIRE_F32, 1000), 4000);
    ck_assert_uint_eq(mc_wire_bytes(MC_WIRE_F16, 1000), 2000);
    ck_assert_uint_eq(mc_wire_bytes(MC_WIRE_INT8, 1000), 1004);
    ck_assert_uint_eq(mc_wire_bytes(MC_WIRE_INT8, 0), 4);
}
END_TEST

START_TEST(int8_uses_the_whole_range_and_keeps_zero_exact)
{
    const float x[] = {0.0f, 1.0f, -1.0f, 0.5f, -0.25f, 0.0f};
    unsigned char e[4 + 6];
    ck_assert_int_eq(mc_wire_encode(MC_WIRE_INT8, x, 6, e), MC_OK);
    float s;
    memcpy(&s, e, 4);
    ck_assert(fabsf(s - 1.0f / 127.0f) < 1e-9f);
    ck_assert_int_eq((signed char)e[4 + 1], 127);
    ck_assert_int_eq((signed char)e[4 + 2], -127);
    ck_assert_int_eq((signed char)e[4 + 3], 64); /* 63.5 rounds away from zero */
    ck_assert_int_eq((signed char)e[4 + 4], -32);
    float d[6];
    ck_assert_int_eq(mc_wire_decode(MC_WIRE_INT8, e, sizeof e, d, 6), MC_OK);
    ck_assert(d[0] == 0.0f && d[5] == 0.0f && d[1] == 127 * s);
}
END_TEST

/* ---- truncated and mangled buffers ---- */

START_TEST(truncated_or_mangled_buffers_are_refused_naming_the_sizes)
{
    float x[5] = {1, 2, 3, 4, 5}, d[5];
    for (int w = 0; w < MC_WIRE_COUNT; w++) {
        unsigned char e[32];
        size_t len = mc_wire_bytes((mc_wire)w, 5);
        ck_assert_int_eq(mc_wire_encode((mc_wire)w, x, 5, e), MC_OK);
        const size_t bad[] = {0, len - 1, len + 1, 3};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            ck_assert_int_eq(mc_wire_decode((mc_wire)w, e, bad[b], d, 5), MC_ERR_SHAPE);
            char want[64];
            snprintf(want, sizeof want, "%zu bytes, expected %zu", bad[b], len);
            ck_assert_msg(strstr(mc_error_last(), want) && strstr(mc_error_last(), mc_wire_name((mc_wire)w)),
                          "%s", mc_error_last());
        }
    }
    /* an int8 scale that is not a finite number >= 0 */
    const float scales[] = {NAN, INFINITY, -1.0f};
    for (size_t i = 0; i < 3; i++) {
        unsigned char e[4 + 5] = {0};
        memcpy(e, &scales[i], 4);
        ck_assert_int_eq(mc_wire_decode(MC_WIRE_INT8, e, sizeof e, d, 5), MC_ERR_FORMAT);
        ck_assert_msg(strstr(mc_error_last(), "scale") && strstr(mc_error_last(), "9 bytes"), "%s", mc_error_last());
    }
    ck_assert_int_eq(mc_wire_decode((mc_wire)7, (const unsigned char *)"", 0, d, 0), MC_ERR_INVALID_ARG);
}
END_TEST

START_TEST(names_and_announced_sets_parse_and_print)
{
    static const struct { const char *s; int w; } names[] = {
        {"f32", MC_WIRE_F32}, {"float32", MC_WIRE_F32}, {"f16", MC_WIRE_F16}, {"float16", MC_WIRE_F16},
        {"int8", MC_WIRE_INT8}, {"i8", MC_WIRE_INT8}, {"bf16", -1}, {"", -1}, {"F16", -1},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mc_wire w = MC_WIRE_COUNT;
        mc_status st = mc_wire_parse(names[i].s, &w);
        if (names[i].w < 0) {
            ck_assert_int_eq(st, MC_ERR_INVALID_ARG);
            ck_assert_msg(strstr(mc_error_last(), names[i].s), "%s", mc_error_last());
        } else {
            ck_assert_int_eq(st, MC_OK);
            ck_assert_int_eq(w, names[i].w);
        }
    }
    char buf[64];
    mc_wire_mask_str(MC_WIRE_ALL, buf, sizeof buf);
    ck_assert_str_eq(buf, "f32,f16,int8");
    ck_assert_uint_eq(mc_wire_mask_parse(buf), MC_WIRE_ALL);
    ck_assert_uint_eq(mc_wire_mask_parse("f16,bf16,,x"), 1u << MC_WIRE_F16);
    ck_assert_uint_eq(mc_wire_mask_parse(""), 0);
    ck_assert_uint_eq(mc_wire_mask_parse(NULL), 0);
    mc_wire_mask_str(1u << MC_WIRE_INT8, buf, 3); /* truncated, terminated */
    ck_assert_uint_eq(strlen(buf), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, float16_bit_patterns_of_edge_values_are_ieee_round_to_nearest_even);
    tcase_add_test(tc, every_half_decodes_exactly_and_encodes_back_to_itself);
    tcase_add_test(tc, float16_agrees_with_the_compilers_own_conversion);
    tcase_add_test(tc, each_encoding_round_trips_within_its_documented_bound);
    tcase_add_test(tc, encoded_sizes_are_four_two_and_one_byte_per_value);
    tcase_add_test(tc, int8_uses_the_whole_range_and_keeps_zero_exact);
    tcase_add_test(tc, truncated_or_mangled_buffers_are_refused_naming_the_sizes);
    tcase_add_test(tc, names_and_announced_sets_parse_and_print);
    suite_add_tcase(s, tc);
    return mc_test_run(s);
}
