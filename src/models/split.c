/* split.c - the model-parallel methods of split.h as pure functions.
 *
 * Every method is three small pieces of index arithmetic: which part of the
 * full layer's parameters the part holds (mc_split_weight_runs), which piece
 * of the input it reads (in_kind + bounds) and where its output lands
 * (merge_kind + bounds).  Ranges are cut as evenly as possible: part k of n
 * over T items is [k*T/n, (k+1)*T/n), so sizes differ by at most one.
 */
#include "split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../ops/batchnorm.h"
#include "weights.h"

static const char *const method_names[MC_SPLIT_METHOD_COUNT] = {
    "data", "fc_output", "fc_input", "conv_channel", "conv_filter", "conv_spatial",
};

const char *mc_split_method_name(mc_split_method m)
{
    return (unsigned)m < MC_SPLIT_METHOD_COUNT ? method_names[m] : "?";
}

mc_split_method mc_split_method_from_name(const char *name)
{
    for (int i = 0; i < MC_SPLIT_METHOD_COUNT; i++)
        if (name && !strcmp(name, method_names[i])) return (mc_split_method)i;
    return MC_SPLIT_METHOD_COUNT;
}

int mc_split_method_applies(mc_split_method m, const mc_layer *l)
{
    switch (m) {
    case MC_SPLIT_DATA: return 1;
    case MC_SPLIT_FC_OUTPUT:
    case MC_SPLIT_FC_INPUT: return l->op == MC_OP_DENSE;
    case MC_SPLIT_CONV_CHANNEL:
    case MC_SPLIT_CONV_SPATIAL:
        return l->op == MC_OP_CONV2D || l->op == MC_OP_CONV3D || l->op == MC_OP_SEPCONV2D || l->op == MC_OP_DWCONV2D;
    case MC_SPLIT_CONV_FILTER: /* a depthwise output reads one channel: there is nothing to sum */
        return l->op == MC_OP_CONV2D || l->op == MC_OP_CONV3D || l->op == MC_OP_SEPCONV2D;
    default: return 0;
    }
}

static int cut(int k, int n, int total) { return (int)((long long)k * total / n); }

/* Most square grid gh x gw = parts with gh >= gw. */
static void square_grid(int parts, int *gh, int *gw)
{
    int w = 1;
    for (int d = 1; (long long)d * d <= parts; d++)
        if (parts % d == 0) w = d;
    *gw = w;
    *gh = parts / w;
}

static mc_status too_many(const mc_layer *l, mc_split_method m, int parts, const char *what, int have)
{
    return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: %s split into %d parts needs at least %d %s (it has %d)",
                        l->name, mc_split_method_name(m), parts, parts, what, have);
}

mc_status mc_split_make_part(const mc_layer *full, mc_split_method method, int parts, int grid_h,
                             int grid_w, int k, mc_split_part *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)method >= MC_SPLIT_METHOD_COUNT || method == MC_SPLIT_DATA)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: '%s' is not a model-parallel method",
                            full->name, mc_split_method_name(method));
    if (parts < 1 || k < 0 || k >= parts)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: part %d of %d does not exist", full->name, k,
                            parts);
    if (!mc_split_method_applies(method, full))
        return mc_error_set(MC_ERR_UNSUPPORTED, "layer %s: %s splitting applies to %s layers, this is a %s layer",
                            full->name, mc_split_method_name(method),
                            method == MC_SPLIT_FC_OUTPUT || method == MC_SPLIT_FC_INPUT ? "dense"
                            : method == MC_SPLIT_CONV_FILTER ? "conv2d, conv3d and sepconv2d"
                                                             : "conv2d, conv3d, sepconv2d and dwconv2d",
                            mc_op_get(full->op)->name);

    mc_layer *l = &out->layer;
    *l = *full;
    memset(&l->weight, 0, sizeof l->weight);
    memset(&l->bias, 0, sizeof l->bias);
    memset(l->aux, 0, sizeof l->aux);
    l->cpu_state = NULL;
    l->cpu_packed = NULL;
    l->bn_folded = 0;
    l->n_in = 1; /* the part reads one tensor: its piece of the full layer's input */
    snprintf(l->name, sizeof l->name, "%.30s.%s%d", full->name,
             method == MC_SPLIT_CONV_SPATIAL ? "t" : "p", k);
    out->method = method;
    out->parts = parts;
    out->k = k;
    out->grid_h = out->grid_w = 1;
    out->in_t0 = 0;
    out->in_t1 = 1;
    out->in_kind = MC_SPLIT_IN_WHOLE;
    out->full_in = full->in;
    out->full_out = full->out;
    out->full_index = full->index;
    const int units = full->units, cin = full->in.ne[0];
    const int n_in = (int)mc_shape_count(&full->in);
    const mc_act part_act = full->act == MC_ACT_SOFTMAX ? MC_ACT_NONE : full->act;

    switch (method) {
    case MC_SPLIT_CONV_CHANNEL:
        if (full->op == MC_OP_DWCONV2D) { /* input channels [i0,i1) make outputs [i0*M, i1*M) */
            if (parts > cin) return too_many(full, method, parts, "input channels", cin);
            out->in_kind = MC_SPLIT_IN_CHANNELS;
            out->in_lo = cut(k, parts, cin);
            out->in_hi = cut(k + 1, parts, cin);
            out->out_lo = out->in_lo * full->mult;
            out->out_hi = out->in_hi * full->mult;
            out->merge_kind = MC_SPLIT_MERGE_CONCAT;
            l->in.ne[0] = out->in_hi - out->in_lo;
            l->act = part_act;
            break;
        }
        __attribute__((fallthrough)); /* filters [o0,o1), as fc_output takes rows */
    case MC_SPLIT_FC_OUTPUT:
        if (parts > units)
            return too_many(full, method, parts, method == MC_SPLIT_FC_OUTPUT ? "output units" : "filters",
                            units);
        out->out_lo = cut(k, parts, units);
        out->out_hi = cut(k + 1, parts, units);
        out->merge_kind = MC_SPLIT_MERGE_CONCAT;
        l->units = out->out_hi - out->out_lo;
        l->act = part_act;
        break;
    case MC_SPLIT_FC_INPUT:
        if (parts > n_in) return too_many(full, method, parts, "input features", n_in);
        out->in_kind = MC_SPLIT_IN_RANGE;
        out->in_lo = cut(k, parts, n_in);
        out->in_hi = cut(k + 1, parts, n_in);
        l->in = mc_shape_make(out->in_hi - out->in_lo, 1, 1, 1);
        l->act = MC_ACT_NONE;
        out->merge_kind = MC_SPLIT_MERGE_SUM;
        break;
    case MC_SPLIT_CONV_FILTER:
        if (parts > cin) return too_many(full, method, parts, "input channels", cin);
        out->in_kind = MC_SPLIT_IN_CHANNELS;
        out->in_lo = cut(k, parts, cin);
        out->in_hi = cut(k + 1, parts, cin);
        l->in.ne[0] = out->in_hi - out->in_lo;
        l->act = MC_ACT_NONE;
        out->merge_kind = MC_SPLIT_MERGE_SUM;
        break;
    case MC_SPLIT_CONV_SPATIAL: {
        if (grid_h <= 0 && grid_w <= 0) square_grid(parts, &grid_h, &grid_w);
        if (grid_h <= 0 || grid_w <= 0 || grid_h * grid_w != parts)
            return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: conv_spatial grid %dx%d does not make %d parts",
                                full->name, grid_h, grid_w, parts);
        const int oh = full->out.ne[2], ow = full->out.ne[1];
        if (grid_h > oh || grid_w > ow)
            return mc_error_set(MC_ERR_INVALID_ARG,
                                "layer %s: conv_spatial grid %dx%d is finer than the %dx%d output",
                                full->name, grid_h, grid_w, oh, ow);
        out->grid_h = grid_h;
        out->grid_w = grid_w;
        const int r = k / grid_w, c = k % grid_w;
        out->out_y0 = cut(r, grid_h, oh);
        out->out_y1 = cut(r + 1, grid_h, oh);
        out->out_x0 = cut(c, grid_w, ow);
        out->out_x1 = cut(c + 1, grid_w, ow);
        out->in_kind = MC_SPLIT_IN_TILE;
        out->in_y0 = out->out_y0 * full->sh - full->pad_top;
        out->in_y1 = (out->out_y1 - 1) * full->sh + full->kh - full->pad_top;
        out->in_x0 = out->out_x0 * full->sw - full->pad_left;
        out->in_x1 = (out->out_x1 - 1) * full->sw + full->kw - full->pad_left;
        if (full->op == MC_OP_CONV3D) { /* every frame, with the zero frames of the T padding */
            out->in_t0 = -full->pad_front;
            out->in_t1 = (full->out.ne[3] - 1) * full->st + full->kt - full->pad_front;
        }
        l->in = mc_shape_make(cin, out->in_x1 - out->in_x0, out->in_y1 - out->in_y0, out->in_t1 - out->in_t0);
        l->padding = MC_PAD_VALID;
        out->merge_kind = MC_SPLIT_MERGE_TILE;
        break;
    }
    default: break;
    }
    mc_status st = mc_layer_infer(l);
    if (st) return st;
    if (method == MC_SPLIT_CONV_SPATIAL && (l->out.ne[2] != out->out_y1 - out->out_y0 ||
                                            l->out.ne[1] != out->out_x1 - out->out_x0 || l->out.ne[3] != full->out.ne[3]))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: spatial tile %d of %dx%d has the wrong output size",
                            full->name, k, out->grid_h, out->grid_w);
    return MC_OK;
}

void mc_split_part_free(mc_split_part *p)
{
    mc_tensor_free(&p->layer.weight);
    mc_tensor_free(&p->layer.bias);
    for (int k = 0; k < MC_MAX_AUX; k++) mc_tensor_free(&p->layer.aux[k]);
    p->layer.bn_folded = 0;
}

size_t mc_split_in_count(const mc_split_part *p) { return mc_shape_count(&p->layer.in); }
size_t mc_split_out_count(const mc_split_part *p) { return mc_shape_count(&p->layer.out); }

/* Sum merges: part 0 carries the full bias, the other parts none, so the
 * sum of the parts is the full pre-activation and the receiver of the parts
 * needs no parameters (only the activation). */
static int bias_is_zero(const mc_split_part *p) { return p->merge_kind == MC_SPLIT_MERGE_SUM && p->k != 0; }

/* Kernel taps of a convolution: positions of the window (conv3d: frames too). */
static size_t taps_of(const mc_layer *l) { return (size_t)l->kh * l->kw * (l->op == MC_OP_CONV3D ? l->kt : 1); }

static void emit(void (*fn)(const mc_split_run *r, void *ctx), void *ctx, size_t dst, size_t src, size_t len)
{
    mc_split_run r = {dst, src, len};
    fn(&r, ctx);
}

/* Depthwise kernel {M, C, KW, KH}: channels [lo,hi) of every tap (each its M filters). */
static void depthwise_runs(const mc_split_part *p, int lo, int hi, void (*fn)(const mc_split_run *r, void *ctx),
                           void *ctx)
{
    const mc_layer *l = &p->layer;
    const size_t cm = (size_t)p->full_in.ne[0] * l->mult, c = (size_t)(hi - lo) * l->mult;
    for (size_t t = 0; t < taps_of(l); t++) emit(fn, ctx, t * c, t * cm + (size_t)lo * l->mult, c);
}

void mc_split_weight_runs(const mc_split_part *p, int which,
                          void (*fn)(const mc_split_run *r, void *ctx), void *ctx)
{
    const mc_layer *l = &p->layer;
    const int all = p->method == MC_SPLIT_CONV_SPATIAL; /* every part holds all parameters */
    if (which == MC_SPLIT_BIAS) {
        if (bias_is_zero(p) || l->no_bias) return;
        /* concat: its outputs' bias; sum: part 0 holds all of it; tile: all */
        emit(fn, ctx, 0, p->merge_kind == MC_SPLIT_MERGE_CONCAT ? (size_t)p->out_lo : 0, (size_t)l->out.ne[0]);
        return;
    }
    const size_t cout = (size_t)p->full_out.ne[0], cin = (size_t)p->full_in.ne[0];
    if (which != MC_SPLIT_WEIGHT) { /* sepconv2d's pointwise kernel {N, C*M}: element (ci, co) at ci*N + co */
        if (l->op != MC_OP_SEPCONV2D || which != MC_SPLIT_AUX0) return;
        const size_t cm = cin * l->mult, f = (size_t)l->units;
        if (all) emit(fn, ctx, 0, 0, cm * cout);
        else if (p->method == MC_SPLIT_CONV_CHANNEL) /* filters [o0,o1) of every input */
            for (size_t ci = 0; ci < cm; ci++) emit(fn, ctx, ci * f, ci * cout + (size_t)p->out_lo, f);
        else /* conv_filter: the rows of the depthwise outputs [i0*M, i1*M) */
            emit(fn, ctx, 0, (size_t)p->in_lo * l->mult * cout, (size_t)(p->in_hi - p->in_lo) * l->mult * cout);
        return;
    }
    if (all) {
        emit(fn, ctx, 0, 0, mc_shape_count(&l->wshape));
        return;
    }
    switch (l->op) {
    case MC_OP_DENSE:
        if (p->method == MC_SPLIT_FC_OUTPUT) { /* rows [lo,hi) of W[out][in]: one block */
            const size_t n_in = mc_shape_count(&p->full_in);
            emit(fn, ctx, 0, (size_t)p->out_lo * n_in, (size_t)l->units * n_in);
        } else { /* fc_input: columns [lo,hi) of every row */
            const size_t n_in = mc_shape_count(&p->full_in), sub = (size_t)(p->in_hi - p->in_lo);
            for (size_t o = 0; o < (size_t)l->units; o++) emit(fn, ctx, o * sub, o * n_in + (size_t)p->in_lo, sub);
        }
        break;
    case MC_OP_DWCONV2D: /* conv_channel: the input channels' filters */
        depthwise_runs(p, p->in_lo, p->in_hi, fn, ctx);
        break;
    case MC_OP_SEPCONV2D:
        if (p->method == MC_SPLIT_CONV_CHANNEL) emit(fn, ctx, 0, 0, mc_shape_count(&l->wshape)); /* all depthwise */
        else depthwise_runs(p, p->in_lo, p->in_hi, fn, ctx);
        break;
    default: { /* conv2d, conv3d: HWIO (DHWIO), output channel innermost */
        const size_t taps = taps_of(l);
        if (p->method == MC_SPLIT_CONV_CHANNEL) { /* output channels [lo,hi) of every (tap, ci) */
            const size_t f = (size_t)l->units;
            for (size_t t = 0; t < taps * cin; t++) emit(fn, ctx, t * f, t * cout + (size_t)p->out_lo, f);
        } else { /* conv_filter: input channels [lo,hi) of every tap, all filters */
            const size_t c = (size_t)(p->in_hi - p->in_lo);
            for (size_t t = 0; t < taps; t++) emit(fn, ctx, t * c * cout, (t * cin + (size_t)p->in_lo) * cout, c * cout);
        }
        break;
    }
    }
}

static mc_status alloc_part(mc_split_part *p)
{
    char nm[MC_NAME_MAX + 8];
    mc_split_part_free(p);
    snprintf(nm, sizeof nm, "%s.weight", p->layer.name);
    mc_status st = mc_tensor_alloc(&p->layer.weight, p->layer.wshape, nm);
    if (st) return st;
    snprintf(nm, sizeof nm, "%s.bias", p->layer.name);
    if ((st = mc_tensor_alloc(&p->layer.bias, p->layer.bshape, nm))) {
        mc_tensor_free(&p->layer.weight);
        return st;
    }
    memset(p->layer.bias.data, 0, mc_tensor_bytes(&p->layer.bias));
    for (int k = 0; k < MC_MAX_AUX; k++) {
        if (!mc_shape_count(&p->layer.auxshape[k])) continue;
        snprintf(nm, sizeof nm, "%s.%s", p->layer.name, mc_op_get(p->layer.op)->aux_names[k]);
        if ((st = mc_tensor_alloc(&p->layer.aux[k], p->layer.auxshape[k], nm))) {
            mc_split_part_free(p);
            return st;
        }
    }
    return MC_OK;
}

/* The part's tensor `which` (weight, bias, aux k) and the full layer's. */
static mc_tensor *part_tensor(mc_layer *l, int which)
{
    return which == MC_SPLIT_WEIGHT ? &l->weight : which == MC_SPLIT_BIAS ? &l->bias : &l->aux[which - MC_SPLIT_AUX0];
}

static int n_tensors(const mc_layer *l)
{
    int n = MC_SPLIT_AUX0;
    for (int k = 0; k < MC_MAX_AUX; k++)
        if (mc_shape_count(&l->auxshape[k])) n = MC_SPLIT_AUX0 + k + 1;
    return n;
}

typedef struct copy_ctx {
    float *dst;
    const float *src;
} copy_ctx;

static void copy_run(const mc_split_run *r, void *ctx)
{
    copy_ctx *c = ctx;
    memcpy(c->dst + r->dst, c->src + r->src, r->len * sizeof(float));
}

mc_status mc_split_part_load_from(mc_split_part *p, const mc_layer *full)
{
    int missing = !full->weight.data || !full->bias.data;
    for (int k = 0; k < MC_MAX_AUX; k++) missing |= mc_shape_count(&full->auxshape[k]) && !full->aux[k].data;
    if (missing)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded, cannot slice part %d",
                            full->name, p->k);
    if (full->bn_folded)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: its weights hold a folded batchnorm; slice part %d "
                            "before folding and fold the part (mc_split_part_fold_bn)", full->name, p->k);
    mc_status st = alloc_part(p);
    if (st) return st;
    for (int w = 0; w < n_tensors(&p->layer); w++) {
        copy_ctx c = {part_tensor(&p->layer, w)->data, part_tensor((mc_layer *)full, w)->data};
        mc_split_weight_runs(p, w, copy_run, &c);
    }
    return MC_OK;
}

typedef struct rng_ctx {
    float *dst;
    uint64_t seed, stream;
    float offset, scale;
} rng_ctx;

static void rng_run(const mc_split_run *r, void *ctx)
{
    rng_ctx *c = ctx;
    mc_rng_fill(c->dst + r->dst, r->len, c->seed, c->stream, r->src, c->scale);
    if (c->offset != 0.0f)
        for (size_t e = 0; e < r->len; e++) c->dst[r->dst + e] += c->offset;
}

mc_status mc_split_part_load_random(mc_split_part *p, const mc_layer *full, uint64_t seed)
{
    mc_status st = alloc_part(p);
    if (st) return st;
    for (int w = 0; w < n_tensors(&p->layer); w++) {
        rng_ctx c = {part_tensor(&p->layer, w)->data, seed, 0, 0.0f, 0.0f};
        mc_weights_random_rule(full, w, &c.stream, &c.offset, &c.scale);
        mc_split_weight_runs(p, w, rng_run, &c);
    }
    return MC_OK;
}

mc_status mc_split_part_fold_bn(mc_split_part *p, const mc_layer *bn)
{
    mc_layer *l = &p->layer;
    if (l->bn_folded) return MC_OK;
    mc_tensor *w = l->op == MC_OP_SEPCONV2D ? &l->aux[0] : &l->weight; /* output channel innermost */
    const size_t cp = (size_t)l->out.ne[0], C = (size_t)bn->in.ne[0];
    const size_t base = p->merge_kind == MC_SPLIT_MERGE_CONCAT ? (size_t)p->out_lo : 0;
    if (!w->data || !l->bias.data || !bn->weight.data || !bn->bias.data || !bn->aux[0].data || !bn->aux[1].data)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights of the part and of batchnorm %s must be loaded to fold",
                            l->name, bn->name);
    if (base + cp > C || C != (size_t)p->full_out.ne[0] || mc_tensor_count(w) % cp)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: cannot fold batchnorm %s (%zu channels) into a part of %zu outputs",
                            l->name, bn->name, C, cp);
    float *scale = malloc(2 * C * sizeof *scale);
    if (!scale) return mc_error_set(MC_ERR_NOMEM, "layer %s: out of memory folding batchnorm %s", l->name, bn->name);
    float *shift = scale + C;
    mc_batchnorm_scale_shift(bn, scale, shift);
    const size_t n = mc_tensor_count(w);
    for (size_t e = 0; e < n; e += cp)
        for (size_t c = 0; c < cp; c++) w->data[e + c] *= scale[base + c];
    if (!bias_is_zero(p)) /* a sum merge adds the shift once: with part 0's bias */
        for (size_t c = 0; c < cp; c++) l->bias.data[c] = l->bias.data[c] * scale[base + c] + shift[base + c];
    free(scale);
    l->bn_folded = 1;
    return MC_OK;
}

void mc_split_slice_input(const mc_split_part *p, const mc_layer *full, const float *in, float *out)
{
    const int C = full->in.ne[0], W = full->in.ne[1], H = full->in.ne[2], T = full->in.ne[3];
    switch (p->in_kind) {
    case MC_SPLIT_IN_WHOLE:
        memcpy(out, in, mc_shape_count(&full->in) * sizeof(float));
        break;
    case MC_SPLIT_IN_RANGE:
        memcpy(out, in + p->in_lo, (size_t)(p->in_hi - p->in_lo) * sizeof(float));
        break;
    case MC_SPLIT_IN_CHANNELS: {
        const size_t c = (size_t)(p->in_hi - p->in_lo), pixels = mc_shape_count(&full->in) / (size_t)C;
        for (size_t px = 0; px < pixels; px++)
            memcpy(out + px * c, in + px * C + p->in_lo, c * sizeof(float));
        break;
    }
    case MC_SPLIT_IN_TILE: {
        const size_t th = (size_t)(p->in_y1 - p->in_y0), tw = (size_t)(p->in_x1 - p->in_x0);
        for (int t = p->in_t0; t < p->in_t1; t++)
            for (int y = p->in_y0; y < p->in_y1; y++)
                for (int x = p->in_x0; x < p->in_x1; x++) {
                    float *o = out + (((size_t)(t - p->in_t0) * th + (size_t)(y - p->in_y0)) * tw +
                                      (size_t)(x - p->in_x0)) * C;
                    if (t < 0 || t >= T || y < 0 || y >= H || x < 0 || x >= W)
                        memset(o, 0, (size_t)C * sizeof(float));
                    else
                        memcpy(o, in + (((size_t)t * H + y) * W + x) * C, (size_t)C * sizeof(float));
                }
        break;
    }
    }
}

static int merge_is_sum(mc_split_method m) { return m == MC_SPLIT_FC_INPUT || m == MC_SPLIT_CONV_FILTER; }

void mc_split_merge_begin(const mc_layer *full, mc_split_method method, float *out)
{
    if (merge_is_sum(method)) memset(out, 0, mc_shape_count(&full->out) * sizeof(float));
}

void mc_split_merge_add(const mc_split_part *p, const mc_layer *full, const float *part_out, float *out)
{
    const int C = full->out.ne[0], W = full->out.ne[1], H = full->out.ne[2];
    const size_t pixels = mc_shape_count(&full->out) / (size_t)C;
    switch (p->merge_kind) {
    case MC_SPLIT_MERGE_CONCAT: {
        const size_t f = (size_t)(p->out_hi - p->out_lo);
        for (size_t px = 0; px < pixels; px++)
            memcpy(out + px * C + p->out_lo, part_out + px * f, f * sizeof(float));
        break;
    }
    case MC_SPLIT_MERGE_SUM: {
        const size_t n = mc_shape_count(&full->out);
        for (size_t i = 0; i < n; i++) out[i] += part_out[i];
        break;
    }
    case MC_SPLIT_MERGE_TILE: { /* every frame (conv3d) has the same tile */
        const size_t row = (size_t)(p->out_x1 - p->out_x0) * C, rows = (size_t)(p->out_y1 - p->out_y0);
        for (int t = 0; t < full->out.ne[3]; t++)
            for (int y = p->out_y0; y < p->out_y1; y++)
                memcpy(out + (((size_t)t * H + y) * W + p->out_x0) * C,
                       part_out + ((size_t)t * rows + (size_t)(y - p->out_y0)) * row, row * sizeof(float));
        break;
    }
    }
}

void mc_split_merge_end(const mc_layer *full, mc_split_method method, float *out)
{
    const size_t n = mc_shape_count(&full->out), C = (size_t)full->out.ne[0];
    if (merge_is_sum(method)) { /* the bias came with part 0 */
        mc_act_apply(full->act, out, n, C);
    } else if (full->act == MC_ACT_SOFTMAX &&
               (method == MC_SPLIT_FC_OUTPUT || method == MC_SPLIT_CONV_CHANNEL)) {
        mc_act_apply(full->act, out, n, C);
    }
}

void mc_split_merge(const mc_split_part *parts, int n, const mc_layer *full, const float *const *outs,
                    float *out)
{
    if (n < 1) return;
    mc_split_merge_begin(full, parts[0].method, out);
    for (int k = 0; k < n; k++) mc_split_merge_add(&parts[k], full, outs[k], out);
    mc_split_merge_end(full, parts[0].method, out);
}

size_t mc_split_param_count(const mc_split_part *p)
{
    size_t n = mc_shape_count(&p->layer.wshape) + mc_shape_count(&p->layer.bshape);
    for (int k = 0; k < MC_MAX_AUX; k++) n += mc_shape_count(&p->layer.auxshape[k]);
    return n;
}
