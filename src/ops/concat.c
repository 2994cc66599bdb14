/* concat.c - concatenation of two or more inputs along the channels (the
 * innermost axis); every other axis must agree.  In NHWC each output pixel
 * is its inputs' pixels one after the other, so this is one memcpy per
 * input per pixel. */
#include <string.h>

#include "op.h"

static mc_status concat_infer(mc_layer *l)
{
    long c = 0;
    for (int k = 0; k < l->n_in; k++) {
        for (int d = 1; d < MC_MAX_DIMS; d++)
            if (l->ins[k].ne[d] != l->ins[0].ne[d]) {
                char a[64], b[64];
                return mc_error_set(MC_ERR_SHAPE,
                                    "layer %s: concat of %s and %s (input %d): only the channels may differ",
                                    l->name, mc_shape_str(&l->ins[0], a, sizeof a),
                                    mc_shape_str(&l->ins[k], b, sizeof b), k);
            }
        c += l->ins[k].ne[0];
    }
    if (c > 0x7fffffff) return mc_error_set(MC_ERR_SHAPE, "layer %s: concat of %ld channels is too large", l->name, c);
    l->out = l->in;
    l->out.ne[0] = (int)c;
    return MC_OK;
}

static double concat_macs(const mc_layer *l)
{
    (void)l;
    return 0;
}

static mc_status concat_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)in;
    (void)out;
    (void)ws;
    return mc_op_needs_inputs(l);
}

static mc_status concat_forward_n(const mc_layer *l, const float *const *ins, float *out, float *ws)
{
    (void)ws;
    const size_t C = (size_t)l->out.ne[0], P = mc_shape_count(&l->out) / C;
    const int n_in = l->n_in;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        float *o = out + p * C;
        for (int k = 0; k < n_in; k++) {
            const size_t ck = (size_t)l->ins[k].ne[0];
            memcpy(o, ins[k] + p * ck, ck * sizeof(float));
            o += ck;
        }
    }
    mc_act_apply(l->act, out, P * C, C);
    return MC_OK;
}

const mc_op_def mc_op_concat = {
    .name = "concat",
    .infer = concat_infer,
    .macs = concat_macs,
    .forward_cpu = concat_forward,
    .forward_cpu_n = concat_forward_n,
};
