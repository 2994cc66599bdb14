/* node_send.c - a node's sender thread (see node.h): each output goes to
 * the task that starts where the computed layers end, in the table current
 * when it is sent; a new table interrupts a send in progress, which is then
 * routed again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node_int.h"

void node_note_unreachable(node *n, const char *peer)
{
    pthread_mutex_lock(&n->unreach_m);
    int seen = 0;
    for (int i = 0; i < n->n_unreach; i++) seen |= !strcmp(n->unreach[i], peer);
    if (!seen && n->n_unreach < MC_CTL_UNREACH_MAX) snprintf(n->unreach[n->n_unreach++], MC_CTL_ADDR_MAX, "%s", peer);
    pthread_mutex_unlock(&n->unreach_m);
}

static void report_lost(node *n, mc_rpc *r, const node_view *v, const char *tag, const char *why)
{
    node_log(n, "lost tag %s: %s", tag, why);
    if (r && v && mc_farm_report_lost(r, &v->farm, tag, why, &n->quit))
        node_log(n, "could not report the loss to initial: %s", mc_error_last());
}

/* Counts and logs a tag that went to another replica of the next task than
 * its route (a device of that task dropped out: send.h, failover). */
static void note_delivery(node *n, const mc_farm *farm, int to, const char *tag, const mc_farm_delivery *d,
                          mc_status st)
{
    if (to < 0 || to >= farm->n_tasks || d->replica < 0 || st) return;
    const mc_farm_task *nt = &farm->tasks[to];
    if (d->replica == mc_farm_route_replica(nt, tag)) return;
    n->n_rerouted++;
    if (d->failovers) {
        n->n_failovers++;
        node_log(n, "tag %s: a replica of %s was unreachable; delivered to replica %d (%s:%d)", tag, nt->name,
                 d->replica, nt->addr[d->replica * nt->parts].host, nt->addr[d->replica * nt->parts].port);
    }
}

/* After a failed delivery: the receivers of the tag that are down now are
 * told to the master (node_member.c). */
static void note_down_peers(node *n, mc_rpc *r, const mc_farm *farm, int to)
{
    if (!n->dynamic || to < 0 || to >= farm->n_tasks) return;
    const mc_farm_task *t = &farm->tasks[to];
    for (int k = 0; k < t->n_addr; k++)
        if (mc_rpc_down_s(r, t->addr[k].host, t->addr[k].port) > 0) {
            char a[MC_CTL_ADDR_MAX];
            node_note_unreachable(n, mc_addr_str(&t->addr[k], a, sizeof a));
        }
}

static void sleep_hold(double h)
{
    h = h < 0.01 ? 0.01 : h > 0.1 ? 0.1 : h;
    struct timespec ts = {0, (long)(h * 1e9)};
    nanosleep(&ts, NULL);
}

/* Where a frame goes in view v: the task starting at fr->layer_end. */
static int route_of(node *n, const node_view *v, const mc_frame *fr)
{
    if (!v) return -1;
    if (v->ti >= 0 && fr->layer_end == v->farm.tasks[v->ti].last) return v->next_ti;
    return mc_farm_task_at(&v->farm, fr->layer_end, n->shapes.n_layers);
}

/* The encoding we want for an output to task `to` (--wire, else the farm
 * file's "wire" of the task before it, the one whose output it is); the
 * link to initial stays float32. */
static mc_wire wanted_wire(const node *n, const mc_farm *farm, int to)
{
    if (to <= 0 || to >= farm->n_tasks) return MC_WIRE_F32;
    return n->wire_want >= 0 ? (mc_wire)n->wire_want : farm->tasks[to - 1].wire;
}

/* Counts an output sent in encoding `got` when `want` was asked for. */
static void note_wire(node *n, mc_wire want, mc_wire got)
{
    n->n_wire[got]++;
    if (want == MC_WIRE_INT8 && got == MC_WIRE_F32 && n->n_wire_fallback++ == 0)
        node_log(n, "an output held NaN or inf: sent as float32 instead of int8 (counted at exit)");
}

/* Tests (--test-link-ms): a slow link, whose time follows the bytes sent. */
static void slow_link(const node *n, mc_wire w, size_t values)
{
    if (!n->o->slow_link || !*n->o->slow_link || !(n->o->slow_link_ms > 0) || !values) return;
    double s = n->o->slow_link_ms * 1e-3 * (double)mc_wire_bytes(w, values) / (double)(values * sizeof(float));
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* One attempt to deliver an output with the current table.  Returns the
 * status; *retry = 1 when a new table interrupted it (route it again). */
static mc_status send_once(node *n, mc_rpc *r, mc_frame *fr, const node_view *v, int *retry, int *freed,
                           int *released)
{
    const mc_farm *farm = &v->farm;
    const int to = route_of(n, v, fr);
    if (to < 0) {
        char why[300];
        snprintf(why, sizeof why, "node %s: no task starts at layer %d in epoch %ld", n->me_str, fr->layer_end,
                 farm->epoch);
        report_lost(n, r, v, fr->tag, why);
        return MC_ERR_NOT_FOUND;
    }
    const int part_holder = fr->meta.n && mc_ipc_meta_get(&fr->meta, "mc.part");
    const int next_split = to < farm->n_tasks && farm->tasks[to].method != MC_SPLIT_DATA;
    char why[800];
    mc_status st;
    mc_farm_delivery d = MC_FARM_DELIVERY_INIT;
    /* a dynamic farm gives up on an unreachable peer after 2 tries and tells
     * the master at once: it re-plans, and initial sends the frame again */
    mc_rpc_policy pol = MC_RPC_POLICY_DEFAULT;
    if (n->dynamic) pol.unreachable_attempts = 2;
    if (next_split && !part_holder) {
        /* A whole tensor for a split receiver is cut: a different slice to
         * each part holder, encoded one by one while the tensor lives (so the
         * compute thread waits for the next output until all are sent); after
         * the hold-off it is sent, never dropped (a tag's parts go all or none);
         * a part holder that answers busy gets it again until NODE_WAIT_S has
         * passed, as whole tensors do below (seven replicas finishing at once
         * in front of a split fc1 lost frames without it). */
        mc_split_part *sp = v->next_sp;
        mc_split_io io = v->next_io;
        int own_sp = 0;
        if (to != v->next_ti || !sp) { /* computed for another table: this one's parts */
            if (mc_farm_task_io(&n->shapes, &farm->tasks[to], &sp, &io)) sp = NULL;
            own_sp = 1;
        }
        double hold = mc_farm_hold_s(r, farm, to, fr->tag), waited = 0;
        while (hold > 0 && waited < NODE_WAIT_S && !n->send_abort) {
            sleep_hold(hold);
            waited += hold < 0.01 ? 0.01 : hold > 0.1 ? 0.1 : hold;
            hold = mc_farm_hold_s(r, farm, to, fr->tag);
        }
        char msg[600];
        snprintf(msg, sizeof msg, "%s", sp ? "" : mc_error_last());
        /* each part holder's encoding is its own (send.h); counted as the link's */
        const mc_wire link_w = mc_farm_link_wire(r, farm, to, wanted_wire(n, farm, to));
        for (;;) { /* a refusal (busy) is sent again, to the part holders that did not take it (d) */
            st = sp ? mc_farm_send_wire(r, farm, to, &io, fr->tag, fr->data, fr->n, &fr->meta, wanted_wire(n, farm, to),
                                        pol, &n->send_abort, &d)
                    : mc_error_set(MC_ERR_NOMEM, "cannot cut for the parts of %s: %s", farm->tasks[to].name, msg);
            if (st != MC_ERR_FULL || waited >= NODE_WAIT_S || n->send_abort) break;
            hold = mc_farm_hold_s(r, farm, to, fr->tag);
            if (hold < 0.01) hold = 0.01;
            sleep_hold(hold);
            waited += hold > 0.1 ? 0.1 : hold;
        }
        if (own_sp) free(sp);
        if (!st) {
            n->n_wire[link_w]++;
            slow_link(n, link_w, fr->n);
        }
        note_delivery(n, farm, to, fr->tag, &d, st);
        if (st == MC_ERR_ABORTED && !n->quit) {
            *retry = 1;
            return st;
        }
        free(fr->data);
        fr->data = NULL;
        *freed = 1;
        if (st) {
            note_down_peers(n, r, farm, to);
            snprintf(why, sizeof why, "%s could not deliver: %s", n->me_str, mc_error_last());
            report_lost(n, r, v, fr->tag, why);
        }
        return st;
    }
    /* Otherwise every receiver gets the same tensor (a part of a split
     * task's output goes to each holder as is): it is encoded once.
     * Backpressure: a whole tag the source let us drop (mc.droppable: it
     * samples at a rate) is dropped here rather than queued; the parts of a
     * split task are never dropped one by one, and frames of a closed-loop
     * source are not dropped at all: they wait. */
    int may_drop = !part_holder && mc_ipc_meta_get(&fr->meta, "mc.droppable") != NULL;
    double hold = mc_farm_hold_s(r, farm, to, fr->tag), waited = 0;
    unsigned char *body = NULL;
    size_t blen = 0;
    st = MC_ERR_FULL;
    if (!may_drop || hold <= 0) {
        /* encode once (a static farm then frees the tensor, so the compute
         * thread can start the next output while this one is on the network) */
        const mc_wire want = wanted_wire(n, farm, to);
        mc_wire w = mc_farm_link_wire(r, farm, to, want);
        const mc_wire asked = w;
        st = mc_farm_encode_wire(n->ipc, farm, to, fr->tag, fr->data, fr->n, &fr->meta, &w, &body, &blen);
        if (!st) note_wire(n, asked, w);
        if (!st) slow_link(n, w, fr->n);
        if (st != MC_OK) {
            snprintf(why, sizeof why, "%s could not encode: %s", n->me_str, mc_error_last());
            report_lost(n, r, v, fr->tag, why);
            return st;
        }
        if (!n->dynamic && !*released) {
            /* A static farm never routes a tensor again (no new tables), so
             * the encoded message is all that is left to send: the compute
             * thread may start the next output while this one is on the
             * network (still one tensor and one message alive).  A dynamic
             * farm keeps the tensor until it is delivered, to route it again
             * after a table change (below). */
            free(fr->data);
            fr->data = NULL;
            *freed = 1;
            *released = 1;
            node_out_release(n);
        }
        for (;;) {
            /* respect the hold-off (when we may not drop), then send; after a
             * refusal only the part holders that did not take it get it again */
            while (!may_drop && hold > 0 && waited < NODE_WAIT_S && !n->send_abort) {
                sleep_hold(hold);
                waited += hold < 0.01 ? 0.01 : hold > 0.1 ? 0.1 : hold;
                hold = mc_farm_hold_s(r, farm, to, fr->tag);
            }
            st = mc_farm_send_encoded(r, farm, to, fr->tag, body, blen, pol, &n->send_abort, &d);
            if (st == MC_ERR_FULL && d.sent) may_drop = 0; /* some part holders took it: complete it */
            if (st != MC_ERR_FULL || may_drop || waited >= NODE_WAIT_S || n->send_abort) break;
            hold = mc_farm_hold_s(r, farm, to, fr->tag);
            if (hold < 0.01) hold = 0.01;
        }
    }
    free(body);
    note_delivery(n, farm, to, fr->tag, &d, st);
    if ((st == MC_ERR_ABORTED || (st && n->send_abort)) && !n->quit && fr->data) {
        *retry = 1; /* the tensor is kept: routed again with the new table */
        return st;
    }
    free(fr->data); /* NULL when already freed after encoding (then it is lost, below) */
    fr->data = NULL;
    *freed = 1;
    if (st == MC_ERR_FULL && may_drop) {
        snprintf(why, sizeof why, "node %s dropped it: next task %s almost full", n->me_str,
                 to < farm->n_tasks ? farm->tasks[to].name : "initial");
        n->n_dropped++;
        if (mc_farm_report_dropped(r, farm, fr->tag, why, &n->quit))
            node_log(n, "could not report a dropped tag to initial: %s", mc_error_last());
    } else if (st) {
        note_down_peers(n, r, farm, to);
        snprintf(why, sizeof why, "%s could not deliver: %s", n->me_str, mc_error_last());
        report_lost(n, r, to < farm->n_tasks ? v : NULL, fr->tag, why);
    }
    return st;
}

void *node_sender_main(void *arg)
{
    node *n = arg;
    mc_rpc *r = NULL;
    if (mc_rpc_new(n->ipc, &r)) {
        node_log(n, "cannot start the sender: %s", mc_error_last());
        return NULL;
    }
    mc_rpc_set_abort(r, &n->send_abort);
    mc_rpc_set_auth(r, n->o->auth);
    while (!n->quit) {
        mc_frame *fr = mc_queue_pop(&n->outbox, 0.1);
        if (!fr) continue;
        const char *lost_why = mc_ipc_meta_get(&fr->meta, "mc.error");
        if (lost_why) {
            node_view *v = node_view_get(n);
            n->send_abort = 0;
            if (v && mc_farm_report_lost(r, &v->farm, fr->tag, lost_why, &n->quit))
                node_log(n, "could not report the loss to initial: %s", mc_error_last());
            node_view_put(n, v);
            mc_frame_free(fr);
            continue;
        }
        int freed = 0, released = 0, tries = 0;
        double t0 = mc_now();
        for (;;) {
            n->send_abort = 0; /* from here on, a new table interrupts this send */
            node_view *v = node_view_get(n);
            int retry = 0;
            if (v) send_once(n, r, fr, v, &retry, &freed, &released);
            node_view_put(n, v);
            if (!retry || n->quit || ++tries >= 8) break;
        }
        double dt = mc_now() - t0;
        long us = n->t_send_us, dus = (long)(dt * 1e6);
        n->t_send_us = us > 0 ? (3 * us + dus) / 4 : dus;
        if (!freed && !n->quit) {
            char why[200];
            snprintf(why, sizeof why, "node %s: the table changed %d times while sending it", n->me_str, tries);
            node_view *v = node_view_get(n);
            n->send_abort = 0;
            report_lost(n, r, v, fr->tag, why);
            node_view_put(n, v);
        }
        if (!freed) {
            free(fr->data);
            fr->data = NULL;
        }
        if (!released) node_out_release(n);
        mc_frame_free(fr);
    }
    mc_rpc_free(r);
    return NULL;
}
