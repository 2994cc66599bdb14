/* net.c - the layer-range runner (see net.h). */
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double mc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t mc_net_in_count(const mc_net *n)
{
    mc_shape s = mc_model_range_in(n->model, n->first);
    return mc_shape_count(&s);
}

size_t mc_net_out_count(const mc_net *n)
{
    mc_shape s = mc_model_range_out(n->model, n->last);
    return mc_shape_count(&s);
}

mc_status mc_net_init(mc_net *n, mc_model *m, int first, int last, mc_backend *be)
{
    memset(n, 0, sizeof *n);
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    n->model = m;
    n->first = first;
    n->last = first;
    n->be = be;
    /* Prepare first: it decides the kernels (Winograd or not, threads), and
     * with them the workspace each layer needs. */
    for (int i = first; i < last; i++) {
        mc_layer *l = &m->layers[i];
        if (!be->supports_layer(be, l)) {
            st = mc_error_set(MC_ERR_UNSUPPORTED, "backend %s cannot run layer %s (%s)", be->name,
                              l->name, mc_op_get(l->op)->name);
            goto fail;
        }
        if ((st = be->prepare_layer(be, l))) goto fail;
        n->last = i + 1; /* layers [first, n->last) are prepared */
    }
    size_t act = mc_shape_count(&m->layers[first].in);
    for (int i = first; i < last; i++) {
        mc_layer *l = &m->layers[i];
        size_t o = mc_shape_count(&l->out), w = be->workspace_bytes(be, l);
        if (o > act) act = o;
        if (w > n->ws_bytes) n->ws_bytes = w;
    }
    n->buf_bytes = act * sizeof(float);
    n->layer_sec = calloc((size_t)(last - first), sizeof *n->layer_sec);
    if (!n->layer_sec) {
        st = mc_error_set(MC_ERR_NOMEM, "net: out of memory");
        goto fail;
    }
    if ((st = be->buffer_alloc(be, n->buf_bytes, &n->buf[0])) ||
        (st = be->buffer_alloc(be, n->buf_bytes, &n->buf[1])) ||
        (n->ws_bytes && (st = be->buffer_alloc(be, n->ws_bytes, &n->ws))))
        goto fail;
    return MC_OK;
fail:
    for (int k = first; k < n->last; k++) be->release_layer(be, &m->layers[k]);
    if (n->buf[0]) be->buffer_free(be, n->buf[0]);
    if (n->buf[1]) be->buffer_free(be, n->buf[1]);
    if (n->ws) be->buffer_free(be, n->ws);
    free(n->layer_sec);
    memset(n, 0, sizeof *n);
    return st;
}

mc_status mc_net_forward(mc_net *n, const float *in, float *out)
{
    mc_backend *be = n->be;
    mc_status st = be->upload(be, n->buf[0], in, mc_net_in_count(n));
    if (st) return st;
    int cur = 0;
    for (int i = n->first; i < n->last; i++) {
        const mc_layer *l = &n->model->layers[i];
        double t0 = n->profile ? mc_now() : 0;
        if ((st = be->forward(be, l, n->buf[cur], n->buf[cur ^ 1], n->ws))) return st;
        if (n->profile) {
            if ((st = be->synchronize(be))) return st;
            n->layer_sec[i - n->first] = mc_now() - t0;
        }
        cur ^= 1;
    }
    return be->download(be, out, n->buf[cur], mc_net_out_count(n));
}

void mc_net_free(mc_net *n)
{
    if (!n->be) return;
    for (int i = n->first; i < n->last; i++) n->be->release_layer(n->be, &n->model->layers[i]);
    n->be->buffer_free(n->be, n->buf[0]);
    n->be->buffer_free(n->be, n->buf[1]);
    if (n->ws) n->be->buffer_free(n->be, n->ws);
    free(n->layer_sec);
    memset(n, 0, sizeof *n);
}
