/* conv3d.c - 3-D convolution over T x H x W x C clips (C3D), as banded
 * im2col + SGEMM, the same idea as conv2d.c one axis up.
 *
 * Activations are {C, W, H, T} in ne order (tensor.h): frame t, row y,
 * column x, channel c at ((t*H + y)*W + x)*C + c.  The weight is Keras'
 * Conv3D kernel (kt, ky, kx, ci, co) at (((kt*KH + ky)*KW + kx)*Cin + ci)*Cout
 * + co; a tensor has four axes, so its shape is {Cout, Cin, KW, KH*KT}
 * (docs/weights.md).  With that order the im2col row of one output position
 * (its KT*KH*KW*Cin inputs in kernel order) times the [K x Cout] weight
 * matrix is the NHWC output row, as in 2-D.
 *
 * Frames and bands: an output frame is computed from the kt input frames
 * of its window alone (forward_frame_cpu), so that a net can stream a clip
 * through C3D's chain of convolutions and pools a few frames at a time
 * (models/net_stream.c); the whole-tensor forward is the same function
 * frame by frame, so both give the same numbers bit for bit.  Within a
 * frame, output rows are taken a band at a time so that the im2col matrix
 * stays within MC_CONV3D_TILE_FLOATS (C3D's conv2 would need 347 MB
 * unbanded, 22 MB for one frame; 10.8 MB in bands of 28 rows); im2col of a band is split across
 * threads, then one multi-threaded SGEMM multiplies it.  The workspace is
 * one band, whatever the thread count.  1x1x1 stride-1 kernels skip
 * im2col. */
#include <cblas.h>
#include <string.h>

#include "op.h"

#ifndef MC_CONV3D_TILE_FLOATS
#define MC_CONV3D_TILE_FLOATS ((size_t)4 << 20)
#endif
#define MC_CONV3D_MIN_M 512

static mc_status conv3d_infer(mc_layer *l)
{
    char b[64];
    if (l->units <= 0 || l->kt <= 0 || l->kh <= 0 || l->kw <= 0 || l->st <= 0 || l->sh <= 0 || l->sw <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG,
                            "layer %s: conv3d needs filters, kernel and stride > 0 (got %d, %dx%dx%d, %dx%dx%d)",
                            l->name, l->units, l->kt, l->kh, l->kw, l->st, l->sh, l->sw);
    int ot, oh, ow, pl;
    if (mc_window_out(l->in.ne[3], l->kt, l->st, l->padding, &ot, &l->pad_front) ||
        mc_window_out(l->in.ne[2], l->kh, l->sh, l->padding, &oh, &l->pad_top) ||
        mc_window_out(l->in.ne[1], l->kw, l->sw, l->padding, &ow, &pl))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %dx%dx%d kernel does not fit input %s (valid padding)", l->name,
                            l->kt, l->kh, l->kw, mc_shape_str(&l->in, b, sizeof b));
    if ((double)l->kt * l->kh > 0x7fffffff || l->kt > MC_MAX_WINDOW)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: kernel too large (at most %d frames)", l->name, MC_MAX_WINDOW);
    l->pad_left = pl;
    l->out = mc_shape_make(l->units, ow, oh, ot);
    l->wshape = mc_shape_make(l->units, l->in.ne[0], l->kw, l->kh * l->kt);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static size_t conv3d_k(const mc_layer *l) { return (size_t)l->kt * l->kh * l->kw * l->in.ne[0]; }

static int conv3d_is_pointwise(const mc_layer *l)
{
    return l->kt == 1 && l->kh == 1 && l->kw == 1 && l->st == 1 && l->sh == 1 && l->sw == 1;
}

/* Output rows of one frame per band: as many as the tile holds, but at
 * least MC_CONV3D_MIN_M output positions or the whole frame (SGEMM packs
 * the whole weight matrix once per call: C3D's conv3b..conv5b have 1.8 to
 * 7 M floats of it, and bands of a few rows spent their time packing),
 * spread evenly over the bands (28 rows in two bands of 14, not 21 + 7).
 * C3D's workspace is then 4.1 MB for conv1, 10.8 MB for conv2, conv3a,
 * conv3b and conv4b, 5.4 MB for conv4a, 2.7 MB for conv5a/b.  (A tile of
 * 1 Mi floats made conv2 and conv3a 10-20% slower: more SGEMM calls of
 * fewer rows.) */
static int conv3d_band_rows(const mc_layer *l)
{
    const size_t OW = (size_t)l->out.ne[1], row = OW * conv3d_k(l), OH = (size_t)l->out.ne[2];
    size_t rows = row ? MC_CONV3D_TILE_FLOATS / row : 1;
    if (rows * OW < MC_CONV3D_MIN_M) rows = (MC_CONV3D_MIN_M + OW - 1) / OW;
    if (rows < 1) rows = 1;
    if (rows >= OH) return (int)OH;
    const size_t bands = (OH + rows - 1) / rows;
    return (int)((OH + bands - 1) / bands);
}

static size_t conv3d_workspace(const mc_layer *l)
{
    return conv3d_is_pointwise(l) ? 0 : (size_t)conv3d_band_rows(l) * l->out.ne[1] * conv3d_k(l);
}

static double conv3d_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out) * (double)conv3d_k(l); }

/* im2col rows of output rows [y0, y1) of one frame into col; win[kt] is the
 * input frame of kernel tap kt (NULL: padding). */
static void im2col3d_band(const mc_layer *l, const float *const *win, float *col, int y0, int y1)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const int OW = l->out.ne[1];
    const size_t K = conv3d_k(l), cb = (size_t)C * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int oy = y0; oy < y1; oy++) {
        const int iy0 = oy * l->sh - l->pad_top;
        for (int ox = 0; ox < OW; ox++) {
            float *dst = col + ((size_t)(oy - y0) * OW + ox) * K;
            const int ix0 = ox * l->sw - l->pad_left;
            const int kx_lo = ix0 < 0 ? -ix0 : 0, kx_hi = ix0 + l->kw > W ? W - ix0 : l->kw;
            for (int kt = 0; kt < l->kt; kt++) {
                const float *f = win[kt];
                for (int ky = 0; ky < l->kh; ky++, dst += (size_t)C * l->kw) {
                    const int iy = iy0 + ky;
                    if (!f || iy < 0 || iy >= H || kx_hi <= kx_lo) {
                        memset(dst, 0, cb * l->kw);
                        continue;
                    }
                    if (kx_lo > 0) memset(dst, 0, cb * kx_lo);
                    memcpy(dst + (size_t)kx_lo * C, f + ((size_t)iy * W + ix0 + kx_lo) * C, cb * (kx_hi - kx_lo));
                    if (kx_hi < l->kw) memset(dst + (size_t)kx_hi * C, 0, cb * (l->kw - kx_hi));
                }
            }
        }
    }
}

static void bias_act(const mc_layer *l, float *out, size_t pixels)
{
    const int N = l->units, relu = l->act == MC_ACT_RELU;
    const float *b = l->bias.data;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pixels; p++) {
        float *o = out + p * N;
        for (int n = 0; n < N; n++) {
            const float v = o[n] + b[n];
            o[n] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    if (!relu) mc_act_apply(l->act, out, pixels * N, (size_t)N);
}

static mc_status conv3d_frame(const mc_layer *l, const float *const *win, int ot, float *out, float *ws)
{
    (void)ot;
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->units, K = (int)conv3d_k(l);
    if (conv3d_is_pointwise(l)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OH * OW, N, K, 1.0f, win[0], K, l->weight.data, N,
                    0.0f, out, N);
    } else {
        const int band = conv3d_band_rows(l);
        for (int y0 = 0; y0 < OH; y0 += band) {
            const int y1 = y0 + band < OH ? y0 + band : OH;
            im2col3d_band(l, win, ws, y0, y1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (y1 - y0) * OW, N, K, 1.0f, ws, K, l->weight.data,
                        N, 0.0f, out + (size_t)y0 * OW * N, N);
        }
    }
    bias_act(l, out, (size_t)OH * OW);
    return MC_OK;
}

const mc_op_def mc_op_conv3d = {
    .name = "conv3d",
    .infer = conv3d_infer,
    .workspace = conv3d_workspace,
    .macs = conv3d_macs,
    .forward_cpu = mc_op_forward_by_frames,
    .forward_frame_cpu = conv3d_frame,
};
