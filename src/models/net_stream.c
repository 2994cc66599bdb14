/* net_stream.c - chains of clip layers run a frame at a time (net_stream.h). */
#include "net_stream.h"

#include <string.h>

#include "../core/alloc.h"
#include "net.h"

/* Whether layer l can stream on this net's backend. */
static int streams(const mc_layer *l)
{
    const mc_op_def *d = mc_op_get(l->op);
    return !l->alias && l->n_in == 1 && d->forward_frame_cpu && l->kt >= 1 && l->kt <= MC_MAX_WINDOW &&
           l->in.ne[3] >= 1 && l->out.ne[3] >= 1;
}

int mc_net_stream_links(const mc_model *m, int a)
{
    if (a < 0 || a + 1 >= m->n_layers) return 0;
    const mc_layer *x = &m->layers[a], *y = &m->layers[a + 1];
    return streams(x) && streams(y) && y->inputs[0] == a && x->last_reader == a + 1;
}

mc_status mc_net_stream_find(mc_net *n)
{
    const mc_model *m = n->model;
    const int len = n->last - n->first;
    n->n_chains = 0;
    if (!n->be->forward_frame || len < 2) return MC_OK;
    n->chain_of = mc_alloc((size_t)len * sizeof(int));
    n->chains = mc_calloc((size_t)len / 2 + 1, sizeof(mc_net_chain));
    if (!n->chain_of || !n->chains)
        return mc_error_set(MC_ERR_NOMEM, "net: out of memory planning streamed chains for %d layers", len);
    for (int i = 0; i < len; i++) n->chain_of[i] = -1;
    for (int i = n->first; i + 1 < n->last;) {
        int e = i + 1;
        while (e < n->last && e - i < MC_NET_CHAIN_MAX && mc_net_stream_links(m, e - 1)) e++;
        if (e - i < 2) {
            i++;
            continue;
        }
        mc_net_chain *c = &n->chains[n->n_chains];
        memset(c, 0, sizeof *c);
        c->first = i;
        c->end = e;
        c->in_frame_bytes = mc_shape_frame_floats(&m->layers[i].in) * sizeof(float);
        size_t rings = 0, inner = 0; /* the rings, and the largest inner tensor whole */
        for (int j = 0; i + j < e; j++) {
            const mc_layer *l = &m->layers[i + j];
            c->frame_bytes[j] = mc_shape_frame_floats(&l->out) * sizeof(float);
            c->slots[j] = i + j + 1 < e ? m->layers[i + j + 1].kt : 0;
            rings += (size_t)c->slots[j] * c->frame_bytes[j];
            if (i + j + 1 < e && mc_shape_count(&l->out) * sizeof(float) > inner)
                inner = mc_shape_count(&l->out) * sizeof(float);
        }
        /* Worth it when the rings take less than the two buffers whole
         * tensors would ping-pong in (short clips, many thin layers: not).
         * The planner's estimate follows the same rule (planner.c). */
        if (rings < 2 * inner) {
            for (int j = i; j < e; j++) n->chain_of[j - n->first] = n->n_chains;
            n->n_chains++;
        }
        i = e;
    }
    return MC_OK;
}

size_t mc_net_stream_ring_bytes(const mc_net *n, int c)
{
    size_t s = 0;
    for (int k = c < 0 ? 0 : c; k < (c < 0 ? n->n_chains : c + 1); k++) {
        const mc_net_chain *ch = &n->chains[k];
        for (int j = 0; j + 1 < ch->end - ch->first; j++) s += (size_t)ch->slots[j] * ch->frame_bytes[j];
    }
    return s;
}

mc_status mc_net_stream_alloc(mc_net *n)
{
    for (int k = 0; k < n->n_chains; k++) {
        mc_net_chain *ch = &n->chains[k];
        for (int j = 0; j + 1 < ch->end - ch->first; j++) {
            mc_status st = n->be->buffer_alloc(n->be, (size_t)ch->slots[j] * ch->frame_bytes[j], &ch->ring[j]);
            if (st) return st;
        }
    }
    return MC_OK;
}

void mc_net_stream_free(mc_net *n)
{
    for (int k = 0; k < n->n_chains && n->chains; k++)
        for (int j = 0; j < MC_NET_CHAIN_MAX; j++)
            if (n->chains[k].ring[j]) n->be->buffer_free(n->be, n->chains[k].ring[j]);
    mc_free(n->chains);
    mc_free(n->chain_of);
    n->chains = NULL;
    n->chain_of = NULL;
    n->n_chains = 0;
}

/* Frame `it` of the output of chain member j (j = -1: the chain's input). */
static const void *frame_of(const mc_net_chain *ch, int j, int it, const void *in)
{
    if (j < 0) return (const char *)in + (size_t)it * ch->in_frame_bytes;
    return (const char *)ch->ring[j] + (size_t)(it % ch->slots[j]) * ch->frame_bytes[j];
}

/* Makes the frames of member j up to (not including) `upto`, pulling the
 * input frames each window needs from member j - 1 first. */
static mc_status make(mc_net *n, mc_net_chain *ch, int j, int upto, const void *in, void *out)
{
    const mc_layer *l = &n->model->layers[ch->first + j];
    const int T = l->in.ne[3], last = ch->first + j + 1 == ch->end;
    const void *win[MC_MAX_WINDOW];
    while (ch->made[j] < upto) {
        const int ot = ch->made[j], lo = mc_op_frame_first(l, ot), hi = lo + l->kt < T ? lo + l->kt : T;
        mc_status st;
        if (j > 0 && (st = make(n, ch, j - 1, hi, in, out))) return st;
        for (int k = 0; k < l->kt; k++)
            win[k] = lo + k >= 0 && lo + k < T ? frame_of(ch, j - 1, lo + k, in) : NULL;
        void *o = last ? (char *)out + (size_t)ot * ch->frame_bytes[j]
                       : (char *)ch->ring[j] + (size_t)(ot % ch->slots[j]) * ch->frame_bytes[j];
        const double t0 = n->profile ? mc_now() : 0;
        if ((st = n->be->forward_frame(n->be, l, win, ot, o, n->ws))) return st;
        if (n->profile) {
            if ((st = n->be->synchronize(n->be))) return st;
            n->layer_sec[ch->first + j - n->first] += mc_now() - t0;
        }
        ch->made[j]++;
    }
    return MC_OK;
}

mc_status mc_net_stream_run(mc_net *n, int c, const void *in, void *out)
{
    mc_net_chain *ch = &n->chains[c];
    const int len = ch->end - ch->first;
    for (int j = 0; j < len; j++) {
        ch->made[j] = 0;
        if (n->profile) n->layer_sec[ch->first + j - n->first] = 0;
    }
    return make(n, ch, len - 1, n->model->layers[ch->end - 1].out.ne[3], in, out);
}
