/* window.h - a sliding window of the last `cap` per-frame vectors.
 *
 * Musical Chair section 4.4: a stage that needs several frames (the
 * temporal CNN: 10 flows; the temporal pyramid: 15 spatial and 25 temporal
 * vectors) keeps a window; a new vector pushes the oldest out.  A ring of
 * fixed size, allocated once: the window never grows.  Each slot keeps the
 * tag (frame number) of its vector, so a reader can tell which frames a
 * window holds and whether they are consecutive. */
#ifndef MC_WINDOW_H
#define MC_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct mc_window {
    int cap, n;       /* slots, vectors held (n <= cap) */
    int head;         /* slot of the oldest vector */
    size_t dim;       /* floats a vector */
    float *data;      /* cap x dim */
    uint64_t *tags;   /* cap tags */
} mc_window;

mc_status mc_window_init(mc_window *w, int cap, size_t dim);
void mc_window_free(mc_window *w);
/* Forgets every vector (a stream restarts). */
void mc_window_clear(mc_window *w);
/* Appends x (dim floats) with its tag; when full, the oldest goes. */
void mc_window_push(mc_window *w, uint64_t tag, const float *x);
static inline int mc_window_full(const mc_window *w) { return w->n == w->cap; }
/* The k-th vector, 0 the oldest (k < n). */
const float *mc_window_at(const mc_window *w, int k);
uint64_t mc_window_tag(const mc_window *w, int k);
/* Copies the n vectors into out (n x dim floats), oldest first. */
void mc_window_copy(const mc_window *w, float *out);
/* The vectors as channels: out[p * (n * c) + k * c + j] = vector k's
 * element p * c + j, for vectors of P positions x c channels.  The temporal
 * CNN's input: 10 flows of H x W x 2 become H x W x 20, flow k at channels
 * 2k, 2k+1. */
void mc_window_stack_channels(const mc_window *w, int c, float *out);

#endif
