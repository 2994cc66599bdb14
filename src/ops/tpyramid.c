/* tpyramid.c - the temporal pyramid of the two-stream model (Musical Chair
 * section 2.3.1, Figure 6; Choi et al. 2008): max pools over a window of
 * per-frame vectors, at `levels` levels.  Level l cuts the window of F
 * frames into 2^l segments, segment k holding frames
 * [floor(k F / 2^l), floor((k + 1) F / 2^l)); each segment's element-wise
 * max over its frames is one pool.  Four levels give 1 + 2 + 4 + 8 = 15
 * pools: the whole window, its halves, quarters and eighths.
 *
 * Input: T frames of D = H x W x C values each (the window, oldest frame
 * first; docs/twostream.md); the window is frames [first, first + frames)
 * (frames=0: to the last frame), so one input can carry the spatial and the
 * temporal window side by side.  Output: a vector of (2^levels - 1) x D,
 * pool-major (pool p, element d at p * D + d), pools in level order, which
 * is what a following concat and dense read as "15 x 256". */
#include <float.h>

#include "op.h"

static mc_status tpyramid_infer(mc_layer *l)
{
    char b[64];
    const int T = l->in.ne[3];
    if (l->levels < 1 || l->levels > 8)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: tpyramid levels=%d must be 1..8", l->name, l->levels);
    if (l->first < 0 || l->frames < 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: tpyramid first=%d frames=%d must not be negative", l->name,
                            l->first, l->frames);
    const int F = l->frames ? l->frames : T - l->first;
    if (F < 1 || l->first + F > T)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: a window of %d frames from frame %d does not fit input %s",
                            l->name, F, l->first, mc_shape_str(&l->in, b, sizeof b));
    if (F < 1 << (l->levels - 1))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: a window of %d frames cannot make %d pyramid levels (needs %d)",
                            l->name, F, l->levels, 1 << (l->levels - 1));
    const size_t D = mc_shape_count(&l->in) / (size_t)T;
    if (D * (size_t)((1 << l->levels) - 1) > (size_t)1 << 30)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: pyramid of %s is too large", l->name,
                            mc_shape_str(&l->in, b, sizeof b));
    l->out = mc_shape_make((int)(D * (size_t)((1 << l->levels) - 1)), 1, 1, 1);
    return MC_OK;
}

static double tpyramid_macs(const mc_layer *l)
{
    const int T = l->in.ne[3], F = l->frames ? l->frames : T - l->first;
    return (double)mc_shape_count(&l->in) / T * F * l->levels;
}

static mc_status tpyramid_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int T = l->in.ne[3], F = l->frames ? l->frames : T - l->first, pools = (1 << l->levels) - 1;
    const size_t D = mc_shape_count(&l->in) / (size_t)T;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < pools; p++) {
        int lev = 0;
        while ((2 << lev) - 1 <= p) lev++; /* pools (2^lev - 1) .. (2^(lev+1) - 2) */
        const int k = p - ((1 << lev) - 1);
        const int lo = l->first + (int)(((long)k * F) >> lev), hi = l->first + (int)(((long)(k + 1) * F) >> lev);
        float *o = out + (size_t)p * D;
        for (size_t d = 0; d < D; d++) o[d] = -FLT_MAX;
        for (int t = lo; t < hi; t++) {
            const float *x = in + (size_t)t * D;
            for (size_t d = 0; d < D; d++) o[d] = x[d] > o[d] ? x[d] : o[d];
        }
    }
    return MC_OK;
}

const mc_op_def mc_op_tpyramid = {
    .name = "tpyramid",
    .infer = tpyramid_infer,
    .macs = tpyramid_macs,
    .forward_cpu = tpyramid_forward,
};
