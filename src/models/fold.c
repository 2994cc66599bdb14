/* fold.c - batch normalization folded into a convolution (fold.h). */
#include "fold.h"

#include "../core/alloc.h"
#include "../ops/batchnorm.h"

mc_status mc_fold_bn(mc_model *m, mc_layer *conv)
{
    if (!conv->fold_bn || conv->bn_folded) return MC_OK;
    const mc_layer *bn = &m->layers[conv->fold_bn];
    /* the tensor whose innermost axis is the output channel */
    mc_tensor *w = conv->op == MC_OP_SEPCONV2D ? &conv->aux[0] : &conv->weight;
    const size_t C = (size_t)conv->out.ne[0];
    if (!w->data || !conv->bias.data || !bn->weight.data || !bn->bias.data || !bn->aux[0].data || !bn->aux[1].data)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights of it and of batchnorm %s must be loaded to fold",
                            conv->name, bn->name);
    if ((size_t)bn->in.ne[0] != C || mc_tensor_count(w) % C)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: cannot fold batchnorm %s (%d channels) into %zu outputs",
                            conv->name, bn->name, bn->in.ne[0], C);
    float *scale = mc_alloc(2 * C * sizeof *scale);
    if (!scale) return mc_error_set(MC_ERR_NOMEM, "layer %s: out of memory folding batchnorm %s", conv->name, bn->name);
    float *shift = scale + C;
    mc_batchnorm_scale_shift(bn, scale, shift);
    const size_t n = mc_tensor_count(w);
    for (size_t e = 0; e < n; e += C)
        for (size_t c = 0; c < C; c++) w->data[e + c] *= scale[c];
    for (size_t c = 0; c < C; c++) conv->bias.data[c] = conv->bias.data[c] * scale[c] + shift[c];
    mc_free(scale);
    conv->bn_folded = 1;
    return MC_OK;
}
