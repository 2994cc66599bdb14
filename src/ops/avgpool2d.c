/* avgpool2d.c - 2-D average pooling, NHWC.  With SAME padding the mean is
 * over the window cells inside the input (TensorFlow's AveragePooling2D,
 * ONNX AveragePool with count_include_pad=0), not over zeros. */
#include "op.h"

static double avgpool2d_macs(const mc_layer *l) { return (double)mc_shape_count(&l->out) * l->kh * l->kw; }

static mc_status avgpool2d_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const int OH = l->out.ne[2], OW = l->out.ne[1];
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++) o[c] = 0.0f;
            int cells = 0;
            for (int ky = 0; ky < l->kh; ky++) {
                const int iy = oy * l->sh - l->pad_top + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < l->kw; kx++) {
                    const int ix = ox * l->sw - l->pad_left + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *p = in + ((size_t)iy * W + ix) * C;
                    for (int c = 0; c < C; c++) o[c] += p[c];
                    cells++;
                }
            }
            const float inv = 1.0f / (float)(cells > 0 ? cells : 1);
            for (int c = 0; c < C; c++) o[c] *= inv;
        }
    }
    mc_act_apply(l->act, out, mc_shape_count(&l->out), (size_t)C);
    return MC_OK;
}

const mc_op_def mc_op_avgpool2d = {
    .name = "avgpool2d",
    .infer = mc_pool2d_infer, /* maxpool2d.c: the same windows */
    .macs = avgpool2d_macs,
    .forward_cpu = avgpool2d_forward,
};
