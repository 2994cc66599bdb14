/* op.c - the op registry and helpers shared by the op files. */
#include "op.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* In mc_op_type order, one line per op, with no size and no designators:
 * the array is exactly as long as its entries, so one missing (or extra)
 * entry fails the assert below at compile time.  (With [MC_OP_COUNT] or
 * designated entries the array always has MC_OP_COUNT slots and a missing
 * op would be a NULL found only at run time.)  check_ops tests that each
 * keyword maps back to its own enum value. */
static const mc_op_def *const op_table[] = {
    &mc_op_conv2d,        /* MC_OP_CONV2D */
    &mc_op_maxpool2d,     /* MC_OP_MAXPOOL2D */
    &mc_op_dense,         /* MC_OP_DENSE */
    &mc_op_relu,          /* MC_OP_RELU */
    &mc_op_softmax,       /* MC_OP_SOFTMAX */
    &mc_op_flatten,       /* MC_OP_FLATTEN */
    &mc_op_batchnorm,     /* MC_OP_BATCHNORM */
    &mc_op_add,           /* MC_OP_ADD */
    &mc_op_concat,        /* MC_OP_CONCAT */
    &mc_op_globalavgpool, /* MC_OP_GLOBALAVGPOOL */
    &mc_op_avgpool2d,     /* MC_OP_AVGPOOL2D */
    &mc_op_zeropad,       /* MC_OP_ZEROPAD */
    &mc_op_dwconv2d,      /* MC_OP_DWCONV2D */
    &mc_op_sepconv2d,     /* MC_OP_SEPCONV2D */
    &mc_op_conv3d,        /* MC_OP_CONV3D */
    &mc_op_maxpool3d,     /* MC_OP_MAXPOOL3D */
    &mc_op_tpyramid,      /* MC_OP_TPYRAMID */
};
_Static_assert(sizeof(op_table) / sizeof(op_table[0]) == MC_OP_COUNT,
               "op_table must have exactly one entry per mc_op_type, in enum order");

static const char *const act_names[MC_ACT_COUNT] = {"none", "relu", "softmax"};

const mc_op_def *mc_op_get(mc_op_type t)
{
    return (t >= 0 && t < MC_OP_COUNT) ? op_table[t] : NULL;
}

mc_op_type mc_op_from_name(const char *name)
{
    for (int i = 0; i < MC_OP_COUNT; i++)
        if (op_table[i] && strcmp(op_table[i]->name, name) == 0) return (mc_op_type)i;
    return MC_OP_COUNT;
}

const char *mc_act_name(mc_act a) { return (a >= 0 && a < MC_ACT_COUNT) ? act_names[a] : "?"; }

mc_act mc_act_from_name(const char *name)
{
    for (int i = 0; i < MC_ACT_COUNT; i++)
        if (strcmp(act_names[i], name) == 0) return (mc_act)i;
    return MC_ACT_COUNT;
}

mc_status mc_layer_infer(mc_layer *l)
{
    const mc_op_def *d = mc_op_get(l->op);
    if (!d) return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: unknown op %d", l->name, (int)l->op);
    /* A layer made by hand (tests, split parts) has one input: l->in. */
    if (l->n_in <= 1) {
        if (l->n_in == 0) l->inputs[0] = l->index - 1;
        l->n_in = 1;
        l->ins[0] = l->in;
    }
    if (l->n_in > MC_MAX_INPUTS)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: %d inputs (at most %d)", l->name, l->n_in,
                            MC_MAX_INPUTS);
    if (d->forward_cpu_n ? l->n_in < 2 : l->n_in != 1)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: %s takes %s input%s, got %d", l->name, d->name,
                            d->forward_cpu_n ? "2 or more" : "one", d->forward_cpu_n ? "s" : "", l->n_in);
    l->in = l->ins[0];
    for (int k = 0; k < l->n_in; k++)
        for (int i = 0; i < MC_MAX_DIMS; i++)
            if (l->ins[k].ne[i] <= 0) {
                char b[64];
                return mc_error_set(MC_ERR_SHAPE, "layer %s: impossible input shape %s", l->name,
                                    mc_shape_str(&l->ins[k], b, sizeof b));
            }
    memset(&l->wshape, 0, sizeof l->wshape);
    memset(&l->bshape, 0, sizeof l->bshape);
    memset(l->auxshape, 0, sizeof l->auxshape);
    l->has_params = 0;
    l->pad_top = l->pad_left = l->pad_front = 0;
    return d->infer(l);
}

mc_status mc_op_needs_inputs(const mc_layer *l)
{
    return mc_error_set(MC_ERR_UNSUPPORTED, "layer %s: %s reads %d inputs and runs only through forward_n",
                        l->name, mc_op_get(l->op)->name, l->n_in);
}

int mc_op_multi_input(mc_op_type t)
{
    const mc_op_def *d = mc_op_get(t);
    return d && d->forward_cpu_n;
}

int mc_op_folds_bn(mc_op_type t)
{
    return t == MC_OP_CONV2D || t == MC_OP_DWCONV2D || t == MC_OP_SEPCONV2D || t == MC_OP_CONV3D;
}

mc_status mc_window_out(int in, int k, int s, mc_padding p, int *out, int *pad_before)
{
    if (k <= 0 || s <= 0) return MC_ERR_INVALID_ARG;
    if (p == MC_PAD_SAME) {
        int o = (in + s - 1) / s;
        int total = (o - 1) * s + k - in;
        if (total < 0) total = 0;
        *out = o;
        *pad_before = total / 2;
    } else {
        if (in < k) return MC_ERR_SHAPE;
        *out = (in - k) / s + 1;
        *pad_before = 0;
    }
    return MC_OK;
}

static void softmax_inplace(float *x, size_t n)
{
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

void mc_act_apply(mc_act a, float *x, size_t n, size_t channels)
{
    switch (a) {
    case MC_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case MC_ACT_SOFTMAX:
        if (channels == 0) channels = n;
        for (size_t i = 0; i + channels <= n; i += channels) softmax_inplace(x + i, channels);
        break;
    default: break;
    }
}

int mc_op_frame_first(const mc_layer *l, int ot) { return ot * l->st - l->pad_front; }

size_t mc_shape_frame_floats(const mc_shape *s) { return (size_t)s->ne[0] * s->ne[1] * s->ne[2]; }

mc_status mc_op_forward_by_frames(const mc_layer *l, const float *in, float *out, float *ws)
{
    const mc_op_def *d = mc_op_get(l->op);
    const float *win[MC_MAX_WINDOW];
    const int T = l->in.ne[3], OT = l->out.ne[3];
    const size_t fi = mc_shape_frame_floats(&l->in), fo = mc_shape_frame_floats(&l->out);
    if (l->kt > MC_MAX_WINDOW)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: %d frames a window (at most %d)", l->name, l->kt, MC_MAX_WINDOW);
    for (int ot = 0; ot < OT; ot++) {
        const int first = mc_op_frame_first(l, ot);
        for (int k = 0; k < l->kt; k++) win[k] = first + k >= 0 && first + k < T ? in + (size_t)(first + k) * fi : NULL;
        mc_status st = d->forward_frame_cpu(l, win, ot, out + (size_t)ot * fo, ws);
        if (st) return st;
    }
    return MC_OK;
}

int mc_op_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int mc_op_ws_threads(const mc_layer *l)
{
    return l->cpu_threads > 0 ? l->cpu_threads : mc_op_max_threads();
}
