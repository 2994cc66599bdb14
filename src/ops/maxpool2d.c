/* maxpool2d.c - 2-D max pooling, NHWC.  SAME padding ignores the padded
 * cells (as TensorFlow and ONNX do) rather than treating them as zeros.
 * Its shape inference serves avgpool2d too (mc_pool2d_infer). */
#include <float.h>

#include "op.h"

mc_status mc_pool2d_infer(mc_layer *l)
{
    char b[64];
    if (l->kh <= 0 || l->kw <= 0 || l->sh <= 0 || l->sw <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: %s needs pool and stride > 0", l->name,
                            mc_op_get(l->op)->name);
    int oh, ow;
    if (l->in.ne[3] != 1 ||
        mc_window_out(l->in.ne[2], l->kh, l->sh, l->padding, &oh, &l->pad_top) ||
        mc_window_out(l->in.ne[1], l->kw, l->sw, l->padding, &ow, &l->pad_left))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %dx%d pool does not fit input %s", l->name,
                            l->kh, l->kw, mc_shape_str(&l->in, b, sizeof b));
    l->out = mc_shape_make(l->in.ne[0], ow, oh, 1);
    return MC_OK;
}

static double maxpool2d_macs(const mc_layer *l)
{
    return (double)mc_shape_count(&l->out) * l->kh * l->kw;
}

static mc_status maxpool2d_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const int OH = l->out.ne[2], OW = l->out.ne[1];
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++) o[c] = -FLT_MAX;
            for (int ky = 0; ky < l->kh; ky++) {
                const int iy = oy * l->sh - l->pad_top + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < l->kw; kx++) {
                    const int ix = ox * l->sw - l->pad_left + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *p = in + ((size_t)iy * W + ix) * C;
                    for (int c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
                }
            }
        }
    }
    return MC_OK;
}

const mc_op_def mc_op_maxpool2d = {
    .name = "maxpool2d",
    .infer = mc_pool2d_infer,
    .macs = maxpool2d_macs,
    .forward_cpu = maxpool2d_forward,
};
