/* sepconv2d.c - separable 2-D convolution (Keras SeparableConv2D, Xception's
 * building block): a depthwise convolution (dwconv2d.c: each channel its own
 * KHxKW filter, M per channel) then a pointwise 1x1 convolution to `filters`
 * outputs, plus bias and the fused activation.  Weights: the depthwise
 * kernel is the layer's weight ({M, C, KW, KH}, as dwconv2d), the pointwise
 * kernel its aux tensor "pointwise" ({N, C*M, 1, 1}: element (ci, co) at
 * ci*N + co, HWIO of a 1x1 kernel), the bias has N values.
 *
 * The depthwise result goes to the workspace (OH*OW*C*M floats) and the
 * pointwise step is one product [OH*OW x C*M] x [C*M x N] straight into the
 * NHWC output, on the pointwise kernel packed at prepare, with bias and
 * activation on each block (conv2d_pointwise.c, as for 1x1 convolutions;
 * OpenBLAS' sgemm when the packed copy did not fit the backend's budget). */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv2d_pointwise.h"
#include "dwconv2d.h"

static mc_status sepconv2d_infer(mc_layer *l)
{
    if (l->units <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: sepconv2d needs filters > 0 (got %d)", l->name, l->units);
    int oh, ow;
    mc_status st = mc_dwconv2d_geometry(l, &oh, &ow);
    if (st) return st;
    l->out = mc_shape_make(l->units, ow, oh, 1);
    l->auxshape[0] = mc_shape_make(l->units, l->in.ne[0] * l->mult, 1, 1);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static size_t sepconv2d_cm(const mc_layer *l) { return (size_t)l->in.ne[0] * l->mult; }

/* Threads the layer was prepared for, or all available (workspace before prepare). */
static int sepconv2d_threads(const mc_layer *l)
{
    return mc_op_ws_threads(l);
}

static size_t sepconv2d_workspace(const mc_layer *l)
{
    return (size_t)l->out.ne[2] * l->out.ne[1] * sepconv2d_cm(l) +
           mc_pointwise_scratch((int)sepconv2d_cm(l), sepconv2d_threads(l));
}

static mc_status sepconv2d_prepare(mc_layer *l, mc_cpu_derived *d)
{
    l->cpu_threads = mc_op_max_threads();
    return mc_pointwise_prepare(l, &l->aux[0], (int)sepconv2d_cm(l), l->units, d);
}

static void sepconv2d_release(mc_layer *l, mc_cpu_derived *d)
{
    mc_pointwise_release(l, &l->aux[0], (int)sepconv2d_cm(l), l->units, d);
    l->cpu_threads = 0;
}

static double sepconv2d_macs(const mc_layer *l)
{
    const double px = (double)l->out.ne[2] * l->out.ne[1], cm = (double)sepconv2d_cm(l);
    return px * cm * (l->kh * l->kw + l->units);
}

/* Depthwise output pixels [m0, m1) into a (rows of lda = C*M floats). */
static void depthwise_rows(const mc_layer *l, const float *in, float *a, size_t lda, int m0, int m1)
{
    (void)lda;
    mc_dwconv2d_pixels(l, in, l->weight.data, NULL, a, l->out.ne[1], (size_t)m0, (size_t)m1);
}

static mc_status sepconv2d_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->units, CM = (int)sepconv2d_cm(l);
    if (l->cpu_packed) { /* the depthwise rows made as the product reaches them */
        const int relu = l->act == MC_ACT_RELU;
        mc_pointwise_run_made(l, OH * OW, CM, N, depthwise_rows, in, ws, (size_t)CM, l->bias.data, relu, out,
                              ws + (size_t)OH * OW * CM, l->cpu_threads > 0 ? l->cpu_threads : 1);
        if (!relu) mc_act_apply(l->act, out, (size_t)OH * OW * N, (size_t)N);
        return MC_OK;
    }
    mc_dwconv2d_run(l, in, l->weight.data, NULL, ws, OH, OW);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OH * OW, N, CM, 1.0f, ws, CM, l->aux[0].data, N, 0.0f,
                out, N);
    const size_t P = (size_t)OH * OW;
    const float *b = l->bias.data;
    const int relu = l->act == MC_ACT_RELU;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        float *o = out + p * N;
        for (int n = 0; n < N; n++) {
            const float v = o[n] + b[n];
            o[n] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    if (!relu) mc_act_apply(l->act, out, P * N, (size_t)N);
    return MC_OK;
}

const mc_op_def mc_op_sepconv2d = {
    .name = "sepconv2d",
    .infer = sepconv2d_infer,
    .workspace = sepconv2d_workspace,
    .macs = sepconv2d_macs,
    .forward_cpu = sepconv2d_forward,
    .prepare_cpu = sepconv2d_prepare,
    .release_cpu = sepconv2d_release,
    .aux_names = {"pointwise"},
};
