/* wire.c - float32, float16 and int8 tensors on the wire (see wire.h).
 *
 * Why portable bit code and not _Float16 or F16C intrinsics: the same file
 * builds for x86-64 (with or without F16C), aarch64 and the sanitizer
 * builds, and gives bit-identical results everywhere.  Each conversion
 * computes its cases (normal, subnormal, inf/NaN) without branches and
 * selects one, so GCC and Clang vectorise the loops; bench/bench_wire.py
 * measures them per MB.
 *
 * Byte order: the artifact's float32 tensors are little-endian on the wire
 * and so are ours; the hosts we build for are little-endian (checked below).
 */
#include "wire.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "wire.c assumes a little-endian host (the wire is little-endian)"
#endif

static const char *const wire_names[MC_WIRE_COUNT] = {"f32", "f16", "int8"};
_Static_assert(sizeof wire_names / sizeof wire_names[0] == MC_WIRE_COUNT, "a name per encoding");

/* Below this max|x| an int8 message is all zeros (s = 0): 127 / max|x| must
 * stay a finite float, and s = max|x| / 127 a normal one. */
#define INT8_TINY 0x1p-100f

const char *mc_wire_name(mc_wire w) { return (unsigned)w < MC_WIRE_COUNT ? wire_names[w] : "?"; }

/* The encoding called s, or -1 (no message: a peer's list may hold names we do not know). */
static int wire_find(const char *s, size_t len)
{
    static const struct { const char *name; mc_wire w; } names[] = {
        {"f32", MC_WIRE_F32}, {"float32", MC_WIRE_F32}, {"f16", MC_WIRE_F16},
        {"float16", MC_WIRE_F16}, {"int8", MC_WIRE_INT8}, {"i8", MC_WIRE_INT8},
    };
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && !strncmp(s, names[i].name, len)) return (int)names[i].w;
    return -1;
}

mc_status mc_wire_parse(const char *s, mc_wire *out)
{
    int w = s ? wire_find(s, strlen(s)) : -1;
    if (w < 0) return mc_error_set(MC_ERR_INVALID_ARG, "unknown wire encoding '%s' (f32, f16 or int8)", s ? s : "(null)");
    *out = (mc_wire)w;
    return MC_OK;
}

size_t mc_wire_bytes(mc_wire w, size_t n)
{
    switch (w) {
    case MC_WIRE_F16: return 2 * n;
    case MC_WIRE_INT8: return MC_WIRE_INT8_HEADER + n;
    default: return 4 * n;
    }
}

void mc_wire_mask_str(unsigned mask, char *buf, size_t n)
{
    size_t used = 0;
    if (n) buf[0] = 0;
    for (int w = 0; w < MC_WIRE_COUNT; w++)
        if (mask & (1u << w)) {
            int k = snprintf(buf + used, used < n ? n - used : 0, "%s%s", used ? "," : "", wire_names[w]);
            if (k > 0) used += (size_t)k;
        }
}

unsigned mc_wire_mask_parse(const char *list)
{
    unsigned mask = 0;
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        int w = wire_find(list, len);
        if (w >= 0) mask |= 1u << w;
        list = end ? end + 1 : NULL;
    }
    return mask;
}

static inline uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float32 -> binary16, round to nearest even. */
static inline uint16_t to_half(float f)
{
    const uint32_t x = bits_of(f), sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    /* normal half: rebias the exponent (-112 << 23) and round the 13 bits
     * dropped to nearest even (+0xfff, +1 when the kept last bit is odd);
     * a carry into the exponent is right, up to 65520 -> inf */
    const uint32_t norm = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
    /* |f| < 2^-14: adding 0.5 leaves |f| rounded (nearest even) to a
     * multiple of 2^-24, half's subnormal step, in the low mantissa bits */
    const uint32_t sub = bits_of(float_of(a) + 0.5f) - 0x3f000000u;
    /* >= 65536 or inf: inf; NaN: a quiet NaN with the top payload bits */
    const uint32_t is_nan = 0u - (uint32_t)(a > 0x7f800000u);
    const uint32_t big = 0x7c00u | (is_nan & (0x200u | ((a >> 13) & 0x3ffu)));
    /* blend with masks rather than ?: so that every target if-converts it */
    const uint32_t m_big = 0u - (uint32_t)(a >= 0x47800000u), m_sub = 0u - (uint32_t)(a < 0x38800000u);
    const uint32_t h = (big & m_big) | (sub & m_sub) | (norm & ~(m_big | m_sub));
    return (uint16_t)(h | sign);
}

/* binary16 -> float32 (exact). */
static inline float from_half(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu;
    const uint32_t norm = (em << 13) + 0x38000000u;              /* rebias (+112 << 23) */
    const uint32_t big = (em << 13) | 0x7f800000u;               /* inf, NaN with its payload */
    /* subnormal (and zero): 2^-14 * (1 + m/1024) - 2^-14 = m * 2^-24, exact */
    const uint32_t sub = bits_of(float_of((em << 13) + 0x38800000u) - 0x1p-14f);
    const uint32_t m_big = 0u - (uint32_t)(em >= 0x7c00u), m_sub = 0u - (uint32_t)(em < 0x0400u);
    const uint32_t r = (big & m_big) | (sub & m_sub) | (norm & ~(m_big | m_sub));
    return float_of(r | sign);
}

uint16_t mc_wire_f32_to_f16(float f) { return to_half(f); }
float mc_wire_f16_to_f32(uint16_t h) { return from_half(h); }

static void f16_encode(const float *restrict x, size_t n, unsigned char *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = to_half(x[i]);
        memcpy(out + 2 * i, &h, sizeof h); /* `out` may sit at any offset of a message */
    }
}

static void f16_decode(const unsigned char *restrict in, size_t n, float *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, in + 2 * i, sizeof h); /* `in` points into a message: maybe unaligned */
        out[i] = from_half(h);
    }
}

static mc_status int8_encode(const float *restrict x, size_t n, unsigned char *restrict out)
{
    /* max |x| as the largest bit pattern without the sign (the order of
     * non-negative floats); inf and NaN patterns are above every finite one */
    uint32_t mb = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t a = bits_of(x[i]) & 0x7fffffffu;
        mb = a > mb ? a : mb;
    }
    const float m = float_of(mb);
    if (mb >= 0x7f800000u)
        for (size_t i = 0; i < n; i++)
            if (!(fabsf(x[i]) <= FLT_MAX))
                return mc_error_set(MC_ERR_INVALID_ARG, "int8 encoding: element %zu of %zu is %s; int8 carries finite "
                                    "values only (send f16 or f32)", i, n, isnan(x[i]) ? "NaN" : "infinite");
    const float s = m < INT8_TINY ? 0.0f : m / 127.0f, inv = m < INT8_TINY ? 0.0f : 127.0f / m;
    memcpy(out, &s, sizeof s);
    signed char *restrict q = (signed char *)(out + MC_WIRE_INT8_HEADER);
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        v = v + (v < 0 ? -0.5f : 0.5f); /* truncation below: half away from zero */
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = (signed char)(int)v;
    }
    return MC_OK;
}

static void int8_decode(const unsigned char *restrict in, size_t n, float s, float *restrict out)
{
    const signed char *restrict q = (const signed char *)(in + MC_WIRE_INT8_HEADER);
    for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * s;
}

mc_status mc_wire_encode(mc_wire w, const float *x, size_t n, unsigned char *out)
{
    switch (w) {
    case MC_WIRE_F32:
        if (n) memcpy(out, x, n * sizeof(float));
        return MC_OK;
    case MC_WIRE_F16:
        f16_encode(x, n, out);
        return MC_OK;
    case MC_WIRE_INT8:
        return int8_encode(x, n, out);
    default:
        return mc_error_set(MC_ERR_INVALID_ARG, "wire encoding %d does not exist", (int)w);
    }
}

mc_status mc_wire_decode(mc_wire w, const unsigned char *in, size_t len, float *out, size_t n)
{
    if ((unsigned)w >= MC_WIRE_COUNT) return mc_error_set(MC_ERR_INVALID_ARG, "wire encoding %d does not exist", (int)w);
    const size_t want = mc_wire_bytes(w, n);
    if (len != want)
        return mc_error_set(MC_ERR_SHAPE, "%s tensor of %zu values: %zu bytes, expected %zu%s", wire_names[w], n, len,
                            want, w == MC_WIRE_INT8 ? " (4-byte scale + 1 per value)" : "");
    switch (w) {
    case MC_WIRE_F32:
        if (n) memcpy(out, in, n * sizeof(float));
        return MC_OK;
    case MC_WIRE_F16:
        f16_decode(in, n, out);
        return MC_OK;
    default: {
        float s;
        memcpy(&s, in, sizeof s);
        if (!(s >= 0 && s <= FLT_MAX))
            return mc_error_set(MC_ERR_FORMAT, "int8 tensor of %zu values (%zu bytes): scale %g is not a finite "
                                "number >= 0", n, len, (double)s);
        int8_decode(in, n, s, out);
        return MC_OK;
    }
    }
}
