/* twostream.c - the two-stream pipeline on one device (twostream.h): three
 * nets and three windows; the windows are the model's memory across frames. */
#include "twostream.h"

#include <string.h>

#include "../core/alloc.h"
#include "weights.h"

static const mc_twostream_def defs[] = {
    {"twostream", "twostream-spatial", "twostream-temporal", "twostream-head", 10, 15, 25},
    {"twostream-half", "twostream-spatial", "twostream-temporal", "twostream-half-head", 10, 15, 25},
};

const mc_twostream_def *mc_twostream_find(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (!strcmp(defs[i].name, name)) return &defs[i];
    return NULL;
}

size_t mc_twostream_classes(const mc_twostream *ts) { return mc_net_out_count(&ts->net[2]); }

/* The graphs must fit each other: frames and flows of one size, stream
 * vectors of one size, a head input of swin + twin vectors. */
static mc_status check_shapes(mc_twostream *ts)
{
    const mc_shape *si = &ts->model[0].input, *ti = &ts->model[1].input, *hi = &ts->model[2].input;
    const mc_twostream_def *d = ts->def;
    ts->w = si->ne[1], ts->h = si->ne[2];
    ts->dim = mc_net_out_count(&ts->net[0]);
    if (si->ne[0] != 3 || ti->ne[1] != ts->w || ti->ne[2] != ts->h || ti->ne[0] != 2 * d->flows)
        return mc_error_set(MC_ERR_SHAPE, "%s: the temporal graph %s must read %d flows (x2 channels) of the "
                            "spatial graph %s's frame size %dx%d", d->name, d->temporal, d->flows, d->spatial, ts->w, ts->h);
    if (mc_net_out_count(&ts->net[1]) != ts->dim || mc_shape_count(hi) != (size_t)(d->swin + d->twin) * ts->dim ||
        hi->ne[3] != d->swin + d->twin)
        return mc_error_set(MC_ERR_SHAPE, "%s: the head %s must read %d + %d vectors of %zu floats", d->name, d->head,
                            d->swin, d->twin, ts->dim);
    return MC_OK;
}

mc_status mc_twostream_open(mc_twostream *ts, const char *name, mc_backend *be, uint64_t seed)
{
    memset(ts, 0, sizeof *ts);
    if (!(ts->def = mc_twostream_find(name)))
        return mc_error_set(MC_ERR_NOT_FOUND, "unknown two-stream model '%s' (twostream, twostream-half)", name);
    const char *g[3] = {ts->def->spatial, ts->def->temporal, ts->def->head};
    mc_status st = MC_OK;
    for (int k = 0; k < 3 && !st; k++) {
        if ((st = mc_model_builtin(g[k], &ts->model[k]))) break;
        ts->open = k + 1;
        mc_model *m = &ts->model[k];
        if (!(st = mc_weights_random(m, 0, m->n_layers, seed + (uint64_t)k)))
            st = mc_net_init(&ts->net[k], m, 0, m->n_layers, be);
        if (st) {
            mc_model_free(m);
            ts->open = k;
        }
    }
    if (!st) st = check_shapes(ts);
    const size_t fdim = (size_t)ts->w * (size_t)ts->h;
    if (!st) st = mc_window_init(&ts->flowwin, ts->def->flows, fdim * 2);
    if (!st) st = mc_window_init(&ts->swin, ts->def->swin, ts->dim);
    if (!st) st = mc_window_init(&ts->twin, ts->def->twin, ts->dim);
    if (!st) {
        ts->vec = mc_alloc(ts->dim * sizeof(float));
        ts->stack = mc_alloc(fdim * 2 * (size_t)ts->def->flows * sizeof(float));
        ts->head_in = mc_alloc((size_t)(ts->def->swin + ts->def->twin) * ts->dim * sizeof(float));
        if (!ts->vec || !ts->stack || !ts->head_in)
            st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory for the window buffers", name);
    }
    if (st) mc_twostream_close(ts);
    return st;
}

void mc_twostream_reset(mc_twostream *ts)
{
    mc_window_clear(&ts->flowwin);
    mc_window_clear(&ts->swin);
    mc_window_clear(&ts->twin);
    ts->frames = 0;
}

static mc_status timed_forward(mc_twostream *ts, int g, const float *in, float *out)
{
    double t0 = mc_now();
    mc_status st = mc_net_forward(&ts->net[g], in, out);
    ts->sec[g] += mc_now() - t0;
    return st;
}

mc_status mc_twostream_step(mc_twostream *ts, uint64_t tag, const float *frame, const float *flow, float *scores,
                            int *ready)
{
    mc_status st;
    *ready = 0;
    if (ts->frames && tag != ts->last_tag + 1) ts->gaps += tag > ts->last_tag ? tag - ts->last_tag - 1 : 1;
    ts->frames++;
    ts->last_tag = tag;
    if ((st = timed_forward(ts, 0, frame, ts->vec))) return st;
    mc_window_push(&ts->swin, tag, ts->vec);
    if (flow) {
        mc_window_push(&ts->flowwin, tag, flow);
        if (mc_window_full(&ts->flowwin)) {
            mc_window_stack_channels(&ts->flowwin, 2, ts->stack);
            if ((st = timed_forward(ts, 1, ts->stack, ts->vec))) return st;
            mc_window_push(&ts->twin, tag, ts->vec);
        }
    }
    if (!mc_window_full(&ts->swin) || !mc_window_full(&ts->twin)) return MC_OK;
    mc_window_copy(&ts->swin, ts->head_in);
    mc_window_copy(&ts->twin, ts->head_in + (size_t)ts->def->swin * ts->dim);
    if ((st = timed_forward(ts, 2, ts->head_in, scores))) return st;
    ts->scored++;
    *ready = 1;
    return MC_OK;
}

mc_status mc_twostream_save_weights(const mc_twostream *ts, int g, const char *path)
{
    if (g < 0 || g >= ts->open) return mc_error_set(MC_ERR_INVALID_ARG, "two-stream graph %d is not open", g);
    return mc_weights_save(&ts->model[g], path);
}

void mc_twostream_close(mc_twostream *ts)
{
    for (int k = 0; k < ts->open; k++) {
        mc_net_free(&ts->net[k]);
        mc_model_free(&ts->model[k]);
    }
    ts->open = 0;
    mc_window_free(&ts->flowwin);
    mc_window_free(&ts->swin);
    mc_window_free(&ts->twin);
    mc_free(ts->vec);
    mc_free(ts->stack);
    mc_free(ts->head_in);
    ts->vec = ts->stack = ts->head_in = NULL;
}
