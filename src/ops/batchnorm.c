/* batchnorm.c - batch normalization at inference, over the channels (the
 * innermost axis) of a tensor of any rank:
 *     y = act(gamma * (x - mean) / sqrt(var + eps) + beta)
 * gamma is the layer's weight, beta its bias, mean and var its two aux
 * tensors (weight files name them <layer>.mean and <layer>.var).
 *
 * Where a batchnorm follows a convolution that nothing else reads, the
 * model parser folds it into the convolution (models/fold.c) and this
 * kernel never runs; it runs for a batchnorm after anything else. */
#include <math.h>

#include "batchnorm.h"

static mc_status batchnorm_infer(mc_layer *l)
{
    if (!(l->eps > 0.0f) || !isfinite(l->eps))
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: batchnorm needs eps > 0 (got %g)", l->name,
                            (double)l->eps);
    const int C = l->in.ne[0];
    l->out = l->in;
    l->wshape = mc_shape_make(C, 1, 1, 1);
    l->bshape = mc_shape_make(C, 1, 1, 1);
    l->auxshape[0] = mc_shape_make(C, 1, 1, 1);
    l->auxshape[1] = mc_shape_make(C, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static double batchnorm_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out); }

/* Scale and shift per channel, in ws[0..C) and ws[C..2C). */
static size_t batchnorm_workspace(const mc_layer *l) { return 2 * (size_t)l->in.ne[0]; }

void mc_batchnorm_scale_shift(const mc_layer *l, float *scale, float *shift)
{
    const int C = l->in.ne[0];
    const float *g = l->weight.data, *b = l->bias.data, *mean = l->aux[0].data, *var = l->aux[1].data;
    for (int c = 0; c < C; c++) {
        const double s = (double)g[c] / sqrt((double)var[c] + (double)l->eps);
        scale[c] = (float)s;
        shift[c] = (float)((double)b[c] - (double)mean[c] * s);
    }
}

static mc_status batchnorm_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const size_t C = (size_t)l->in.ne[0], P = mc_shape_count(&l->in) / C;
    float *scale = ws, *shift = ws + C;
    mc_batchnorm_scale_shift(l, scale, shift);
    const int relu = l->act == MC_ACT_RELU;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const float *x = in + p * C;
        float *y = out + p * C;
        for (size_t c = 0; c < C; c++) {
            const float v = x[c] * scale[c] + shift[c];
            y[c] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    if (!relu) mc_act_apply(l->act, out, P * C, C);
    return MC_OK;
}

const mc_op_def mc_op_batchnorm = {
    .name = "batchnorm",
    .infer = batchnorm_infer,
    .workspace = batchnorm_workspace,
    .macs = batchnorm_macs,
    .forward_cpu = batchnorm_forward,
    .inplace = 1,
    .aux_names = {"mean", "var"},
};
