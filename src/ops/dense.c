/* dense.c - fully connected layer y = act(W x + b) on a flat input.
 *
 * W is stored [out][in] so that the rows a farm device holds under fc output
 * splitting are one contiguous block.  At batch 1 this is a GEMV, bound by
 * memory bandwidth (VGG16's fc1 streams 411 MB of weights per inference). */
#include <cblas.h>

#include "op.h"

static mc_status dense_infer(mc_layer *l)
{
    if (l->units <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: dense needs units > 0 (got %d)",
                            l->name, l->units);
    size_t n = mc_shape_count(&l->in);
    if (n > 0x7fffffff)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: dense input of %zu features is too large",
                            l->name, n);
    l->out = mc_shape_make(l->units, 1, 1, 1);
    l->wshape = mc_shape_make((int)n, l->units, 1, 1);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static double dense_macs(const mc_layer *l)
{
    return (double)mc_shape_count(&l->in) * l->units;
}

static mc_status dense_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int n_in = (int)mc_shape_count(&l->in), n_out = l->units;
    for (int o = 0; o < n_out; o++) out[o] = l->bias.data[o];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, l->weight.data, n_in, in, 1, 1.0f,
                out, 1);
    mc_act_apply(l->act, out, (size_t)n_out, (size_t)n_out);
    return MC_OK;
}

const mc_op_def mc_op_dense = {
    .name = "dense",
    .infer = dense_infer,
    .macs = dense_macs,
    .forward_cpu = dense_forward,
};
