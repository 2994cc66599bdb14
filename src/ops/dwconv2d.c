/* dwconv2d.c - depthwise 2-D convolution, NHWC: each input channel c has
 * its own M = multiplier filters, giving output channels c*M .. c*M+M-1
 * (Keras DepthwiseConv2D, ONNX Conv with group = C).  Weight {M, C, KW, KH}
 * in ne order: element (ky, kx, c, m) at ((ky*KW + kx)*C + c)*M + m.
 *
 * There is no GEMM to be had (one input channel per output), so it is a
 * direct loop, output rows split across threads, the innermost loop over
 * the channels of one pixel (contiguous in NHWC, so it vectorises). */
#include <string.h>

#include "conv2d_gemm.h" /* mc_vf */
#include "dwconv2d.h"

/* Kernels of up to this many taps take the register path (3x3, 5x5, 7x7). */
#define DW_TAPS 49

mc_status mc_dwconv2d_geometry(mc_layer *l, int *oh, int *ow)
{
    char b[64];
    const char *kind = mc_op_get(l->op)->name;
    if (l->mult <= 0 || l->kh <= 0 || l->kw <= 0 || l->sh <= 0 || l->sw <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG,
                            "layer %s: %s needs multiplier, kernel and stride > 0 (got %d, %dx%d, %dx%d)", l->name,
                            kind, l->mult, l->kh, l->kw, l->sh, l->sw);
    if (l->in.ne[3] != 1)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %s takes HxWxC input, got %s", l->name, kind,
                            mc_shape_str(&l->in, b, sizeof b));
    if ((double)l->in.ne[0] * l->mult > 0x7fffffff)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: too many channels", l->name);
    if (mc_window_out(l->in.ne[2], l->kh, l->sh, l->padding, oh, &l->pad_top) ||
        mc_window_out(l->in.ne[1], l->kw, l->sw, l->padding, ow, &l->pad_left))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %dx%d kernel does not fit input %s (valid padding)", l->name,
                            l->kh, l->kw, mc_shape_str(&l->in, b, sizeof b));
    l->wshape = mc_shape_make(l->mult, l->in.ne[0], l->kw, l->kh);
    return MC_OK;
}

/* The taps of output pixel (oy, ox) that fall inside the input, in (ky, kx)
 * order, from window position *next on: their input and weight vectors
 * (at most DW_TAPS of them; *next is left after the last one looked at).
 * Returns how many. */
static int window_taps(const mc_layer *l, const float *in, const float *w, int oy, int ox, int *next,
                       const float **tp, const float **tk)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0], KW = l->kw, CM = C * l->mult;
    const int taps = l->kh * KW;
    int nt = 0, i = *next;
    for (; i < taps && nt < DW_TAPS; i++) {
        const int ky = i / KW, kx = i % KW;
        const int iy = oy * l->sh - l->pad_top + ky, ix = ox * l->sw - l->pad_left + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        tp[nt] = in + ((size_t)iy * W + ix) * C;
        tk[nt++] = w + ((size_t)ky * KW + kx) * CM;
    }
    *next = i;
    return nt;
}

void mc_dwconv2d_pixels(const mc_layer *l, const float *in, const float *w, const float *bias, float *out, int out_w,
                        size_t p0, size_t p1)
{
    const int C = l->in.ne[0], M = l->mult, CM = C * M;
    const int taps_max = l->kh * l->kw;
    const float *tp[DW_TAPS], *tk[DW_TAPS];
    for (size_t px = p0; px < p1; px++) {
        const int oy = (int)(px / (size_t)out_w), ox = (int)(px % (size_t)out_w);
        float *o = out + px * CM;
        if (M == 1 && taps_max <= DW_TAPS) {
            /* each output vector is summed in a register over all the taps
             * and stored once (the loop below loads and stores it per tap) */
            int next = 0;
            const int nt = window_taps(l, in, w, oy, ox, &next, tp, tk);
            int c = 0;
            for (; c + MC_GEMM_VL <= C; c += MC_GEMM_VL) {
                mc_vf acc = bias ? mc_vload(bias + c) : (mc_vf){0};
                for (int t = 0; t < nt; t++) acc += mc_vload(tp[t] + c) * mc_vload(tk[t] + c);
                mc_vstore(o + c, acc);
            }
            /* the last channels as the loop below computes them (written
             * tap by tap, the compiler reassociated them over the taps) */
            const int c0 = c;
            for (; c < C; c++) o[c] = bias ? bias[c] : 0.0f;
            for (int t = 0; t < nt; t++) {
#pragma omp simd
                for (c = c0; c < C; c++) o[c] += tp[t][c] * tk[t][c];
            }
            continue;
        }
        if (bias) memcpy(o, bias, (size_t)CM * sizeof(float));
        else memset(o, 0, (size_t)CM * sizeof(float));
        for (int next = 0, nt; (nt = window_taps(l, in, w, oy, ox, &next, tp, tk)) > 0;) {
            for (int t = 0; t < nt; t++) {
                const float *p = tp[t], *k = tk[t];
                if (M == 1) {
#pragma omp simd
                    for (int c = 0; c < C; c++) o[c] += p[c] * k[c];
                } else {
                    for (int c = 0; c < C; c++)
                        for (int m = 0; m < M; m++) o[c * M + m] += p[c] * k[c * M + m];
                }
            }
        }
    }
}

void mc_dwconv2d_run(const mc_layer *l, const float *in, const float *w, const float *bias, float *out, int out_h,
                     int out_w)
{
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < out_h; oy++)
        mc_dwconv2d_pixels(l, in, w, bias, out, out_w, (size_t)oy * out_w, (size_t)(oy + 1) * out_w);
}

static mc_status dwconv2d_infer(mc_layer *l)
{
    int oh, ow;
    mc_status st = mc_dwconv2d_geometry(l, &oh, &ow);
    if (st) return st;
    l->units = l->in.ne[0] * l->mult; /* output channels; fan-in of the random weights is KH*KW */
    l->out = mc_shape_make(l->units, ow, oh, 1);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static double dwconv2d_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out) * l->kh * l->kw; }

static mc_status dwconv2d_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    mc_dwconv2d_run(l, in, l->weight.data, l->bias.data, out, l->out.ne[2], l->out.ne[1]);
    mc_act_apply(l->act, out, mc_shape_count(&l->out), (size_t)l->out.ne[0]);
    return MC_OK;
}

const mc_op_def mc_op_dwconv2d = {
    .name = "dwconv2d",
    .infer = dwconv2d_infer,
    .macs = dwconv2d_macs,
    .forward_cpu = dwconv2d_forward,
};
