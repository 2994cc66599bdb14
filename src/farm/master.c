/* master.c - the dynamic farm's master (see master.h). */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../models/net.h"
#include "../plan/planner.h"
#include "farmfile.h"

#define MIB (1024.0 * 1024.0)
#define PROBATION_MAX_S 30.0
#define FLAP_WINDOW_S 60.0
#define PUSH_AGAIN_S 0.5
/* Initial gets a new table once its devices took it, or after this long (a
 * device that loads a task takes seconds on a small device; one that never
 * acknowledges is caught by the deadline).  The first table waits for all. */
#define READY_MAX_S 10.0

enum { D_FREE, D_PROBATION, D_ACTIVE, D_OUT };
static const char *const state_names[] = {"free", "probation", "active", "out"};

typedef struct mdev {
    int state;
    char addr[MC_CTL_ADDR_MAX];
    mc_addr a;
    double mem_mb;
    double last_hb, admit_at;
    double leaves[8]; /* times of its recent leaves (ring) */
    int n_leaves;
    long acked;       /* epoch in its last heartbeat */
    double pushed_at; /* last push of the current epoch */
    int slot;         /* its slot in the current table (-1: none) */
    mc_ctl_figures fig;
    long fig_epoch;   /* epoch of the table it had when it sent fig */
    long frames0;     /* its frame count when the current table came */
    int suspect;      /* reported unreachable by a sender */
} mdev;

/* A slot of a plan: part `part` of replica `rep` of task `task`. */
typedef struct slot {
    int task, pos;
    int first, last, method, parts, gh, gw, part;
    double mem_bytes;
} slot;

struct mc_master {
    mc_master_opts o;
    char model_ref[MC_NAME_MAX * 4];
    mc_model model; /* shapes */
    int have_model;
    mc_profile base, prof;  /* as profiled; as calibrated by the rebalances so far */
    int have_prof, have_base;
    mc_plan_opts popts;
    mc_plan *plans;         /* plans[n-1] for n devices */
    int n_max;
    pthread_mutex_t lock;
    mdev dev[MC_MASTER_MAX_DEVICES];
    mc_addr initial;
    int have_initial;
    mc_farm *farm;          /* current table (NULL before the first) */
    char *table;            /* its text (for the devices) */
    char *ready_table;      /* the text initial gets: the table and the events since the last one it got */
    long ready_epoch;       /* the table initial may use (every device in it acknowledged it) */
    int ev_told;            /* events initial was told of */
    mc_plan *cur;           /* the plan it follows, devices[] = our device indices */
    long epoch;
    int started;
    double t0, last_change, better_since, weights_since;
    double wire_since;      /* when the encoding change below was first wanted (0: none) */
    int wire_task, wire_want;
    mc_master_event ev[MC_MASTER_MAX_EVENTS];
    cJSON *history;         /* per table: epoch and task -> addresses (the last 64) */
    int n_ev, n_ev_total;
    int notify;             /* subscriber not told of the current table yet */
    mc_master_table_fn sub;
    void *sub_ctx;
    char stalled[256];
    pthread_t th_mon, th_push;
    int running;
    mc_flag quit;
    mc_ctl *ctl;
};

static void mlog(const mc_master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mlog(const mc_master *m, const char *fmt, ...)
{
    if (m->o.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mchair master: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- profiles and plans ---- */

static mc_status profile_copy(const mc_profile *src, mc_profile *dst)
{
    *dst = *src;
    dst->layers = malloc((size_t)src->n_layers * sizeof *dst->layers);
    if (!dst->layers) return mc_error_set(MC_ERR_NOMEM, "master: out of memory for a profile");
    memcpy(dst->layers, src->layers, (size_t)src->n_layers * sizeof *dst->layers);
    return MC_OK;
}

/* Plans from a folder of farm files (structure only without a profile). */
static mc_status plans_from_dir(mc_master *m)
{
    int found = 0;
    for (int n = 1; n <= m->n_max; n++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/farm-%d.json", m->o.plans_dir, n);
        mc_plan *pl = &m->plans[n - 1];
        memset(pl, 0, sizeof *pl);
        pl->n = n;
        if (access(path, R_OK)) {
            snprintf(pl->why, sizeof pl->why, "%s: no farm file for %d devices", m->o.plans_dir, n);
            continue;
        }
        mc_farm *f = malloc(sizeof *f);
        if (!f) return mc_error_set(MC_ERR_NOMEM, "master: out of memory");
        mc_status st = mc_farm_load(path, m->model_ref, f);
        if (!st) st = mc_farm_to_plan(f, m->have_prof ? &m->prof : NULL, &m->popts, pl);
        free(f);
        if (st) return st;
        pl->n = n;
        found++;
    }
    if (!found)
        return mc_error_set(MC_ERR_NOT_FOUND, "%s: no farm-<n>.json for n = 1..%d (write them with mchair plan --out)",
                            m->o.plans_dir, m->n_max);
    return MC_OK;
}

static mc_status make_plans(mc_master *m, const mc_profile *p, mc_plan *plans)
{
    mc_plan_opts po = m->popts;
    po.n_max = m->n_max;
    return mc_plan_all(p, &po, plans);
}

/* ---- slots and matching ---- */

static int plan_slots(const mc_plan *pl, slot *s)
{
    int n = 0;
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        for (int i = 0; i < k->parts * k->replicas && n < MC_MASTER_MAX_DEVICES; i++, n++)
            s[n] = (slot){t, i, k->first, k->last, (int)k->method, k->parts, k->grid_h, k->grid_w, i % k->parts,
                          k->mem_bytes};
    }
    return n;
}

static int same_work(const slot *a, const slot *b)
{
    return a->first == b->first && a->last == b->last && a->method == b->method && a->parts == b->parts &&
           a->gh == b->gh && a->gw == b->gw && a->part == b->part;
}

static int fits(const mdev *d, const slot *s) { return d->mem_mb <= 0 || s->mem_bytes <= 0 || d->mem_mb * MIB >= s->mem_bytes; }

/* Gives the slots of plan pl to the active devices, keeping each device on a
 * slot with the same work where it can (the papers' minimum reloading).
 * dev_of[s] gets the device of slot s; returns 0 when every slot got a
 * device that can hold it, and *moved the devices that change task. */
static int match(mc_master *m, const mc_plan *pl, int *dev_of, int *moved)
{
    slot ns[MC_MASTER_MAX_DEVICES], cs[MC_MASTER_MAX_DEVICES];
    const int nn = plan_slots(pl, ns), nc = m->cur ? plan_slots(m->cur, cs) : 0;
    int used[MC_MASTER_MAX_DEVICES] = {0};
    for (int s = 0; s < nn; s++) dev_of[s] = -1;
    /* 1: devices that keep their work */
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
        const mdev *D = &m->dev[d];
        if (D->state != D_ACTIVE || D->slot < 0 || D->slot >= nc) continue;
        for (int s = 0; s < nn; s++)
            if (dev_of[s] < 0 && same_work(&ns[s], &cs[D->slot]) && fits(D, &ns[s])) {
                dev_of[s] = d;
                used[d] = 1;
                break;
            }
    }
    /* 2: the other slots, to devices without a task first, the largest slots to the largest memories */
    *moved = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < nn; s++) {
            if (dev_of[s] >= 0) continue;
            int best = -1;
            for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
                const mdev *D = &m->dev[d];
                if (D->state != D_ACTIVE || used[d] || !fits(D, &ns[s])) continue;
                if (pass == 0 && D->slot >= 0 && D->slot < nc) continue; /* busy devices only in pass 1 */
                if (best < 0 || D->mem_mb > m->dev[best].mem_mb) best = d;
            }
            if (best >= 0) { /* it loads the slot's weights (a device without a task too) */
                dev_of[s] = best;
                used[best] = 1;
                (*moved)++;
            }
        }
    for (int s = 0; s < nn; s++)
        if (dev_of[s] < 0) return -1;
    return 0;
}

/* ---- tables ---- */

char *mc_master_table_text(const mc_farm *farm, const mc_master_event *ev, int n_ev)
{
    cJSON *j = mc_farm_to_json(farm);
    if (!j) return NULL;
    cJSON *es = cJSON_AddArrayToObject(j, "events");
    for (int i = 0; i < n_ev; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "kind", ev[i].kind);
        cJSON_AddNumberToObject(e, "epoch", (double)ev[i].epoch);
        cJSON_AddNumberToObject(e, "devices", ev[i].devices);
        cJSON_AddNumberToObject(e, "moved", ev[i].moved);
        cJSON_AddStringToObject(e, "why", ev[i].why);
        cJSON_AddItemToArray(es, e);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int mc_master_table_events(const char *text, mc_master_event *ev, int max)
{
    cJSON *j = cJSON_Parse(text);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        if (n >= max) break;
        mc_master_event *x = &ev[n++];
        memset(x, 0, sizeof *x);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind"), *d = cJSON_GetObjectItemCaseSensitive(e, "devices"),
                    *mv = cJSON_GetObjectItemCaseSensitive(e, "moved"), *w = cJSON_GetObjectItemCaseSensitive(e, "why"),
                    *ep = cJSON_GetObjectItemCaseSensitive(e, "epoch");
        if (cJSON_IsString(k)) snprintf(x->kind, sizeof x->kind, "%s", k->valuestring);
        if (cJSON_IsNumber(d)) x->devices = d->valueint;
        if (cJSON_IsNumber(mv)) x->moved = mv->valueint;
        if (cJSON_IsNumber(ep)) x->epoch = (long)ep->valuedouble;
        if (cJSON_IsString(w)) snprintf(x->why, sizeof x->why, "%s", w->valuestring);
    }
    cJSON_Delete(j);
    return n;
}

static int count_state(const mc_master *m, int state)
{
    int n = 0;
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) n += m->dev[d].state == state;
    return n;
}

/* Makes f (malloc'ed, taken) the table with a new epoch, and records the
 * event that made it (under the lock). */
static void publish(mc_master *m, mc_farm *f, const char *kind, const char *why, int moved, double now)
{
    f->epoch = ++m->epoch;
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
        m->dev[d].frames0 = m->dev[d].fig.frames;
        m->dev[d].pushed_at = 0;
    }
    mc_master_event *e = &m->ev[m->n_ev < MC_MASTER_MAX_EVENTS ? m->n_ev++ : MC_MASTER_MAX_EVENTS - 1];
    memset(e, 0, sizeof *e);
    e->t = now;
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->devices = count_state(m, D_ACTIVE);
    e->epoch = m->epoch;
    e->moved = moved;
    snprintf(e->why, sizeof e->why, "%s", why);
    m->n_ev_total++;
    if (m->history) { /* for reports and tests: who held what in each epoch */
        cJSON *h = cJSON_CreateObject(), *ts = cJSON_CreateObject(), *ws = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "epoch", (double)f->epoch);
        cJSON_AddStringToObject(h, "kind", kind);
        for (int t = 0; t < f->n_tasks; t++) {
            cJSON *ad = cJSON_AddArrayToObject(ts, f->tasks[t].name);
            for (int k = 0; k < f->tasks[t].n_addr; k++) {
                char b[MC_CTL_ADDR_MAX];
                cJSON_AddItemToArray(ad, cJSON_CreateString(mc_addr_str(&f->tasks[t].addr[k], b, sizeof b)));
            }
            if (f->tasks[t].wtotal) {
                int w[MC_FARM_MAX_ADDRS], R = mc_farm_replicas(&f->tasks[t]);
                for (int r = 0; r < R; r++) w[r] = f->tasks[t].weight[r];
                cJSON_AddItemToObject(ws, f->tasks[t].name, cJSON_CreateIntArray(w, R));
            }
        }
        cJSON_AddItemToObject(h, "tasks", ts);
        cJSON_AddItemToObject(h, "weights", ws);
        if (cJSON_GetArraySize(m->history) >= 64) cJSON_DeleteItemFromArray(m->history, 0);
        cJSON_AddItemToArray(m->history, h);
    }
    char *text = mc_master_table_text(f, e, 1);
    free(m->table);
    m->table = text;
    free(m->farm);
    m->farm = f;
    m->last_change = now;
    m->better_since = 0;
    m->weights_since = 0;
    m->wire_since = 0;
}

/* Applies the plan for the current membership (under the lock).  The
 * largest feasible plan for n' <= n whose slots the devices can hold. */
static void replan(mc_master *m, const char *kind, const char *why, double now)
{
    const int active = count_state(m, D_ACTIVE);
    int dev_of[MC_MASTER_MAX_DEVICES], moved = 0, pick = -1;
    int smallest = 0;
    for (int n = m->n_max; n >= 1; n--)
        if (m->plans[n - 1].feasible) smallest = n;
    for (int n = active < m->n_max ? active : m->n_max; n >= 1 && pick < 0; n--)
        if (m->plans[n - 1].feasible && !match(m, &m->plans[n - 1], dev_of, &moved)) pick = n;
    if (pick < 0) {
        snprintf(m->stalled, sizeof m->stalled,
                 "%d device%s cannot hold model %s: the smallest plan needs %d devices of %.0f MiB",
                 active, active == 1 ? "" : "s", m->model.name, smallest, m->popts.mem_bytes / MIB);
        mlog(m, "%s; waiting for devices (the table stays at epoch %ld)", m->stalled, m->epoch);
        return;
    }
    m->stalled[0] = '\0';
    mc_plan *pl = malloc(sizeof *pl);
    mc_farm *f = malloc(sizeof *f);
    mc_addr addrs[MC_MASTER_MAX_DEVICES];
    if (!pl || !f) {
        free(pl);
        free(f);
        mlog(m, "out of memory for a table");
        return;
    }
    *pl = m->plans[pick - 1];
    slot ns[MC_MASTER_MAX_DEVICES];
    const int nn = plan_slots(pl, ns);
    for (int s = 0; s < nn; s++) pl->tasks[ns[s].task].devices[ns[s].pos] = dev_of[s];
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) addrs[d] = m->dev[d].a;
    const mc_profile *names = m->have_prof ? &m->prof : NULL;
    mc_status st;
    if (names) {
        st = mc_farm_from_plan(pl, names, m->model_ref, addrs, MC_MASTER_MAX_DEVICES, &m->initial, f);
    } else { /* layer names from the model */
        mc_profile tmp = {.n_layers = m->model.n_layers};
        snprintf(tmp.model, sizeof tmp.model, "%s", m->model.name);
        tmp.layers = calloc((size_t)m->model.n_layers, sizeof *tmp.layers);
        for (int i = 0; tmp.layers && i < m->model.n_layers; i++)
            snprintf(tmp.layers[i].name, sizeof tmp.layers[i].name, "%s", m->model.layers[i].name);
        st = tmp.layers ? mc_farm_from_plan(pl, &tmp, m->model_ref, addrs, MC_MASTER_MAX_DEVICES, &m->initial, f)
                        : mc_error_set(MC_ERR_NOMEM, "master: out of memory");
        free(tmp.layers);
    }
    if (st) {
        mlog(m, "cannot make the table for %d devices: %s", pick, mc_error_last());
        free(pl);
        free(f);
        return;
    }
    for (int t = 0; t < f->n_tasks; t++) mc_farm_task_canonical_name(&f->tasks[t], f->tasks[t].name);
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) m->dev[d].slot = -1;
    for (int s = 0; s < nn; s++) m->dev[dev_of[s]].slot = s;
    free(m->cur);
    m->cur = pl;
    char desc[400];
    int k = 0;
    desc[0] = '\0';
    for (int t = 0; t < f->n_tasks && k < (int)sizeof desc - 80; t++)
        k += snprintf(desc + k, sizeof desc - (size_t)k, "%s%s x%d", t ? " | " : "", f->tasks[t].name,
                      f->tasks[t].n_addr / f->tasks[t].parts);
    publish(m, f, kind, why, moved, now);
    mlog(m, "epoch %ld (%s: %s): %d devices, plan for %d: %s; %d device%s load a task", m->epoch, kind, why, active,
         pick, desc, moved, moved == 1 ? "" : "s");
}

/* ---- membership ---- */

static int find_dev(const mc_master *m, const char *addr)
{
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++)
        if (m->dev[d].state != D_FREE && !strcmp(m->dev[d].addr, addr)) return d;
    return -1;
}

static int recent_leaves(const mdev *D, double now)
{
    int n = 0;
    for (int i = 0; i < D->n_leaves && i < 8; i++) n += now - D->leaves[i] < FLAP_WINDOW_S;
    return n;
}

static void mark_out(mc_master *m, int d, const char *why, double now)
{
    mdev *D = &m->dev[d];
    int was_active = D->state == D_ACTIVE;
    D->state = D_OUT;
    D->suspect = 0;
    D->leaves[D->n_leaves % 8] = now;
    D->n_leaves++;
    char w[256];
    snprintf(w, sizeof w, "%s %s", D->addr, why);
    if (was_active && m->started && D->slot >= 0) replan(m, "leave", w, now);
    else mlog(m, "%s", w);
    D->slot = -1;
}

static mc_status h_join(void *ctx, const char *addr, const char *role, double mem_mb, mc_ctl_table *out)
{
    mc_master *m = ctx;
    const double now = mc_now();
    mc_addr a;
    if (mc_addr_parse(addr, MC_FARM_TASK_PORT, &a)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        return mc_error_set(MC_ERR_INVALID_ARG, "join: %s", msg);
    }
    pthread_mutex_lock(&m->lock);
    mc_status st = MC_OK;
    if (!strcmp(role, "initial")) {
        int changed = m->have_initial && !mc_addr_equal(&m->initial, &a);
        m->initial = a;
        m->have_initial = 1;
        mlog(m, "initial (source and sink) at %s", addr);
        if (changed && m->started) replan(m, "join", "initial moved", now);
    } else if (!strcmp(role, "node")) {
        int d = find_dev(m, addr);
        if (d < 0)
            for (int i = 0; i < MC_MASTER_MAX_DEVICES && d < 0; i++)
                if (m->dev[i].state == D_FREE) {
                    d = i;
                    memset(&m->dev[d], 0, sizeof m->dev[d]);
                    snprintf(m->dev[d].addr, sizeof m->dev[d].addr, "%s", addr);
                    m->dev[d].a = a;
                    m->dev[d].slot = -1;
                }
        if (d < 0) {
            st = mc_error_set(MC_ERR_FULL, "the master holds %d devices; %s cannot join", MC_MASTER_MAX_DEVICES, addr);
        } else {
            mdev *D = &m->dev[d];
            D->mem_mb = mem_mb;
            if (D->state == D_ACTIVE || D->state == D_PROBATION) /* a node joins once: it restarted */
                mark_out(m, d, "joined again (it restarted)", now);
            D->last_hb = now;
            if (D->state != D_ACTIVE && D->state != D_PROBATION) {
                int flaps = recent_leaves(D, now);
                double wait = 0;
                if (flaps > 0) {
                    wait = 1.0;
                    for (int i = 1; i < flaps && wait < PROBATION_MAX_S; i++) wait *= 2;
                    if (wait > PROBATION_MAX_S) wait = PROBATION_MAX_S;
                }
                D->state = D_PROBATION;
                D->admit_at = now + wait;
                D->slot = -1;
                if (wait > 0) mlog(m, "%s joins again after %d leave%s in %.0f s: admitted in %.0f s if it stays", addr,
                                   flaps, flaps == 1 ? "" : "s", FLAP_WINDOW_S, wait);
            }
        }
    } else {
        st = mc_error_set(MC_ERR_INVALID_ARG, "join: role must be node or initial, not '%s'", role);
    }
    out->epoch = m->epoch;
    out->farm = m->table ? strdup(m->table) : NULL;
    pthread_mutex_unlock(&m->lock);
    return st;
}

static mc_status h_heartbeat(void *ctx, const char *addr, long epoch, const mc_ctl_figures *f, mc_ctl_table *out)
{
    mc_master *m = ctx;
    const double now = mc_now();
    pthread_mutex_lock(&m->lock);
    int d = find_dev(m, addr);
    out->epoch = m->epoch;
    if (m->have_initial && d < 0) {
        char b[MC_CTL_ADDR_MAX];
        if (!strcmp(mc_addr_str(&m->initial, b, sizeof b), addr)) { /* initial polls for tables */
            out->epoch = m->ready_epoch;
            if (epoch < m->ready_epoch && m->ready_table) out->farm = strdup(m->ready_table);
            pthread_mutex_unlock(&m->lock);
            return MC_OK;
        }
    }
    if (d < 0 || m->dev[d].state == D_OUT) {
        out->rejoin = 1;
    } else {
        mdev *D = &m->dev[d];
        D->last_hb = now;
        D->acked = epoch;
        D->fig = *f;
        D->fig_epoch = epoch;
        if (epoch < m->epoch && m->table) out->farm = strdup(m->table);
        if (epoch == m->epoch && D->slot >= 0 && !f->task[0] && D->state == D_ACTIVE) {
            /* it took the table but holds no task: its task did not load (memory?) */
            mark_out(m, d, "could not load its task", now);
            out->rejoin = 1;
        }
        for (int i = 0; i < f->n_unreachable; i++) {
            int u = find_dev(m, f->unreachable[i]);
            if (u >= 0 && m->dev[u].state == D_ACTIVE) m->dev[u].suspect = 1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return MC_OK;
}

static mc_status h_report(void *ctx, const char *addr, const char *peer, const char *what)
{
    mc_master *m = ctx;
    pthread_mutex_lock(&m->lock);
    int u = find_dev(m, peer);
    if (u >= 0 && m->dev[u].state == D_ACTIVE && !m->dev[u].suspect) {
        m->dev[u].suspect = 1;
        mlog(m, "%s reports %s %s", addr, peer, what);
    }
    pthread_mutex_unlock(&m->lock);
    return MC_OK;
}

static mc_status h_leave(void *ctx, const char *addr)
{
    mc_master *m = ctx;
    pthread_mutex_lock(&m->lock);
    int d = find_dev(m, addr);
    if (d >= 0 && m->dev[d].state != D_OUT) mark_out(m, d, "said leave", mc_now());
    pthread_mutex_unlock(&m->lock);
    return MC_OK;
}

mc_ctl_handlers mc_master_handlers(mc_master *m)
{
    return (mc_ctl_handlers){.ctx = m, .join = h_join, .heartbeat = h_heartbeat, .report = h_report, .leave = h_leave};
}

/* 1 when nothing accepts a connection at a within 300 ms (the process is
 * gone; a frozen one still has the kernel accept, and the deadline catches it). */
static int refuses(const mc_addr *a)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", a->port);
    if (getaddrinfo(a->host, port, &hints, &ai) || !ai) return 0;
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0), gone = 0;
    if (s >= 0) {
        int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (rc && errno == EINPROGRESS) {
            struct pollfd p = {s, POLLOUT, 0};
            if (poll(&p, 1, 300) == 1) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
                gone = err == ECONNREFUSED;
            }
        } else if (rc) {
            gone = errno == ECONNREFUSED;
        }
        close(s);
    }
    freeaddrinfo(ai);
    return gone;
}

/* ---- rebalancing (Procedure 1: monitor, calibrate, plan again) ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The replicas of a task share its frames by weight (farm.h): a replica
 * whose devices compute slower than the others (another process on the
 * device, a lower CPU quota) gets fewer frames.  Weights follow the
 * measured compute times (8 x fastest / its own, 1..8) once they differ
 * by half, and are equal again when they differ by less than a quarter; a
 * change that persists for hold_s is applied (the devices keep their tasks). */
static void consider_weights(mc_master *m, double now)
{
    mc_farm *f = m->farm;
    slot cs[MC_MASTER_MAX_DEVICES];
    const int nc = m->cur ? plan_slots(m->cur, cs) : 0;
    int want[MC_FARM_MAX_TASKS][MC_FARM_MAX_ADDRS], changed = -1;
    char why[256] = "";
    for (int t = 0; t < f->n_tasks && t < MC_FARM_MAX_TASKS; t++) {
        const mc_farm_task *T = &f->tasks[t];
        const int R = mc_farm_replicas(T);
        double c[MC_FARM_MAX_ADDRS];
        int measured = R > 1;
        for (int r = 0; r < R && measured; r++) {
            c[r] = 0;
            for (int k = 0; k < T->parts; k++) {
                int found = 0;
                for (int d = 0; d < MC_MASTER_MAX_DEVICES && !found; d++) {
                    const mdev *D = &m->dev[d];
                    if (D->state != D_ACTIVE || D->slot < 0 || D->slot >= nc || cs[D->slot].task != t ||
                        cs[D->slot].pos != r * T->parts + k)
                        continue;
                    found = 1;
                    if (D->fig_epoch != m->epoch || D->fig.frames <= D->frames0 + 2 || D->fig.compute_s <= 0) continue;
                    if (D->fig.compute_s > c[r]) c[r] = D->fig.compute_s;
                }
                if (!found) measured = 0;
            }
            if (c[r] <= 0) measured = 0;
        }
        double cmin = 1e30, cmax = 0;
        for (int r = 0; measured && r < R; r++) {
            cmin = c[r] < cmin ? c[r] : cmin;
            cmax = c[r] > cmax ? c[r] : cmax;
        }
        for (int r = 0; r < R; r++) {
            int cur = T->wtotal ? T->weight[r] : MC_FARM_WEIGHT_MAX;
            int w = cur;
            if (measured) {
                /* weighted once 1.5x apart, equal again under 1.25x: noise between equal devices does nothing */
                int apart = T->wtotal ? cmax >= 1.25 * cmin : cmax >= 1.5 * cmin;
                w = !apart ? MC_FARM_WEIGHT_MAX : (int)(MC_FARM_WEIGHT_MAX * cmin / c[r] + 0.5);
                w = w < 1 ? 1 : w > MC_FARM_WEIGHT_MAX ? MC_FARM_WEIGHT_MAX : w;
            }
            want[t][r] = w;
            if (measured && (w - cur >= 2 || cur - w >= 2 || (w == MC_FARM_WEIGHT_MAX && T->wtotal && cmax < 1.25 * cmin)) &&
                changed < 0) {
                changed = t;
                int k = snprintf(why, sizeof why, "replica weights of %s:", T->name);
                for (int q = 0; q < R && k < (int)sizeof why - 24; q++)
                    k += snprintf(why + k, sizeof why - (size_t)k, " %.0f ms", c[q] * 1e3);
            }
        }
    }
    if (changed < 0) {
        m->weights_since = 0;
        return;
    }
    if (m->weights_since == 0) {
        m->weights_since = now;
        return;
    }
    if (now - m->weights_since < m->o.hold_s) return;
    mc_farm *nf = malloc(sizeof *nf);
    if (!nf) return;
    *nf = *f;
    for (int t = 0; t < nf->n_tasks && t < MC_FARM_MAX_TASKS; t++) {
        const int R = mc_farm_replicas(&nf->tasks[t]);
        if (R > 1) mc_farm_task_set_weights(&nf->tasks[t], want[t], R);
    }
    char w[64] = "";
    int k = 0;
    for (int r = 0; r < mc_farm_replicas(&nf->tasks[changed]) && k < (int)sizeof w - 4; r++)
        k += snprintf(w + k, sizeof w - (size_t)k, "%s%d", r ? ":" : "", want[changed][r]);
    char full[sizeof why + sizeof w + 8];
    snprintf(full, sizeof full, "%s -> %s", why, w);
    publish(m, nf, "rebalance", full, 0, now);
    mlog(m, "epoch %ld (rebalance: %s)", m->epoch, full);
}

/* Run-time encodings (docs/wire.md).  Per task, from the heartbeats under
 * the current table: its time per frame computing (the slowest device's
 * compute_s / replicas) and sending (link_s / replicas).  The link after
 * task t (not the last: results go to initial as float32) whose sending
 * time is the largest and more than 1.5 x the slowest task's compute is
 * the farm's bottleneck: it goes to the next smaller encoding if the links'
 * errors (mc_plan_wire_error, summed) stay within --wire-budget.  A link
 * in a smaller encoding goes back to the next larger one when, with twice
 * its bytes, it would still take under 0.75 x the slowest compute (the gap
 * keeps it from switching back and forth).  A change wanted for hold_s is
 * applied as a new table: the devices keep their tasks and their senders
 * use the new encoding; the event "wire" names the link, the encodings and
 * the times.  Returns 1 when it published a table. */
static int consider_wire(mc_master *m, double now)
{
    if (!(m->o.wire_budget > 0) || !m->cur || !m->farm || now - m->last_change < m->o.cooldown_s) return 0;
    const mc_farm *f = m->farm;
    const int T = f->n_tasks;
    if (T < 2 || T > MC_FARM_MAX_TASKS) return 0;
    slot cs[MC_MASTER_MAX_DEVICES];
    const int nc = plan_slots(m->cur, cs);
    double comp[MC_FARM_MAX_TASKS] = {0}, link[MC_FARM_MAX_TASKS] = {0};
    for (int t = 0; t < T; t++) {
        int seen = 0;
        for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
            const mdev *D = &m->dev[d];
            if (D->state != D_ACTIVE || D->slot < 0 || D->slot >= nc || cs[D->slot].task != t) continue;
            if (D->fig_epoch != m->epoch || D->fig.frames <= D->frames0 + 2 || D->fig.compute_s <= 0) continue;
            seen = 1;
            if (D->fig.compute_s > comp[t]) comp[t] = D->fig.compute_s;
            if (D->fig.link_s > link[t]) link[t] = D->fig.link_s;
        }
        if (!seen) { /* not every task measured under this table yet */
            m->wire_since = 0;
            return 0;
        }
        const int R = mc_farm_replicas(&f->tasks[t]);
        comp[t] /= R > 0 ? R : 1;
        link[t] /= R > 0 ? R : 1;
    }
    double slowest = 0, used = 0;
    int worst = 0;
    for (int t = 0; t < T; t++) slowest = comp[t] > slowest ? comp[t] : slowest;
    for (int t = 0; t < T - 1; t++) {
        used += mc_plan_wire_error(f->tasks[t].wire);
        if (link[t] > link[worst]) worst = t;
    }
    int t = -1, want = -1;
    const mc_wire cur = f->tasks[worst].wire;
    if (link[worst] > 1.5 * slowest && cur + 1 < MC_WIRE_COUNT &&
        used - mc_plan_wire_error(cur) + mc_plan_wire_error((mc_wire)(cur + 1)) <= m->o.wire_budget) {
        t = worst;
        want = cur + 1;
    }
    for (int k = 0; k < T - 1 && t < 0; k++)
        if (f->tasks[k].wire != MC_WIRE_F32 && 2 * link[k] < 0.75 * slowest) {
            t = k;
            want = f->tasks[k].wire - 1;
        }
    if (t < 0) {
        m->wire_since = 0;
        return 0;
    }
    if (m->wire_since == 0 || m->wire_task != t || m->wire_want != want) {
        m->wire_since = now;
        m->wire_task = t;
        m->wire_want = want;
        return 0;
    }
    if (now - m->wire_since < m->o.hold_s) return 0;
    mc_farm *nf = malloc(sizeof *nf);
    if (!nf) return 0;
    *nf = *f;
    nf->tasks[t].wire = (mc_wire)want;
    if (t < m->cur->n_tasks) m->cur->tasks[t].wire = (mc_wire)want;
    char why[256];
    snprintf(why, sizeof why, "link %s -> %s: %s -> %s (sending %.1f ms a frame, slowest task computes %.1f ms)",
             f->tasks[t].name, f->tasks[t + 1].name, mc_wire_name(f->tasks[t].wire), mc_wire_name((mc_wire)want),
             link[t] * 1e3, slowest * 1e3);
    publish(m, nf, "wire", why, 0, now);
    mlog(m, "epoch %ld (wire: %s)", m->epoch, why);
    return 1;
}

static void consider_rebalance(mc_master *m, double now)
{
    if (!m->cur || !m->farm || m->o.no_rebalance) return;
    if (now - m->last_change < m->o.cooldown_s) return;
    if (!m->have_prof) {
        consider_weights(m, now);
        return;
    }
    /* measured compute per task: the median over its devices that computed
     * frames under this table */
    double measured[MC_PLAN_MAX_TASKS];
    slot cs[MC_MASTER_MAX_DEVICES];
    const int nc = plan_slots(m->cur, cs);
    for (int t = 0; t < m->cur->n_tasks; t++) {
        double v[MC_MASTER_MAX_DEVICES];
        int k = 0;
        for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
            const mdev *D = &m->dev[d];
            if (D->state != D_ACTIVE || D->slot < 0 || D->slot >= nc || cs[D->slot].task != t) continue;
            if (D->fig_epoch != m->epoch || D->fig.frames <= D->frames0 + 2 || D->fig.compute_s <= 0) continue;
            v[k++] = D->fig.compute_s;
        }
        if (!k) return; /* not every task measured yet */
        qsort(v, (size_t)k, sizeof v[0], cmp_double);
        measured[t] = v[k / 2];
    }
    /* the profile still predicts what the devices measure: nothing to plan
     * (planning is not free on a small device: only on a mismatch) */
    int mismatch = 0;
    for (int t = 0; t < m->cur->n_tasks; t++) {
        double f = m->cur->tasks[t].compute_s > 0 ? measured[t] / m->cur->tasks[t].compute_s : 1;
        if (f > 1 + m->o.margin / 2 || f < 1 / (1 + m->o.margin / 2)) mismatch = 1;
    }
    if (!mismatch) {
        m->better_since = 0;
        consider_weights(m, now);
        return;
    }
    mc_profile cal;
    mc_plan *plans = calloc((size_t)m->n_max, sizeof *plans), *eval = malloc(sizeof *eval);
    if (!plans || !eval || profile_copy(&m->prof, &cal)) {
        free(plans);
        free(eval);
        return;
    }
    double factor[MC_PLAN_MAX_TASKS];
    mc_profile_calibrate(&cal, m->cur, measured, factor);
    *eval = *m->cur;
    mc_plan_opts po = m->popts;
    po.n_max = m->n_max;
    mc_plan_evaluate(&cal, &po, eval);
    int better = 0;
    if (!make_plans(m, &cal, plans)) {
        const int n = eval->n < m->n_max ? eval->n : m->n_max;
        const mc_plan *cand = &plans[n - 1];
        better = cand->feasible && cand->ips > eval->ips * (1 + m->o.margin);
        if (better && m->better_since == 0) {
            m->better_since = now;
            mlog(m, "the calibrated plan for %d devices predicts %.1f IPS against %.1f now; rebalancing if it holds "
                    "for %.0f s", n, cand->ips, eval->ips, m->o.hold_s);
        }
        if (better && now - m->better_since >= m->o.hold_s) {
            char why[256];
            snprintf(why, sizeof why, "predicted %.1f -> %.1f IPS on the measured task times", eval->ips, cand->ips);
            mc_profile_free(&m->prof);
            m->prof = cal;
            cal.layers = NULL;
            memcpy(m->plans, plans, (size_t)m->n_max * sizeof *plans);
            replan(m, "rebalance", why, now);
        }
    }
    if (!better && cal.layers) {
        /* nothing better: the profile follows what was measured (Procedure 1),
         * so the next check plans again only if the devices change */
        m->better_since = 0;
        mc_profile_free(&m->prof);
        m->prof = cal;
        cal.layers = NULL;
        memcpy(m->plans, plans, (size_t)m->n_max * sizeof *plans);
        *m->cur = *eval;
    }
    if (cal.layers) mc_profile_free(&cal);
    free(plans);
    free(eval);
    if (!better && m->farm) consider_weights(m, now);
}

/* ---- threads ---- */

static void *monitor_main(void *arg)
{
    mc_master *m = arg;
    double next_rebalance = 0;
    while (!m->quit) {
        double now = mc_now();
        mc_addr suspects[MC_MASTER_MAX_DEVICES];
        int sus_d[MC_MASTER_MAX_DEVICES], ns = 0;
        pthread_mutex_lock(&m->lock);
        for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
            mdev *D = &m->dev[d];
            if ((D->state == D_ACTIVE || D->state == D_PROBATION) && now - D->last_hb > m->o.deadline_s) {
                char why[96];
                snprintf(why, sizeof why, "sent no heartbeat for %.1f s", now - D->last_hb);
                mark_out(m, d, why, now);
            } else if (D->state == D_ACTIVE && D->suspect) {
                suspects[ns] = D->a;
                sus_d[ns++] = d;
                D->suspect = 0;
            }
        }
        int joined = 0;
        for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
            mdev *D = &m->dev[d];
            if (D->state == D_PROBATION && now >= D->admit_at) {
                D->state = D_ACTIVE;
                joined++;
            }
        }
        const int active = count_state(m, D_ACTIVE);
        const int initial_ok = m->have_initial;
        if (!m->started && active >= m->o.devices && initial_ok) {
            char why[96];
            snprintf(why, sizeof why, "%d devices joined", active);
            replan(m, "start", why, now);
            m->started = m->farm != NULL;
        } else if (m->started && joined) {
            char why[96];
            snprintf(why, sizeof why, "%d device%s admitted", joined, joined == 1 ? "" : "s");
            replan(m, "join", why, now);
        }
        if (m->started && now >= next_rebalance) {
            if (!consider_wire(m, now)) consider_rebalance(m, now);
            next_rebalance = now + 1.0;
        }
        /* initial gets a table once the devices in it took it */
        if (m->farm && m->ready_epoch < m->epoch) {
            int all = 1;
            for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++)
                if (m->dev[d].state == D_ACTIVE && m->dev[d].slot >= 0 && m->dev[d].acked < m->epoch) all = 0;
            if (all || (m->ready_epoch > 0 && now - m->last_change > READY_MAX_S)) {
                int from = m->ev_told < m->n_ev ? m->ev_told : m->n_ev - 1;
                free(m->ready_table);
                m->ready_table = mc_master_table_text(m->farm, &m->ev[from], m->n_ev - from);
                m->ready_epoch = m->epoch;
                m->ev_told = m->n_ev;
                m->notify = 1;
                if (!all) mlog(m, "epoch %ld: not every device acknowledged it within %.0f s; initial uses it", m->epoch,
                               READY_MAX_S);
            }
        }
        mc_master_table_fn fn = m->notify ? m->sub : NULL;
        mc_farm *copy = NULL;
        mc_master_event evs[16];
        int n_evs = 0;
        if (fn && m->ready_table && (copy = malloc(sizeof *copy))) {
            *copy = *m->farm;
            n_evs = mc_master_table_events(m->ready_table, evs, 16);
            for (int i = 0; i < n_evs; i++) /* times as the master saw them */
                for (int k = 0; k < m->n_ev; k++)
                    if (m->ev[k].epoch == evs[i].epoch) evs[i].t = m->ev[k].t;
            m->notify = 0;
        }
        pthread_mutex_unlock(&m->lock);
        if (copy) {
            fn(m->sub_ctx, copy, evs, n_evs);
            free(copy);
        }
        /* devices a sender could not reach: out if nothing takes a connection */
        for (int i = 0; i < ns; i++)
            if (refuses(&suspects[i])) {
                pthread_mutex_lock(&m->lock);
                if (m->dev[sus_d[i]].state == D_ACTIVE && mc_addr_equal(&m->dev[sus_d[i]].a, &suspects[i]))
                    mark_out(m, sus_d[i], "refuses connections (reported unreachable)", mc_now());
                pthread_mutex_unlock(&m->lock);
            }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Pushes the current table to every device (and a remote initial) that has
 * not shown it in a heartbeat; again every half second until it does. */
static void *push_main(void *arg)
{
    mc_master *m = arg;
    mc_http_client *h = NULL;
    if (mc_http_client_new(&h)) return NULL;
    mc_http_client_set_timeout(h, 1000);
    mc_http_client_set_abort(h, &m->quit);
    mc_http_client_set_auth(h, m->o.auth);
    long initial_pushed = 0;
    double initial_at = 0;
    while (!m->quit) {
        mc_addr to[MC_MASTER_MAX_DEVICES];
        int n = 0;
        char *text = NULL, *itext = NULL;
        long epoch, iepoch = 0;
        double now = mc_now();
        pthread_mutex_lock(&m->lock);
        epoch = m->epoch;
        if (m->table && (text = strdup(m->table))) {
            for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
                mdev *D = &m->dev[d];
                if ((D->state == D_ACTIVE || D->state == D_PROBATION) && D->acked < epoch &&
                    now - D->pushed_at >= PUSH_AGAIN_S) {
                    to[n++] = D->a;
                    D->pushed_at = now;
                }
            }
        }
        mc_addr ini = m->initial;
        if (m->have_initial && !m->sub && m->ready_table && initial_pushed < m->ready_epoch &&
            now - initial_at >= PUSH_AGAIN_S) {
            itext = strdup(m->ready_table);
            iepoch = m->ready_epoch;
            initial_at = now;
        }
        pthread_mutex_unlock(&m->lock);
        for (int i = 0; i < n && !m->quit; i++) mc_ctl_assign(m->ctl, h, to[i].host, to[i].port, epoch, text);
        if (itext && !mc_ctl_assign(m->ctl, h, ini.host, ini.port, iepoch, itext)) initial_pushed = iepoch;
        free(text);
        free(itext);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    mc_http_client_free(h);
    return NULL;
}

/* ---- life ---- */

mc_status mc_master_new(const mc_master_opts *o, mc_master **out)
{
    mc_master *m = calloc(1, sizeof *m);
    if (!m) return mc_error_set(MC_ERR_NOMEM, "master: out of memory");
    m->o = *o;
    if (m->o.deadline_s <= 0) m->o.deadline_s = 1.5;
    if (m->o.margin <= 0) m->o.margin = 0.25;
    if (m->o.hold_s <= 0) m->o.hold_s = 3;
    if (m->o.cooldown_s <= 0) m->o.cooldown_s = 5;
    if (m->o.mem_mb <= 0) m->o.mem_mb = 1024;
    pthread_mutex_init(&m->lock, NULL);
    m->t0 = mc_now();
    m->history = cJSON_CreateArray();
    mc_status st;
    if (o->devices < 1 || o->devices > MC_PLAN_MAX_DEVICES) {
        st = mc_error_set(MC_ERR_INVALID_ARG, "master: --devices must be 1..%d, got %d", MC_PLAN_MAX_DEVICES,
                          o->devices);
        goto fail;
    }
    m->n_max = o->max_devices > 0 ? o->max_devices : 2 * o->devices;
    if (m->n_max < o->devices) m->n_max = o->devices;
    if (m->n_max > MC_PLAN_MAX_DEVICES) m->n_max = MC_PLAN_MAX_DEVICES;
    snprintf(m->model_ref, sizeof m->model_ref, "%s", o->model);
    if ((st = mc_model_open(o->model, &m->model))) goto fail;
    m->have_model = 1;
    if ((st = mc_ctl_new(&m->ctl))) goto fail;
    m->plans = calloc((size_t)m->n_max, sizeof *m->plans);
    if (!m->plans) {
        st = mc_error_set(MC_ERR_NOMEM, "master: out of memory for the plans");
        goto fail;
    }
    double t0 = mc_now();
    const char *src = "";
    if (o->profile) {
        if ((st = mc_profile_load(o->profile, &m->base)) || (st = mc_profile_check_model(&m->base, &m->model, o->profile)))
            goto fail;
        mc_profile_fill_cuts(&m->base, &m->model);
        src = o->profile;
    } else if (!o->plans_dir) { /* a quick profile of this device */
        mc_profile_opts po = {.threads = o->threads, .repeat = 1, .n_parts = 3, .parts = {2, 3, 4}, .seed = 1};
        mc_model pm;
        if ((st = mc_model_open(o->model, &pm))) goto fail;
        st = mc_profile_measure(&pm, &po, &m->base);
        mc_model_free(&pm);
        if (st) goto fail;
        src = "a quick profile of this device";
    }
    m->have_base = o->profile || !o->plans_dir;
    if (m->have_base) {
        if ((st = profile_copy(&m->base, &m->prof))) goto fail;
        m->have_prof = 1;
    }
    m->popts.n_max = m->n_max;
    m->popts.mem_bytes = m->o.mem_mb * MIB;
    m->popts.link_a = 0.0002 / 1000.0; /* the Musical Chair WiFi fit */
    m->popts.link_b = 0.002;
    if (m->have_prof && m->prof.has_link) {
        m->popts.link_a = m->prof.link_a;
        m->popts.link_b = m->prof.link_b;
    }
    if (o->have_link) {
        m->popts.link_a = o->link_a;
        m->popts.link_b = o->link_b;
    }
    if (o->plans_dir) st = plans_from_dir(m);
    else st = make_plans(m, &m->prof, m->plans);
    if (st) goto fail;
    if (o->initial.port > 0) {
        m->initial = o->initial;
        m->have_initial = 1;
    }
    int feasible = 0;
    for (int n = 1; n <= m->n_max; n++) feasible += m->plans[n - 1].feasible;
    mlog(m, "model %s, plans for 1..%d devices of %.0f MiB from %s (%d feasible, %.2f s); the stream starts once %d "
            "devices have joined; heartbeat deadline %.1f s%s",
         m->model.name, m->n_max, m->o.mem_mb, o->plans_dir ? o->plans_dir : src, feasible, mc_now() - t0, o->devices,
         m->o.deadline_s, m->have_prof && !o->no_rebalance ? "" : "; no rebalancing (no profile)");
    *out = m;
    return MC_OK;
fail:;
    char msg[900];
    snprintf(msg, sizeof msg, "%s", mc_error_last());
    mc_master_free(m);
    return mc_error_set(st, "%s", msg);
}

void mc_master_subscribe(mc_master *m, mc_master_table_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->lock);
    m->sub = fn;
    m->sub_ctx = ctx;
    pthread_mutex_unlock(&m->lock);
}

mc_status mc_master_start(mc_master *m)
{
    if (pthread_create(&m->th_mon, NULL, monitor_main, m))
        return mc_error_set(MC_ERR_NOMEM, "master: cannot start the monitor thread");
    if (pthread_create(&m->th_push, NULL, push_main, m)) {
        m->quit = 1;
        pthread_join(m->th_mon, NULL);
        return mc_error_set(MC_ERR_NOMEM, "master: cannot start the pusher thread");
    }
    m->running = 1;
    return MC_OK;
}

void mc_master_free(mc_master *m)
{
    if (!m) return;
    m->quit = 1;
    if (m->running) {
        pthread_join(m->th_mon, NULL);
        pthread_join(m->th_push, NULL);
    }
    if (m->have_prof) mc_profile_free(&m->prof);
    if (m->have_base && m->base.layers) mc_profile_free(&m->base);
    if (m->have_model) mc_model_free(&m->model);
    mc_ctl_free(m->ctl);
    free(m->plans);
    free(m->farm);
    free(m->table);
    free(m->ready_table);
    free(m->cur);
    cJSON_Delete(m->history);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

long mc_master_epoch(mc_master *m)
{
    pthread_mutex_lock(&m->lock);
    long e = m->epoch;
    pthread_mutex_unlock(&m->lock);
    return e;
}

int mc_master_devices(mc_master *m)
{
    pthread_mutex_lock(&m->lock);
    int n = count_state(m, D_ACTIVE) + count_state(m, D_PROBATION);
    pthread_mutex_unlock(&m->lock);
    return n;
}

cJSON *mc_master_report(mc_master *m)
{
    cJSON *r = cJSON_CreateObject();
    pthread_mutex_lock(&m->lock);
    cJSON *ds = cJSON_AddArrayToObject(r, "devices");
    for (int d = 0; d < MC_MASTER_MAX_DEVICES; d++) {
        const mdev *D = &m->dev[d];
        if (D->state == D_FREE) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "address", D->addr);
        cJSON_AddStringToObject(o, "state", state_names[D->state]);
        cJSON_AddStringToObject(o, "task", D->fig.task);
        cJSON_AddNumberToObject(o, "frames", (double)D->fig.frames);
        cJSON_AddNumberToObject(o, "compute_s", D->fig.compute_s);
        cJSON_AddNumberToObject(o, "dropped", (double)D->fig.dropped);
        cJSON_AddNumberToObject(o, "rss_bytes", (double)D->fig.rss_bytes);
        cJSON_AddNumberToObject(o, "mem_mb", D->mem_mb);
        cJSON_AddNumberToObject(o, "leaves", D->n_leaves);
        cJSON_AddItemToArray(ds, o);
    }
    cJSON *es = cJSON_AddArrayToObject(r, "events");
    for (int i = 0; i < m->n_ev; i++) {
        const mc_master_event *e = &m->ev[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t_s", e->t - m->t0);
        cJSON_AddStringToObject(o, "kind", e->kind);
        cJSON_AddNumberToObject(o, "devices", e->devices);
        cJSON_AddNumberToObject(o, "epoch", (double)e->epoch);
        cJSON_AddNumberToObject(o, "moved", e->moved);
        cJSON_AddStringToObject(o, "why", e->why);
        cJSON_AddItemToArray(es, o);
    }
    cJSON_AddNumberToObject(r, "epoch", (double)m->epoch);
    cJSON_AddItemToObject(r, "tables", cJSON_Duplicate(m->history, 1));
    if (m->stalled[0]) cJSON_AddStringToObject(r, "stalled", m->stalled);
    pthread_mutex_unlock(&m->lock);
    return r;
}
