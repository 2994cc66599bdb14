/* node_compute.c - a node's compute thread (see node.h): applies new
 * tables between frames, merges the parts of a split predecessor by tag and
 * runs the task's layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../devmodel/devmodel.h"
#include "node_int.h"

void node_out_acquire(node *n)
{
    pthread_mutex_lock(&n->out_m);
    while (n->outs_live >= 1 && !n->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&n->out_c, &n->out_m, &ts);
    }
    n->outs_live++;
    pthread_mutex_unlock(&n->out_m);
}

void node_out_release(node *n)
{
    pthread_mutex_lock(&n->out_m);
    if (n->outs_live > 0) n->outs_live--;
    pthread_cond_signal(&n->out_c);
    pthread_mutex_unlock(&n->out_m);
}

/* Hands a lost tag to the sender, which reports it to the initial node
 * (a frame without data whose metadata mc.error says why). */
void node_queue_lost(node *n, const char *tag, const char *why)
{
    node_log(n, "lost tag %s: %s", tag, why);
    mc_frame *f = mc_frame_new(tag, 0);
    if (!f) return;
    f->n = 0;
    mc_ipc_meta_set(&f->meta, "mc.error", why);
    while (mc_queue_push(&n->outbox, f, 0.1))
        if (n->quit) {
            mc_frame_free(f);
            return;
        }
}

/* Applies the newest table the master sent, if any. */
static void apply_pending(node *n)
{
    pthread_mutex_lock(&n->pend_m);
    char *json = n->pending;
    long epoch = n->pending_epoch;
    n->pending = NULL;
    pthread_mutex_unlock(&n->pend_m);
    if (!json) return;
    pthread_mutex_lock(&n->apply_m);
    if (epoch > atomic_load(&n->epoch)) {
        char origin[64];
        snprintf(origin, sizeof origin, "table of epoch %ld", epoch);
        if (node_apply_table(n, json, origin)) node_log(n, "refused a table: %s", mc_error_last());
    }
    pthread_mutex_unlock(&n->apply_m);
    free(json);
}

/* The merge table follows the table's predecessor: rebuilt (tags waiting
 * for parts are lost, initial sends them again) when its split changes. */
static void sync_merge(node *n, const node_view *v)
{
    const mc_split_io *want = v && v->prev_split ? &v->prev_io : NULL;
    if (n->have_merge && want && n->merge.parts == want->n && n->merge.total == want->out_total &&
        n->merge_layer == want->parts[0].full_index && n->merge_method == (int)want->parts[0].method &&
        n->merge_grid_h == want->parts[0].grid_h) {
        n->merge.io = want; /* the same split (in a new table): keep what waits */
        return;
    }
    if (n->have_merge) {
        for (int i = 0; i < n->merge.cap; i++)
            if (n->merge.e[i].used) node_queue_lost(n, n->merge.e[i].tag, "the split before this task changed");
        mc_merge_free(&n->merge);
        n->have_merge = 0;
    }
    if (!want) return;
    double in_bytes = 4.0 * (double)want->out_total;
    double cap = in_bytes > 0 ? NODE_MERGE_BYTES / in_bytes : NODE_MERGE_TAGS;
    n->merge_cap = cap < 2 ? 2 : cap > NODE_MERGE_TAGS ? NODE_MERGE_TAGS : (int)cap;
    if (mc_merge_init(&n->merge, want, n->merge_cap, NODE_MERGE_TIMEOUT_S)) {
        node_log(n, "cannot make the merge table: %s", mc_error_last());
        return;
    }
    n->have_merge = 1;
    n->merge_layer = want->parts[0].full_index;
    n->merge_method = (int)want->parts[0].method;
    n->merge_grid_h = want->parts[0].grid_h;
}

static void stamp_epoch(mc_ipc_meta *m, long epoch)
{
    /* mc.ep: the oldest table any node on the frame's path computed it
     * under, so initial knows when results of a new table arrive */
    const char *e = mc_ipc_meta_get(m, "mc.ep");
    if (e && atol(e) <= epoch) return;
    char v[32];
    snprintf(v, sizeof v, "%ld", epoch);
    mc_ipc_meta_set(m, "mc.ep", v);
}

/* Seconds an emulated device spends on one frame's messages (devmodel.h):
 * its input (initial's uint8 frame, else float32; one message per part of
 * a split predecessor) and its output (one message per part of a split
 * successor, each its part's input), at their float32 sizes, as the
 * artifact sends them. */
static double frame_messages_s(node *n, const node_task *k)
{
    const mc_devmodel *dm = n->o->devmodel;
    if (!dm || dm->messages_mb_s <= 0) return 0;
    double bytes = (k->def.first == 0 ? 1.0 : 4.0) * (double)k->part_in_n;
    int count = n->have_merge ? n->merge.parts : 1;
    node_view *v = node_view_get(n);
    if (v && v->next_split && v->next_sp) {
        for (int i = 0; i < v->next_io.n; i++) bytes += 4.0 * (double)mc_split_io_in_count(&v->next_io, i);
        count += v->next_io.n;
    } else {
        bytes += 4.0 * (double)k->out_n;
        count++;
    }
    node_view_put(n, v);
    return mc_devmodel_messages_s(dm, bytes, count);
}

/* Runs one (merged, whole or sliced) frame through our task; queues the output
 * (also the windows' frames, node_window.c). */
void node_compute_frame(node *n, node_task *k, long epoch, mc_frame *fr)
{
    char why[MC_IPC_VAL_MAX];
    if (k->own_split && !mc_ipc_meta_get(&fr->meta, "mc.slice")) { /* whole input: cut our slice */
        mc_frame *sl = mc_frame_new(fr->tag, k->part_in_n);
        if (!sl) {
            node_queue_lost(n, fr->tag, "out of memory");
            mc_frame_free(fr);
            return;
        }
        mc_split_io_slice(&k->own_io, k->part, fr->data, sl->data);
        sl->meta = fr->meta;
        sl->t_recv = fr->t_recv;
        mc_frame_free(fr);
        fr = sl;
    }
    /* a new output only once the sender has encoded the last one and
     * freed it: the outputs alive are this one and the encoded call the
     * sender is sending (not also a queued one and its tensor) */
    node_out_acquire(n);
    mc_frame *out = mc_frame_new(fr->tag, k->out_n);
    if (!out) {
        node_out_release(n);
        node_queue_lost(n, fr->tag, "out of memory");
        mc_frame_free(fr);
        return;
    }
    /* on a device holding several tasks: ours may have been evicted (reloaded here, timed) */
    double reload_s = 0;
    mc_status pst = node_pool_enter(n, k, &reload_s);
    if (pst) {
        snprintf(why, sizeof why, "%s", mc_error_last());
        node_queue_lost(n, fr->tag, why);
        mc_frame_free(fr);
        mc_frame_free(out);
        node_out_release(n);
        return;
    }
    double t0 = mc_now();
    /* a split part 0 carries the tensors passing its layer by: first in its
     * input and in its output (split.h); the net runs the layer alone */
    if (k->through) memcpy(out->data, fr->data, k->through * sizeof(float));
    mc_status st = mc_net_forward(&k->net, fr->data + k->through, out->data + k->through);
    if (n->o->devmodel) /* the device's compute, and its messages (serial with it on a Pi) */
        mc_devmodel_pad_range(n->o->devmodel, &k->model, k->def.first, k->def.last, t0 + frame_messages_s(n, k));
    if (n->o->slow && *n->o->slow && n->o->slow_ms > 0) { /* tests: a device that got slower */
        double s = n->o->slow_ms * 1e-3;
        struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    double dt = mc_now() - t0;
    node_pool_leave(n, k, dt);
    long us = n->t_frame_us, dus = (long)(dt * 1e6);
    n->t_frame_us = us > 0 ? (3 * us + dus) / 4 : dus;
    if (st) {
        snprintf(why, sizeof why, "task %s: compute failed: %s", k->def.name, mc_error_last());
        node_queue_lost(n, fr->tag, why);
        mc_frame_free(fr);
        mc_frame_free(out);
        node_out_release(n);
        return;
    }
    /* metadata: the times so far plus ours; our part index if we are split */
    for (int i = 0; i < fr->meta.n; i++)
        if (strcmp(fr->meta.key[i], "mc.part") && strcmp(fr->meta.key[i], "mc.slice"))
            mc_ipc_meta_set(&out->meta, fr->meta.key[i], fr->meta.val[i]);
    char v[64];
    snprintf(v, sizeof v, "%.6f", dt);
    mc_ipc_meta_set(&out->meta, k->tkey, v);
    if (reload_s > 0) { /* the reload of our weights this frame waited for */
        snprintf(v, sizeof v, "%.6f", reload_s);
        mc_ipc_meta_set(&out->meta, k->rkey, v);
    }
    if (n->dynamic) stamp_epoch(&out->meta, epoch);
    n->n_computed++;
    if (k->own_split) {
        snprintf(v, sizeof v, "%d/%d", k->part, k->def.parts);
        mc_ipc_meta_set(&out->meta, "mc.part", v);
    }
    out->layer_end = k->def.last;
    out->task_id = k->id;
    mc_frame_free(fr);
    while (mc_queue_push(&n->outbox, out, 0.1))
        if (n->quit) {
            mc_frame_free(out);
            node_out_release(n);
            break;
        }
}

void *node_compute_main(void *arg)
{
    node *n = arg;
    char lost[MC_IPC_TAG_MAX], why[MC_IPC_VAL_MAX];
    while (!n->quit) {
        apply_pending(n);
        node_view *v = node_view_get(n);
        sync_merge(n, v);
        mc_frame *fr = mc_queue_pop(&n->inbox, 0.05);
        if (n->have_merge)
            while (mc_merge_expire(&n->merge, mc_now(), lost)) {
                snprintf(why, sizeof why, "node %s waited %.0f s for the other parts of the tag", n->me_str,
                         NODE_MERGE_TIMEOUT_S);
                node_queue_lost(n, lost, why);
            }
        if (!fr) {
            node_view_put(n, v);
            continue;
        }
        pthread_rwlock_rdlock(&n->task_lock);
        node_task *k = n->task;
        if (!k || k->id != fr->task_id) {
            snprintf(why, sizeof why, "node %s changed task before computing it", n->me_str);
            node_queue_lost(n, fr->tag, why);
            mc_frame_free(fr);
            fr = NULL;
        } else if (v && v->prev_split) {
            int err = 1;
            if (n->have_merge) fr = mc_merge_add(&n->merge, fr, mc_now(), lost, &err);
            else {
                mc_frame_free(fr);
                fr = NULL;
                lost[0] = '\0';
            }
            if (lost[0]) {
                snprintf(why, sizeof why, "node %s: merge table of %d tags full", n->me_str, n->merge_cap);
                node_queue_lost(n, lost, why);
            }
            if (err) node_log(n, "dropped a part: %s", mc_error_last());
        }
        if (fr && mc_ipc_meta_get(&fr->meta, "mc.win")) node_window_frame(n, k, v, v ? v->farm.epoch : 0, fr);
        else if (fr) node_compute_frame(n, k, v ? v->farm.epoch : 0, fr);
        pthread_rwlock_unlock(&n->task_lock);
        node_view_put(n, v);
    }
    return NULL;
}
