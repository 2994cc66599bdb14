/* initial.c - the farm's source and sink (see initial.h). */
#include "initial.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../models/net.h"
#include "../models/weights.h"
#include "../net/http.h"
#include "farmfile.h"
#include "frame.h"
#include "queue.h"
#include "send.h"

#define RESULTS_QUEUE 64
#define RESULTS_BYTES ((size_t)16 << 20) /* and at most this many bytes (or 2 results) */
#define CONTROL_BODY ((size_t)1 << 20)
#define LAT_EMA 0.2

typedef struct src {
    const mc_initial_opts *o;
    mc_initial_report *r;
    mc_model m;
    int have_model;
    size_t nin, nout;
    mc_ipc *ipc;
    mc_ctl *ctl;
    mc_queue results;
    int have_q;
    mc_http_server *srv;
    mc_addr listen;
    char listen_str[MC_FARM_HOST_MAX + 16];

    /* the table: current, and the newest one not yet taken by the main loop */
    pthread_mutex_t tm;
    mc_farm *farm;              /* main loop's current table */
    mc_split_part *last_sp;     /* parts of its split last task (NULL if not split) */
    mc_split_io last_io;        /* their messages (refers to last_sp and m) */
    int last_parts;
    mc_farm *pending;
    mc_master_event pending_ev[16]; /* the events that led to it */
    int n_pending_ev;
    long pending_epoch;
    mc_flag abort_send; /* a new table: a send in progress gives up */
    mc_flag quit;

    /* per tag */
    double *t_first, *t_send, *retry_at;
    long *epoch_sent;
    unsigned char *tries;
    double lat_ema;
    double t_stream;            /* the first send (0 before) */
    mc_merge merge;
    int have_merge;
    pthread_t th_member;
    int have_member;
    mc_http_client *report_http; /* the main loop's, for reports to a remote master */
} src;

static void logf_(const src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const src *s, const char *fmt, ...)
{
    if (s->o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- tables ---- */

/* Keeps the newest table for the main loop (from the master in-process, an
 * assign, or a heartbeat answer). */
static void offer(src *s, const mc_farm *f, const mc_master_event *ev, int n_ev)
{
    pthread_mutex_lock(&s->tm);
    long cur = s->farm ? s->farm->epoch : 0;
    if (f->epoch > cur && f->epoch > s->pending_epoch) {
        if (!s->pending) s->pending = malloc(sizeof *s->pending);
        if (s->pending) {
            *s->pending = *f;
            for (int i = 0; i < n_ev && s->n_pending_ev < 16; i++) s->pending_ev[s->n_pending_ev++] = ev[i];
            s->pending_epoch = f->epoch;
            s->abort_send = 1;
        }
    }
    pthread_mutex_unlock(&s->tm);
}

static void on_master_table(void *ctx, const mc_farm *f, const mc_master_event *ev, int n_ev)
{
    offer(ctx, f, ev, n_ev);
}

static void offer_text(src *s, long epoch, const char *json)
{
    if (!json || !*json) return;
    pthread_mutex_lock(&s->tm);
    int old = epoch <= (s->farm ? s->farm->epoch : 0) || epoch <= s->pending_epoch;
    pthread_mutex_unlock(&s->tm);
    if (old) return;
    mc_farm *f = malloc(sizeof *f);
    mc_master_event ev[16];
    if (!f) return;
    if (mc_farm_parse(json, "the master's table", s->o->model, f)) {
        fprintf(stderr, "initial: refused a table: %s\n", mc_error_last());
    } else {
        int n = mc_master_table_events(json, ev, 16);
        for (int k = 0; k < n; k++) ev[k].t = mc_now(); /* the master's clock is not ours: when we learn of it */
        offer(s, f, ev, n);
    }
    free(f);
}

static mc_status on_assign(void *ctx, long epoch, const char *farm)
{
    offer_text(ctx, epoch, farm);
    return MC_OK;
}

/* ---- sink ---- */

static mc_status on_result(void *ctx, mc_ipc_forward *f)
{
    src *s = ctx;
    if (strcmp(f->next, "initial"))
        return mc_error_set(MC_ERR_INVALID_ARG, "this is the initial node; got next='%s'", f->next);
    char *end;
    long idx = strtol(f->tag, &end, 10);
    if (!*f->tag || *end || idx < 0 || idx >= s->o->repeat)
        return mc_error_set(MC_ERR_NOT_FOUND, "tag '%s' was not sent by this initial node", f->tag);
    const char *err = mc_ipc_meta_get(&f->meta, "mc.error");
    if (!err) err = mc_ipc_meta_get(&f->meta, "mc.dropped");
    int part = 0;
    size_t want = s->nout;
    if (!err) {
        pthread_mutex_lock(&s->tm);
        const mc_split_part *sp = s->last_sp;
        int P = s->last_parts;
        if (sp) {
            const char *p = mc_ipc_meta_get(&f->meta, "mc.part");
            int k, got;
            if (!p || sscanf(p, "%d/%d", &k, &got) != 2 || got != P || k < 0 || k >= P) {
                pthread_mutex_unlock(&s->tm);
                return mc_error_set(MC_ERR_FORMAT, "result parts need metadata mc.part=k/%d", P);
            }
            want = mc_split_io_out_count(&s->last_io, k);
            part = k;
        }
        pthread_mutex_unlock(&s->tm);
    }
    if (!err && f->input_len != want * sizeof(float))
        return mc_error_set(MC_ERR_SHAPE, "result of %zu bytes; expected %zu float32 values", f->input_len, want);
    mc_frame *fr = mc_frame_new(f->tag, err ? 0 : want);
    if (!fr) return mc_error_set(MC_ERR_NOMEM, "initial: out of memory");
    if (!err) memcpy(fr->data, f->input, want * sizeof(float));
    else fr->n = 0;
    fr->part = part;
    fr->meta = f->meta;
    fr->t_recv = mc_now();
    if (mc_queue_push_sized(&s->results, fr, fr->n * sizeof(float), 10.0, NULL)) {
        mc_frame_free(fr);
        return mc_error_set(MC_ERR_FULL, "busy: initial result buffer is full");
    }
    return MC_OK;
}

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    src *s = ctx;
    if (mc_ctl_owns(s->ctl, body, len)) {
        mc_ctl_handlers h = {.ctx = s, .assign = on_assign};
        if (s->o->master) h = mc_master_handlers(s->o->master);
        return mc_ctl_serve(s->ctl, &h, body, len, resp, resp_len);
    }
    return mc_ipc_serve(s->ipc, body, len, on_result, s, resp, resp_len);
}

/* ---- a master elsewhere: join it, poll it for tables ---- */

static void *member_main(void *arg)
{
    src *s = arg;
    mc_http_client *h = NULL;
    mc_addr m;
    if (mc_addr_parse(s->o->master_addr, MC_FARM_INITIAL_PORT, &m) || mc_http_client_new(&h)) {
        fprintf(stderr, "initial: master %s: %s\n", s->o->master_addr, mc_error_last());
        return NULL;
    }
    mc_http_client_set_timeout(h, 2000);
    mc_http_client_set_auth(h, s->o->auth);
    int joined = 0;
    long fails = 0;
    while (!s->quit) {
        mc_ctl_table t;
        mc_status st;
        if (!joined) {
            st = mc_ctl_join(s->ctl, h, m.host, m.port, s->listen_str, "initial", 0, &t);
            joined = st == MC_OK;
        } else {
            mc_ctl_figures f;
            memset(&f, 0, sizeof f);
            pthread_mutex_lock(&s->tm);
            long e = s->farm ? s->farm->epoch : 0;
            pthread_mutex_unlock(&s->tm);
            st = mc_ctl_heartbeat(s->ctl, h, m.host, m.port, s->listen_str, e, &f, &t);
        }
        if (!st) {
            offer_text(s, t.epoch, t.farm);
            mc_ctl_table_free(&t);
            fails = 0;
        } else if (fails++ % 20 == 0) {
            fprintf(stderr, "initial: master %s: %s (trying again)\n", s->o->master_addr, mc_error_last());
        }
        for (int i = 0; i < 25 && !s->quit; i++) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    mc_http_client_free(h);
    return NULL;
}

/* ---- the stream ---- */

static void add_reason(mc_initial_report *r, long tag, const char *why)
{
    if (r->n_reasons >= MC_INITIAL_REASONS) return;
    r->reason_tag[r->n_reasons] = tag;
    snprintf(r->reason[r->n_reasons++], sizeof r->reason[0], "%s", why);
}

static void account(src *s, long i, int state, long *accounted)
{
    mc_initial_report *r = s->r;
    r->state[i] = (unsigned char)state;
    (*accounted)++;
    if (state == MC_TAG_DONE) r->done++;
    else if (state == MC_TAG_LOST) r->lost++;
    else if (state == MC_TAG_DROPPED) r->dropped++;
    if (state != MC_TAG_DONE && s->o->on_gone) s->o->on_gone(s->o->result_ctx, i, state);
}

static int has_pending(src *s)
{
    pthread_mutex_lock(&s->tm);
    int p = s->pending != NULL;
    pthread_mutex_unlock(&s->tm);
    return p;
}

/* Takes the newest table: the sink's merge follows its last task. */
static int take_table(src *s, double t_first)
{
    pthread_mutex_lock(&s->tm);
    mc_farm *nf = s->pending;
    mc_master_event evs[16];
    const int n_ev = s->n_pending_ev;
    memcpy(evs, s->pending_ev, sizeof evs);
    s->n_pending_ev = 0;
    s->pending = NULL;
    s->pending_epoch = 0;
    if (!nf) {
        pthread_mutex_unlock(&s->tm);
        return 0;
    }
    mc_farm *old = s->farm;
    const mc_farm_task *last = &nf->tasks[nf->n_tasks - 1];
    const mc_farm_task *olast = old ? &old->tasks[old->n_tasks - 1] : NULL;
    const int same_last = olast && olast->first == last->first && olast->method == last->method &&
                          olast->parts == last->parts && olast->grid[0] == last->grid[0] && olast->grid[1] == last->grid[1];
    mc_split_part *sp = NULL, *old_sp = NULL;
    mc_split_io io;
    if (!same_last && mc_farm_task_io(&s->m, last, &sp, &io)) fprintf(stderr, "initial: %s\n", mc_error_last());
    s->farm = nf;
    if (!same_last) { /* the sink's merge follows a new split of the last task */
        old_sp = s->last_sp;
        s->last_sp = sp;
        s->last_io = io;
        s->last_parts = last->parts;
    }
    pthread_mutex_unlock(&s->tm);
    free(old);
    if (!same_last) {
        if (s->have_merge) { /* tags waiting for parts of the old split: re-sent as overdue */
            mc_merge_free(&s->merge);
            s->have_merge = 0;
        }
        free(old_sp);
        if (sp && !mc_merge_init(&s->merge, &s->last_io, 64, s->o->timeout_s)) s->have_merge = 1;
    }
    mc_initial_report *r = s->r;
    for (int k = 0; k < n_ev && (s->o->master || s->o->master_addr); k++) {
        const mc_master_event *ev = &evs[k];
        if (r->n_events < MC_INITIAL_EVENTS) {
            mc_initial_event *e = &r->events[r->n_events++];
            memset(e, 0, sizeof *e);
            e->t_s = t_first > 0 ? ev->t - t_first : ev->t - mc_now();
            snprintf(e->kind, sizeof e->kind, "%s", ev->kind[0] ? ev->kind : "table");
            e->devices = ev->devices;
            e->moved = ev->moved;
            e->epoch = ev->epoch ? ev->epoch : nf->epoch;
            e->recovery_s = -1;
            snprintf(e->why, sizeof e->why, "%s", ev->why);
        }
        /* printed even when quiet: one line per event */
        printf("event: %s (%s) -> epoch %ld, %d devices, %d loading a task\n", ev->kind, ev->why,
               ev->epoch ? ev->epoch : nf->epoch, ev->devices, ev->moved);
        fflush(stdout);
    }
    return 1;
}

/* The first result of a table marks the recovery of the events up to it. */
static void note_epoch(src *s, const mc_frame *fr)
{
    const char *e = mc_ipc_meta_get(&fr->meta, "mc.ep");
    if (!e) return;
    long ep = atol(e);
    mc_initial_report *r = s->r;
    for (int i = 0; i < r->n_events; i++) {
        mc_initial_event *ev = &r->events[i];
        if (ev->recovery_s >= 0 || ep < ev->epoch) continue;
        double t_first = s->t_stream > 0 ? s->t_stream : fr->t_recv;
        ev->recovery_s = fr->t_recv - t_first - ev->t_s;
        if (ev->recovery_s < 0) ev->recovery_s = 0;
        if (strcmp(ev->kind, "start"))
            logf_(s, "epoch %ld: results computed under the new table %.3f s after the %s\n", ev->epoch,
                  ev->recovery_s, ev->kind);
    }
}

/* A result's per-task figures: mc.t.<task> (compute seconds) and
 * mc.r.<task> (seconds its device spent reloading the task first). */
static void task_time(mc_initial_report *r, const char *name, double t, int reload)
{
    int i;
    for (i = 0; i < r->n_task_names; i++)
        if (!strcmp(r->task_name[i], name)) break;
    if (i == r->n_task_names) {
        if (i >= MC_FARM_MAX_TASKS * 4) return;
        snprintf(r->task_name[i], MC_NAME_MAX, "%s", name);
        r->n_task_names++;
    }
    if (reload) {
        r->task_reload_sum[i] += t;
        r->task_reloads[i]++;
    } else {
        r->task_sum[i] += t;
        r->task_n[i]++;
    }
}

static mc_status setup(src *s)
{
    const mc_initial_opts *o = s->o;
    mc_initial_report *r = s->r;
    mc_status st;
    const char *model = o->model;
    mc_farm *f = NULL;
    if (o->farm) {
        if (!(f = malloc(sizeof *f))) return mc_error_set(MC_ERR_NOMEM, "initial: out of memory");
        if ((st = mc_farm_load(o->farm, o->model, f))) {
            free(f);
            return st;
        }
        model = f->model;
    }
    if (!model) return mc_error_set(MC_ERR_INVALID_ARG, "initial: a dynamic farm needs --model");
    if ((st = mc_model_open(model, &s->m))) {
        free(f);
        return st;
    }
    s->have_model = 1;
    snprintf(r->model, sizeof r->model, "%s", s->m.name);
    s->nin = mc_shape_count(&s->m.input);
    s->nout = mc_shape_count(&s->m.layers[s->m.n_layers - 1].out);
    if (f) { /* a static farm is a table of epoch 0, taken at once */
        s->pending = f;
        s->pending_epoch = 0;
        s->n_pending_ev = 0;
        take_table(s, 0);
        snprintf(r->farm, sizeof r->farm, "%s", f->preset[0] ? f->preset : o->farm);
        s->listen = f->initial;
    } else {
        snprintf(r->farm, sizeof r->farm, "dynamic (%s)", o->master ? "master in initial" : o->master_addr);
    }
    if (o->listen && (st = mc_addr_parse(o->listen, MC_FARM_INITIAL_PORT, &s->listen))) return st;
    if (!o->farm && !o->listen) return mc_error_set(MC_ERR_INVALID_ARG, "initial: a dynamic farm needs --listen ADDR:PORT");
    mc_addr_str(&s->listen, s->listen_str, sizeof s->listen_str);
    const long n = o->repeat;
    r->repeat = n;
    r->state = calloc((size_t)n, 1);
    r->lat_s = calloc((size_t)n, sizeof *r->lat_s);
    r->recv_s = calloc((size_t)n, sizeof *r->recv_s);
    s->t_first = calloc((size_t)n, sizeof *s->t_first);
    s->t_send = calloc((size_t)n, sizeof *s->t_send);
    s->retry_at = calloc((size_t)n, sizeof *s->retry_at);
    s->epoch_sent = calloc((size_t)n, sizeof *s->epoch_sent);
    s->tries = calloc((size_t)n, 1);
    if (!r->state || !r->lat_s || !r->recv_s || !s->t_first || !s->t_send || !s->retry_at || !s->epoch_sent || !s->tries)
        return mc_error_set(MC_ERR_NOMEM, "initial: out of memory for %ld frames", n);
    size_t rbytes = 2 * s->nout * sizeof(float) > RESULTS_BYTES ? 2 * s->nout * sizeof(float) : RESULTS_BYTES;
    if ((st = mc_queue_init_bytes(&s->results, RESULTS_QUEUE, rbytes))) return st;
    s->have_q = 1;
    if ((st = mc_ipc_new(&s->ipc)) || (st = mc_ctl_new(&s->ctl))) return st;
    size_t body = s->nout * sizeof(float) + 65536;
    if ((st = mc_http_server_start(s->listen.host, s->listen.port, body > CONTROL_BODY ? body : CONTROL_BODY,
                                   s->o->auth, on_body, s, &s->srv)))
        return st;
    if (o->master) mc_master_subscribe(o->master, on_master_table, s);
    if (o->master_addr) {
        if ((st = mc_http_client_new(&s->report_http))) return st;
        mc_http_client_set_timeout(s->report_http, 1000);
        mc_http_client_set_auth(s->report_http, s->o->auth);
        if (pthread_create(&s->th_member, NULL, member_main, s))
            return mc_error_set(MC_ERR_NOMEM, "initial: cannot start the membership thread");
        s->have_member = 1;
    }
    return MC_OK;
}

static void teardown(src *s)
{
    s->quit = 1;
    if (s->have_member) pthread_join(s->th_member, NULL);
    if (s->o->master) mc_master_subscribe(s->o->master, NULL, NULL);
    if (s->srv) { /* refusals and connections closed (docs/security.md) */
        mc_http_stats hs;
        char line[600];
        mc_http_server_stats(s->srv, &hs);
        mc_http_stats_describe(&hs, line, sizeof line);
        if (*line) fprintf(stderr, "initial: %s\n", line);
    }
    mc_http_server_stop(s->srv);
    if (s->have_q) mc_queue_free(&s->results, mc_frame_free);
    if (s->have_merge) mc_merge_free(&s->merge);
    mc_ipc_free(s->ipc);
    mc_ctl_free(s->ctl);
    mc_http_client_free(s->report_http);
    free(s->farm);
    free(s->pending);
    free(s->last_sp);
    free(s->t_first);
    free(s->t_send);
    free(s->retry_at);
    free(s->epoch_sent);
    free(s->tries);
    if (s->have_model) mc_model_free(&s->m);
    pthread_mutex_destroy(&s->tm);
}

/* Seconds before the next send of a frame sent `tries` times that came back
 * lost: 0.25 s doubling to 4 s, so that a transition (a device loading its
 * new task, a table not yet taken everywhere) is waited out, not burnt. */
static double backoff(int tries)
{
    double s = 0.25;
    for (int i = 1; i < tries && s < 4; i++) s *= 2;
    return s > 4 ? 4 : s;
}

/* Sends frame i with the current table; returns the send's status. */
static mc_status send_frame(src *s, long i, mc_rpc *rpc, float *in, uint8_t *u8, const mc_ipc_meta *meta0, long *rerouted)
{
    const mc_initial_opts *o = s->o;
    const mc_farm *farm = s->farm;
    const mc_farm_task *first = &farm->tasks[0];
    const int send_u8 = !o->n_inputs && !o->input_fn && !o->float_frames && first->method == MC_SPLIT_DATA;
    char tag[32];
    snprintf(tag, sizeof tag, "%ld", i);
    const float *x = in;
    if (o->input_fn) x = in; /* made by input_fn before the send (below) */
    else if (o->n_inputs) x = o->inputs[i % o->n_inputs];
    else if (send_u8) mc_input_random_u8(u8, s->nin, o->seed, (uint64_t)i);
    else mc_input_random(in, s->nin, o->seed, (uint64_t)i);
    mc_ipc_meta meta = *meta0;
    if (o->meta_fn) o->meta_fn(o->input_ctx, i, &meta);
    if (farm->epoch > 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", farm->epoch);
        mc_ipc_meta_set(&meta, "mc.ep", v);
    }
    mc_split_part *first_sp = NULL;
    mc_split_io cut;
    mc_status st = MC_OK;
    if (first->method != MC_SPLIT_DATA && (st = mc_farm_task_io(&s->m, first, &first_sp, &cut))) return st;
    mc_farm_delivery d = MC_FARM_DELIVERY_INIT;
    mc_rpc_policy pol = MC_RPC_POLICY_DEFAULT;
    pthread_mutex_lock(&s->tm);
    s->abort_send = s->pending != NULL; /* from here on a new table interrupts this send */
    pthread_mutex_unlock(&s->tm);
    st = send_u8 ? mc_farm_send_u8(rpc, farm, tag, u8, s->nin, &meta, pol, &s->abort_send, &d)
                 : mc_farm_send(rpc, farm, 0, first_sp ? &cut : NULL, tag, x, s->nin, &meta, pol, &s->abort_send, &d);
    free(first_sp);
    if (st || d.failovers) { /* tell the master of first-task devices that did not answer */
        for (int k = 0; k < first->n_addr; k++)
            if (mc_rpc_down_s(rpc, first->addr[k].host, first->addr[k].port) > 0) {
                char a[MC_CTL_ADDR_MAX];
                mc_addr_str(&first->addr[k], a, sizeof a);
                if (o->master) {
                    mc_ctl_handlers h = mc_master_handlers(o->master);
                    h.report(h.ctx, s->listen_str, a, "unreachable from initial");
                } else if (o->master_addr && s->report_http) {
                    mc_addr m;
                    if (!mc_addr_parse(o->master_addr, MC_FARM_INITIAL_PORT, &m))
                        mc_ctl_report(s->ctl, s->report_http, m.host, m.port, s->listen_str, a, "unreachable from initial");
                }
            }
    }
    if (!st && d.failovers && !o->quiet)
        fprintf(stderr, "initial: tag %s: a replica of %s was unreachable; sent to replica %d\n", tag, first->name,
                d.replica);
    if (!st && d.replica != mc_farm_route_replica(first, tag)) (*rerouted)++;
    return st;
}

mc_status mc_initial_run(const mc_initial_opts *o, mc_flag *stop, mc_initial_report *r)
{
    memset(r, 0, sizeof *r);
    src *s = calloc(1, sizeof *s);
    if (!s) return mc_error_set(MC_ERR_NOMEM, "initial: out of memory");
    s->o = o;
    s->r = r;
    pthread_mutex_init(&s->tm, NULL);
    const int dynamic = o->master || o->master_addr;
    r->dynamic = dynamic;
    const int max_tries = o->max_tries > 0 ? (o->max_tries > 250 ? 250 : o->max_tries) : 8;
    mc_rpc *rpc = NULL;
    float *in = NULL;
    uint8_t *u8 = NULL;
    mc_status st = setup(s);
    if (!st && (!(in = malloc(s->nin * sizeof *in)) || !(u8 = malloc(s->nin))))
        st = mc_error_set(MC_ERR_NOMEM, "initial: out of memory");
    if (!st) st = mc_rpc_new(s->ipc, &rpc);
    if (st) goto out;
    mc_rpc_set_abort(rpc, &s->abort_send);
    mc_rpc_set_auth(rpc, o->auth);

    /* a dynamic farm: wait for the master's first table */
    if (dynamic) {
        logf_(s, "initial: model %s, dynamic farm (%s), %ld frames, %s, results and control at %s; waiting for the "
                 "devices\n",
              s->m.name, o->master ? "master in this process" : o->master_addr, o->repeat,
              o->rate > 0 ? "paced" : "closed loop", s->listen_str);
        const double wait = o->wait_s > 0 ? o->wait_s : 300, t0 = mc_now();
        while (!has_pending(s) && !*stop && mc_now() - t0 < wait) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!has_pending(s)) {
            st = *stop ? mc_error_set(MC_ERR_ABORTED, "initial: stopped while waiting for devices")
                       : mc_error_set(MC_ERR_TIMEOUT, "initial: no table from the master after %.0f s (%d devices "
                                                      "joined%s)",
                                      wait, o->master ? mc_master_devices(o->master) : -1,
                                      o->master ? "" : "; is the master reachable?");
            goto out;
        }
        take_table(s, 0);
    }
    const mc_farm *farm = s->farm;
    r->devices = mc_farm_devices(farm);
    r->n_tasks = farm->n_tasks;
    const long window = o->window ? o->window : mc_farm_devices(farm);
    if (!dynamic)
        logf_(s, "initial: model %s, farm %s (%d devices, %d tasks), %ld frames, %s, results at %s\n", s->m.name,
              r->farm, r->devices, farm->n_tasks, o->repeat, o->rate > 0 ? "paced" : "closed loop", s->listen_str);

    long next = 0, inflight = 0, accounted = 0, lowest = 0;
    mc_ipc_meta meta0; /* a sampling source lets the farm drop frames under backpressure */
    meta0.n = 0;
    if (o->rate > 0) mc_ipc_meta_set(&meta0, "mc.droppable", "1");
    double t0 = mc_now(), t_first = 0, t_last = 0;
    long scan = 0; /* where the next look for re-sends starts */
    while (accounted < o->repeat && !*stop) {
        double now = mc_now();
        if (take_table(s, t_first)) {
            farm = s->farm;
            /* frames sent under an older table that are overdue went with a
             * device that left or changed task: sent again below */
            for (long i = lowest; i < next; i++)
                if (r->state[i] == MC_TAG_FLIGHT && s->epoch_sent[i] < farm->epoch && s->retry_at[i] == 0) {
                    double grace = 2 * s->lat_ema > 0.25 ? 2 * s->lat_ema : 0.25;
                    s->retry_at[i] = s->t_send[i] + grace;
                }
        }
        /* a frame due again (dynamic): its retry time passed */
        long due = -1;
        if (dynamic)
            for (long k = 0; k < next - lowest && due < 0; k++) {
                long i = lowest + (scan + k) % (next - lowest);
                if (r->state[i] == MC_TAG_FLIGHT && s->retry_at[i] > 0 && now >= s->retry_at[i]) due = i;
            }
        int can_new = next < o->repeat && inflight < window && (o->rate <= 0 || now >= t0 + next / o->rate);
        int not_ready = 0;
        if (o->input_fn && due >= 0) { /* a re-send: the frame again */
            if (o->input_fn(o->input_ctx, due, in) != 1) due = -1;
        }
        if (o->input_fn && due < 0 && can_new) {
            int got = o->input_fn(o->input_ctx, next, in);
            if (got < 0) { /* cannot be made: dropped, saying why */
                char why[320];
                snprintf(why, sizeof why, "%s", mc_error_last());
                add_reason(r, next, why);
                account(s, next, MC_TAG_DROPPED, &accounted);
                next++;
                continue;
            }
            if (!got) can_new = 0, not_ready = 1;
        }
        long i = due >= 0 ? due : can_new ? next : -1;
        double held = 0;
        if (i >= 0) {
            char tag[32];
            snprintf(tag, sizeof tag, "%ld", i);
            held = mc_farm_hold_s(rpc, farm, 0, tag);
            if (held > 0 && i == next) {
                if (o->rate > 0) { /* lower the sampling rate: this frame is not taken */
                    account(s, next, MC_TAG_DROPPED, &accounted);
                    next++;
                }
                i = -1;
            } else if (held > 0) {
                i = -1; /* a re-send waits for the hold-off */
            }
        }
        if (i >= 0) {
            const int fresh = i == next;
            if (fresh) {
                r->state[i] = MC_TAG_FLIGHT;
                inflight++;
                next++;
            } else {
                r->reissued++;
                scan = i - lowest + 1;
            }
            s->tries[i]++;
            s->t_send[i] = mc_now();
            if (!s->t_first[i]) s->t_first[i] = s->t_send[i];
            if (!t_first) {
                t_first = s->t_send[i];
                s->t_stream = t_first; /* events taken before: t_s was relative to then, close enough */
                struct timespec wall;
                clock_gettime(CLOCK_REALTIME, &wall);
                r->t_first_unix = (double)wall.tv_sec + wall.tv_nsec * 1e-9;
            }
            s->epoch_sent[i] = farm->epoch;
            s->retry_at[i] = 0;
            mc_status ss = send_frame(s, i, rpc, in, u8, &meta0, &r->rerouted);
            if (ss == MC_ERR_FULL) { /* refused as busy: dropped, not lost */
                inflight--;
                account(s, i, MC_TAG_DROPPED, &accounted);
            } else if (ss == MC_ERR_ABORTED && dynamic) {
                s->retry_at[i] = mc_now(); /* a new table came while sending: again with it */
            } else if (ss && dynamic && s->tries[i] < max_tries) {
                char why[400];
                snprintf(why, sizeof why, "%s", mc_error_last());
                s->retry_at[i] = mc_now() + backoff(s->tries[i]);
                if (!o->quiet) fprintf(stderr, "initial: tag %ld: %s (sending again)\n", i, why);
            } else if (ss) {
                inflight--;
                account(s, i, MC_TAG_LOST, &accounted);
                add_reason(r, i, mc_error_last());
                fprintf(stderr, "initial: lost tag %ld: %s\n", i, mc_error_last());
            }
        }
        int more_to_send = next < o->repeat && inflight < window;
        double wait = more_to_send ? (o->rate > 0 ? t0 + next / o->rate - mc_now() : held) : 0.02;
        if (not_ready && wait < 0.002) wait = 0.002; /* the next frame is being made elsewhere */
        if (wait < 0) wait = 0;
        if (wait > 0.02) wait = 0.02;
        mc_frame *fr = mc_queue_pop(&s->results, wait > 0 ? wait : 0.0005);
        while (fr) {
            long idx = strtol(fr->tag, NULL, 10);
            const char *err = mc_ipc_meta_get(&fr->meta, "mc.error");
            if (r->state[idx] != MC_TAG_FLIGHT) { /* late or duplicate: counted once */
                mc_frame_free(fr);
            } else if (!err && mc_ipc_meta_get(&fr->meta, "mc.dropped")) {
                inflight--;
                account(s, idx, MC_TAG_DROPPED, &accounted);
                mc_frame_free(fr);
            } else if (err) {
                if (dynamic && s->tries[idx] < max_tries) { /* sent again after a short wait */
                    if (s->retry_at[idx] == 0) s->retry_at[idx] = mc_now() + backoff(s->tries[idx]);
                    if (!o->quiet) fprintf(stderr, "initial: tag %ld: %s (sending again)\n", idx, err);
                } else {
                    inflight--;
                    account(s, idx, MC_TAG_LOST, &accounted);
                    char why[320];
                    snprintf(why, sizeof why, "%s%s", err, dynamic ? " (after all tries)" : "");
                    add_reason(r, idx, why);
                    fprintf(stderr, "initial: lost tag %ld: %s\n", idx, why);
                }
                mc_frame_free(fr);
            } else {
                if (s->have_merge) {
                    char lt[MC_IPC_TAG_MAX];
                    int e;
                    fr = mc_merge_add(&s->merge, fr, mc_now(), lt, &e);
                }
                if (fr) {
                    inflight--;
                    account(s, idx, MC_TAG_DONE, &accounted);
                    r->lat_s[idx] = fr->t_recv - s->t_first[idx];
                    r->recv_s[idx] = fr->t_recv - t_first;
                    double one = fr->t_recv - s->t_send[idx];
                    s->lat_ema = s->lat_ema > 0 ? (1 - LAT_EMA) * s->lat_ema + LAT_EMA * one : one;
                    t_last = fr->t_recv;
                    note_epoch(s, fr);
                    for (int k = 0; k < fr->meta.n; k++)
                        if (!strncmp(fr->meta.key[k], "mc.t.", 5) || !strncmp(fr->meta.key[k], "mc.r.", 5))
                            task_time(r, fr->meta.key[k] + 5, atof(fr->meta.val[k]), fr->meta.key[k][3] == 'r');
                    if (o->on_result) o->on_result(o->result_ctx, idx, fr->data, fr->n);
                    mc_frame_free(fr);
                }
            }
            fr = mc_queue_pop(&s->results, 0);
        }
        /* timeouts; a dynamic farm also sends long-overdue frames again */
        now = mc_now();
        for (long k = lowest; k < next; k++) {
            if (r->state[k] != MC_TAG_FLIGHT) continue;
            if (now - s->t_first[k] > o->timeout_s) {
                inflight--;
                account(s, k, MC_TAG_LOST, &accounted);
                char why[160];
                snprintf(why, sizeof why, "no result within %.1f s%s", o->timeout_s,
                         dynamic ? " (after all tries)" : "");
                add_reason(r, k, why);
                fprintf(stderr, "initial: lost tag %ld: %s\n", k, why);
            } else if (dynamic && s->retry_at[k] == 0 && s->tries[k] < max_tries) {
                double overdue = 8 * s->lat_ema > 3.0 ? 8 * s->lat_ema : 3.0;
                if (now - s->t_send[k] > overdue) s->retry_at[k] = now;
            }
        }
        /* print in tag order (flushed: progress is watched through pipes and files) */
        const long printed_from = lowest;
        while (lowest < next && r->state[lowest] >= MC_TAG_DONE) {
            if (!o->quiet) {
                if (r->state[lowest] == MC_TAG_DONE)
                    printf("inference %ld/%ld: %.4f s\n", lowest + 1, o->repeat, r->lat_s[lowest]);
                else
                    printf("inference %ld/%ld: %s\n", lowest + 1, o->repeat,
                           r->state[lowest] == MC_TAG_DROPPED ? "dropped" : "lost");
            }
            lowest++;
        }
        if (lowest > printed_from && !o->quiet) fflush(stdout);
    }
    if (*stop) {
        r->interrupted = 1;
        fprintf(stderr, "initial: interrupted with %ld frames unaccounted\n", o->repeat - accounted);
    }
    double mean = 0;
    for (long k = 0; k < o->repeat; k++)
        if (r->state[k] == MC_TAG_DONE) mean += r->lat_s[k];
    r->mean_s = r->done ? mean / (double)r->done : 0;
    double span = t_last > t_first ? t_last - t_first : 0;
    r->throughput_ips = span > 0 ? r->done / span : 0;
    for (int k = 0; k < r->n_events; k++) /* events before the first frame: relative to it */
        if (t_first == 0) r->events[k].t_s = 0;
out:
    if (st) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        mc_error_set(st, "%s", msg);
    }
    mc_rpc_free(rpc);
    free(in);
    free(u8);
    teardown(s);
    free(s);
    return st;
}

void mc_initial_report_free(mc_initial_report *r)
{
    free(r->state);
    free(r->lat_s);
    free(r->recv_s);
    r->state = NULL;
    r->lat_s = r->recv_s = NULL;
}

cJSON *mc_initial_report_json(const mc_initial_report *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddStringToObject(j, "farm", r->farm);
    cJSON_AddNumberToObject(j, "devices", r->devices);
    cJSON_AddNumberToObject(j, "repeat", (double)r->repeat);
    cJSON_AddNumberToObject(j, "done", (double)r->done);
    cJSON *a = cJSON_AddArrayToObject(j, "latency_s");
    for (long i = 0; i < r->repeat; i++)
        cJSON_AddItemToArray(a, r->state[i] == MC_TAG_DONE ? cJSON_CreateNumber(r->lat_s[i]) : cJSON_CreateNull());
    /* when each result arrived, seconds after the first send (steady-state throughput) */
    cJSON *ra = cJSON_AddArrayToObject(j, "recv_s");
    for (long i = 0; i < r->repeat; i++)
        cJSON_AddItemToArray(ra, r->state[i] == MC_TAG_DONE ? cJSON_CreateNumber(r->recv_s[i]) : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "mean_s", r->mean_s);
    cJSON_AddNumberToObject(j, "ips", r->mean_s > 0 ? 1.0 / r->mean_s : 0);
    cJSON_AddNumberToObject(j, "throughput_ips", r->throughput_ips);
    cJSON *ts = cJSON_AddObjectToObject(j, "task_mean_s");
    for (int i = 0; i < r->n_task_names; i++)
        if (r->task_n[i]) cJSON_AddNumberToObject(ts, r->task_name[i], r->task_sum[i] / (double)r->task_n[i]);
    cJSON *rl = cJSON_AddObjectToObject(j, "task_reload_s"); /* tasks reloaded in turn: total seconds, reloads */
    for (int i = 0; i < r->n_task_names; i++)
        if (r->task_reloads[i]) {
            cJSON *o = cJSON_AddObjectToObject(rl, r->task_name[i]);
            cJSON_AddNumberToObject(o, "seconds", r->task_reload_sum[i]);
            cJSON_AddNumberToObject(o, "reloads", (double)r->task_reloads[i]);
        }
    cJSON *lt = cJSON_AddArrayToObject(j, "lost");
    for (long i = 0; i < r->repeat; i++)
        if (r->state[i] != MC_TAG_DONE && r->state[i] != MC_TAG_DROPPED) cJSON_AddItemToArray(lt, cJSON_CreateNumber((double)i));
    cJSON *dt = cJSON_AddArrayToObject(j, "dropped");
    for (long i = 0; i < r->repeat; i++)
        if (r->state[i] == MC_TAG_DROPPED) cJSON_AddItemToArray(dt, cJSON_CreateNumber((double)i));
    cJSON *lr = cJSON_AddObjectToObject(j, "lost_reasons");
    for (int i = 0; i < r->n_reasons; i++) {
        char k[32];
        snprintf(k, sizeof k, "%ld", r->reason_tag[i]);
        cJSON_AddStringToObject(lr, k, r->reason[i]);
    }
    cJSON_AddNumberToObject(j, "t_first_unix", r->t_first_unix);
    cJSON_AddNumberToObject(j, "rerouted", (double)r->rerouted);
    cJSON_AddNumberToObject(j, "reissued", (double)r->reissued);
    cJSON *ev = cJSON_AddArrayToObject(j, "events");
    for (int i = 0; i < r->n_events; i++) {
        const mc_initial_event *e = &r->events[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t_s", e->t_s);
        cJSON_AddStringToObject(o, "kind", e->kind);
        cJSON_AddNumberToObject(o, "devices", e->devices);
        cJSON_AddNumberToObject(o, "epoch", (double)e->epoch);
        if (e->recovery_s >= 0) cJSON_AddNumberToObject(o, "recovery_s", e->recovery_s);
        else cJSON_AddNullToObject(o, "recovery_s");
        cJSON_AddNumberToObject(o, "moved", e->moved);
        cJSON_AddStringToObject(o, "why", e->why);
        cJSON_AddItemToArray(ev, o);
    }
    return j;
}
