/* net.c - the layer-range runner (see net.h): buffer plan, then forward. */
#include "net.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "fold.h"

double mc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t mc_net_in_count(const mc_net *n) { return n->n_in ? n->in_t[n->n_in - 1].offset + n->in_t[n->n_in - 1].floats : 0; }
size_t mc_net_out_count(const mc_net *n)
{
    return n->n_out ? n->out_t[n->n_out - 1].offset + n->out_t[n->n_out - 1].floats : 0;
}
int mc_net_n_inputs(const mc_net *n) { return n->n_in; }
int mc_net_n_outputs(const mc_net *n) { return n->n_out; }
const mc_cut_tensor *mc_net_input(const mc_net *n, int k) { return k >= 0 && k < n->n_in ? &n->in_t[k] : NULL; }
const mc_cut_tensor *mc_net_output(const mc_net *n, int k) { return k >= 0 && k < n->n_out ? &n->out_t[k] : NULL; }

size_t mc_net_activation_bytes(const mc_net *n)
{
    size_t s = mc_net_stream_ring_bytes(n, -1);
    for (int b = 0; b < n->n_bufs; b++) s += n->buf_bytes[b];
    return s;
}

/* ---- the buffer plan ---------------------------------------------------- */

/* val_buf of the caller's array j: inputs 0..n_in-1, then outputs. */
#define IO_BUF(j) (-2 - (j))

typedef struct planner {
    mc_net *n;
    int *root;     /* [v + 1]: the value whose buffer v lives in (v itself unless v is a view) */
    int *last_use; /* [r + 1]: last layer reading root r (INT_MAX: an output of the range) */
    int *busy;     /* per buffer: 1 while a live value holds it */
} planner;

static int root_of(const planner *p, int v) { return p->root[v + 1]; }

/* A free buffer for `bytes`: the smallest that is large enough, else the
 * largest (grown), else a new one. */
static int take(planner *p, size_t bytes)
{
    mc_net *n = p->n;
    int fit = -1, big = -1;
    for (int b = 0; b < n->n_bufs; b++) {
        if (p->busy[b]) continue;
        if (n->buf_bytes[b] >= bytes && (fit < 0 || n->buf_bytes[b] < n->buf_bytes[fit])) fit = b;
        if (big < 0 || n->buf_bytes[b] > n->buf_bytes[big]) big = b;
    }
    const int b = fit >= 0 ? fit : big >= 0 ? big : n->n_bufs++; /* a new buffer starts at 0 bytes */
    if (n->buf_bytes[b] < bytes) n->buf_bytes[b] = bytes;
    p->busy[b] = 1;
    return b;
}

/* Fills n->in_t / n->out_t: the cut's tensors with the shapes this range
 * reads (a split part may read a slice) and makes, and their offsets. */
static void cut_shapes(mc_net *n)
{
    const mc_model *m = n->model;
    size_t off = 0;
    for (int k = 0; k < n->n_in; k++) {
        mc_cut_tensor *t = &n->in_t[k];
        for (int i = n->first; i < n->last; i++) {
            const mc_layer *l = &m->layers[i];
            int found = 0;
            for (int j = 0; j < l->n_in && !found; j++)
                if (l->inputs[j] == t->producer) t->shape = l->ins[j], found = 1;
            if (found) break;
        }
        t->floats = mc_shape_count(&t->shape);
        t->offset = off;
        off += t->floats;
    }
    off = 0;
    for (int k = 0; k < n->n_out; k++) {
        mc_cut_tensor *t = &n->out_t[k];
        if (t->producer >= n->first) t->shape = m->layers[t->producer].out;
        else
            for (int j = 0; j < n->n_in; j++)
                if (n->in_t[j].producer == t->producer) t->shape = n->in_t[j].shape; /* passes through */
        t->floats = mc_shape_count(&t->shape);
        t->offset = off;
        off += t->floats;
    }
}

static mc_status plan(mc_net *n)
{
    const mc_model *m = n->model;
    const int nv = n->last + 1, first = n->first, last = n->last;
    planner p = {n, mc_alloc((size_t)nv * sizeof(int)), mc_alloc((size_t)nv * sizeof(int)),
                 mc_calloc((size_t)(n->n_in + last - first), sizeof(int))};
    mc_status st = MC_OK;
    n->val_buf = mc_alloc((size_t)nv * sizeof(int));
    n->bufs = mc_calloc((size_t)(n->n_in + last - first), sizeof(void *));
    n->buf_bytes = mc_calloc((size_t)(n->n_in + last - first), sizeof(size_t));
    if (!p.root || !p.last_use || !p.busy || !n->val_buf || !n->bufs || !n->buf_bytes) {
        st = mc_error_set(MC_ERR_NOMEM, "net: out of memory planning buffers for %d layers", last - first);
        goto done;
    }
    for (int v = -1; v < last; v++) {
        p.root[v + 1] = v;
        p.last_use[v + 1] = -1;
        n->val_buf[v + 1] = -1;
    }
    for (int i = first; i < last; i++)
        if (m->layers[i].alias) p.root[i + 1] = root_of(&p, m->layers[i].inputs[0]);
    for (int i = first; i < last; i++) {
        const mc_layer *l = &m->layers[i];
        if (l->alias) continue;
        for (int k = 0; k < l->n_in; k++) p.last_use[root_of(&p, l->inputs[k]) + 1] = i;
    }
    for (int k = 0; k < n->n_out; k++) p.last_use[root_of(&p, n->out_t[k].producer) + 1] = INT_MAX;
    /* On a host backend the inputs are the caller's arrays and the outputs
     * are written into the caller's arrays (IO_BUF): no buffer, no copy. */
    const int io = n->be->host_memory;
    for (int k = 0; k < n->n_in; k++)
        n->val_buf[n->in_t[k].producer + 1] = io ? IO_BUF(k) : take(&p, n->in_t[k].floats * sizeof(float));
    for (int i = first; i < last; i++) {
        const mc_layer *l = &m->layers[i];
        if (l->alias) continue;
        /* A streamed chain (net_stream.h) is one step here: its inner
         * outputs live in rings, its last output in a buffer, and its
         * first layer's input is held until the whole chain has run. */
        const int c = n->chain_of ? n->chain_of[i - first] : -1;
        if (c >= 0 && i + 1 < n->chains[c].end) continue;
        const mc_layer *reader = c >= 0 ? &m->layers[n->chains[c].first] : l;
        const size_t bytes = mc_shape_count(&l->out) * sizeof(float);
        const int r0 = root_of(&p, l->inputs[0]);
        int b = -1;
        for (int k = 0; io && p.last_use[i + 1] == INT_MAX && k < n->n_out && b == -1; k++)
            if (root_of(&p, n->out_t[k].producer) == i) b = IO_BUF(n->n_in + k); /* written where the caller wants it */
        if (b != -1)
            ;
        else if (c < 0 && mc_op_get(l->op)->inplace && p.last_use[r0 + 1] == i && n->val_buf[r0 + 1] >= 0 &&
                 mc_shape_count(&l->in) == mc_shape_count(&l->out))
            b = n->val_buf[r0 + 1]; /* write over the dying first input (not the caller's) */
        else
            b = take(&p, bytes);
        n->val_buf[i + 1] = b;
        for (int k = 0; k < reader->n_in; k++) { /* inputs read for the last time give their buffer back */
            const int r = root_of(&p, reader->inputs[k]), rb = n->val_buf[r + 1];
            if (p.last_use[r + 1] == reader->index && rb != b && rb >= 0) p.busy[rb] = 0;
        }
        if (p.last_use[i + 1] < 0 && b >= 0) p.busy[b] = 0; /* never read: cannot happen in a parsed model */
    }
    for (int i = first; i < last; i++)
        if (m->layers[i].alias) n->val_buf[i + 1] = n->val_buf[root_of(&p, i) + 1];
done:
    mc_free(p.root);
    mc_free(p.last_use);
    mc_free(p.busy);
    return st;
}

/* ---- init, forward, free ------------------------------------------------- */

static void release(mc_net *n, int prepared_last)
{
    mc_backend *be = n->be;
    for (int i = n->first; i < prepared_last; i++)
        if (!n->model->layers[i].alias) be->release_layer(be, &n->model->layers[i]);
    for (int b = 0; b < n->n_bufs; b++)
        if (n->bufs && n->bufs[b]) be->buffer_free(be, n->bufs[b]);
    mc_net_stream_free(n);
    if (n->ws) be->buffer_free(be, n->ws);
    mc_free(n->bufs);
    mc_free(n->buf_bytes);
    mc_free(n->val_buf);
    mc_free(n->in_t);
    mc_free(n->out_t);
    mc_free(n->in_ptr);
    mc_free(n->out_ptr);
    mc_free(n->io);
    mc_free(n->layer_sec);
    memset(n, 0, sizeof *n);
}

/* MC_NET_OWN_TENSORS: drops the tensors that only pass through [first, last). */
static void own_tensors(mc_net *n)
{
    const mc_model *m = n->model;
    int k = 0;
    for (int j = 0; j < n->n_in; j++) {
        int read = 0;
        for (int i = n->first; i < n->last && !read; i++)
            for (int q = 0; q < m->layers[i].n_in; q++) read |= m->layers[i].inputs[q] == n->in_t[j].producer;
        if (read) n->in_t[k++] = n->in_t[j];
    }
    n->n_in = k;
    k = 0;
    for (int j = 0; j < n->n_out; j++)
        if (n->out_t[j].producer >= n->first) n->out_t[k++] = n->out_t[j];
    n->n_out = k;
}

mc_status mc_net_init(mc_net *n, mc_model *m, int first, int last, mc_backend *be)
{
    return mc_net_init_ex(n, m, first, last, be, 0);
}

mc_status mc_net_init_ex(mc_net *n, mc_model *m, int first, int last, mc_backend *be, unsigned flags)
{
    memset(n, 0, sizeof *n);
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    n->model = m;
    n->first = first;
    n->last = last;
    n->be = be;
    int prepared = first;
    n->n_in = mc_model_cut(m, first, NULL, 0);
    n->n_out = mc_model_cut(m, last, NULL, 0);
    n->in_t = mc_calloc((size_t)n->n_in, sizeof *n->in_t);
    n->out_t = mc_calloc((size_t)n->n_out, sizeof *n->out_t);
    n->in_ptr = mc_calloc((size_t)n->n_in, sizeof *n->in_ptr);
    n->out_ptr = mc_calloc((size_t)n->n_out, sizeof *n->out_ptr);
    n->layer_sec = mc_calloc((size_t)(last - first), sizeof *n->layer_sec);
    n->io = mc_calloc((size_t)(n->n_in + n->n_out), sizeof *n->io);
    if (!n->in_t || !n->out_t || !n->in_ptr || !n->out_ptr || !n->layer_sec || !n->io) {
        st = mc_error_set(MC_ERR_NOMEM, "net: out of memory");
        goto fail;
    }
    mc_model_cut(m, first, n->in_t, n->n_in);
    mc_model_cut(m, last, n->out_t, n->n_out);
    if (flags & MC_NET_OWN_TENSORS) own_tensors(n);
    cut_shapes(n);
    /* Fold batchnorms first: the backend prepares the folded weights. */
    for (int i = first; i < last; i++)
        if ((st = mc_fold_bn(m, &m->layers[i]))) goto fail;
    /* Prepare next: it decides the kernels (Winograd or not, threads), and
     * with them the workspace each layer needs. */
    for (int i = first; i < last; i++) {
        mc_layer *l = &m->layers[i];
        if (l->alias) {
            prepared = i + 1;
            continue;
        }
        if (!be->supports_layer(be, l) || (l->n_in > 1 && !be->forward_n)) {
            st = mc_error_set(MC_ERR_UNSUPPORTED, "backend %s cannot run layer %s (%s)", be->name,
                              l->name, mc_op_get(l->op)->name);
            goto fail;
        }
        if ((st = be->prepare_layer(be, l))) goto fail;
        prepared = i + 1; /* layers [first, prepared) are prepared */
    }
    if (!(flags & MC_NET_WHOLE) && (st = mc_net_stream_find(n))) goto fail;
    if ((st = plan(n))) goto fail;
    for (int i = first; i < last; i++) {
        const mc_layer *l = &m->layers[i];
        size_t w = l->alias ? 0 : be->workspace_bytes(be, l);
        if (w > n->ws_bytes) n->ws_bytes = w;
    }
    for (int b = 0; b < n->n_bufs; b++)
        if ((st = be->buffer_alloc(be, n->buf_bytes[b], &n->bufs[b]))) goto fail;
    if (n->ws_bytes && (st = be->buffer_alloc(be, n->ws_bytes, &n->ws))) goto fail;
    if ((st = mc_net_stream_alloc(n))) goto fail;
    return MC_OK;
fail:
    release(n, prepared);
    return st;
}

static void *buf_of(const mc_net *n, int v)
{
    const int b = n->val_buf[v + 1];
    return b >= 0 ? n->bufs[b] : n->io[IO_BUF(0) - b];
}

mc_status mc_net_forward_n(mc_net *n, const float *const *ins, float *const *outs)
{
    mc_backend *be = n->be;
    mc_status st;
    for (int k = 0; k < n->n_in; k++) {
        n->io[k] = (void *)(uintptr_t)ins[k]; /* read, never written (plan: no in-place write over it) */
        if (!be->host_memory && (st = be->upload(be, buf_of(n, n->in_t[k].producer), ins[k], n->in_t[k].floats)))
            return st;
    }
    for (int k = 0; k < n->n_out; k++) n->io[n->n_in + k] = outs[k];
    for (int i = n->first; i < n->last; i++) {
        const mc_layer *l = &n->model->layers[i];
        if (l->alias) continue;
        const int c = n->chain_of ? n->chain_of[i - n->first] : -1;
        if (c >= 0) { /* a streamed chain, from its first layer to its last */
            const mc_net_chain *ch = &n->chains[c];
            if ((st = mc_net_stream_run(n, c, buf_of(n, l->inputs[0]), buf_of(n, ch->end - 1)))) return st;
            i = ch->end - 1;
            continue;
        }
        double t0 = n->profile ? mc_now() : 0;
        void *out = buf_of(n, i);
        if (l->n_in == 1) {
            st = be->forward(be, l, buf_of(n, l->inputs[0]), out, n->ws);
        } else {
            for (int k = 0; k < l->n_in; k++) n->argv[k] = buf_of(n, l->inputs[k]);
            st = be->forward_n(be, l, n->argv, out, n->ws);
        }
        if (st) return st;
        if (n->profile) {
            if ((st = be->synchronize(be))) return st;
            n->layer_sec[i - n->first] = mc_now() - t0;
        }
    }
    for (int k = 0; k < n->n_out; k++) { /* what was not made in place: on a device, or passing through */
        const void *src = buf_of(n, n->out_t[k].producer);
        if (src != outs[k] && (st = be->download(be, outs[k], src, n->out_t[k].floats))) return st;
    }
    return MC_OK;
}

mc_status mc_net_forward(mc_net *n, const float *in, float *out)
{
    for (int k = 0; k < n->n_in; k++) n->in_ptr[k] = in + n->in_t[k].offset;
    for (int k = 0; k < n->n_out; k++) n->out_ptr[k] = out + n->out_t[k].offset;
    return mc_net_forward_n(n, n->in_ptr, n->out_ptr);
}

void mc_net_free(mc_net *n)
{
    if (!n->be) return;
    release(n, n->last);
}
