/* globalavgpool.c - the mean of each channel over all positions (H x W, or
 * T x H x W): ResNet50's and Xception's `avg_pool`.  The output is a vector
 * of C features ({C,1,1,1}, what a dense layer reads).  Each channel is
 * summed in position order in double, by one thread, so the result does not
 * depend on the thread count. */
#include "op.h"

#define GAP_CHUNK 64 /* channels one thread sums together (one pass over the rows) */

static mc_status globalavgpool_infer(mc_layer *l)
{
    l->out = mc_shape_make(l->in.ne[0], 1, 1, 1);
    return MC_OK;
}

static double globalavgpool_macs(const mc_layer *l) { return (double)mc_shape_count(&l->in); }

static mc_status globalavgpool_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int C = l->in.ne[0];
    const size_t P = mc_shape_count(&l->in) / (size_t)C;
    const int chunks = (C + GAP_CHUNK - 1) / GAP_CHUNK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < chunks; k++) {
        const int c0 = k * GAP_CHUNK, n = C - c0 < GAP_CHUNK ? C - c0 : GAP_CHUNK;
        double acc[GAP_CHUNK] = {0};
        for (size_t p = 0; p < P; p++) {
            const float *x = in + p * C + c0;
            for (int c = 0; c < n; c++) acc[c] += x[c];
        }
        for (int c = 0; c < n; c++) out[c0 + c] = (float)(acc[c] / (double)P);
    }
    mc_act_apply(l->act, out, (size_t)C, (size_t)C);
    return MC_OK;
}

const mc_op_def mc_op_globalavgpool = {
    .name = "globalavgpool",
    .infer = globalavgpool_infer,
    .macs = globalavgpool_macs,
    .forward_cpu = globalavgpool_forward,
};
