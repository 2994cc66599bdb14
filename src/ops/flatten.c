/* flatten.c - HxWxC -> vector.  NHWC is already contiguous in Keras'
 * flatten order (h, w, c), so the data is copied unchanged. */
#include <string.h>

#include "op.h"

static mc_status flatten_infer(mc_layer *l)
{
    size_t n = mc_shape_count(&l->in);
    if (n > 0x7fffffff)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: flatten of %zu elements is too large", l->name, n);
    l->out = mc_shape_make((int)n, 1, 1, 1);
    return MC_OK;
}

static double flatten_macs(const mc_layer *l)
{
    (void)l;
    return 0;
}

static mc_status flatten_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    if (in != out) memcpy(out, in, mc_shape_count(&l->in) * sizeof(float));
    return MC_OK;
}

const mc_op_def mc_op_flatten = {
    .name = "flatten",
    .infer = flatten_infer,
    .macs = flatten_macs,
    .forward_cpu = flatten_forward,
};
