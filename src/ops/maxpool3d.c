/* maxpool3d.c - 3-D max pooling over T x H x W x C (C3D's pool1..pool5).
 * Window KT x KH x KW, strides along each axis; SAME padding ignores the
 * padded cells, as maxpool2d.c and TensorFlow do.  Computed an output frame
 * at a time from its window of input frames, so a net can stream clips
 * through it (op.h forward_frame_cpu). */
#include <float.h>

#include "op.h"

static mc_status maxpool3d_infer(mc_layer *l)
{
    char b[64];
    if (l->kt <= 0 || l->kh <= 0 || l->kw <= 0 || l->st <= 0 || l->sh <= 0 || l->sw <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: maxpool3d needs pool and stride > 0", l->name);
    if (l->kt > MC_MAX_WINDOW)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: pool of %d frames (at most %d)", l->name, l->kt, MC_MAX_WINDOW);
    int ot, oh, ow;
    if (mc_window_out(l->in.ne[3], l->kt, l->st, l->padding, &ot, &l->pad_front) ||
        mc_window_out(l->in.ne[2], l->kh, l->sh, l->padding, &oh, &l->pad_top) ||
        mc_window_out(l->in.ne[1], l->kw, l->sw, l->padding, &ow, &l->pad_left))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %dx%dx%d pool does not fit input %s", l->name, l->kt, l->kh,
                            l->kw, mc_shape_str(&l->in, b, sizeof b));
    l->out = mc_shape_make(l->in.ne[0], ow, oh, ot);
    return MC_OK;
}

static double maxpool3d_macs(const mc_layer *l)
{
    return (double)mc_shape_count(&l->out) * l->kt * l->kh * l->kw;
}

/* One output frame from the window's input frames (op.h forward_frame_cpu). */
static mc_status maxpool3d_frame(const mc_layer *l, const float *const *win, int ot, float *out, float *ws)
{
    (void)ws;
    (void)ot;
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const int OH = l->out.ne[2], OW = l->out.ne[1];
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++) o[c] = -FLT_MAX;
            for (int kt = 0; kt < l->kt; kt++) {
                const float *f = win[kt];
                if (!f) continue;
                for (int ky = 0; ky < l->kh; ky++) {
                    const int iy = oy * l->sh - l->pad_top + ky;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < l->kw; kx++) {
                        const int ix = ox * l->sw - l->pad_left + kx;
                        if (ix < 0 || ix >= W) continue;
                        const float *p = f + ((size_t)iy * W + ix) * C;
                        for (int c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
                    }
                }
            }
        }
    }
    return MC_OK;
}

const mc_op_def mc_op_maxpool3d = {
    .name = "maxpool3d",
    .infer = maxpool3d_infer,
    .macs = maxpool3d_macs,
    .forward_cpu = mc_op_forward_by_frames,
    .forward_frame_cpu = maxpool3d_frame,
};
