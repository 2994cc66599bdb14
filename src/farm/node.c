/* node.c - a task node's lifecycle, its HTTP side and its tables (see node.h). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../net/ipaddr.h"
#include "farmfile.h"
#include "node_int.h"

void node_log(node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&n->log_lock);
    fprintf(stderr, "mchair node %s (%s): ", n->log_task[0] ? n->log_task : "-", n->me_str);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&n->log_lock);
    va_end(ap);
}

/* ---- views ---- */

node_view *node_view_get(node *n)
{
    pthread_mutex_lock(&n->view_m);
    node_view *v = n->view;
    if (v) v->refs++;
    pthread_mutex_unlock(&n->view_m);
    return v;
}

static void view_free(node_view *v)
{
    free(v->prev_sp);
    free(v->next_sp);
    free(v);
}

void node_view_put(node *n, node_view *v)
{
    if (!v) return;
    pthread_mutex_lock(&n->view_m);
    int last = --v->refs == 0;
    pthread_mutex_unlock(&n->view_m);
    if (last) view_free(v);
}

static void view_publish(node *n, node_view *v)
{
    v->refs = 1;
    pthread_mutex_lock(&n->view_m);
    node_view *old = n->view;
    n->view = v;
    pthread_mutex_unlock(&n->view_m);
    atomic_store(&n->epoch, v->farm.epoch);
    node_view_put(n, old);
}

/* ---- our place in a table ---- */

static int local_host(const char *host)
{
    mc_ip want, have;
    if (!strcmp(host, "localhost")) return 1;
    if (!mc_ip_parse(host, &want)) return 0;
    if (mc_ip_is_loopback(&want)) return 1;
    struct ifaddrs *ifa = NULL;
    int found = 0;
    if (getifaddrs(&ifa)) return 0;
    for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next)
        found = i->ifa_addr && mc_ip_from_sockaddr(i->ifa_addr, &have) && mc_ip_equal(&have, &want);
    freeifaddrs(ifa);
    return found;
}

/* A static node finds its task in the farm file from --listen (or this
 * machine's addresses) and --task. */
static mc_status pick_static(node *n, const mc_farm *farm, int *ti, int *ai)
{
    const mc_node_opts *o = n->o;
    mc_addr want;
    int have_listen = 0;
    if (o->listen) {
        if (mc_addr_parse(o->listen, MC_FARM_TASK_PORT, &want)) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            return mc_error_set(MC_ERR_INVALID_ARG, "--listen: %s", msg);
        }
        have_listen = 1;
    }
    int tfirst = 0, tlast = farm->n_tasks;
    if (o->task) {
        int t = mc_farm_find_task(farm, o->task);
        if (t < 0) return mc_error_set(MC_ERR_NOT_FOUND, "%s: no task '%s' in the farm", o->farm, o->task);
        tfirst = t;
        tlast = t + 1;
    }
    int found = 0;
    for (int t = tfirst; t < tlast; t++) {
        const mc_farm_task *ft = &farm->tasks[t];
        for (int a = 0; a < ft->n_addr; a++) {
            const mc_addr *ad = &ft->addr[a];
            int match;
            if (have_listen) /* 0.0.0.0:PORT matches any local address with that port */
                match = ad->port == want.port &&
                        (!strcmp(want.host, ad->host) || (!strcmp(want.host, "0.0.0.0") && local_host(ad->host)));
            else
                match = (o->task && ft->n_addr == 1) || local_host(ad->host);
            if (match) {
                found++;
                *ti = t;
                *ai = a;
            }
        }
    }
    if (found == 0) {
        char b[96];
        return mc_error_set(MC_ERR_NOT_FOUND, "%s: no task%s%s has the address %s", o->farm, o->task ? " " : "",
                            o->task ? o->task : "", have_listen ? mc_addr_str(&want, b, sizeof b) : "of this machine");
    }
    if (found > 1)
        return mc_error_set(MC_ERR_INVALID_ARG,
                            "%s: %d task addresses match %s; give --listen ADDR:PORT (and --task NAME)", o->farm,
                            found, have_listen ? o->listen : "this machine");
    n->me = farm->tasks[*ti].addr[*ai];
    if (have_listen && strcmp(want.host, n->me.host)) snprintf(n->me.host, sizeof n->me.host, "%s", want.host);
    mc_addr_str(&n->me, n->me_str, sizeof n->me_str);
    return MC_OK;
}

/* A dynamic node is where the table lists its address (or nowhere). */
static void pick_dynamic(const node *n, const mc_farm *farm, int *ti, int *ai)
{
    *ti = *ai = -1;
    for (int t = 0; t < farm->n_tasks && *ti < 0; t++) {
        int k = mc_farm_task_addr_index(&farm->tasks[t], &n->me);
        if (k >= 0) {
            *ti = t;
            *ai = k;
        }
    }
}

/* The shapes of the split tasks around task ti of `farm`. */
static mc_status view_fill(node *n, node_view *v)
{
    const mc_farm *f = &v->farm;
    v->next_ti = -1;
    if (v->ti < 0) return MC_OK;
    const mc_farm_task *t = &f->tasks[v->ti];
    v->next_ti = mc_farm_task_at(f, t->last, n->shapes.n_layers);
    for (int i = 0; i < f->n_tasks; i++) {
        const mc_farm_task *p = &f->tasks[i];
        if (p->last != t->first || p->method == MC_SPLIT_DATA) continue;
        v->prev_split = 1;
        v->prev_parts = p->parts;
        mc_status st = mc_farm_task_io(&n->shapes, p, &v->prev_sp, &v->prev_io);
        if (st) return st;
    }
    if (v->next_ti >= 0 && v->next_ti < f->n_tasks && f->tasks[v->next_ti].method != MC_SPLIT_DATA) {
        const mc_farm_task *nt = &f->tasks[v->next_ti];
        v->next_split = 1;
        return mc_farm_task_io(&n->shapes, nt, &v->next_sp, &v->next_io);
    }
    return MC_OK;
}

/* Frames queued for a task we no longer run: reported lost (initial sends them again). */
static void drain_inbox(node *n, const char *why)
{
    mc_frame *fr;
    while ((fr = mc_queue_pop(&n->inbox, 0))) {
        node_queue_lost(n, fr->tag, why);
        mc_frame_free(fr);
    }
}

mc_status node_apply_table(node *n, const char *json, const char *origin)
{
    mc_farm *farm = malloc(sizeof *farm);
    node_view *v = calloc(1, sizeof *v);
    mc_status st = MC_OK;
    if (!farm || !v) {
        st = mc_error_set(MC_ERR_NOMEM, "node: out of memory for a table");
        goto out;
    }
    if ((st = mc_farm_parse(json, origin, n->o->model, farm))) goto out;
    if (!n->shapes_open) { /* the first table names the model */
        if ((st = mc_model_open(farm->model, &n->shapes))) goto out;
        n->shapes_open = 1;
        snprintf(n->model_ref, sizeof n->model_ref, "%s", farm->model);
    } else if (strcmp(farm->model, n->model_ref)) {
        st = mc_error_set(MC_ERR_INVALID_ARG, "%s: the farm runs model %s, this node was started for %s", origin,
                          farm->model, n->model_ref);
        goto out;
    }
    v->farm = *farm;
    int ti = -1, ai = -1;
    if (n->dynamic) pick_dynamic(n, farm, &ti, &ai);
    else if ((st = pick_static(n, farm, &ti, &ai))) goto out;
    v->ti = ti;
    v->addr_index = ai;
    v->part = ti >= 0 ? ai % farm->tasks[ti].parts : 0;
    if ((st = view_fill(n, v))) goto out;

    /* our task: kept when the work is the same, else switched */
    node_task *cur = n->task;
    int keep = cur && ti >= 0 && node_task_same(cur, &farm->tasks[ti], v->part);
    if (!keep && (cur || ti >= 0)) {
        /* the new task's frames are taken (bounded) while its weights load */
        node_task *k = NULL;
        if (ti >= 0 && (st = node_task_prepare(n, farm, ti, ai, &k))) {
            node_log(n, "cannot take task %s: %s", farm->tasks[ti].name, mc_error_last());
            v->ti = -1;
        }
        atomic_store(&n->task_id, 0); /* forward calls for the old task are refused from here on */
        pthread_rwlock_wrlock(&n->task_lock);
        char why[200];
        snprintf(why, sizeof why, "node %s changed task in epoch %ld", n->me_str, farm->epoch);
        drain_inbox(n, why);
        n->task = k;
        if (k) {
            mc_queue_set_max_bytes(&n->inbox, NODE_INBOX * k->in_bytes);
            size_t body = (k->in_n > k->part_in_n ? k->in_n : k->part_in_n) * sizeof(float) + NODE_BODY_SLACK;
            if (n->srv) mc_http_server_set_max_body(n->srv, body > NODE_CONTROL_BODY ? body : NODE_CONTROL_BODY);
            atomic_store(&n->task_id, k->id);
        }
        pthread_rwlock_unlock(&n->task_lock);
        pthread_mutex_lock(&n->log_lock);
        snprintf(n->log_task, sizeof n->log_task, "%s", k ? k->def.name : "");
        pthread_mutex_unlock(&n->log_lock);
        node_task_close(cur); /* the old weights go before the new ones load */
        if (k && (st = node_pool_load(n, k))) { /* alone, or on a device holding several tasks */
            node_log(n, "cannot load task %s: %s", k->def.name, mc_error_last());
            atomic_store(&n->task_id, 0);
            pthread_rwlock_wrlock(&n->task_lock);
            n->task = NULL;
            drain_inbox(n, "the node could not load its task");
            pthread_rwlock_unlock(&n->task_lock);
            node_task_close(k);
            k = NULL;
            v->ti = -1; /* standby; the master sees it in the heartbeats */
        }
    } else if (keep && strcmp(cur->def.name, farm->tasks[ti].name)) { /* same work, another name: keep the weights */
        atomic_store(&n->task_id, 0);
        pthread_rwlock_wrlock(&n->task_lock);
        snprintf(cur->def.name, sizeof cur->def.name, "%s", farm->tasks[ti].name);
        snprintf(cur->tkey, sizeof cur->tkey, "mc.t.%s", cur->def.name);
        pthread_rwlock_unlock(&n->task_lock);
        atomic_store(&n->task_id, cur->id);
        pthread_mutex_lock(&n->log_lock);
        snprintf(n->log_task, sizeof n->log_task, "%s", cur->def.name);
        pthread_mutex_unlock(&n->log_lock);
    }
    if (st && n->dynamic) st = MC_OK; /* a task that failed to load leaves the node in standby */
    node_view *pub = v;
    v = NULL;
    view_publish(n, pub);
    n->send_abort = 1; /* a send in progress is routed again with this table */
    if (n->task && !keep) {
        node_pool_hold(n->task); /* its model is not evicted while we read it */
        node_task_describe(n, n->task, pub);
        node_pool_release(n->task);
    }
    else if (n->dynamic && !n->quiet)
        node_log(n, "epoch %ld: %s", farm->epoch, n->task ? "task kept" : "no task (standby)");
out:
    if (v) view_free(v);
    free(farm);
    return st;
}

/* Whether a table leaves this node's work as it is (the same task and part,
 * or still none): then only routing changed (peers, weights, the epoch). */
static int keeps_work(node *n, const char *json)
{
    mc_farm *f = malloc(sizeof *f);
    int same = 0, ti, ai;
    if (f && !mc_farm_parse(json, "table", n->o->model, f) && !strcmp(f->model, n->model_ref)) {
        pick_dynamic(n, f, &ti, &ai);
        pthread_rwlock_rdlock(&n->task_lock);
        node_task *k = n->task;
        same = ti < 0 ? k == NULL : k && k->ready && node_task_same(k, &f->tasks[ti], ai % f->tasks[ti].parts);
        pthread_rwlock_unlock(&n->task_lock);
    }
    free(f);
    return same;
}

void node_offer_table(node *n, long epoch, const char *json)
{
    /* A table that keeps our work is applied at once, by the thread that got
     * it: a node in the middle of a long frame (seconds on a small device)
     * still routes its next output by it and acknowledges it in time.  One
     * that moves us to another task waits for the compute thread, between
     * frames. */
    if (epoch <= atomic_load(&n->epoch)) return;
    /* (a table being applied, e.g. a task loading, holds apply_m: then this
     * one waits for the compute thread like any other) */
    if (!pthread_mutex_trylock(&n->apply_m)) {
        int applied = 0;
        if (n->shapes_open && keeps_work(n, json)) {
            char origin[64];
            snprintf(origin, sizeof origin, "table of epoch %ld", epoch);
            if (epoch > atomic_load(&n->epoch) && node_apply_table(n, json, origin))
                node_log(n, "refused a table: %s", mc_error_last());
            applied = 1;
        }
        pthread_mutex_unlock(&n->apply_m);
        if (applied) return;
    }
    pthread_mutex_lock(&n->pend_m);
    if (epoch > n->pending_epoch && epoch > atomic_load(&n->epoch)) {
        char *c = strdup(json);
        if (c) {
            free(n->pending);
            n->pending = c;
            n->pending_epoch = epoch;
        }
    }
    pthread_mutex_unlock(&n->pend_m);
}

/* ---- HTTP side ---- */

/* The encoding of a call's input (metadata mc.wire; absent: float32). */
static mc_status input_wire(const mc_ipc_forward *f, const char *task, mc_wire *w)
{
    const char *s = mc_ipc_meta_get(&f->meta, MC_WIRE_META);
    *w = MC_WIRE_F32;
    if (s && mc_wire_parse(s, w))
        return mc_error_set(MC_ERR_FORMAT, "task %s: input in unknown encoding mc.wire=%s (this node decodes %s)", task,
                            s, "f32, f16, int8");
    return MC_OK;
}

static mc_status on_forward(void *ctx, mc_ipc_forward *f)
{
    node *n = ctx;
    /* every answer says which encodings we decode (wire.h): senders use
     * another one than float32 only towards nodes that said so */
    mc_ipc_meta_set(&f->reply, MC_WIRE_META, "f32,f16,int8");
    long tid = atomic_load(&n->task_id);
    if (!tid) {
        n->n_refused++;
        return mc_error_set(MC_ERR_INVALID_ARG, "node %s has no task now (epoch %ld): not '%s'", n->me_str,
                            (long)atomic_load(&n->epoch), f->next);
    }
    node_view *v = node_view_get(n);
    pthread_rwlock_rdlock(&n->task_lock);
    node_task *k = n->task;
    mc_status st = MC_OK;
    mc_frame *fr = NULL;
    if (!k || k->id != tid || !v) {
        st = mc_error_set(MC_ERR_INVALID_ARG, "node %s is switching task: not '%s'", n->me_str, f->next);
        goto out;
    }
    if (strcmp(f->next, k->def.name)) {
        st = mc_error_set(MC_ERR_INVALID_ARG, "this node runs task '%s', not '%s'", k->def.name, f->next);
        goto out;
    }
    int part = 0;
    size_t want = k->in_n;
    const char *slice = mc_ipc_meta_get(&f->meta, "mc.slice");
    /* Whether parts of a split predecessor come here: the view's word, unless
     * the view is older than our task (a new task takes its frames while its
     * weights load, and its view is published once it is loaded); then the
     * table the task was made from.  (A view of the previous task would let
     * an fc_input part, as large as the merged input, in as a whole input.) */
    const int view_ours = v->ti >= 0 && node_task_same(k, &v->farm.tasks[v->ti], v->part);
    const mc_split_io *prev = view_ours ? (v->prev_split ? &v->prev_io : NULL) : (k->prev_split ? &k->prev_io : NULL);
    if (prev) {
        const char *p = mc_ipc_meta_get(&f->meta, "mc.part");
        int pk, P;
        if (!p || sscanf(p, "%d/%d", &pk, &P) != 2 || P != prev->n || pk < 0 || pk >= P) {
            st = mc_error_set(MC_ERR_FORMAT,
                              "task %s takes the %d parts of a split task: metadata mc.part=k/%d is missing or wrong (%s)",
                              k->def.name, prev->n, prev->n, p ? p : "absent");
            goto out;
        }
        want = mc_split_io_out_count(prev, pk);
        part = pk;
    } else if (slice) { /* the sender cut our slice */
        int sk, P;
        if (!k->own_split || sscanf(slice, "%d/%d", &sk, &P) != 2 || sk != k->part || P != k->def.parts) {
            st = mc_error_set(MC_ERR_FORMAT, "task %s: got input slice %s, but this node holds part %d/%d",
                              k->def.name, slice, k->part, k->def.parts);
            goto out;
        }
        want = k->part_in_n;
    }
    int as_u8 = 0;
    const int first_task = k->def.first == 0;
    mc_wire w;
    if ((st = input_wire(f, k->def.name, &w))) goto out;
    if (w != MC_WIRE_F32) {
        if (f->input_len != mc_wire_bytes(w, want)) {
            st = mc_error_set(MC_ERR_SHAPE, "task %s: %s input of %zu bytes; expected %zu values (%zu bytes)", k->def.name,
                              mc_wire_name(w), f->input_len, want, mc_wire_bytes(w, want));
            goto out;
        }
    } else if (f->input_len != want * sizeof(float)) {
        if (first_task && !prev && !slice && f->input_len == want) {
            as_u8 = 1; /* the artifact's raw uint8 frame */
        } else {
            st = mc_error_set(MC_ERR_SHAPE, "task %s: input of %zu bytes; expected %zu float32 values (%zu bytes%s%s)",
                              k->def.name, f->input_len, want, want * sizeof(float),
                              first_task ? ") or uint8 frame of " : "", first_task ? k->in_shape : "");
            goto out;
        }
    }
    if (!(fr = mc_frame_new(f->tag, want))) {
        st = mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for a frame", k->def.name);
        goto out;
    }
    if (as_u8) {
        for (size_t i = 0; i < want; i++) fr->data[i] = f->input[i] / 255.0f;
    } else if ((st = mc_wire_decode(w, f->input, f->input_len, fr->data, want))) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        st = mc_error_set(st, "task %s: %s", k->def.name, msg);
        mc_frame_free(fr);
        fr = NULL;
        goto out;
    }
    fr->part = part;
    fr->meta = f->meta;
    mc_ipc_meta_del(&fr->meta, MC_WIRE_META); /* the frame holds float32 now; the sender says how it sends it on */
    fr->t_recv = mc_now();
    fr->task_id = tid;
out:;
    const size_t in_bytes = k ? k->in_bytes : 1;
    pthread_rwlock_unlock(&n->task_lock);
    node_view_put(n, v);
    if (st) {
        n->n_refused++;
        return st;
    }
    /* queue outside the lock: a full buffer may wait, a task switch must not */
    size_t bytes = fr->n * sizeof(float), queued = 0, cap = mc_queue_max_bytes(&n->inbox);
    int full = mc_queue_push_sized(&n->inbox, fr, bytes, NODE_PUSH_WAIT_S, &queued) != 0;
    if (full) {
        mc_frame_free(fr);
        queued = cap;
    }
    if (full || queued + in_bytes > cap) { /* room for less than one more input */
        long us = n->t_frame_us;
        double hold = (double)queued / (double)in_bytes * (us > 0 ? (double)us * 1e-6 : 0.05);
        char val[32];
        snprintf(val, sizeof val, "%.4f", hold > 0.001 ? hold : 0.001);
        mc_ipc_meta_set(&f->reply, "mc.almost_full", val);
        n->n_almost_full++;
    }
    if (full)
        return mc_error_set(MC_ERR_FULL, "busy: task %s input buffer (%zu bytes) stayed full for %.0f s", f->next, cap,
                            NODE_PUSH_WAIT_S);
    return MC_OK;
}

static mc_status on_assign(void *ctx, long epoch, const char *farm)
{
    node *n = ctx;
    if (!n->dynamic) return mc_error_set(MC_ERR_INVALID_ARG, "node %s runs a static farm file: no assign", n->me_str);
    node_offer_table(n, epoch, farm);
    return MC_OK;
}

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    node *n = ctx;
    if (mc_ctl_owns(n->ctl, body, len)) {
        mc_ctl_handlers h = {.ctx = n, .assign = on_assign};
        return mc_ctl_serve(n->ctl, &h, body, len, resp, resp_len);
    }
    return mc_ipc_serve(n->ipc, body, len, on_forward, n, resp, resp_len);
}

/* ---- setup and teardown ---- */

mc_status mc_node_run(const mc_node_opts *o, mc_flag *stop)
{
    /* Tensors in flight are large, short-lived mallocs: keep them on mmap so
     * they go back to the system when freed (glibc would otherwise raise the
     * mmap threshold and keep freed tensors in the heap, growing the RSS). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    node *n = calloc(1, sizeof *n);
    if (!n) return mc_error_set(MC_ERR_NOMEM, "node: out of memory");
    n->o = o;
    n->stop = stop;
    n->quiet = o->quiet;
    n->dynamic = o->master != NULL;
    n->wire_want = -1;
    if (o->wire) {
        mc_wire w;
        if (mc_wire_parse(o->wire, &w)) {
            free(n);
            return mc_error_set(MC_ERR_INVALID_ARG, "--wire: unknown encoding '%s' (f32, f16 or int8)", o->wire);
        }
        n->wire_want = (int)w;
    }
    pthread_mutex_init(&n->log_lock, NULL);
    pthread_mutex_init(&n->out_m, NULL);
    pthread_cond_init(&n->out_c, NULL);
    pthread_mutex_init(&n->view_m, NULL);
    pthread_mutex_init(&n->pend_m, NULL);
    pthread_mutex_init(&n->apply_m, NULL);
    pthread_mutex_init(&n->unreach_m, NULL);
    pthread_rwlock_init(&n->task_lock, NULL);
    snprintf(n->me_str, sizeof n->me_str, "-");
    pthread_t th_c, th_s, th_m;
    int have_c = 0, have_s = 0, have_m = 0, have_in = 0, have_out = 0;
    char *text = NULL;
    mc_status st;
    mc_backend_kind kind;
    if ((st = mc_backend_from_name(o->device ? o->device : "cpu", &kind)) ||
        (st = mc_backend_create(kind, o->threads, &n->be)))
        goto out;
    if ((st = mc_queue_init_bytes(&n->inbox, NODE_INBOX_ITEMS, 1))) goto out;
    have_in = 1;
    if ((st = mc_queue_init(&n->outbox, NODE_OUTBOX))) goto out;
    have_out = 1;
    if ((st = mc_ipc_new(&n->ipc)) || (st = mc_ctl_new(&n->ctl))) goto out;
    if (n->dynamic) {
        const char *adv = o->advertise ? o->advertise : o->listen;
        if (!adv) {
            st = mc_error_set(MC_ERR_INVALID_ARG, "--master needs --listen ADDR:PORT (the address peers reach)");
            goto out;
        }
        if ((st = mc_addr_parse(adv, MC_FARM_TASK_PORT, &n->me))) goto out;
        if (!strcmp(n->me.host, "0.0.0.0")) {
            st = mc_error_set(MC_ERR_INVALID_ARG, "%s is not an address peers can reach: give --advertise HOST:PORT", adv);
            goto out;
        }
        mc_addr_str(&n->me, n->me_str, sizeof n->me_str);
    } else {
        if ((st = mc_farm_read_text(o->farm, &text)) || (st = node_apply_table(n, text, o->farm))) goto out;
    }
    if (pthread_create(&th_c, NULL, node_compute_main, n)) {
        st = mc_error_set(MC_ERR_NOMEM, "node: cannot start the compute thread");
        goto out;
    }
    have_c = 1;
    if (pthread_create(&th_s, NULL, node_sender_main, n)) {
        st = mc_error_set(MC_ERR_NOMEM, "node: cannot start the sender thread");
        goto out;
    }
    have_s = 1;
    {
        mc_addr la = n->me;
        if (o->listen && (st = mc_addr_parse(o->listen, MC_FARM_TASK_PORT, &la))) goto out;
        node_task *k = n->task;
        size_t body = k ? (k->in_n > k->part_in_n ? k->in_n : k->part_in_n) * sizeof(float) + NODE_BODY_SLACK : 0;
        if ((st = mc_http_server_start(la.host, la.port, body > NODE_CONTROL_BODY ? body : NODE_CONTROL_BODY, o->auth,
                                       on_body, n, &n->srv)))
            goto out;
    }
    if (n->dynamic) {
        if (pthread_create(&th_m, NULL, node_member_main, n)) {
            st = mc_error_set(MC_ERR_NOMEM, "node: cannot start the membership thread");
            goto out;
        }
        have_m = 1;
        if (!o->quiet) {
            printf("node %s: joining the master at %s (memory %.0f MiB)\n", n->me_str, o->master, o->mem_mb);
            fflush(stdout);
        }
    }
    while (!*stop) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    st = MC_OK;
    if (!o->quiet && (n->n_dropped || n->n_almost_full))
        node_log(n, "backpressure: answered almost_full %ld times, dropped %ld frames", (long)n->n_almost_full,
                 (long)n->n_dropped);
    if (!o->quiet)
        node_log(n, "computed %ld frames; sent %ld to another replica than routed (%ld after a failed try); "
                    "refused %ld calls",
                 (long)n->n_computed, (long)n->n_rerouted, (long)n->n_failovers, (long)n->n_refused);
    if (!o->quiet && (n->n_wire[MC_WIRE_F16] || n->n_wire[MC_WIRE_INT8] || n->n_wire_fallback))
        node_log(n, "wire: sent %ld outputs as f32, %ld as f16, %ld as int8 (%ld int8 ones with NaN/inf as f32)",
                 (long)n->n_wire[MC_WIRE_F32], (long)n->n_wire[MC_WIRE_F16], (long)n->n_wire[MC_WIRE_INT8],
                 (long)n->n_wire_fallback);
out:
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        mc_error_set(st, "%s", msg);
    }
    n->quit = 1;
    n->send_abort = 1;
    if (have_m) pthread_join(th_m, NULL); /* says leave while the server still answers */
    if (n->srv && !o->quiet) { /* refusals and connections closed (docs/security.md) */
        mc_http_stats hs;
        char line[600];
        mc_http_server_stats(n->srv, &hs);
        mc_http_stats_describe(&hs, line, sizeof line);
        if (*line) node_log(n, "%s", line);
    }
    mc_http_server_stop(n->srv);
    if (have_in) mc_queue_close(&n->inbox);
    if (have_out) mc_queue_close(&n->outbox);
    if (have_c) pthread_join(th_c, NULL);
    if (have_s) pthread_join(th_s, NULL);
    if (have_in) mc_queue_free(&n->inbox, mc_frame_free);
    if (have_out) mc_queue_free(&n->outbox, mc_frame_free);
    if (n->have_merge) mc_merge_free(&n->merge);
    node_window_free(n);
    mc_ipc_free(n->ipc);
    mc_ctl_free(n->ctl);
    node_task_close(n->task);
    node_view_put(n, n->view);
    mc_backend_destroy(n->be);
    if (n->shapes_open) mc_model_free(&n->shapes);
    free(n->pending);
    free(text);
    pthread_mutex_destroy(&n->log_lock);
    pthread_mutex_destroy(&n->out_m);
    pthread_cond_destroy(&n->out_c);
    pthread_mutex_destroy(&n->view_m);
    pthread_mutex_destroy(&n->pend_m);
    pthread_mutex_destroy(&n->apply_m);
    pthread_mutex_destroy(&n->unreach_m);
    pthread_rwlock_destroy(&n->task_lock);
    free(n);
    return st;
}
