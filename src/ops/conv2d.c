/* conv2d.c - 2-D convolution, NHWC, as tiled im2col + one SGEMM per tile.
 *
 * Why this shape: with NHWC activations and HWIO weights, the im2col matrix
 * of a block of output pixels times the weight matrix [KH*KW*Cin x Cout]
 * *is* the NHWC output block, so no transposes are needed.  The im2col
 * buffer is built for a band of output rows at a time, sized to stay within
 * MC_CONV_TILE_FLOATS, which bounds memory (VGG16's first layers would need
 * 115 MB unbanded) and keeps the band hot in cache for the GEMM.  1x1/stride
 * 1 kernels skip im2col: the input already is the matrix.
 *
 * Threads split the output rows: each thread takes whole bands (its own
 * im2col buffer, a single-threaded SGEMM, bias and activation) instead of
 * every step being split across threads.  One parallel region per layer
 * instead of three, and a band stays in the cache of the core that built it;
 * AlexNet's convolutions were 1.x times faster this way (README).  Large 3x3
 * stride-1 layers take the Winograd path instead (conv2d_winograd.c).  Bias and the
 * fused activation are applied to each band right after its GEMM.
 */
#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv2d_direct.h"
#include "conv2d_gemm.h"
#include "conv2d_pointwise.h"
#include "conv2d_winograd.h"
#include "op.h"

/* Upper bound on one thread's im2col band (small enough to stay in that
 * core's cache for the GEMM; see the measurements in README). */
#ifndef MC_CONV_TILE_FLOATS
#define MC_CONV_TILE_FLOATS ((size_t)1 << 20)
#endif

static mc_status conv2d_infer(mc_layer *l)
{
    char b[64];
    if (l->units <= 0 || l->kh <= 0 || l->kw <= 0 || l->sh <= 0 || l->sw <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG,
                            "layer %s: conv2d needs filters, kernel and stride > 0 (got %d, %dx%d, %dx%d)",
                            l->name, l->units, l->kh, l->kw, l->sh, l->sw);
    if (l->in.ne[3] != 1)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: conv2d takes HxWxC input, got %s", l->name,
                            mc_shape_str(&l->in, b, sizeof b));
    int oh, ow, pl;
    if (mc_window_out(l->in.ne[2], l->kh, l->sh, l->padding, &oh, &l->pad_top) ||
        mc_window_out(l->in.ne[1], l->kw, l->sw, l->padding, &ow, &pl))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %dx%d kernel does not fit input %s (valid padding)",
                            l->name, l->kh, l->kw, mc_shape_str(&l->in, b, sizeof b));
    l->pad_left = pl;
    l->out = mc_shape_make(l->units, ow, oh, 1);
    l->wshape = mc_shape_make(l->units, l->in.ne[0], l->kw, l->kh);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static size_t conv2d_k(const mc_layer *l) { return (size_t)l->kh * l->kw * l->in.ne[0]; }

static int conv2d_is_pointwise(const mc_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1;
}

/* Threads the layer's kernels use (prepare records them; see op.h). */
static int conv2d_threads(const mc_layer *l)
{
    return l->cpu_threads > 0 ? l->cpu_threads : 1;
}

/* Threads to size the workspace for: those prepared, or all available. */
static int conv2d_ws_threads(const mc_layer *l)
{
    return mc_op_ws_threads(l);
}

/* Output rows per im2col band: within a thread's share of the memory bound,
 * and small enough that every thread gets a band. */
static int conv2d_band_rows(const mc_layer *l, int threads)
{
    size_t row = (size_t)l->out.ne[1] * conv2d_k(l);
    size_t rows = row ? MC_CONV_TILE_FLOATS / row : 1;
    size_t share = ((size_t)l->out.ne[2] + threads - 1) / threads;
    if (rows > share) rows = share;
    if (rows < 1) rows = 1;
    return (int)rows;
}

static size_t conv2d_workspace(const mc_layer *l)
{
    const int t = conv2d_ws_threads(l);
    size_t im2col = conv2d_is_pointwise(l) ? 0
                                           : (size_t)t * (conv2d_band_rows(l, t) * l->out.ne[1] * conv2d_k(l) +
                                                          mc_gemm_scratch((int)conv2d_k(l)));
    if (mc_conv_direct_applies(l)) im2col = 0; /* im2col only where direct does not apply */
    size_t wino = mc_winograd_workspace(l), direct = mc_conv_direct_workspace(l);
    size_t pw = mc_pointwise_applies(l) ? mc_pointwise_conv_workspace(l, t) : 0;
    size_t ws = im2col > wino ? im2col : wino;
    if (pw > ws) ws = pw;
    return ws > direct ? ws : direct;
}

static mc_status conv2d_prepare(mc_layer *l, mc_cpu_derived *d)
{
    l->cpu_threads = mc_op_max_threads();
    if (mc_pointwise_applies(l)) return mc_pointwise_prepare(l, &l->weight, (int)conv2d_k(l), l->out.ne[0], d);
    return mc_winograd_prepare(l, d);
}

static void conv2d_release(mc_layer *l, mc_cpu_derived *d)
{
    mc_winograd_release(l, d);
    if (mc_pointwise_applies(l)) mc_pointwise_release(l, &l->weight, (int)conv2d_k(l), l->out.ne[0], d);
    l->cpu_threads = 0;
    l->cpu_band_floats = 0;
}

static double conv2d_macs(const mc_layer *l)
{
    return (double)mc_shape_count(&l->out) * (double)conv2d_k(l);
}

/* Writes the im2col rows of output rows [oy0, oy1) into col. */
static void im2col_band(const mc_layer *l, const float *in, float *col, int oy0, int oy1)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const int OW = l->out.ne[1];
    const size_t K = conv2d_k(l), cb = (size_t)C * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int oy = oy0; oy < oy1; oy++) {
        for (int ox = 0; ox < OW; ox++) {
            float *dst = col + ((size_t)(oy - oy0) * OW + ox) * K;
            const int iy0 = oy * l->sh - l->pad_top, ix0 = ox * l->sw - l->pad_left;
            for (int ky = 0; ky < l->kh; ky++) {
                const int iy = iy0 + ky;
                if (iy < 0 || iy >= H) {
                    memset(dst, 0, cb * l->kw);
                    dst += (size_t)C * l->kw;
                    continue;
                }
                const int kx_lo = ix0 < 0 ? -ix0 : 0;
                const int kx_hi = ix0 + l->kw > W ? W - ix0 : l->kw;
                if (kx_lo > 0) memset(dst, 0, cb * kx_lo);
                if (kx_hi > kx_lo)
                    memcpy(dst + (size_t)kx_lo * C, in + ((size_t)iy * W + ix0 + kx_lo) * C,
                           cb * (kx_hi - kx_lo));
                if (kx_hi < l->kw) memset(dst + (size_t)(kx_hi > kx_lo ? kx_hi : kx_lo) * C, 0,
                                          cb * (l->kw - (kx_hi > kx_lo ? kx_hi : kx_lo)));
                dst += (size_t)C * l->kw;
            }
        }
    }
}

static void bias_act(const mc_layer *l, float *out, size_t pixels)
{
    const int N = l->out.ne[0];
    const float *b = l->bias.data;
    if (l->act == MC_ACT_RELU) {
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < pixels; p++) {
            float *o = out + p * N;
            for (int n = 0; n < N; n++) {
                float v = o[n] + b[n];
                o[n] = v > 0.0f ? v : 0.0f;
            }
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < pixels; p++) {
            float *o = out + p * N;
            for (int n = 0; n < N; n++) o[n] += b[n];
        }
        mc_act_apply(l->act, out, pixels * N, N);
    }
}

static mc_status conv2d_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->out.ne[0];
    const int K = (int)conv2d_k(l);
    if (l->cpu_state && mc_winograd_applies(l)) return mc_winograd_forward(l, in, out, ws);
    if (mc_conv_direct_applies(l)) return mc_conv_direct_forward(l, in, out, ws);
    if (l->cpu_packed && mc_pointwise_applies(l)) return mc_pointwise_conv_forward(l, in, out, ws, conv2d_threads(l));
    if (conv2d_is_pointwise(l)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OH * OW, N, K, 1.0f, in, K,
                    l->weight.data, N, 0.0f, out, N);
        bias_act(l, out, (size_t)OH * OW);
        return MC_OK;
    }
    const int threads = conv2d_threads(l), band = conv2d_band_rows(l, threads);
    const int bands = (OH + band - 1) / band;
    const size_t slot = (size_t)band * OW * K + mc_gemm_scratch(K);
    /* Inside the region, im2col/bias loops and OpenBLAS run single-threaded. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int b = 0; b < bands; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        const int oy = b * band, oy1 = oy + band < OH ? oy + band : OH;
        const int M = (oy1 - oy) * OW;
        float *o = out + (size_t)oy * OW * N, *col = ws + (size_t)tid * slot;
        im2col_band(l, in, col, oy, oy1);
        mc_gemm(M, N, K, col, (size_t)K, l->weight.data, (size_t)N, o, (size_t)N, 0, col + (size_t)band * OW * K);
        bias_act(l, o, (size_t)M);
    }
    return MC_OK;
}

const mc_op_def mc_op_conv2d = {
    .name = "conv2d",
    .infer = conv2d_infer,
    .workspace = conv2d_workspace,
    .macs = conv2d_macs,
    .forward_cpu = conv2d_forward,
    .prepare_cpu = conv2d_prepare,
    .release_cpu = conv2d_release,
};
