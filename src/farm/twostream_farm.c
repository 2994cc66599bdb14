/* twostream_farm.c - the two-stream model on three farms, windows at the
 * initial device or in the head's first task (twostream_farm.h says how and
 * why), and the window messages' metadata (shared with node_window.c).  Three mc_initial_run
 * loops, one per farm, in threads; they meet in the rings under one mutex. */
#include "twostream_farm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/flow.h"
#include "../models/model.h"
#include "../models/net.h"
#include "../models/twostream.h"
#include "../models/video.h"
#include "farmfile.h"
#include "initial.h"

enum { G_SPATIAL, G_TEMPORAL, G_HEAD };

/* Vectors of one stream and kind by frame: slot f % MC_TS_RING. */
typedef struct ring {
    long frame[MC_TS_RING];
    signed char have[MC_TS_RING]; /* 1: the vector of `frame`; -1: `frame` will not come; 0: empty */
    float *v;                     /* MC_TS_RING x dim */
} ring;

typedef struct ts_run {
    const mc_ts_farm_opts *o;
    const mc_twostream_def *def;
    int K, w, h;
    long F;               /* frames a stream */
    size_t dim, nf, nst;  /* vector, frame and flow-stack floats */
    float *frames;        /* K x F x nf */
    float *stacks;        /* K x (F - flows) x nst */
    ring *sp, *tp;        /* K each */
    long *need_from;      /* per stream: the lowest frame a coming window may read */
    double *t_sent;       /* K x F: when frame f went to the spatial farm (0: not yet) */
    int *skipped;         /* per head tag */
    /* --windows node: what each head tag's call carries, and per stream
     * whether its next head message must be the whole window */
    mc_ts_win_msg *wmsg;  /* per head tag */
    int *resync;          /* per stream */
    pthread_mutex_t mu;
    mc_ts_farm_report *r;
    mc_initial_opts io[3];
    mc_initial_report rep[3];
    mc_status st[3];
    char err[3][400];
    mc_flag *stop;
    long last_tag[3];     /* the highest tag each farm gave back so far */
    double t_score0, t_score1; /* first and last scores */
} ts_run;

static long first_scored(const ts_run *t) { return t->def->flows + t->def->twin - 1; }

static int ring_room(const ts_run *t, int s, long f) { return f < t->need_from[s] + MC_TS_RING; }

static int spatial_in(void *ctx, long i, float *x)
{
    ts_run *t = ctx;
    const int s = (int)(i % t->K);
    const long f = i / t->K;
    pthread_mutex_lock(&t->mu);
    int ok = ring_room(t, s, f);
    if (ok && !t->t_sent[(size_t)s * t->F + f]) t->t_sent[(size_t)s * t->F + f] = mc_now();
    pthread_mutex_unlock(&t->mu);
    if (ok && s == t->o->drop_stream && f == t->o->drop_frame) {
        mc_error_set(MC_ERR_ABORTED, "stream %d frame %ld dropped on purpose (--drop)", s, f);
        return -1;
    }
    if (ok) memcpy(x, t->frames + ((size_t)s * t->F + f) * t->nf, t->nf * sizeof(float));
    return ok;
}

static int temporal_in(void *ctx, long j, float *x)
{
    ts_run *t = ctx;
    const int s = (int)(j % t->K);
    const long f = t->def->flows + j / t->K;
    pthread_mutex_lock(&t->mu);
    /* not before its frame was recorded (sent to the spatial farm) */
    int ok = ring_room(t, s, f) && t->t_sent[(size_t)s * t->F + f] > 0;
    pthread_mutex_unlock(&t->mu);
    if (ok) memcpy(x, t->stacks + ((size_t)s * (t->F - t->def->flows) + (size_t)(j / t->K)) * t->nst, t->nst * sizeof(float));
    return ok;
}

/* Collects the n newest vectors of frames <= last (and >= lo) from ring rg
 * into out (oldest first), skipping frames that will not come.  1: done,
 * 0: a vector has not come yet, -1: the ring cannot fill the window. */
static int window_from(const ts_run *t, const ring *rg, long last, long lo, int n, float *out, int *skipped)
{
    int got = 0;
    for (long f = last; got < n; f--) {
        if (f < lo || f <= last - MC_TS_RING) return -1;
        const int slot = (int)(f % MC_TS_RING);
        if (rg->frame[slot] != f || rg->have[slot] == 0) return 0;
        if (rg->have[slot] < 0) {
            (*skipped)++;
            continue;
        }
        got++;
        memcpy(out + (size_t)(n - got) * t->dim, rg->v + (size_t)slot * t->dim, t->dim * sizeof(float));
    }
    return 1;
}

void mc_ts_win_meta_set(mc_ipc_meta *meta, const mc_ts_win_msg *m)
{
    char v[64];
    if (m->full) snprintf(v, sizeof v, "%d/%d/full", m->swin, m->twin);
    else snprintf(v, sizeof v, "%d/%d/%c%c", m->swin, m->twin, m->has_s ? 's' : '-', m->has_t ? 't' : '-');
    mc_ipc_meta_set(meta, "mc.win", v);
    snprintf(v, sizeof v, "%d", m->stream);
    mc_ipc_meta_set(meta, "mc.stream", v);
    snprintf(v, sizeof v, "%ld", m->frame);
    mc_ipc_meta_set(meta, "mc.frame", v);
}

mc_status mc_ts_win_meta_get(const mc_ipc_meta *meta, mc_ts_win_msg *m)
{
    memset(m, 0, sizeof *m);
    const char *w = mc_ipc_meta_get(meta, "mc.win"), *s = mc_ipc_meta_get(meta, "mc.stream"),
               *f = mc_ipc_meta_get(meta, "mc.frame");
    if (!w) return mc_error_set(MC_ERR_NOT_FOUND, "no metadata mc.win");
    char kind[8] = "", extra;
    if (sscanf(w, "%d/%d/%7s%c", &m->swin, &m->twin, kind, &extra) != 3 || m->swin < 1 || m->twin < 1 ||
        m->swin > 4096 || m->twin > 4096)
        return mc_error_set(MC_ERR_FORMAT, "metadata mc.win='%s': expected SWIN/TWIN/full or SWIN/TWIN/st "
                            "(s or -, t or -)", w);
    if (!strcmp(kind, "full")) m->full = 1;
    else if (strlen(kind) == 2 && (kind[0] == 's' || kind[0] == '-') && (kind[1] == 't' || kind[1] == '-'))
        m->has_s = kind[0] == 's', m->has_t = kind[1] == 't';
    else
        return mc_error_set(MC_ERR_FORMAT, "metadata mc.win='%s': expected SWIN/TWIN/full or SWIN/TWIN/st "
                            "(s or -, t or -)", w);
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || v < 0 || v > 1 << 20)
        return mc_error_set(MC_ERR_FORMAT, "metadata mc.stream='%s': expected a stream number", s ? s : "(none)");
    m->stream = (int)v;
    v = f ? strtol(f, &end, 10) : -1;
    if (!f || !*f || *end || v < 0)
        return mc_error_set(MC_ERR_FORMAT, "metadata mc.frame='%s': expected a frame number", f ? f : "(none)");
    m->frame = v;
    return MC_OK;
}

/* --windows node: replaces the window in x by frame f's two vectors (rows 0
 * and 1) unless the stream's node windows must start over.  Under t->mu. */
static void to_delta(ts_run *t, long k, int s, long f, float *x)
{
    mc_ts_win_msg *m = &t->wmsg[k];
    m->swin = t->def->swin, m->twin = t->def->twin, m->stream = s, m->frame = f;
    m->full = t->resync[s];
    t->resync[s] = 0;
    if (m->full) return;
    const int slot = (int)(f % MC_TS_RING);
    const ring *sp = &t->sp[s], *tp = &t->tp[s];
    m->has_s = sp->frame[slot] == f && sp->have[slot] > 0;
    m->has_t = tp->frame[slot] == f && tp->have[slot] > 0;
    memset(x, 0, (size_t)(t->def->swin + t->def->twin) * t->dim * sizeof(float));
    if (m->has_s) memcpy(x, sp->v + (size_t)slot * t->dim, t->dim * sizeof(float));
    if (m->has_t) memcpy(x + t->dim, tp->v + (size_t)slot * t->dim, t->dim * sizeof(float));
}

static void head_meta(void *ctx, long k, mc_ipc_meta *meta)
{
    ts_run *t = ctx;
    pthread_mutex_lock(&t->mu);
    const mc_ts_win_msg m = t->wmsg[k];
    pthread_mutex_unlock(&t->mu);
    mc_ts_win_meta_set(meta, &m);
}

static int head_in(void *ctx, long k, float *x)
{
    ts_run *t = ctx;
    const int s = (int)(k % t->K);
    const long f = first_scored(t) + k / t->K;
    int skipped = 0;
    pthread_mutex_lock(&t->mu);
    int a = window_from(t, &t->sp[s], f, 0, t->def->swin, x, &skipped);
    int b = a > 0 ? window_from(t, &t->tp[s], f, t->def->flows, t->def->twin, x + (size_t)t->def->swin * t->dim,
                                &skipped)
                  : a;
    if (b != 0) { /* done with this frame's windows, made or not: the rings may move on */
        long nf = f + 1 - t->def->twin - MC_TS_RING / 8;
        if (nf > t->need_from[s]) t->need_from[s] = nf;
        t->skipped[k] = skipped;
        if (b > 0) t->r->skipped_vectors += skipped;
        else t->r->dropped_windows++;
        /* the node's windows: frame f's vectors only (its windows are the
         * ones just made here, for the summary); after a frame that did not
         * reach the node, the whole window again */
        if (t->o->windows == MC_TS_WINDOWS_NODE) {
            if (b > 0) to_delta(t, k, s, f, x);
            else t->resync[s] = 1;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (b < 0)
        mc_error_set(MC_ERR_ABORTED, "stream %d frame %ld: its windows cannot be filled (%d vectors missing, more "
                     "than the %d-frame ring holds)", s, f, skipped, MC_TS_RING);
    return b;
}

static void put(ts_run *t, ring *rings, int s, long f, const float *v, int have)
{
    ring *rg = &rings[s];
    const int slot = (int)(f % MC_TS_RING);
    pthread_mutex_lock(&t->mu);
    rg->frame[slot] = f;
    rg->have[slot] = (signed char)have;
    if (v) memcpy(rg->v + (size_t)slot * t->dim, v, t->dim * sizeof(float));
    pthread_mutex_unlock(&t->mu);
}

/* result_ctx of each farm's loop: the run and which graph */
typedef struct ts_farm_ctx {
    ts_run *t;
    int g;
} ts_farm_ctx;

static void on_result(void *ctx, long tag, const float *out, size_t n)
{
    ts_farm_ctx *c = ctx;
    ts_run *t = c->t;
    const int s = (int)(tag % t->K);
    pthread_mutex_lock(&t->mu);
    if (tag < t->last_tag[c->g]) t->r->out_of_order[c->g]++;
    else t->last_tag[c->g] = tag;
    pthread_mutex_unlock(&t->mu);
    if (c->g == G_SPATIAL && n == t->dim) put(t, t->sp, s, tag / t->K, out, 1);
    else if (c->g == G_TEMPORAL && n == t->dim) put(t, t->tp, s, t->def->flows + tag / t->K, out, 1);
    else if (c->g == G_HEAD) {
        const long f = first_scored(t) + tag / t->K;
        pthread_mutex_lock(&t->mu);
        const double now = mc_now(), lat = now - t->t_sent[(size_t)s * t->F + f];
        if (!t->t_score0) t->t_score0 = now;
        t->t_score1 = now;
        t->r->scored++;
        t->r->mean_latency_s += lat;
        const int skipped = t->skipped[tag];
        pthread_mutex_unlock(&t->mu);
        if (t->o->on_score) t->o->on_score(t->o->score_ctx, s, f, out, n, skipped, lat);
    }
}

static void on_gone(void *ctx, long tag, int state)
{
    (void)state;
    ts_farm_ctx *c = ctx;
    ts_run *t = c->t;
    const int s = (int)(tag % t->K);
    if (c->g == G_SPATIAL) put(t, t->sp, s, tag / t->K, NULL, -1);
    else if (c->g == G_TEMPORAL) put(t, t->tp, s, t->def->flows + tag / t->K, NULL, -1);
    else if (c->g == G_HEAD && t->resync) { /* the node's windows missed a frame: they start over */
        pthread_mutex_lock(&t->mu);
        t->resync[s] = 1;
        pthread_mutex_unlock(&t->mu);
    }
}

typedef struct ts_thread {
    ts_run *t;
    int g;
} ts_thread;

static void *farm_thread(void *arg)
{
    ts_thread *a = arg;
    ts_run *t = a->t;
    t->st[a->g] = mc_initial_run(&t->io[a->g], t->stop, &t->rep[a->g]);
    if (t->st[a->g]) {
        snprintf(t->err[a->g], sizeof t->err[a->g], "%s", mc_error_last());
        *t->stop = 1; /* the others cannot finish without it */
    }
    return NULL;
}

/* Frames of every stream from the source, and their flow stacks. */
static mc_status read_sources(ts_run *t)
{
    const mc_ts_farm_opts *o = t->o;
    char *list = strdup(o->video), *save = NULL;
    const char *src[64];
    int n_src = 0;
    for (char *s = list ? strtok_r(list, ",", &save) : NULL; s && n_src < 64; s = strtok_r(NULL, ",", &save))
        src[n_src++] = s;
    mc_status st = MC_OK;
    if (!n_src || (n_src > 1 && n_src != t->K))
        st = mc_error_set(MC_ERR_INVALID_ARG, "--video %s: one source, or one per stream (%d)", o->video, t->K);
    const size_t np = (size_t)t->w * t->h;
    float *gray[2] = {malloc(np * sizeof(float)), malloc(np * sizeof(float))};
    float *flow = malloc(np * 2 * sizeof(float));
    mc_window fw;
    memset(&fw, 0, sizeof fw);
    if (!st && (!gray[0] || !gray[1] || !flow)) st = mc_error_set(MC_ERR_NOMEM, "two-stream farm: out of memory");
    if (!st) st = mc_window_init(&fw, t->def->flows, np * 2);
    const mc_flow_params fp = mc_flow_defaults(t->w, t->h);
    double flow_s = 0;
    long flows = 0;
    for (int s = 0; s < t->K && !st; s++) {
        mc_video *v = NULL;
        if ((st = mc_video_open(src[n_src > 1 ? s : 0], t->w, t->h, o->seed + (uint64_t)s, &v))) break;
        mc_window_clear(&fw);
        for (long f = 0; f < t->F && !st; f++) {
            float *fr = t->frames + ((size_t)s * t->F + f) * t->nf;
            int eof;
            if ((st = mc_video_next(v, fr, &eof))) break;
            if (eof) {
                st = mc_error_set(MC_ERR_FORMAT, "--video %s: stream %d has %ld frames, fewer than the %ld asked",
                                  src[n_src > 1 ? s : 0], s, f, t->F);
                break;
            }
            /* the recorder: flow from the previous frame, a window of 10 */
            mc_flow_gray(fr, t->w, t->h, gray[f & 1]);
            if (!f) continue;
            double t0 = mc_now();
            if ((st = mc_flow_farneback(gray[(f - 1) & 1], gray[f & 1], t->w, t->h, &fp, flow))) break;
            flow_s += mc_now() - t0, flows++;
            mc_window_push(&fw, (uint64_t)f, flow);
            if (mc_window_full(&fw))
                mc_window_stack_channels(&fw, 2, t->stacks + ((size_t)s * (t->F - t->def->flows) +
                                                              (size_t)(f - t->def->flows)) * t->nst);
        }
        mc_video_close(v);
    }
    t->r->flow_ms = flows ? 1e3 * flow_s / flows : 0;
    mc_window_free(&fw);
    free(gray[0]), free(gray[1]), free(flow), free(list);
    return st;
}

/* --windows node: the head farm's first task keeps the windows, so it must
 * be one device (its replicas or parts could not share them). */
static mc_status check_window_task(const char *path, const char *model)
{
    mc_farm *f = malloc(sizeof *f);
    if (!f) return mc_error_set(MC_ERR_NOMEM, "two-stream farm: out of memory");
    mc_status st = mc_farm_load(path, model, f);
    if (!st && f->n_tasks > 0 && (f->tasks[0].n_addr > 1 || f->tasks[0].parts > 1))
        st = mc_error_set(MC_ERR_INVALID_ARG, "--windows node: %s: the head's first task %s has %d %s; it keeps the "
                          "windows, which its replicas or parts cannot share: give it one address (the paper's "
                          "presets do), or keep the windows here (--windows initial)", path, f->tasks[0].name,
                          f->tasks[0].parts > 1 ? f->tasks[0].parts : f->tasks[0].n_addr,
                          f->tasks[0].parts > 1 ? "parts" : "replicas");
    free(f);
    return st;
}

mc_status mc_ts_farm_run(const mc_ts_farm_opts *o, mc_flag *stop, mc_ts_farm_report *r)
{
    memset(r, 0, sizeof *r);
    ts_run *t = calloc(1, sizeof *t);
    if (!t) return mc_error_set(MC_ERR_NOMEM, "two-stream farm: out of memory");
    t->o = o, t->r = r, t->stop = stop, t->K = o->streams > 0 ? o->streams : 1, t->F = o->frames;
    pthread_mutex_init(&t->mu, NULL);
    mc_status st = MC_OK;
    mc_model m;
    if (!(t->def = mc_twostream_find(o->model)))
        st = mc_error_set(MC_ERR_NOT_FOUND, "unknown two-stream model '%s' (twostream, twostream-half)", o->model);
    else if (t->F <= first_scored(t))
        st = mc_error_set(MC_ERR_INVALID_ARG, "two-stream farm: %ld frames a stream; the first scores come with "
                          "frame %ld", t->F, first_scored(t) + 1);
    else if (o->windows == MC_TS_WINDOWS_NODE && (st = check_window_task(o->farm[2], t->def->head)))
        ;
    else if (!(st = mc_model_open(t->def->spatial, &m))) {
        t->w = m.input.ne[1], t->h = m.input.ne[2];
        t->nf = mc_shape_count(&m.input);
        t->dim = mc_shape_count(&m.layers[m.n_layers - 1].out);
        mc_model_free(&m);
    }
    const char *graphs[3] = {t->def ? t->def->spatial : "", t->def ? t->def->temporal : "", t->def ? t->def->head : ""};
    if (!st) {
        t->nst = (size_t)t->w * t->h * 2 * (size_t)t->def->flows;
        const size_t K = (size_t)t->K, F = (size_t)t->F;
        t->frames = malloc(K * F * t->nf * sizeof(float));
        t->stacks = malloc(K * (F - (size_t)t->def->flows) * t->nst * sizeof(float));
        t->sp = calloc(K, sizeof(ring));
        t->tp = calloc(K, sizeof(ring));
        t->need_from = calloc(K, sizeof(long));
        t->t_sent = calloc(K * F, sizeof(double));
        t->skipped = calloc(K * F, sizeof(int));
        if (o->windows == MC_TS_WINDOWS_NODE) {
            t->wmsg = calloc(K * F, sizeof(mc_ts_win_msg));
            t->resync = malloc(K * sizeof(int));
            for (size_t s = 0; t->resync && s < K; s++) t->resync[s] = 1; /* a stream starts with a whole window */
        }
        if (!t->frames || !t->stacks || !t->sp || !t->tp || !t->need_from || !t->t_sent || !t->skipped ||
            (o->windows == MC_TS_WINDOWS_NODE && (!t->wmsg || !t->resync)))
            st = mc_error_set(MC_ERR_NOMEM, "two-stream farm: out of memory for %d streams of %ld frames", t->K, t->F);
        for (int s = 0; s < t->K && !st; s++) {
            t->sp[s].v = malloc(MC_TS_RING * t->dim * sizeof(float));
            t->tp[s].v = malloc(MC_TS_RING * t->dim * sizeof(float));
            for (int k = 0; k < MC_TS_RING; k++) t->sp[s].frame[k] = t->tp[s].frame[k] = -1;
            if (!t->sp[s].v || !t->tp[s].v) st = mc_error_set(MC_ERR_NOMEM, "two-stream farm: out of memory");
        }
    }
    if (!st) st = read_sources(t);
    ts_farm_ctx ctx[3];
    static const mc_initial_input_fn in_fns[3] = {spatial_in, temporal_in, head_in};
    const long repeat[3] = {(long)t->K * t->F, (long)t->K * (t->F - (t->def ? t->def->flows : 0)),
                            (long)t->K * (t->F - (t->def ? first_scored(t) : 0))};
    pthread_t th[3];
    ts_thread ta[3];
    int started = 0;
    double t0 = mc_now();
    for (int g = 0; g < 3 && !st; g++) {
        mc_initial_opts *io = &t->io[g];
        io->farm = o->farm[g];
        io->model = graphs[g];
        io->repeat = repeat[g];
        io->window = o->window;
        io->rate = g == G_SPATIAL && o->fps > 0 ? o->fps * t->K : 0;
        io->timeout_s = o->timeout_s > 0 ? o->timeout_s : 60;
        io->seed = o->seed;
        io->quiet = 1;
        io->auth = o->auth;
        ctx[g].t = t, ctx[g].g = g;
        io->on_result = on_result;
        io->on_gone = on_gone;
        io->result_ctx = &ctx[g];
        io->input_fn = in_fns[g];
        io->input_ctx = t;
        if (g == G_HEAD && o->windows == MC_TS_WINDOWS_NODE) io->meta_fn = head_meta;
        ta[g].t = t, ta[g].g = g;
        if (pthread_create(&th[g], NULL, farm_thread, &ta[g])) {
            st = mc_error_set(MC_ERR_NOMEM, "two-stream farm: cannot start a thread");
            *stop = 1;
            break;
        }
        started++;
    }
    for (int g = 0; g < started; g++) pthread_join(th[g], NULL);
    r->wall_s = mc_now() - t0;
    for (int g = 0; g < started && !st; g++)
        if (t->st[g]) st = mc_error_set(t->st[g], "%s farm (%s): %s", graphs[g], o->farm[g], t->err[g]);
    for (int g = 0; g < started; g++) {
        r->sent[g] = t->rep[g].repeat, r->done[g] = t->rep[g].done, r->dropped[g] = t->rep[g].dropped;
        r->lost[g] = t->rep[g].lost;
        for (int i = 0; i < t->rep[g].n_task_names; i++)
            r->reloads[g] += t->rep[g].task_reloads[i], r->reload_s[g] += t->rep[g].task_reload_sum[i];
        mc_initial_report_free(&t->rep[g]);
    }
    r->frames = (long)t->K * t->F;
    if (r->scored) r->mean_latency_s /= (double)r->scored;
    if (r->scored > 1 && t->t_score1 > t->t_score0) r->steady_ips = (double)(r->scored - 1) / (t->t_score1 - t->t_score0);
    for (int s = 0; t->sp && s < t->K; s++) free(t->sp[s].v);
    for (int s = 0; t->tp && s < t->K; s++) free(t->tp[s].v);
    free(t->sp), free(t->tp), free(t->need_from), free(t->t_sent), free(t->skipped), free(t->wmsg), free(t->resync);
    free(t->frames), free(t->stacks);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return st;
}
