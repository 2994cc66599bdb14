/* image_ppm.c - binary PPM (P6) with comments and 16-bit samples (image.h). */
#include "image.h"

#include "../core/alloc.h"

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

mc_status mc_image_read_ppm(const unsigned char *b, size_t len, const char *origin, mc_image *im)
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
    if (w * h > MC_IMAGE_MAX_PIXELS)
        return mc_error_set(MC_ERR_FORMAT, "%s: PPM is %ldx%ld, over the %ld pixels an input image may have", origin, w,
                            h, MC_IMAGE_MAX_PIXELS);
    size_t n = (size_t)(w * h) * 3, bps = maxv > 255 ? 2 : 1;
    if (len - i < n * bps)
        return mc_error_set(MC_ERR_FORMAT, "%s: PPM pixel data is truncated: %zu bytes of %zu", origin, len - i, n * bps);
    const unsigned char *p = b + i;
    float *px = mc_alloc(n * sizeof(float));
    if (!px) return mc_error_set(MC_ERR_NOMEM, "%s: out of memory for a %ldx%ld image", origin, w, h);
    float inv = 1.0f / (float)maxv;
    for (size_t k = 0; k < n; k++) {
        unsigned v = bps == 2 ? (unsigned)p[2 * k] << 8 | p[2 * k + 1] : p[k];
        if (v > (unsigned)maxv) {
            mc_free(px);
            return mc_error_set(MC_ERR_FORMAT, "%s: PPM sample %zu is %u, over the maxval %ld", origin, k, v, maxv);
        }
        px[k] = (float)v * inv;
    }
    im->w = (int)w, im->h = (int)h, im->px = px;
    return MC_OK;
}
