/* relu.c - standalone ReLU (conv2d and dense fuse it via act=relu). */
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
    const size_t n = mc_shape_count(&l->in);
    /* threads and vectors (Xception's relu layers before its separable
     * convolutions ran single-threaded); out may be in, element by element */
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
    return MC_OK;
}

const mc_op_def mc_op_relu = {
    .name = "relu",
    .infer = relu_infer,
    .macs = relu_macs,
    .forward_cpu = relu_forward,
    .inplace = 1,
};
