/* window.c - the sliding window of per-frame vectors (window.h). */
#include "window.h"

#include <string.h>

#include "../core/alloc.h"

mc_status mc_window_init(mc_window *w, int cap, size_t dim)
{
    memset(w, 0, sizeof *w);
    if (cap < 1 || dim < 1) return mc_error_set(MC_ERR_INVALID_ARG, "window of %d vectors of %zu floats", cap, dim);
    w->cap = cap;
    w->dim = dim;
    w->data = mc_alloc((size_t)cap * dim * sizeof(float));
    w->tags = mc_alloc((size_t)cap * sizeof(uint64_t));
    if (!w->data || !w->tags) {
        mc_window_free(w);
        return mc_error_set(MC_ERR_NOMEM, "window of %d vectors of %zu floats: out of memory", cap, dim);
    }
    return MC_OK;
}

void mc_window_free(mc_window *w)
{
    mc_free(w->data);
    mc_free(w->tags);
    memset(w, 0, sizeof *w);
}

void mc_window_clear(mc_window *w) { w->n = w->head = 0; }

void mc_window_push(mc_window *w, uint64_t tag, const float *x)
{
    int slot;
    if (w->n < w->cap) {
        slot = (w->head + w->n) % w->cap;
        w->n++;
    } else {
        slot = w->head;
        w->head = (w->head + 1) % w->cap;
    }
    memcpy(w->data + (size_t)slot * w->dim, x, w->dim * sizeof(float));
    w->tags[slot] = tag;
}

const float *mc_window_at(const mc_window *w, int k) { return w->data + (size_t)((w->head + k) % w->cap) * w->dim; }

uint64_t mc_window_tag(const mc_window *w, int k) { return w->tags[(w->head + k) % w->cap]; }

void mc_window_copy(const mc_window *w, float *out)
{
    for (int k = 0; k < w->n; k++) memcpy(out + (size_t)k * w->dim, mc_window_at(w, k), w->dim * sizeof(float));
}

void mc_window_stack_channels(const mc_window *w, int c, float *out)
{
    const size_t P = w->dim / (size_t)c, row = (size_t)w->n * (size_t)c;
    for (int k = 0; k < w->n; k++) {
        const float *x = mc_window_at(w, k);
        for (size_t p = 0; p < P; p++) memcpy(out + p * row + (size_t)k * c, x + p * c, (size_t)c * sizeof(float));
    }
}
