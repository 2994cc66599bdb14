/* image.c - decoding a model's input (image.h): PPM with comments and
 * 16-bit samples, raw float32 tensors and uint8 frames. */
#include "image.h"

#include <string.h>

/* Skips whitespace and comments; returns the new position. */
static size_t skip_space(const unsigned char *b, size_t len, size_t i)
{
    while (i < len) {
        if (b[i] == '#') {
            while (i < len && b[i] != '\n' && b[i] != '\r') i++;
        } else if (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f') {
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* A header number after whitespace/comments: 1..max, at most 9 digits. */
static mc_status header_int(const unsigned char *b, size_t len, size_t *i, long max, const char *origin,
                            const char *field, long *v)
{
    *i = skip_space(b, len, *i);
    long x = 0;
    int digits = 0;
    while (*i < len && b[*i] >= '0' && b[*i] <= '9' && digits < 10) x = x * 10 + (b[(*i)++] - '0'), digits++;
    if (!digits) return mc_error_set(MC_ERR_FORMAT, "%s: PPM header: the %s is missing", origin, field);
    if (digits > 9 || x < 1 || x > max)
        return mc_error_set(MC_ERR_FORMAT, "%s: PPM header: %s %ld is out of range (1..%ld)", origin, field, x, max);
    *v = x;
    return MC_OK;
}

static mc_status decode_ppm(const unsigned char *b, size_t len, const char *origin, mc_shape s, float *out)
{
    size_t i = 2;
    long w, h, maxv;
    mc_status st;
    if ((st = header_int(b, len, &i, 1 << 20, origin, "width", &w)) ||
        (st = header_int(b, len, &i, 1 << 20, origin, "height", &h)) ||
        (st = header_int(b, len, &i, 65535, origin, "maxval", &maxv)))
        return st;
    /* exactly one whitespace character ends the header (a comment may not) */
    if (i >= len || !(b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        return mc_error_set(MC_ERR_FORMAT, "%s: PPM header: no whitespace after the maxval", origin);
    i++;
    if (s.ne[0] != 3 || w != s.ne[1] || h != s.ne[2]) {
        char sb[64];
        return mc_error_set(MC_ERR_SHAPE, "%s: PPM is %ldx%ld (width x height), the model's input is %s (needs %ldx%ld, "
                            "3 channels)", origin, w, h, mc_shape_str(&s, sb, sizeof sb), (long)s.ne[1], (long)s.ne[2]);
    }
    size_t n = mc_shape_count(&s), bps = maxv > 255 ? 2 : 1;
    if (len - i < n * bps)
        return mc_error_set(MC_ERR_FORMAT, "%s: PPM pixel data is truncated: %zu bytes of %zu", origin, len - i, n * bps);
    const unsigned char *p = b + i;
    float inv = 1.0f / (float)maxv;
    for (size_t k = 0; k < n; k++) {
        unsigned v = bps == 2 ? (unsigned)p[2 * k] << 8 | p[2 * k + 1] : p[k];
        if (v > (unsigned)maxv)
            return mc_error_set(MC_ERR_FORMAT, "%s: PPM sample %zu is %u, over the maxval %ld", origin, k, v, maxv);
        out[k] = (float)v * inv;
    }
    return MC_OK;
}

mc_status mc_image_decode(const unsigned char *buf, size_t len, const char *origin, mc_shape s, float *out)
{
    size_t n = mc_shape_count(&s);
    if (len >= 2 && buf[0] == 'P' && buf[1] == '6') {
        mc_status st = decode_ppm(buf, len, origin, s, out);
        /* a raw tensor whose first bytes happen to read "P6" */
        if (!st || (len != n * sizeof(float) && len != n)) return st;
    }
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
                        "P6 PPM image", origin, len, mc_shape_str(&s, sb, sizeof sb), n * sizeof(float), n);
}
