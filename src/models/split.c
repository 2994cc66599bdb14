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
#include <string.h>

#include "../core/rng.h"
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
    case MC_SPLIT_CONV_FILTER:
    case MC_SPLIT_CONV_SPATIAL: return l->op == MC_OP_CONV2D;
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
                            method == MC_SPLIT_FC_OUTPUT || method == MC_SPLIT_FC_INPUT ? "dense" : "conv2d",
                            mc_op_get(full->op)->name);

    mc_layer *l = &out->layer;
    *l = *full;
    memset(&l->weight, 0, sizeof l->weight);
    memset(&l->bias, 0, sizeof l->bias);
    snprintf(l->name, sizeof l->name, "%.30s.%s%d", full->name,
             method == MC_SPLIT_CONV_SPATIAL ? "t" : "p", k);
    out->method = method;
    out->parts = parts;
    out->k = k;
    out->grid_h = out->grid_w = 1;
    out->in_kind = MC_SPLIT_IN_WHOLE;
    out->full_in = full->in;
    out->full_out = full->out;
    out->full_index = full->index;
    const int units = full->units, cin = full->in.ne[0];
    const int n_in = (int)mc_shape_count(&full->in);
    const mc_act part_act = full->act == MC_ACT_SOFTMAX ? MC_ACT_NONE : full->act;

    switch (method) {
    case MC_SPLIT_FC_OUTPUT:
    case MC_SPLIT_CONV_CHANNEL:
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
        l->in = mc_shape_make(cin, out->in_x1 - out->in_x0, out->in_y1 - out->in_y0, 1);
        l->padding = MC_PAD_VALID;
        out->merge_kind = MC_SPLIT_MERGE_TILE;
        break;
    }
    default: break;
    }
    mc_status st = mc_layer_infer(l);
    if (st) return st;
    if (method == MC_SPLIT_CONV_SPATIAL &&
        (l->out.ne[2] != out->out_y1 - out->out_y0 || l->out.ne[1] != out->out_x1 - out->out_x0))
        return mc_error_set(MC_ERR_SHAPE, "layer %s: spatial tile %d of %dx%d has the wrong output size",
                            full->name, k, out->grid_h, out->grid_w);
    return MC_OK;
}

void mc_split_part_free(mc_split_part *p)
{
    mc_tensor_free(&p->layer.weight);
    mc_tensor_free(&p->layer.bias);
}

size_t mc_split_in_count(const mc_split_part *p) { return mc_shape_count(&p->layer.in); }
size_t mc_split_out_count(const mc_split_part *p) { return mc_shape_count(&p->layer.out); }

/* Sum merges: part 0 carries the full bias, the other parts none, so the
 * sum of the parts is the full pre-activation and the receiver of the parts
 * needs no parameters (only the activation). */
static int bias_is_zero(const mc_split_part *p) { return p->merge_kind == MC_SPLIT_MERGE_SUM && p->k != 0; }

void mc_split_weight_runs(const mc_split_part *p, int bias,
                          void (*fn)(const mc_split_run *r, void *ctx), void *ctx)
{
    const mc_layer *l = &p->layer;
    mc_split_run r;
    if (bias) {
        if (bias_is_zero(p)) return;
        r.dst = 0;
        r.src = p->merge_kind == MC_SPLIT_MERGE_CONCAT ? (size_t)p->out_lo : 0; /* sum: part 0, all */
        r.len = (size_t)l->units;
        fn(&r, ctx);
        return;
    }
    const size_t cout = (size_t)p->full_out.ne[0], cin = (size_t)p->full_in.ne[0];
    const size_t taps = (size_t)l->kh * l->kw;
    switch (p->method) {
    case MC_SPLIT_FC_OUTPUT: { /* rows [lo,hi) of W[out][in]: one block */
        const size_t n_in = mc_shape_count(&p->full_in);
        r.dst = 0;
        r.src = (size_t)p->out_lo * n_in;
        r.len = (size_t)l->units * n_in;
        fn(&r, ctx);
        break;
    }
    case MC_SPLIT_FC_INPUT: { /* columns [lo,hi) of every row */
        const size_t n_in = mc_shape_count(&p->full_in), sub = (size_t)(p->in_hi - p->in_lo);
        for (size_t o = 0; o < (size_t)l->units; o++) {
            r.dst = o * sub;
            r.src = o * n_in + (size_t)p->in_lo;
            r.len = sub;
            fn(&r, ctx);
        }
        break;
    }
    case MC_SPLIT_CONV_CHANNEL: { /* HWIO: output channels [lo,hi) of every (ky,kx,ci) */
        const size_t f = (size_t)l->units;
        for (size_t t = 0; t < taps * cin; t++) {
            r.dst = t * f;
            r.src = t * cout + (size_t)p->out_lo;
            r.len = f;
            fn(&r, ctx);
        }
        break;
    }
    case MC_SPLIT_CONV_FILTER: { /* HWIO: input channels [lo,hi) of every (ky,kx), all filters */
        const size_t c = (size_t)(p->in_hi - p->in_lo);
        for (size_t t = 0; t < taps; t++) {
            r.dst = t * c * cout;
            r.src = (t * cin + (size_t)p->in_lo) * cout;
            r.len = c * cout;
            fn(&r, ctx);
        }
        break;
    }
    case MC_SPLIT_CONV_SPATIAL: /* every part holds all weights */
        r.dst = 0;
        r.src = 0;
        r.len = mc_shape_count(&l->wshape);
        fn(&r, ctx);
        break;
    default: break;
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
    return MC_OK;
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
    if (!full->weight.data || !full->bias.data)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded, cannot slice part %d",
                            full->name, p->k);
    mc_status st = alloc_part(p);
    if (st) return st;
    copy_ctx c = {p->layer.weight.data, full->weight.data};
    mc_split_weight_runs(p, 0, copy_run, &c);
    c.dst = p->layer.bias.data;
    c.src = full->bias.data;
    mc_split_weight_runs(p, 1, copy_run, &c);
    return MC_OK;
}

typedef struct rng_ctx {
    float *dst;
    uint64_t seed, stream;
    float scale;
} rng_ctx;

static void rng_run(const mc_split_run *r, void *ctx)
{
    rng_ctx *c = ctx;
    mc_rng_fill(c->dst + r->dst, r->len, c->seed, c->stream, r->src, c->scale);
}

mc_status mc_split_part_load_random(mc_split_part *p, const mc_layer *full, uint64_t seed)
{
    mc_status st = alloc_part(p);
    if (st) return st;
    const uint64_t i = (uint64_t)full->index;
    rng_ctx c = {p->layer.weight.data, seed, 2 * i, mc_weights_random_scale(full)};
    mc_split_weight_runs(p, 0, rng_run, &c);
    c.dst = p->layer.bias.data;
    c.stream = 2 * i + 1;
    c.scale = 0.01f;
    mc_split_weight_runs(p, 1, rng_run, &c);
    return MC_OK;
}

void mc_split_slice_input(const mc_split_part *p, const mc_layer *full, const float *in, float *out)
{
    const int C = full->in.ne[0], W = full->in.ne[1], H = full->in.ne[2];
    switch (p->in_kind) {
    case MC_SPLIT_IN_WHOLE:
        memcpy(out, in, mc_shape_count(&full->in) * sizeof(float));
        break;
    case MC_SPLIT_IN_RANGE:
        memcpy(out, in + p->in_lo, (size_t)(p->in_hi - p->in_lo) * sizeof(float));
        break;
    case MC_SPLIT_IN_CHANNELS: {
        const size_t c = (size_t)(p->in_hi - p->in_lo), pixels = (size_t)W * H;
        for (size_t px = 0; px < pixels; px++)
            memcpy(out + px * c, in + px * C + p->in_lo, c * sizeof(float));
        break;
    }
    case MC_SPLIT_IN_TILE:
        for (int y = p->in_y0; y < p->in_y1; y++)
            for (int x = p->in_x0; x < p->in_x1; x++) {
                float *o = out + ((size_t)(y - p->in_y0) * (p->in_x1 - p->in_x0) + (x - p->in_x0)) * C;
                if (y < 0 || y >= H || x < 0 || x >= W)
                    memset(o, 0, (size_t)C * sizeof(float));
                else
                    memcpy(o, in + ((size_t)y * W + x) * C, (size_t)C * sizeof(float));
            }
        break;
    }
}

static int merge_is_sum(mc_split_method m) { return m == MC_SPLIT_FC_INPUT || m == MC_SPLIT_CONV_FILTER; }

void mc_split_merge_begin(const mc_layer *full, mc_split_method method, float *out)
{
    if (merge_is_sum(method)) memset(out, 0, mc_shape_count(&full->out) * sizeof(float));
}

void mc_split_merge_add(const mc_split_part *p, const mc_layer *full, const float *part_out, float *out)
{
    const int C = full->out.ne[0], W = full->out.ne[1];
    const size_t pixels = (size_t)full->out.ne[1] * full->out.ne[2];
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
    case MC_SPLIT_MERGE_TILE: {
        const size_t row = (size_t)(p->out_x1 - p->out_x0) * C;
        for (int y = p->out_y0; y < p->out_y1; y++)
            memcpy(out + ((size_t)y * W + p->out_x0) * C, part_out + (size_t)(y - p->out_y0) * row,
                   row * sizeof(float));
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
    return mc_shape_count(&p->layer.wshape) + mc_shape_count(&p->layer.bshape);
}
