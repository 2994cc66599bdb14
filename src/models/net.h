/* net.h - running a contiguous layer range [first, last) of a model on a backend.
 *
 * The whole model is the range [0, n_layers); a farm task is any other range.
 * Running [0, k) then [k, n) gives the same numbers as [0, n) because both
 * execute the same layer code on the same data in the same order.
 *
 * Memory is fixed at init: two activation buffers sized for the largest
 * tensor in the range (ping-pong) plus one workspace for the hungriest
 * layer; forward() allocates nothing, so memory does not grow with the
 * number of inferences.
 */
#ifndef MC_NET_H
#define MC_NET_H

#include "../backend/backend.h"
#include "model.h"

typedef struct mc_net {
    mc_model *model;
    int first, last;     /* layer range */
    mc_backend *be;
    void *buf[2];        /* backend buffers, ping-pong */
    void *ws;            /* backend workspace */
    size_t buf_bytes, ws_bytes;
    int profile;         /* 1: time each layer (synchronises after each) */
    double *layer_sec;   /* seconds of the last forward, per layer in range */
} mc_net;

/* Weights of [first, last) must be loaded; prepares each layer on the backend. */
mc_status mc_net_init(mc_net *n, mc_model *m, int first, int last, mc_backend *be);
/* in: floats of the range's input shape; out: floats of its output shape (host memory). */
mc_status mc_net_forward(mc_net *n, const float *in, float *out);
void mc_net_free(mc_net *n);

size_t mc_net_in_count(const mc_net *n);
size_t mc_net_out_count(const mc_net *n);

/* Monotonic clock in seconds. */
double mc_now(void);

#endif
