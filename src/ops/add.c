/* add.c - element-wise sum of two or more inputs of one shape, with an
 * optional fused activation: ResNet's residual connections
 * (`add x in=shortcut,branch act=relu`) and Xception's.  The sum runs in
 * input order, ((in0 + in1) + in2) ..., and may write over input 0. */
#include "op.h"

static mc_status add_infer(mc_layer *l)
{
    for (int k = 1; k < l->n_in; k++)
        if (!mc_shape_equal(&l->ins[k], &l->ins[0])) {
            char a[64], b[64];
            return mc_error_set(MC_ERR_SHAPE, "layer %s: add of %s and %s (input %d): shapes differ", l->name,
                                mc_shape_str(&l->ins[0], a, sizeof a), mc_shape_str(&l->ins[k], b, sizeof b), k);
        }
    l->out = l->in;
    return MC_OK;
}

static double add_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out) * (l->n_in - 1); }

static mc_status add_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)in;
    (void)out;
    (void)ws;
    return mc_op_needs_inputs(l);
}

static mc_status add_forward_n(const mc_layer *l, const float *const *ins, float *out, float *ws)
{
    (void)ws;
    const size_t n = mc_shape_count(&l->out);
    const int k_in = l->n_in, relu = l->act == MC_ACT_RELU;
    if (k_in == 2) { /* residual connections: vectorised (the loop over k kept it scalar) */
        const float *a = ins[0], *b = ins[1];
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            const float s = a[i] + b[i];
            out[i] = relu && s < 0.0f ? 0.0f : s;
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float s = ins[0][i];
            for (int k = 1; k < k_in; k++) s += ins[k][i];
            out[i] = relu && s < 0.0f ? 0.0f : s;
        }
    }
    if (!relu) mc_act_apply(l->act, out, n, (size_t)l->out.ne[0]);
    return MC_OK;
}

const mc_op_def mc_op_add = {
    .name = "add",
    .infer = add_infer,
    .macs = add_macs,
    .forward_cpu = add_forward,
    .forward_cpu_n = add_forward_n,
    .inplace = 1,
};
