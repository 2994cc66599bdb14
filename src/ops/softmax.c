/* softmax.c - standalone softmax over the channels of each position. */
#include <string.h>

#include "op.h"

static mc_status softmax_infer(mc_layer *l)
{
    l->out = l->in;
    return MC_OK;
}

static double softmax_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out); }

static mc_status softmax_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    size_t n = mc_shape_count(&l->in);
    if (in != out) memcpy(out, in, n * sizeof(float));
    mc_act_apply(MC_ACT_SOFTMAX, out, n, (size_t)l->out.ne[0]);
    return MC_OK;
}

const mc_op_def mc_op_softmax = {
    .name = "softmax",
    .infer = softmax_infer,
    .macs = softmax_macs,
    .forward_cpu = softmax_forward,
};
