/* relu.c - standalone ReLU (conv2d and dense fuse it via act=relu). */
#include <string.h>

#include "op.h"

static mc_status relu_infer(mc_layer *l)
{
    l->out = l->in;
    return MC_OK;
}

static double relu_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out); }

static mc_status relu_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    size_t n = mc_shape_count(&l->in);
    if (in != out) memcpy(out, in, n * sizeof(float));
    mc_act_apply(MC_ACT_RELU, out, n, 0);
    return MC_OK;
}

const mc_op_def mc_op_relu = {
    .name = "relu",
    .infer = relu_infer,
    .macs = relu_macs,
    .forward_cpu = relu_forward,
    .inplace = 1,
};
