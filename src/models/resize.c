/* resize.c - area averaging when shrinking, half-pixel bilinear when
 * enlarging, per axis (resize.h says why). */
#include "resize.h"

#include <math.h>
#include <stdlib.h>

#include "../core/alloc.h"

/* The taps of one axis: output o reads input cells lo[o] .. lo[o]+n[o]-1
 * with weights w[o * taps + k]. */
typedef struct axis_taps {
    int *lo, *n, taps;
    double *w;
} axis_taps;

static void taps_free(axis_taps *a)
{
    mc_free(a->lo);
    mc_free(a->n);
    mc_free(a->w);
}

static mc_status taps_make(int in, int out, axis_taps *a)
{
    double s = (double)in / out;
    a->taps = out < in ? (int)ceil(s) + 1 : 2;
    a->lo = mc_alloc(sizeof(int) * (size_t)out);
    a->n = mc_alloc(sizeof(int) * (size_t)out);
    a->w = mc_calloc((size_t)out * (size_t)a->taps, sizeof(double));
    if (!a->lo || !a->n || !a->w) {
        taps_free(a);
        return mc_error_set(MC_ERR_NOMEM, "resize: out of memory for %d -> %d taps", in, out);
    }
    for (int o = 0; o < out; o++) {
        double *w = a->w + (size_t)o * (size_t)a->taps;
        if (out == in) {
            a->lo[o] = o, a->n[o] = 1, w[0] = 1.0;
        } else if (out < in) { /* area: overlap of [i, i+1) with [o s, (o+1) s) */
            double b0 = o * s, b1 = (o + 1) * s;
            int i0 = (int)floor(b0), i1 = (int)ceil(b1);
            if (i1 > in) i1 = in;
            a->lo[o] = i0;
            a->n[o] = 0;
            for (int i = i0; i < i1 && a->n[o] < a->taps; i++) {
                double ov = fmin(i + 1.0, b1) - fmax((double)i, b0);
                w[a->n[o]++] = ov > 0 ? ov / s : 0.0;
            }
        } else { /* bilinear, half-pixel centres */
            double x = (o + 0.5) * s - 0.5;
            if (x < 0) x = 0;
            if (x > in - 1) x = in - 1;
            int i0 = (int)floor(x);
            double f = x - i0;
            a->lo[o] = i0;
            if (i0 + 1 < in && f > 0) a->n[o] = 2, w[0] = 1.0 - f, w[1] = f;
            else a->n[o] = 1, w[0] = 1.0;
        }
    }
    return MC_OK;
}

mc_status mc_resize(const float *src, int sw, int sh, int c, float *dst, int dw, int dh)
{
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || c < 1)
        return mc_error_set(MC_ERR_INVALID_ARG, "resize: %dx%d -> %dx%d (x%d channels) has an empty side", sw, sh,
                            dw, dh, c);
    axis_taps ax = {0}, ay = {0};
    mc_status st;
    if ((st = taps_make(sw, dw, &ax))) return st;
    if ((st = taps_make(sh, dh, &ay))) {
        taps_free(&ax);
        return st;
    }
    /* one source row resized horizontally, per output row's tap, in double */
    double *row = mc_alloc(sizeof(double) * (size_t)dw * (size_t)c);
    double *acc = mc_alloc(sizeof(double) * (size_t)dw * (size_t)c);
    if (!row || !acc) {
        st = mc_error_set(MC_ERR_NOMEM, "resize: out of memory for a %dx%d row", dw, c);
        goto done;
    }
    for (int oy = 0; oy < dh; oy++) {
        for (size_t k = 0; k < (size_t)dw * (size_t)c; k++) acc[k] = 0.0;
        for (int ty = 0; ty < ay.n[oy]; ty++) {
            double wy = ay.w[(size_t)oy * (size_t)ay.taps + (size_t)ty];
            const float *s = src + (size_t)(ay.lo[oy] + ty) * (size_t)sw * (size_t)c;
            for (int ox = 0; ox < dw; ox++)
                for (int ch = 0; ch < c; ch++) {
                    double v = 0.0;
                    for (int tx = 0; tx < ax.n[ox]; tx++)
                        v += ax.w[(size_t)ox * (size_t)ax.taps + (size_t)tx] *
                             s[(size_t)(ax.lo[ox] + tx) * (size_t)c + (size_t)ch];
                    row[(size_t)ox * (size_t)c + (size_t)ch] = v;
                }
            for (size_t k = 0; k < (size_t)dw * (size_t)c; k++) acc[k] += wy * row[k];
        }
        float *d = dst + (size_t)oy * (size_t)dw * (size_t)c;
        for (size_t k = 0; k < (size_t)dw * (size_t)c; k++) d[k] = (float)acc[k];
    }
done:
    mc_free(row);
    mc_free(acc);
    taps_free(&ax);
    taps_free(&ay);
    return st;
}
