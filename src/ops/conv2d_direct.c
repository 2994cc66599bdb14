/* conv2d_direct.c - direct convolution (implicit GEMM) for the kernels
 * Winograd does not take: AlexNet's 11x11/4 and 5x5, VGG16's first layer
 * (3 input channels), any other size or stride.
 *
 * Why not im2col + GEMM: im2col copies every input pixel KH*KW/stride^2
 * times into a matrix that is read once (AlexNet conv1: 4.5 MB written and
 * read per call for a 0.6 MB input), and the copy took as long as the
 * product.  Here the product reads the input where it lies: with NHWC
 * input and HWIO weights, for one kernel row ky the KW*Cin values an
 * output pixel needs are contiguous in the input, and the next output pixel
 * of the same row starts stride*Cin floats further on.  So a block of
 * MC_GEMM_MR output pixels of one output row is an MR x (KW*Cin) matrix
 * with leading dimension stride*Cin, once per kernel row: the kernel of
 * conv2d_gemm.c runs over the KH kernel rows as segments, keeping the
 * output block in registers throughout.  The only copy is a zero-padded
 * version of the input when the padding is not zero (same padding), so
 * that the kernel never tests borders.
 *
 * An output row narrower than a kernel's rows keeps im2col (conv2d.c);
 * the last block of a row is shifted left to end at the row's end (it
 * recomputes a few pixels rather than handling a partial block).
 */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv2d_direct.h"
#include "conv2d_gemm.h"

static int direct_threads(const mc_layer *l)
{
    return mc_op_ws_threads(l);
}

/* Vectors of output channels per kernel call: the width whose row blocks
 * and column panels waste least on this layer (OW = 28 in blocks of 12
 * computes 36 pixels, in blocks of 6 only 30), with a one-vector kernel
 * counted 30% dearer (it loads as often as it multiplies). */
static int direct_nv(const mc_layer *l)
{
    const int OW = l->out.ne[1], N = l->out.ne[0];
    int best = 2;
    double best_cost = 0;
    for (int nv = 1; nv <= 4; nv++) {
        const int mr = mc_gemm_rows(nv), w = nv * MC_GEMM_VL;
        if (OW < mr) continue;
        double cost = (double)((OW + mr - 1) / mr * mr) * ((N + w - 1) / w * w) * (nv == 1 ? 1.3 : 1.0);
        if (best_cost == 0 || cost < best_cost) {
            best = nv;
            best_cost = cost;
        }
    }
    return best;
}

int mc_conv_direct_applies(const mc_layer *l)
{
    return l->op == MC_OP_CONV2D && !(l->kh == 1 && l->kw == 1) && l->out.ne[1] >= mc_gemm_rows(2);
}

/* The input as the kernel reads it: Hp x Wp x C, covering every window. */
static int padded_h(const mc_layer *l) { return (l->out.ne[2] - 1) * l->sh + l->kh; }
static int padded_w(const mc_layer *l) { return (l->out.ne[1] - 1) * l->sw + l->kw; }

/* Whether the input must be copied with zero borders (else it is read in place). */
static int needs_copy(const mc_layer *l)
{
    return l->pad_top > 0 || l->pad_left > 0 || padded_h(l) > l->in.ne[2] || padded_w(l) > l->in.ne[1];
}

size_t mc_conv_direct_workspace(const mc_layer *l)
{
    if (!mc_conv_direct_applies(l)) return 0;
    const size_t pad = needs_copy(l) ? (size_t)padded_h(l) * padded_w(l) * l->in.ne[0] : 0;
    return pad + (size_t)direct_threads(l) * mc_gemm_segments_scratch(l->kh * l->kw * l->in.ne[0]);
}

static void pad_input(const mc_layer *l, const float *in, float *p)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0], HP = padded_h(l), WP = padded_w(l);
    const size_t row = (size_t)WP * C;
#pragma omp parallel for schedule(static) num_threads(direct_threads(l))
    for (int y = 0; y < HP; y++) {
        float *dst = p + (size_t)y * row;
        const int iy = y - l->pad_top;
        if (iy < 0 || iy >= H) {
            memset(dst, 0, row * sizeof(float));
            continue;
        }
        const int x0 = l->pad_left, n = W < WP - x0 ? W : WP - x0; /* input columns that land inside */
        memset(dst, 0, (size_t)x0 * C * sizeof(float));
        memcpy(dst + (size_t)x0 * C, in + (size_t)iy * W * C, (size_t)n * C * sizeof(float));
        memset(dst + (size_t)(x0 + n) * C, 0, (size_t)(WP - x0 - n) * C * sizeof(float));
    }
}

mc_status mc_conv_direct_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->out.ne[0], C = l->in.ne[0];
    const int WP = needs_copy(l) ? padded_w(l) : l->in.ne[1], threads = direct_threads(l);
    const float *p = in;
    float *scratch = ws;
    if (needs_copy(l)) {
        pad_input(l, in, ws);
        p = ws;
        scratch = ws + (size_t)padded_h(l) * padded_w(l) * C;
    }
    const int nv = direct_nv(l), mr = mc_gemm_rows(nv);
    const size_t scr = mc_gemm_segments_scratch(l->kh * l->kw * C), lda = (size_t)l->sw * C;
    const float *w = l->weight.data, *b = l->bias.data;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int oy = 0; oy < OH; oy++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *o = out + (size_t)oy * OW * N;
        const float *row = p + (size_t)oy * l->sh * WP * C;
        for (int x0 = 0; x0 < OW; x0 += mr) {
            const int x = x0 + mr <= OW ? x0 : OW - mr;
            mc_gemm_segments(nv, l->kh, l->kw * C, (size_t)WP * C, row + (size_t)x * lda, lda, w, N, o + (size_t)x * N,
                             (size_t)N, scratch + (size_t)tid * scr);
        }
        /* bias and activation while the row is in cache */
        if (l->act == MC_ACT_RELU) {
            for (size_t i = 0; i < (size_t)OW; i++)
                for (int n = 0; n < N; n++) {
                    float v = o[i * N + n] + b[n];
                    o[i * N + n] = v > 0.0f ? v : 0.0f;
                }
        } else {
            for (size_t i = 0; i < (size_t)OW; i++)
                for (int n = 0; n < N; n++) o[i * N + n] += b[n];
            mc_act_apply(l->act, o, (size_t)OW * N, (size_t)N);
        }
    }
    return MC_OK;
}
