/* send.c - routing a tensor to the next task (see send.h). */
#include "send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- replicas and failover ---- */

/* Whether some part holder of replica rep is down now (failed_before 0) or
 * was unreachable on its last call (failed_before 1). */
static int replica_hurt(mc_rpc *r, const mc_farm_task *t, int rep, int failed_before)
{
    for (int k = 0; k < t->parts; k++) {
        const mc_addr *a = &t->addr[rep * t->parts + k];
        if (failed_before ? mc_rpc_failures(r, a->host, a->port) > 0 : mc_rpc_down_s(r, a->host, a->port) > 0)
            return 1;
    }
    return 0;
}

static int replica_down(mc_rpc *r, const mc_farm_task *t, int rep) { return replica_hurt(r, t, rep, 0); }

int mc_farm_pick_replica(mc_rpc *r, const mc_farm_task *t, const char *tag)
{
    const int R = mc_farm_replicas(t), pref = mc_farm_route_replica(t, tag);
    for (int i = 0; i < R; i++)
        if (!replica_down(r, t, (pref + i) % R)) return (pref + i) % R;
    return pref;
}

/* Sends part k of the tag to a, the k-th part holder of the chosen replica. */
typedef mc_status (*send_part_fn)(void *ctx, mc_rpc *r, int k, const mc_addr *a, mc_rpc_policy pol);

/* Delivers a tag to task t: to every part holder of one replica, the
 * routed one unless it is down.  A replica one of whose part holders turns
 * out unreachable is abandoned for the next one that is not down (in the
 * same order on every sender, so the parts of a tag from a split sender
 * still meet at one receiver), and the tag goes whole to that one: part
 * holders of the abandoned replica that took it compute their part too,
 * and the merge downstream ignores such duplicates (frame.h). */
static mc_status deliver(mc_rpc *r, const mc_farm_task *t, const char *tag, mc_farm_delivery *d,
                         mc_rpc_policy pol, send_part_fn fn, void *ctx)
{
    const int R = mc_farm_replicas(t), P = t->parts;
    if (d->replica < 0 || d->replica >= R) {
        d->replica = mc_farm_pick_replica(r, t, tag);
        d->sent = 0;
    }
    uint64_t tried = (uint64_t)1 << (d->replica & 63);
    for (;;) {
        const mc_addr *addr = &t->addr[d->replica * P];
        /* With other replicas to go to, an unreachable device is given up
         * after 2 tries (1 if it was down before) rather than the retries. */
        mc_rpc_policy p = pol;
        if (R > 1) p.unreachable_attempts = replica_hurt(r, t, d->replica, 1) ? 1 : 2;
        mc_status st = MC_OK;
        int failover = 0;
        for (int k = 0; k < P && k < 64; k++) {
            if (d->sent & ((uint64_t)1 << k)) continue;
            mc_status s = fn(ctx, r, k, &addr[k], p);
            if (!s) {
                d->sent |= (uint64_t)1 << k;
                continue;
            }
            char msg[700];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            st = mc_error_set(s, "task %s: %s", t->name, msg);
            if (R > 1 && mc_rpc_down_s(r, addr[k].host, addr[k].port) > 0) {
                failover = 1;
                break;
            }
            if (P == 1) break;
        }
        if (!st || !failover) return st;
        int next = -1;
        for (int i = 1; i < R && next < 0; i++) {
            int rep = (d->replica + i) % R;
            if (!(tried & ((uint64_t)1 << (rep & 63))) && !replica_down(r, t, rep)) next = rep;
        }
        if (next < 0) return st;
        tried |= (uint64_t)1 << (next & 63);
        d->replica = next;
        d->sent = 0;
        d->failovers++;
    }
}

typedef struct plain_ctx {
    const mc_ipc_forward *f;
    const unsigned char *body; /* encoded call, or NULL: encode f */
    size_t len;
    mc_flag *stop;
} plain_ctx;

/* The same call to every part holder. */
static mc_status send_plain(void *ctx, mc_rpc *r, int k, const mc_addr *a, mc_rpc_policy pol)
{
    (void)k;
    const plain_ctx *c = ctx;
    if (c->body) return mc_rpc_forward_encoded(r, a->host, a->port, c->body, c->len, pol, c->stop, NULL);
    return mc_rpc_forward(r, a->host, a->port, c->f, pol, c->stop, NULL);
}

typedef struct cut_ctx {
    mc_ipc_forward f;
    const mc_farm_task *t;
    const mc_split_io *cut;
    const float *data;
    float *piece;
    unsigned char *coded; /* the piece encoded (room for it as float32 + 4) */
    mc_wire w;            /* the encoding wanted */
    mc_flag *stop;
} cut_ctx;

/* Points f's input at n values of data in encoding w (coded: room for
 * them); float32 when w cannot carry them (int8 and NaN/inf). */
static mc_wire encode_input(mc_ipc_forward *f, const float *data, size_t n, mc_wire w, unsigned char *coded)
{
    mc_ipc_meta_del(&f->meta, MC_WIRE_META);
    if (w != MC_WIRE_F32 && !mc_wire_encode(w, data, n, coded)) {
        f->input = coded;
        f->input_len = mc_wire_bytes(w, n);
        mc_ipc_meta_set(&f->meta, MC_WIRE_META, mc_wire_name(w));
        return w;
    }
    mc_error_clear();
    f->input = (const unsigned char *)data;
    f->input_len = n * sizeof(float);
    return MC_WIRE_F32;
}

/* Part holder k gets the piece of the whole input its part reads, encoded
 * as wanted when it announced that encoding. */
static mc_status send_cut(void *ctx, mc_rpc *r, int k, const mc_addr *a, mc_rpc_policy pol)
{
    cut_ctx *c = ctx;
    mc_split_io_slice(c->cut, k, c->data, c->piece);
    const mc_wire w = mc_rpc_wire_accepts(r, a->host, a->port) & (1u << c->w) ? c->w : MC_WIRE_F32;
    encode_input(&c->f, c->piece, mc_split_io_in_count(c->cut, k), w, c->coded);
    char v[32];
    snprintf(v, sizeof v, "%d/%d", k, c->t->parts);
    mc_ipc_meta_set(&c->f.meta, "mc.slice", v);
    return mc_rpc_forward(r, a->host, a->port, &c->f, pol, c->stop, NULL);
}

mc_wire mc_farm_link_wire(mc_rpc *r, const mc_farm *farm, int to, mc_wire want)
{
    if (want == MC_WIRE_F32 || to < 0 || to >= farm->n_tasks) return MC_WIRE_F32;
    const mc_farm_task *t = &farm->tasks[to];
    for (int k = 0; k < t->n_addr; k++)
        if (!(mc_rpc_wire_accepts(r, t->addr[k].host, t->addr[k].port) & (1u << want))) return MC_WIRE_F32;
    return want;
}

mc_status mc_farm_send(mc_rpc *r, const mc_farm *farm, int to, const mc_split_io *cut, const char *tag,
                       const float *data, size_t n, const mc_ipc_meta *meta, mc_rpc_policy pol,
                       mc_flag *stop, mc_farm_delivery *d)
{
    return mc_farm_send_wire(r, farm, to, cut, tag, data, n, meta, MC_WIRE_F32, pol, stop, d);
}

mc_status mc_farm_send_wire(mc_rpc *r, const mc_farm *farm, int to, const mc_split_io *cut, const char *tag,
                            const float *data, size_t n, const mc_ipc_meta *meta, mc_wire w, mc_rpc_policy pol,
                            mc_flag *stop, mc_farm_delivery *d)
{
    mc_farm_delivery local = MC_FARM_DELIVERY_INIT;
    if (!d) d = &local;
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)data;
    f.input_len = n * sizeof(float);
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    if (meta) f.meta = *meta;
    if (to >= farm->n_tasks) {
        snprintf(f.next, sizeof f.next, "initial");
        return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, pol, stop, NULL);
    }
    const mc_farm_task *t = &farm->tasks[to];
    snprintf(f.next, sizeof f.next, "%s", t->name);
    if (!cut || !cut->parts || t->method == MC_SPLIT_DATA) {
        unsigned char *coded = NULL;
        w = mc_farm_link_wire(r, farm, to, w);
        if (w != MC_WIRE_F32 && !(coded = malloc(mc_wire_bytes(w, n))))
            return mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for a %s message", t->name, mc_wire_name(w));
        encode_input(&f, data, n, w, coded);
        plain_ctx c = {&f, NULL, 0, stop};
        mc_status st = deliver(r, t, tag, d, pol, send_plain, &c);
        free(coded);
        return st;
    }
    if (n != cut->in_total || cut->n != t->parts)
        return mc_error_set(MC_ERR_SHAPE, "task %s: cannot cut %zu values for its %d parts of layer %s (it takes %zu "
                            "in %d parts)", t->name, n, t->parts, cut->full->name, cut->in_total, cut->n);
    size_t most = 0;
    for (int k = 0; k < t->parts; k++)
        if (mc_split_io_in_count(cut, k) > most) most = mc_split_io_in_count(cut, k);
    cut_ctx c = {f, t, cut, data, malloc(most * sizeof(float)), NULL, w, stop};
    if (w != MC_WIRE_F32) c.coded = malloc(most * sizeof(float) + MC_WIRE_INT8_HEADER);
    mc_status st = !c.piece || (w != MC_WIRE_F32 && !c.coded)
                       ? mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for an input slice", t->name)
                       : deliver(r, t, tag, d, pol, send_cut, &c);
    free(c.piece);
    free(c.coded);
    return st;
}

mc_status mc_farm_send_u8(mc_rpc *r, const mc_farm *farm, const char *tag, const uint8_t *frame, size_t n,
                          const mc_ipc_meta *meta, mc_rpc_policy pol, mc_flag *stop,
                          mc_farm_delivery *d)
{
    const mc_farm_task *t = &farm->tasks[0];
    if (t->method != MC_SPLIT_DATA)
        return mc_error_set(MC_ERR_INVALID_ARG, "task %s is split (%d parts): it needs float32 slices, not a uint8 frame",
                            t->name, t->parts);
    mc_farm_delivery local = MC_FARM_DELIVERY_INIT;
    if (!d) d = &local;
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = frame;
    f.input_len = n;
    if (meta) f.meta = *meta;
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "%s", t->name);
    plain_ctx c = {&f, NULL, 0, stop};
    return deliver(r, t, tag, d, pol, send_plain, &c);
}

/* An empty call to initial whose metadata `key` says what became of `tag`. */
static mc_status report_to_initial(mc_rpc *r, const mc_farm *farm, const char *tag, const char *key,
                                   const char *why, mc_flag *stop)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)"";
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "initial");
    mc_ipc_meta_set(&f.meta, key, why);
    return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, (mc_rpc_policy){.attempts = 2, .backoff0_s = 0.05, .backoff_max_s = 0.1}, stop,
                          NULL);
}

mc_status mc_farm_report_lost(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                              mc_flag *stop)
{
    return report_to_initial(r, farm, tag, "mc.error", why, stop);
}

double mc_farm_hold_s(mc_rpc *r, const mc_farm *farm, int to, const char *tag)
{
    if (to >= farm->n_tasks) return mc_rpc_hold_s(r, farm->initial.host, farm->initial.port);
    const mc_farm_task *t = &farm->tasks[to];
    int first = mc_farm_pick_replica(r, t, tag) * t->parts;
    double h = 0;
    for (int k = 0; k < t->parts; k++) {
        double s = mc_rpc_hold_s(r, t->addr[first + k].host, t->addr[first + k].port);
        if (s > h) h = s;
    }
    return h;
}

mc_status mc_farm_report_dropped(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                                 mc_flag *stop)
{
    return report_to_initial(r, farm, tag, "mc.dropped", why, stop);
}

mc_status mc_farm_encode(mc_ipc *ipc, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                         const mc_ipc_meta *meta, unsigned char **body, size_t *len)
{
    mc_wire w = MC_WIRE_F32;
    return mc_farm_encode_wire(ipc, farm, to, tag, data, n, meta, &w, body, len);
}

mc_status mc_farm_encode_wire(mc_ipc *ipc, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                              const mc_ipc_meta *meta, mc_wire *w, unsigned char **body, size_t *len)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "%s", to >= farm->n_tasks ? "initial" : farm->tasks[to].name);
    if (meta) f.meta = *meta;
    unsigned char *coded = NULL;
    if (*w != MC_WIRE_F32 && !(coded = malloc(mc_wire_bytes(*w, n))))
        return mc_error_set(MC_ERR_NOMEM, "out of memory for a %s message of %zu values", mc_wire_name(*w), n);
    *w = encode_input(&f, data, n, *w, coded);
    mc_status st = mc_ipc_request_encode(ipc, 0, &f, body, len);
    free(coded);
    return st;
}

mc_status mc_farm_send_encoded(mc_rpc *r, const mc_farm *farm, int to, const char *tag, const unsigned char *body,
                               size_t len, mc_rpc_policy pol, mc_flag *stop, mc_farm_delivery *d)
{
    if (to >= farm->n_tasks) {
        if (d->sent & 1) return MC_OK;
        mc_status st = mc_rpc_forward_encoded(r, farm->initial.host, farm->initial.port, body, len, pol, stop, NULL);
        if (!st) d->sent |= 1;
        return st;
    }
    plain_ctx c = {NULL, body, len, stop};
    return deliver(r, &farm->tasks[to], tag, d, pol, send_plain, &c);
}
