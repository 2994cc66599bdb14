/* node.c - the task node (see node.h). */
#include "node.h"

#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../backend/backend.h"
#include "../core/rng.h"
#include "../models/net.h"
#include "../models/weights.h"
#include "../ops/conv2d_winograd.h"
#include "../net/http.h"
#include "farmfile.h"
#include "frame.h"
#include "queue.h"
#include "send.h"

#define NODE_INBOX 2         /* whole inputs' worth of bytes */
#define NODE_INBOX_ITEMS 128 /* parts of split inputs count by their size */
#define NODE_OUTBOX 1
#define NODE_MERGE_TAGS 32 /* at most this many tags waiting for parts... */
#define NODE_MERGE_BYTES (16.0 * MB) /* ...and at most this many bytes of them */
#define NODE_MERGE_TIMEOUT_S 30.0
#define NODE_PUSH_WAIT_S 1.0     /* a full input buffer: wait, then answer busy */
#define NODE_WAIT_S 10.0   /* a frame that may not be dropped waits this long for room */
#define BODY_SLACK (64u * 1024u)
#define MB ((double)(1u << 20))
/* Process RSS besides tensors, measured on an idle node: shared libraries
 * (OpenBLAS, libcrypto, libcurl, Avro C, libmicrohttpd, libgomp) ~13 MB,
 * heap, thread stacks and OpenBLAS' per-thread buffers. */
#define NODE_BASE_BYTES (20.0 * MB)
/* Each compute thread beyond the first (OpenBLAS buffers, OpenMP stacks):
 * measured ~5.9 MiB on VGG16 block1 with 2 threads. */
#define NODE_THREAD_BYTES (6.0 * MB)
/* Winograd band of a bounded node: 1 Mi floats, the size of im2col's, so
 * the Winograd path needs no larger workspace. */
#define NODE_WINO_BAND_FLOATS ((size_t)1 << 20)

typedef struct node {
    mc_farm farm;
    int ti;               /* our task */
    const mc_farm_task *task;
    int addr_index, part; /* our entry in the task's address list, our part */
    mc_addr me;
    mc_model model;
    int model_loaded;
    mc_backend *be;
    mc_net net;
    size_t in_n, out_n;   /* floats in (whole input of our first layer) and out (our part) */
    size_t part_in_n;     /* floats our net takes (our slice when split, else in_n) */
    int prev_parts;       /* parts of the predecessor's output (1 if not split) */
    int prev_split, own_split, next_split; /* tasks with a method other than data */
    int merge_cap;                         /* tags the merge table holds (bounded in bytes) */
    mc_layer prev_full, own_full, next_full; /* the split layers as in the model (shapes only) */
    mc_split_part *prev_sp, *own_sp, *next_sp; /* their parts (shapes only) */
    mc_queue inbox, outbox;
    mc_merge merge;
    mc_ipc *ipc;
    mc_http_server *srv;
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t quit; /* threads end */
    int quiet;
    char tkey[MC_IPC_KEY_MAX];  /* "mc.t.<task>" */
    pthread_mutex_t log_lock;
    size_t in_bytes, inbox_bytes;
    _Atomic long t_frame_us;    /* mean compute time per frame (EMA) */
    _Atomic long n_dropped, n_almost_full;
    _Atomic long n_computed;    /* frames (or parts) computed */
    _Atomic long n_rerouted, n_failovers; /* sender: tags sent to another replica than routed; of those, after a failed try */
    /* output tensors alive (computed, queued, or being encoded): one at a
     * time, so with the sender's encoded copy at most two outputs exist */
    pthread_mutex_t out_m;
    pthread_cond_t out_c;
    int outs_live;
} node;

static void node_log(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void node_log(node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&n->log_lock);
    fprintf(stderr, "mchair node %s (%s:%d): ", n->task->name, n->me.host, n->me.port);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&n->log_lock);
    va_end(ap);
}

/* ---- choosing our task and address ---- */

static int local_host(const char *host)
{
    if (!strcmp(host, "localhost") || !strncmp(host, "127.", 4)) return 1;
    struct ifaddrs *ifa = NULL;
    int found = 0;
    if (getifaddrs(&ifa)) return 0;
    for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        char b[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, b, sizeof b);
        found = !strcmp(b, host);
    }
    freeifaddrs(ifa);
    return found;
}

static mc_status pick_task(node *n, const mc_node_opts *o)
{
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
    int tfirst = 0, tlast = n->farm.n_tasks;
    if (o->task) {
        int ti = mc_farm_find_task(&n->farm, o->task);
        if (ti < 0) return mc_error_set(MC_ERR_NOT_FOUND, "%s: no task '%s' in the farm", o->farm, o->task);
        tfirst = ti;
        tlast = ti + 1;
    }
    int found = 0, fti = -1, fai = -1;
    for (int t = tfirst; t < tlast; t++) {
        const mc_farm_task *ft = &n->farm.tasks[t];
        for (int a = 0; a < ft->n_addr; a++) {
            const mc_addr *ad = &ft->addr[a];
            int match;
            if (have_listen) {
                /* 0.0.0.0:PORT matches any local address with that port */
                match = ad->port == want.port &&
                        (!strcmp(want.host, ad->host) || (!strcmp(want.host, "0.0.0.0") && local_host(ad->host)));
            } else {
                match = (o->task && ft->n_addr == 1) || local_host(ad->host);
            }
            if (match) {
                found++;
                fti = t;
                fai = a;
            }
        }
    }
    if (found == 0) {
        char b[96];
        return mc_error_set(MC_ERR_NOT_FOUND, "%s: no task%s%s has the address %s", o->farm, o->task ? " " : "",
                            o->task ? o->task : "",
                            have_listen ? mc_addr_str(&want, b, sizeof b) : "of this machine");
    }
    if (found > 1)
        return mc_error_set(MC_ERR_INVALID_ARG,
                            "%s: %d task addresses match %s; give --listen ADDR:PORT (and --task NAME)", o->farm,
                            found, have_listen ? o->listen : "this machine");
    n->ti = fti;
    n->task = &n->farm.tasks[fti];
    n->addr_index = fai;
    n->part = fai % n->task->parts;
    n->me = n->task->addr[fai];
    if (have_listen && strcmp(want.host, n->me.host)) snprintf(n->me.host, sizeof n->me.host, "%s", want.host);
    return MC_OK;
}

/* ---- weights: whole range, or our part of a split layer ---- */

mc_status mc_node_split_layer(mc_model *m, const mc_farm_task *t, int k, uint64_t seed, const char *weights)
{
    mc_layer *l = &m->layers[t->first];
    mc_split_part p;
    mc_status st = mc_farm_task_part(m, t, k, &p);
    if (st) return st;
    if (weights) { /* read the whole layer, keep our slice */
        if (!(st = mc_weights_load(m, t->first, t->first + 1, weights))) st = mc_split_part_load_from(&p, l);
        mc_weights_release(m, t->first, t->first + 1);
    } else {
        st = mc_split_part_load_random(&p, l, seed);
    }
    if (st) {
        mc_split_part_free(&p);
        return st;
    }
    *l = p.layer; /* the model now owns the part's weights */
    return MC_OK;
}

/* ---- HTTP side ---- */

static mc_status on_forward(void *ctx, mc_ipc_forward *f)
{
    node *n = ctx;
    if (strcmp(f->next, n->task->name))
        return mc_error_set(MC_ERR_INVALID_ARG, "this node runs task '%s', not '%s'", n->task->name, f->next);
    int part = 0;
    size_t want = n->in_n;
    const char *slice = mc_ipc_meta_get(&f->meta, "mc.slice");
    if (n->prev_split) {
        const char *p = mc_ipc_meta_get(&f->meta, "mc.part");
        int k, P;
        if (!p || sscanf(p, "%d/%d", &k, &P) != 2 || P != n->prev_parts || k < 0 || k >= P)
            return mc_error_set(MC_ERR_FORMAT,
                                "task %s takes the %d parts of a split task: metadata mc.part=k/%d is missing or wrong (%s)",
                                n->task->name, n->prev_parts, n->prev_parts, p ? p : "absent");
        want = mc_split_out_count(&n->prev_sp[k]);
        part = k;
    } else if (slice) { /* the sender cut our slice */
        int k, P;
        if (!n->own_split || sscanf(slice, "%d/%d", &k, &P) != 2 || k != n->part || P != n->task->parts)
            return mc_error_set(MC_ERR_FORMAT, "task %s: got input slice %s, but this node holds part %d/%d",
                                n->task->name, slice, n->part, n->task->parts);
        want = n->part_in_n;
    }
    int as_u8 = 0;
    if (f->input_len != want * sizeof(float)) {
        if (n->ti == 0 && !n->prev_split && !slice && f->input_len == want) {
            as_u8 = 1; /* the artifact's raw uint8 frame */
        } else {
            char sb[64];
            mc_shape s = mc_model_range_in(&n->model, n->task->first);
            return mc_error_set(MC_ERR_SHAPE, "task %s: input of %zu bytes; expected %zu float32 values (%zu bytes%s%s)",
                                n->task->name, f->input_len, want, want * sizeof(float),
                                n->ti == 0 ? ") or uint8 frame of " : "",
                                n->ti == 0 ? mc_shape_str(&s, sb, sizeof sb) : "");
        }
    }
    mc_frame *fr = mc_frame_new(f->tag, want);
    if (!fr) return mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for a frame", n->task->name);
    if (as_u8)
        for (size_t i = 0; i < want; i++) fr->data[i] = f->input[i] / 255.0f;
    else
        memcpy(fr->data, f->input, want * sizeof(float));
    fr->part = part;
    fr->meta = f->meta;
    fr->t_recv = mc_now();
    size_t bytes = fr->n * sizeof(float), queued = 0;
    int full = mc_queue_push_sized(&n->inbox, fr, bytes, NODE_PUSH_WAIT_S, &queued) != 0;
    if (full) {
        mc_frame_free(fr);
        queued = n->inbox_bytes;
    }
    if (full || queued + n->in_bytes > n->inbox_bytes) { /* room for less than one more input */
        long us = n->t_frame_us;
        double hold = (double)queued / (double)n->in_bytes * (us > 0 ? (double)us * 1e-6 : 0.05);
        char v[32];
        snprintf(v, sizeof v, "%.4f", hold > 0.001 ? hold : 0.001);
        mc_ipc_meta_set(&f->reply, "mc.almost_full", v);
        n->n_almost_full++;
    }
    if (full)
        return mc_error_set(MC_ERR_FULL, "busy: task %s input buffer (%zu bytes) stayed full for %.0f s",
                            n->task->name, n->inbox_bytes, NODE_PUSH_WAIT_S);
    return MC_OK;
}

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    node *n = ctx;
    return mc_ipc_serve(n->ipc, body, len, on_forward, n, resp, resp_len);
}

/* Tags the merge table may hold for merged inputs of `bytes` each: a merge
 * holds whole inputs, so the table is bounded in bytes (at least 2 tags,
 * so that one tag can complete while the next one's parts arrive). */
static int node_merge_cap(double bytes)
{
    double cap = bytes > 0 ? NODE_MERGE_BYTES / bytes : NODE_MERGE_TAGS;
    return cap < 2 ? 2 : cap > NODE_MERGE_TAGS ? NODE_MERGE_TAGS : (int)cap;
}

/* ---- compute thread ---- */

static void out_acquire(node *n)
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

static void out_release(node *n)
{
    pthread_mutex_lock(&n->out_m);
    if (n->outs_live > 0) n->outs_live--;
    pthread_cond_signal(&n->out_c);
    pthread_mutex_unlock(&n->out_m);
}

static void report_lost(node *n, mc_rpc *r, const char *tag, const char *why)
{
    node_log(n, "lost tag %s: %s", tag, why);
    if (r && mc_farm_report_lost(r, &n->farm, tag, why, &n->quit))
        node_log(n, "could not report the loss to initial: %s", mc_error_last());
}

/* Hands a lost tag to the sender, which reports it to the initial node
 * (a frame without data whose metadata mc.error says why). */
static void queue_lost(node *n, const char *tag, const char *why)
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

static void *compute_main(void *arg)
{
    node *n = arg;
    char lost[MC_IPC_TAG_MAX], why[MC_IPC_VAL_MAX];
    while (!n->quit) {
        mc_frame *fr = mc_queue_pop(&n->inbox, 0.1);
        if (n->prev_split)
            while (mc_merge_expire(&n->merge, mc_now(), lost)) {
                snprintf(why, sizeof why, "task %s at %s:%d waited %.0f s for the other parts of the tag",
                         n->task->name, n->me.host, n->me.port, NODE_MERGE_TIMEOUT_S);
                queue_lost(n, lost, why);
            }
        if (!fr) continue;
        if (n->prev_split) {
            int err;
            fr = mc_merge_add(&n->merge, fr, mc_now(), lost, &err);
            if (lost[0]) {
                snprintf(why, sizeof why, "task %s at %s:%d: merge table of %d tags full", n->task->name,
                         n->me.host, n->me.port, n->merge_cap);
                queue_lost(n, lost, why);
            }
            if (err) node_log(n, "dropped a part: %s", mc_error_last());
            if (!fr) continue;
        }
        if (n->own_split && !mc_ipc_meta_get(&fr->meta, "mc.slice")) { /* whole input: cut our slice */
            mc_frame *sl = mc_frame_new(fr->tag, n->part_in_n);
            if (!sl) {
                queue_lost(n, fr->tag, "out of memory");
                mc_frame_free(fr);
                continue;
            }
            mc_split_slice_input(&n->own_sp[n->part], &n->own_full, fr->data, sl->data);
            sl->meta = fr->meta;
            sl->t_recv = fr->t_recv;
            mc_frame_free(fr);
            fr = sl;
        }
        /* a new output only once the sender has encoded the last one and
         * freed it: the outputs alive are this one and the encoded call the
         * sender is sending (not also a queued one and its tensor) */
        out_acquire(n);
        mc_frame *out = mc_frame_new(fr->tag, n->out_n);
        if (!out) {
            out_release(n);
            queue_lost(n, fr->tag, "out of memory");
            mc_frame_free(fr);
            continue;
        }
        double t0 = mc_now();
        mc_status st = mc_net_forward(&n->net, fr->data, out->data);
        double dt = mc_now() - t0;
        long us = n->t_frame_us, dus = (long)(dt * 1e6);
        n->t_frame_us = us > 0 ? (3 * us + dus) / 4 : dus;
        if (st) {
            snprintf(why, sizeof why, "task %s: compute failed: %s", n->task->name, mc_error_last());
            queue_lost(n, fr->tag, why);
            mc_frame_free(fr);
            mc_frame_free(out);
            out_release(n);
            continue;
        }
        /* metadata: the times so far plus ours; our part index if we are split */
        for (int i = 0; i < fr->meta.n; i++)
            if (strcmp(fr->meta.key[i], "mc.part") && strcmp(fr->meta.key[i], "mc.slice"))
                mc_ipc_meta_set(&out->meta, fr->meta.key[i], fr->meta.val[i]);
        char v[64];
        snprintf(v, sizeof v, "%.6f", dt);
        mc_ipc_meta_set(&out->meta, n->tkey, v);
        n->n_computed++;
        if (n->own_split) {
            snprintf(v, sizeof v, "%d/%d", n->part, n->task->parts);
            mc_ipc_meta_set(&out->meta, "mc.part", v);
        }
        mc_frame_free(fr);
        while (mc_queue_push(&n->outbox, out, 0.1))
            if (n->quit) {
                mc_frame_free(out);
                out_release(n);
                break;
            }
    }
    return NULL;
}

/* ---- sender thread ---- */

/* Counts and logs a tag that went to another replica of the next task than
 * its route (a device of that task dropped out: send.h, failover). */
static void note_delivery(node *n, const char *tag, const mc_farm_delivery *d, mc_status st)
{
    if (n->ti + 1 >= n->farm.n_tasks || d->replica < 0 || st) return;
    const mc_farm_task *nt = &n->farm.tasks[n->ti + 1];
    if (d->replica == mc_farm_route_replica(nt, tag)) return;
    n->n_rerouted++;
    if (d->failovers) {
        n->n_failovers++;
        node_log(n, "tag %s: a replica of %s was unreachable; delivered to replica %d (%s:%d)", tag, nt->name,
                 d->replica, nt->addr[d->replica * nt->parts].host, nt->addr[d->replica * nt->parts].port);
    }
}

static void *sender_main(void *arg)
{
    node *n = arg;
    mc_rpc *r = NULL;
    if (mc_rpc_new(n->ipc, &r)) {
        node_log(n, "cannot start the sender: %s", mc_error_last());
        return NULL;
    }
    while (!n->quit) {
        mc_frame *fr = mc_queue_pop(&n->outbox, 0.1);
        if (!fr) continue;
        const char *lost_why = mc_ipc_meta_get(&fr->meta, "mc.error");
        if (lost_why) {
            if (mc_farm_report_lost(r, &n->farm, fr->tag, lost_why, &n->quit))
                node_log(n, "could not report the loss to initial: %s", mc_error_last());
            mc_frame_free(fr);
            continue;
        }
        /* A whole tensor for a split receiver is cut: a different slice to
         * each part holder, encoded one by one while the tensor lives (so
         * the compute thread waits for the next output until all are sent);
         * after the hold-off it is sent, never dropped (a tag's parts go all
         * or none). */
        if (n->next_split && !n->own_split) {
            double hold = mc_farm_hold_s(r, &n->farm, n->ti + 1, fr->tag), waited = 0;
            while (hold > 0 && waited < NODE_WAIT_S && !n->quit) {
                double h = hold < 0.01 ? 0.01 : hold > 0.1 ? 0.1 : hold;
                struct timespec ts = {0, (long)(h * 1e9)};
                nanosleep(&ts, NULL);
                waited += h;
                hold = mc_farm_hold_s(r, &n->farm, n->ti + 1, fr->tag);
            }
            mc_farm_cut cut = {n->next_sp, &n->next_full};
            mc_farm_delivery d = MC_FARM_DELIVERY_INIT;
            mc_status st = mc_farm_send(r, &n->farm, n->ti + 1, &cut, fr->tag, fr->data, fr->n, &fr->meta,
                                        MC_RPC_POLICY_DEFAULT, &n->quit, &d);
            note_delivery(n, fr->tag, &d, st);
            free(fr->data);
            fr->data = NULL;
            out_release(n);
            if (st) {
                char why[800];
                snprintf(why, sizeof why, "%s could not deliver: %s", n->task->name, mc_error_last());
                report_lost(n, r, fr->tag, why);
            }
            mc_frame_free(fr);
            continue;
        }
        /* Otherwise every receiver gets the same tensor (a part of a split
         * task's output goes to each holder as is): it is encoded once.
         * Backpressure: a whole tag the source let us drop (mc.droppable: it
         * samples at a rate) is dropped here rather than queued; the parts
         * of a split task are never dropped one by one, and frames of a
         * closed-loop source are not dropped at all: they wait. */
        int may_drop = n->task->parts == 1 && !n->own_split && mc_ipc_meta_get(&fr->meta, "mc.droppable") != NULL;
        double hold = mc_farm_hold_s(r, &n->farm, n->ti + 1, fr->tag), waited = 0;
        mc_status st = MC_ERR_FULL;
        mc_farm_delivery d = MC_FARM_DELIVERY_INIT;
        unsigned char *body = NULL;
        size_t blen = 0;
        if (!may_drop || hold <= 0) {
            /* encode once and free the tensor, so the compute thread can
             * start the next output while this one is on the network */
            st = mc_farm_encode(n->ipc, &n->farm, n->ti + 1, fr->tag, fr->data, fr->n, &fr->meta, &body, &blen);
        }
        free(fr->data);
        fr->data = NULL;
        out_release(n);
        if (st != MC_OK && st != MC_ERR_FULL) {
            char why[800];
            snprintf(why, sizeof why, "%s could not encode: %s", n->task->name, mc_error_last());
            report_lost(n, r, fr->tag, why);
            mc_frame_free(fr);
            continue;
        }
        if (!may_drop || hold <= 0) {
            /* respect the hold-off (when we may not drop), then send; after a
             * refusal only the part holders that did not take it get it again */
            for (;;) {
                while (!may_drop && hold > 0 && waited < NODE_WAIT_S && !n->quit) {
                    double h = hold < 0.01 ? 0.01 : hold > 0.1 ? 0.1 : hold;
                    struct timespec ts = {0, (long)(h * 1e9)};
                    nanosleep(&ts, NULL);
                    waited += h;
                    hold = mc_farm_hold_s(r, &n->farm, n->ti + 1, fr->tag);
                }
                st = mc_farm_send_encoded(r, &n->farm, n->ti + 1, fr->tag, body, blen, MC_RPC_POLICY_DEFAULT,
                                          &n->quit, &d);
                if (st == MC_ERR_FULL && d.sent) may_drop = 0; /* some part holders took it: complete it */
                if (st != MC_ERR_FULL || may_drop || waited >= NODE_WAIT_S || n->quit) break;
                hold = mc_farm_hold_s(r, &n->farm, n->ti + 1, fr->tag);
                if (hold < 0.01) hold = 0.01;
            }
        }
        if (st == MC_ERR_FULL && may_drop) {
            char why[300];
            snprintf(why, sizeof why, "task %s at %s:%d dropped it: next task %s almost full", n->task->name,
                     n->me.host, n->me.port, n->ti + 1 < n->farm.n_tasks ? n->farm.tasks[n->ti + 1].name : "initial");
            n->n_dropped++;
            if (mc_farm_report_dropped(r, &n->farm, fr->tag, why, &n->quit))
                node_log(n, "could not report a dropped tag to initial: %s", mc_error_last());
        } else if (st) {
            char why[800];
            snprintf(why, sizeof why, "%s could not deliver: %s", n->task->name, mc_error_last());
            report_lost(n, n->ti + 1 < n->farm.n_tasks ? r : NULL, fr->tag, why);
        }
        note_delivery(n, fr->tag, &d, st);
        free(body);
        mc_frame_free(fr);
    }
    mc_rpc_free(r);
    return NULL;
}

/* ---- setup and teardown ---- */

mc_status mc_node_run(const mc_node_opts *o, volatile sig_atomic_t *stop)
{
    /* Tensors in flight are large, short-lived mallocs: keep them on mmap so
     * they go back to the system when freed (glibc would otherwise raise the
     * mmap threshold and keep freed tensors in the heap, growing the RSS). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    node *n = calloc(1, sizeof *n);
    if (!n) return mc_error_set(MC_ERR_NOMEM, "node: out of memory");
    pthread_mutex_init(&n->log_lock, NULL);
    pthread_mutex_init(&n->out_m, NULL);
    pthread_cond_init(&n->out_c, NULL);
    n->stop = stop;
    n->quiet = o->quiet;
    pthread_t th_c, th_s;
    int have_c = 0, have_s = 0, have_in = 0, have_out = 0, have_merge = 0;
    mc_status st;
    if ((st = mc_farm_load(o->farm, o->model, &n->farm)) || (st = pick_task(n, o))) goto out;
    const mc_farm_task *t = n->task;
    if ((st = mc_model_open(n->farm.model, &n->model))) goto out;
    n->model_loaded = 1;
    /* The split layers around us, as in the model, before ours becomes our part. */
    const mc_farm_task *pt = n->ti > 0 ? &n->farm.tasks[n->ti - 1] : NULL;
    const mc_farm_task *nt = n->ti + 1 < n->farm.n_tasks ? &n->farm.tasks[n->ti + 1] : NULL;
    n->prev_split = pt && pt->method != MC_SPLIT_DATA;
    n->own_split = t->method != MC_SPLIT_DATA;
    n->next_split = nt && nt->method != MC_SPLIT_DATA;
    if (n->prev_split) {
        n->prev_full = n->model.layers[pt->first];
        if ((st = mc_farm_task_parts(&n->model, pt, &n->prev_sp))) goto out;
    }
    if (n->own_split) {
        n->own_full = n->model.layers[t->first];
        if ((st = mc_farm_task_parts(&n->model, t, &n->own_sp))) goto out;
    }
    if (n->next_split) {
        n->next_full = n->model.layers[nt->first];
        if ((st = mc_farm_task_parts(&n->model, nt, &n->next_sp))) goto out;
    }
    mc_backend_kind kind;
    if ((st = mc_backend_from_name(o->device ? o->device : "cpu", &kind)) ||
        (st = mc_backend_create(kind, o->threads, &n->be)))
        goto out;
    if (n->own_split) st = mc_node_split_layer(&n->model, t, n->part, o->seed, o->weights);
    else if (o->weights) st = mc_weights_load(&n->model, t->first, t->last, o->weights);
    else st = mc_weights_random(&n->model, t->first, t->last, o->seed);
    if (st) goto out;
    /* Memory bound: what the node holds besides the transformed Winograd
     * weights (weights, two activation buffers, workspace, frames in flight,
     * the process itself); the Winograd transforms get what is left. */
    double limit = o->mem_limit_mb < 0 ? -1 : o->mem_limit_mb * MB, wbytes = 0, wino_all = 0;
    for (int i = t->first; i < t->last; i++) {
        mc_layer *l = &n->model.layers[i];
        wbytes += 4.0 * (double)(mc_tensor_count(&l->weight) + mc_tensor_count(&l->bias));
        wino_all += (double)mc_winograd_weight_bytes(l);
    }
    if (limit < 0) limit = wbytes + 64.0 * MB;
    if (limit > 0) {
        /* bounded: transformed layers drop their plain weights and use bands
         * no larger than im2col's, so the transforms cost 7/16 of U each */
        double act = 0, ws = 0;
        for (int i = t->first; i < t->last; i++) {
            mc_layer *l = &n->model.layers[i];
            l->cpu_band_floats = NODE_WINO_BAND_FLOATS; /* as prepare will set it: workspace with our bands */
            double a = 4.0 * (double)mc_shape_count(&l->in), b = 4.0 * (double)mc_shape_count(&l->out);
            act = a > act ? a : act;
            act = b > act ? b : act;
            double w = (double)n->be->workspace_bytes(n->be, l);
            ws = w > ws ? w : ws;
        }
        /* a part holder may receive the whole input and cut its slice */
        double in_b = 4.0 * (double)mc_shape_count(n->own_split ? &n->own_full.in : &n->model.layers[t->first].in);
        double out_b = 4.0 * (double)mc_shape_count(&n->model.layers[t->last - 1].out);
        long threads = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
        double fixed = wbytes + 2 * act + ws + (NODE_INBOX + 2) * in_b + 3 * out_b + NODE_BASE_BYTES +
                       (double)(threads > 1 ? threads - 1 : 0) * NODE_THREAD_BYTES +
                       (n->prev_split ? node_merge_cap(in_b) * in_b : 0);
        /* on our backend, before mc_net_init prepares the layers */
        mc_backend_cpu_set_winograd(n->be, limit > fixed ? (size_t)(limit - fixed) : 0, 1, NODE_WINO_BAND_FLOATS);
    }
    if ((st = mc_net_init(&n->net, &n->model, t->first, t->last, n->be))) goto out;
    double wino_used = 0;
    int wino_layers = 0, wino_can = 0;
    for (int i = t->first; i < t->last; i++) {
        wino_can += mc_winograd_applies(&n->model.layers[i]);
        if (n->model.layers[i].cpu_state) {
            wino_used += (double)mc_winograd_weight_bytes(&n->model.layers[i]);
            wino_layers++;
        }
    }
    n->part_in_n = mc_net_in_count(&n->net);
    n->in_n = n->own_split ? mc_shape_count(&n->own_full.in) : n->part_in_n;
    n->out_n = mc_net_out_count(&n->net);
    n->in_bytes = n->in_n * sizeof(float);
    n->inbox_bytes = NODE_INBOX * n->in_bytes;
    n->prev_parts = pt ? pt->parts : 1;
    snprintf(n->tkey, sizeof n->tkey, "mc.t.%s", t->name);
    if ((st = mc_queue_init_bytes(&n->inbox, NODE_INBOX_ITEMS, n->inbox_bytes))) goto out;
    have_in = 1;
    if ((st = mc_queue_init(&n->outbox, NODE_OUTBOX))) goto out;
    have_out = 1;
    if (n->prev_split) {
        n->merge_cap = node_merge_cap((double)n->in_bytes);
        if ((st = mc_merge_init(&n->merge, n->prev_sp, n->prev_parts, &n->prev_full, n->merge_cap,
                                NODE_MERGE_TIMEOUT_S)))
            goto out;
        have_merge = 1;
    }
    if ((st = mc_ipc_new(&n->ipc))) goto out;
    if (pthread_create(&th_c, NULL, compute_main, n)) {
        st = mc_error_set(MC_ERR_NOMEM, "node: cannot start the compute thread");
        goto out;
    }
    have_c = 1;
    if (pthread_create(&th_s, NULL, sender_main, n)) {
        st = mc_error_set(MC_ERR_NOMEM, "node: cannot start the sender thread");
        goto out;
    }
    have_s = 1;
    size_t body_floats = n->in_n > n->part_in_n ? n->in_n : n->part_in_n; /* a tile with halo may be larger */
    if ((st = mc_http_server_start(n->me.host, n->me.port, body_floats * sizeof(float) + BODY_SLACK, on_body, n,
                                   &n->srv)))
        goto out;
    if (!o->quiet) {
        char a[64];
        mc_shape si = mc_model_range_in(&n->model, t->first);
        char lim[48] = "none";
        if (limit > 0) snprintf(lim, sizeof lim, "%.1f MiB", limit / MB);
        printf("node %s: layers %s..%s (%s -> %zu values), %s part %d of %d, weights %.1f MB, %s, listening on %s:%d, "
               "next %s; memory bound %s, Winograd on %d of %d layers (%.1f of %.1f MiB)\n", t->name,
               n->model.layers[t->first].name, n->model.layers[t->last - 1].name, mc_shape_str(&si, a, sizeof a),
               n->out_n, mc_split_name(t->method), n->part, t->parts, wbytes / 1e6, n->be->name, n->me.host, n->me.port,
               n->ti + 1 < n->farm.n_tasks ? n->farm.tasks[n->ti + 1].name : "initial", lim, wino_layers, wino_can, wino_used / MB,
               wino_all / MB);
        fflush(stdout);
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
        node_log(n, "computed %ld frames; sent %ld to another replica than routed (%ld after a failed try)",
                 (long)n->n_computed, (long)n->n_rerouted, (long)n->n_failovers);
out:
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        mc_error_set(st, "%s", msg);
    }
    mc_http_server_stop(n->srv);
    n->quit = 1;
    if (have_in) mc_queue_close(&n->inbox);
    if (have_out) mc_queue_close(&n->outbox);
    if (have_c) pthread_join(th_c, NULL);
    if (have_s) pthread_join(th_s, NULL);
    if (have_in) mc_queue_free(&n->inbox, mc_frame_free);
    if (have_out) mc_queue_free(&n->outbox, mc_frame_free);
    if (have_merge) mc_merge_free(&n->merge);
    mc_ipc_free(n->ipc);
    mc_net_free(&n->net);
    mc_backend_destroy(n->be);
    if (n->model_loaded) mc_model_free(&n->model);
    free(n->prev_sp);
    free(n->own_sp);
    free(n->next_sp);
    pthread_mutex_destroy(&n->log_lock);
    pthread_mutex_destroy(&n->out_m);
    pthread_cond_destroy(&n->out_c);
    free(n);
    return st;
}
