/* zeropad.c - zeros around the spatial axes: pads[] = top, bottom, left,
 * right (H and W) and front, back (T, for 3-D tensors).  Keras'
 * ZeroPadding2D/3D: ResNet50's conv1_pad and pool1_pad, C3D's zeropad5. */
#include <string.h>

#include "op.h"

static mc_status zeropad_infer(mc_layer *l)
{
    for (int i = 0; i < 6; i++)
        if (l->pads[i] < 0 || l->pads[i] > 100000)
            return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: zeropad needs pads in 0..100000 (got %d)", l->name,
                                l->pads[i]);
    const long h = (long)l->in.ne[2] + l->pads[0] + l->pads[1], w = (long)l->in.ne[1] + l->pads[2] + l->pads[3],
               t = (long)l->in.ne[3] + l->pads[4] + l->pads[5];
    if (h > 0x7fffffff || w > 0x7fffffff || t > 0x7fffffff || (double)h * w * t * l->in.ne[0] > 4e9)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: zeropad output is too large", l->name);
    l->out = mc_shape_make(l->in.ne[0], (int)w, (int)h, (int)t);
    return MC_OK;
}

static double zeropad_macs(const mc_layer *l)
{
    (void)l;
    return 0;
}

static mc_status zeropad_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int C = l->in.ne[0], W = l->in.ne[1], H = l->in.ne[2], T = l->in.ne[3];
    const int OW = l->out.ne[1], OH = l->out.ne[2], OT = l->out.ne[3];
    const int top = l->pads[0], left = l->pads[2], front = l->pads[4];
    const size_t orow = (size_t)OW * C;
    /* One output row (t, y) at a time: zeros, or zeros around an input row. */
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)OT * OH; r++) {
        const int t = (int)(r / OH) - front, y = (int)(r % OH) - top;
        float *o = out + (size_t)r * orow;
        if (t < 0 || t >= T || y < 0 || y >= H) {
            memset(o, 0, orow * sizeof(float));
            continue;
        }
        const size_t lead = (size_t)left * C, body = (size_t)W * C;
        memset(o, 0, lead * sizeof(float));
        memcpy(o + lead, in + ((size_t)t * H + y) * body, body * sizeof(float));
        memset(o + lead + body, 0, (orow - lead - body) * sizeof(float));
    }
    return MC_OK;
}

const mc_op_def mc_op_zeropad = {
    .name = "zeropad",
    .infer = zeropad_infer,
    .macs = zeropad_macs,
    .forward_cpu = zeropad_forward,
};
