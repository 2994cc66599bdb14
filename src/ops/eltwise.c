/* eltwise.c - the shape-preserving, parameter-free ops: relu, softmax
 * (over channels) and flatten (HxWxC -> vector; NHWC is already contiguous
 * in Keras' flatten order, so flatten is a copy). */
#include <string.h>

#include "op.h"

static mc_status same_shape_infer(mc_layer *l)
{
    l->out = l->in;
    return MC_OK;
}

static mc_status flatten_infer(mc_layer *l)
{
    size_t n = mc_shape_count(&l->in);
    if (n > 0x7fffffff)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: flatten of %zu elements is too large", l->name, n);
    l->out = mc_shape_make((int)n, 1, 1, 1);
    return MC_OK;
}

static size_t no_workspace(const mc_layer *l)
{
    (void)l;
    return 0;
}

static double elementwise_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out); }

static mc_status copy_forward(const mc_layer *l, const float *in, float *out)
{
    if (in != out) memcpy(out, in, mc_shape_count(&l->in) * sizeof(float));
    return MC_OK;
}

static mc_status relu_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    copy_forward(l, in, out);
    mc_act_apply(MC_ACT_RELU, out, mc_shape_count(&l->out), 0);
    return MC_OK;
}

static mc_status softmax_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    copy_forward(l, in, out);
    mc_act_apply(MC_ACT_SOFTMAX, out, mc_shape_count(&l->out), (size_t)l->out.ne[0]);
    return MC_OK;
}

static mc_status flatten_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    return copy_forward(l, in, out);
}

const mc_op_def mc_op_relu = {"relu", same_shape_infer, no_workspace, elementwise_macs, relu_forward};
const mc_op_def mc_op_softmax = {"softmax", same_shape_infer, no_workspace, elementwise_macs,
                                 softmax_forward};
const mc_op_def mc_op_flatten = {"flatten", flatten_infer, no_workspace, elementwise_macs,
                                 flatten_forward};
