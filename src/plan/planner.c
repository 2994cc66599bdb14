/* planner.c - Algorithm 1 / Procedure 1 over a profile (see planner.h).
 *
 * The model is cut into units: a conv or dense layer plus the light layers
 * (pool, activation, flatten) after it, so light layers stay with their
 * parent.  Task boundaries fall between units, except after a split task:
 * a split task runs only its layer, and the light layers after it open the
 * next task (whose node merges the parts first).
 *
 * For every device count d the dynamic program
 *     best[j][d][s] = max over the last task [i, j) and its configuration of
 *                     min(best[i][d - devices][s'], throughput of the task)
 * (s: whether the task ending at unit j is split) finds the pipeline of
 * highest IPS, where a configuration is r replicas of the whole range, or,
 * for a one-unit task, r replicas of a profiled split variant.  Inside the
 * DP a task's messages are priced as one message in and one out; the exact
 * cost model (mc_plan_evaluate) prices the fan-out to and from split tasks
 * and the initial node, and is what plans are compared and reported with.
 * The DP costs O(units^2 * D^2 * variants), a few milliseconds for VGG16
 * and D = 64.
 */
#include "planner.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXD MC_PLAN_MAX_DEVICES
#define MB (1024.0 * 1024.0)

typedef struct choice {
    short i, s_prev, variant, reps; /* variant -1: data */
} choice;

typedef struct planner {
    const mc_profile *p;
    const mc_plan_opts *o;
    int U;
    int *ustart, *uheavy; /* U+1 / U entries */
    double *lat_pre;      /* prefix sums of layer latency */
    double *best;         /* [(U+1) * (MAXD+1) * 2] */
    choice *ch;
} planner;

static int is_heavy(mc_op_type op) { return op == MC_OP_CONV2D || op == MC_OP_DENSE; }

static double msg(const planner *P, double bytes) { return P->o->link_a * bytes + P->o->link_b; }

static double range_latency(const planner *P, int first, int last)
{
    return P->lat_pre[last] - P->lat_pre[first];
}

static double range_mem(const mc_profile *p, int first, int last)
{
    double w = 0, act = 0, ws = 0;
    for (int l = first; l < last; l++) {
        const mc_prof_cost *c = &p->layers[l].cost;
        w += c->weight_bytes;
        if (c->in_bytes > act) act = c->in_bytes;
        if (c->out_bytes > act) act = c->out_bytes;
        if (c->ws_bytes > ws) ws = c->ws_bytes;
    }
    return w + 2 * act + ws;
}

static size_t idx(int j, int d, int s) { return ((size_t)j * (MAXD + 1) + (size_t)d) * 2 + (size_t)s; }

/* First layer of a task starting at unit i after a task with split flag s. */
static int task_first(const planner *P, int i, int s) { return s ? P->uheavy[i - 1] + 1 : P->ustart[i]; }

/* Whether unit u's layer may be a split task after a task with flag s. */
static int split_allowed(const planner *P, int u, int s)
{
    if (P->uheavy[u] < 0 || P->ustart[u] != P->uheavy[u]) return 0; /* light layers before it */
    if (s && P->uheavy[u - 1] + 1 != P->ustart[u]) return 0;         /* previous split's lights */
    if (u == P->U - 1 && P->uheavy[u] + 1 != P->p->n_layers) return 0; /* lights after the last */
    return 1;
}

/* Bytes a data task's input costs on the wire: the model's input travels as
 * the artifact's uint8 frame (one byte per value, mc_farm_send_u8), every
 * other tensor as float32.  (A split first task gets float32 slices; its
 * split cost already says so.) */
static double data_in_bytes(const mc_profile *p, int layer)
{
    const double b = p->layers[layer].cost.in_bytes;
    return layer == 0 ? b / sizeof(float) : b;
}

static void run_dp(planner *P)
{
    const size_t n = idx(P->U, MAXD, 1) + 1;
    for (size_t k = 0; k < n; k++) P->best[k] = -1;
    P->best[idx(0, 0, 0)] = DBL_MAX;
    const double budget = P->o->mem_bytes;
    for (int j = 1; j <= P->U; j++) {
        /* Data tasks [i, j). */
        for (int sp = 0; sp < 2; sp++)
            for (int i = j - 1; i >= 0; i--) {
                if (sp && i == 0) continue;
                const int first = task_first(P, i, sp), last = P->ustart[j];
                if (range_mem(P->p, first, last) > budget) break; /* grows as i falls */
                const double svc = msg(P, data_in_bytes(P->p, first)) + range_latency(P, first, last) +
                                   msg(P, P->p->layers[last - 1].cost.out_bytes);
                for (int d0 = 0; d0 < MAXD; d0++) {
                    const double prev = P->best[idx(i, d0, sp)];
                    if (prev < 0) continue;
                    for (int r = 1; d0 + r <= MAXD; r++) {
                        double v = r / svc;
                        if (prev < v) v = prev;
                        double *b = &P->best[idx(j, d0 + r, 0)];
                        if (v > *b) {
                            *b = v;
                            P->ch[idx(j, d0 + r, 0)] = (choice){(short)i, (short)sp, -1, (short)r};
                        }
                    }
                }
            }
        /* Split task: unit j-1 alone. */
        const int u = j - 1, h = P->uheavy[u];
        if (h < 0) continue;
        const mc_prof_layer *L = &P->p->layers[h];
        for (int sp = 0; sp < 2; sp++) {
            if ((sp && u == 0) || !split_allowed(P, u, sp)) continue;
            for (int v = 0; v < L->n_splits; v++) {
                const mc_prof_split *S = &L->splits[v];
                if (S->cost.mem_bytes > budget) continue;
                const double svc = msg(P, S->cost.in_bytes) + S->cost.latency + msg(P, S->cost.out_bytes);
                for (int d0 = 0; d0 < MAXD; d0++) {
                    const double prev = P->best[idx(u, d0, sp)];
                    if (prev < 0) continue;
                    for (int r = 1; d0 + r * S->parts <= MAXD; r++) {
                        double val = r / svc;
                        if (prev < val) val = prev;
                        const size_t k = idx(j, d0 + r * S->parts, 1);
                        if (val > P->best[k]) {
                            P->best[k] = val;
                            P->ch[k] = (choice){(short)u, (short)sp, (short)v, (short)r};
                        }
                    }
                }
            }
        }
    }
}

static void set_data_task(mc_plan_task *t, int first, int last, int reps)
{
    memset(t, 0, sizeof *t);
    t->first = first;
    t->last = last;
    t->method = MC_SPLIT_DATA;
    t->variant = -1;
    t->parts = t->grid_h = t->grid_w = 1;
    t->replicas = reps;
}

static void set_split_task_ext(const mc_profile *p, mc_plan_task *t, int layer, int variant)
{
    const mc_prof_split *S = &p->layers[layer].splits[variant];
    memset(t, 0, sizeof *t);
    t->first = layer;
    t->last = layer + 1;
    t->method = S->method;
    t->variant = variant;
    t->parts = S->parts;
    t->grid_h = S->grid_h;
    t->grid_w = S->grid_w;
    t->replicas = 1;
}

static void set_split_task(const planner *P, mc_plan_task *t, int layer, int variant, int reps)
{
    set_split_task_ext(P->p, t, layer, variant);
    t->replicas = reps;
}

/* The DP's plan for exactly n devices; 0 if there is none. */
static int dp_plan(const planner *P, int n, mc_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->n = n;
    int s = P->best[idx(P->U, n, 1)] > P->best[idx(P->U, n, 0)] ? 1 : 0;
    if (P->best[idx(P->U, n, s)] < 0) return 0;
    mc_plan_task tmp[MC_PLAN_MAX_TASKS];
    int nt = 0, j = P->U, d = n;
    while (j > 0) {
        const choice c = P->ch[idx(j, d, s)];
        if (c.variant < 0) {
            set_data_task(&tmp[nt], task_first(P, c.i, c.s_prev), P->ustart[j], c.reps);
            d -= c.reps;
        } else {
            set_split_task(P, &tmp[nt], P->uheavy[c.i], c.variant, c.reps);
            d -= c.reps * tmp[nt].parts;
        }
        nt++;
        j = c.i;
        s = c.s_prev;
    }
    for (int k = 0; k < nt; k++) pl->tasks[k] = tmp[nt - 1 - k];
    pl->n_tasks = nt;
    pl->feasible = 1;
    pl->used = n;
    return 1;
}

static const mc_prof_cost *split_cost(const mc_profile *p, const mc_plan_task *t)
{
    return t->variant >= 0 ? &p->layers[t->first].splits[t->variant].cost : NULL;
}

void mc_plan_evaluate(const mc_profile *p, const mc_plan_opts *o, mc_plan *pl)
{
    const int T = pl->n_tasks;
    double send[MC_PLAN_MAX_TASKS + 1] = {0}, recv[MC_PLAN_MAX_TASKS + 1] = {0};
    double hop_lat = 0, init_cost = 0;
    /* Hops: initial -> 0, t -> t+1, T-1 -> initial (index T). */
    for (int h = 0; h <= T; h++) {
        const mc_plan_task *snd = h > 0 ? &pl->tasks[h - 1] : NULL, *rcv = h < T ? &pl->tasks[h] : NULL;
        const int ps = snd ? snd->parts : 1, pr = rcv ? rcv->parts : 1;
        double bytes;
        if (snd && snd->variant >= 0)
            bytes = split_cost(p, snd)->out_bytes;
        else if (rcv && rcv->variant >= 0)
            bytes = split_cost(p, rcv)->in_bytes;
        else if (snd)
            bytes = p->layers[snd->last - 1].cost.out_bytes;
        else
            bytes = data_in_bytes(p, rcv->first);
        const double c = o->link_a * bytes + o->link_b;
        const double s_cost = pr * c, r_cost = ps * c;
        if (snd) send[h - 1] = s_cost; else init_cost += s_cost;
        if (rcv) recv[h] = r_cost; else init_cost += r_cost;
        hop_lat += s_cost;
    }
    pl->ips = init_cost > 0 ? 1.0 / init_cost : DBL_MAX;
    pl->bottleneck = -1;
    pl->latency_s = hop_lat;
    pl->max_mem_bytes = 0;
    for (int t = 0; t < T; t++) {
        mc_plan_task *k = &pl->tasks[t];
        const mc_prof_cost *sc = split_cost(p, k);
        if (sc) {
            k->compute_s = sc->latency;
            k->mem_bytes = sc->mem_bytes;
        } else {
            k->compute_s = 0;
            for (int l = k->first; l < k->last; l++) k->compute_s += p->layers[l].cost.latency;
            k->mem_bytes = range_mem(p, k->first, k->last);
        }
        k->service_s = recv[t] + k->compute_s + send[t];
        k->ips = k->service_s > 0 ? k->replicas / k->service_s : DBL_MAX;
        pl->latency_s += k->compute_s;
        if (k->mem_bytes > pl->max_mem_bytes) pl->max_mem_bytes = k->mem_bytes;
        if (k->ips < pl->ips) {
            pl->ips = k->ips;
            pl->bottleneck = t;
        }
    }
}

/* Exact-cost polish of a DP plan: moves boundaries between neighbouring data
 * tasks by one unit while the exact IPS improves (the DP priced messages
 * approximately).  Bounded number of rounds. */
static int mem_ok(const planner *P, const mc_plan *pl);

static void polish(const planner *P, mc_plan *pl)
{
    for (int round = 0; round < 32; round++) {
        int improved = 0;
        for (int t = 0; t + 1 < pl->n_tasks; t++) {
            mc_plan_task *a = &pl->tasks[t], *b = &pl->tasks[t + 1];
            if (a->variant >= 0 || b->variant >= 0) continue;
            for (int dir = -1; dir <= 1; dir += 2) {
                int nb = -1; /* the next unit start before / after the boundary */
                for (int u = 0; u <= P->U; u++) {
                    const int x = P->ustart[u];
                    if (dir < 0 && x > a->first && x < b->first) nb = x;
                    if (dir > 0 && x > b->first && x < b->last && nb < 0) nb = x;
                }
                if (nb < 0) continue;
                mc_plan c = *pl;
                c.tasks[t].last = nb;
                c.tasks[t + 1].first = nb;
                if (!mem_ok(P, &c)) continue;
                mc_plan_evaluate(P->p, P->o, &c);
                if (c.ips > pl->ips * (1 + 1e-9)) {
                    *pl = c;
                    improved = 1;
                    break;
                }
            }
        }
        if (!improved) break;
    }
}

/* ---- device assignment (keep devices on their task) ---- */

typedef struct slot_key {
    int first, last, method, parts, gh, gw, part;
} slot_key;

static int key_eq(const slot_key *a, const slot_key *b) { return !memcmp(a, b, sizeof *a); }

static int plan_slots(const mc_plan *pl, slot_key *keys, int *task_of, int *pos_of)
{
    int n = 0;
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        for (int i = 0; i < k->parts * k->replicas && n < MAXD; i++, n++) {
            keys[n] = (slot_key){k->first, k->last, (int)k->method, k->parts, k->grid_h, k->grid_w, i % k->parts};
            task_of[n] = t;
            pos_of[n] = i;
        }
    }
    return n;
}

/* Gives pl's slots device ids; devices of prev keep a slot with the same key where possible. */
static void assign_devices(const mc_plan *prev, mc_plan *pl)
{
    slot_key nk[MAXD], pk[MAXD];
    int nt[MAXD], np[MAXD], pt[MAXD], pp[MAXD], dev_of_slot[MAXD], used_dev[MAXD] = {0};
    const int ns = plan_slots(pl, nk, nt, np);
    for (int s = 0; s < ns; s++) dev_of_slot[s] = -1;
    pl->changed = 0;
    if (prev && prev->feasible) {
        const int ps = plan_slots(prev, pk, pt, pp);
        slot_key dev_key[MAXD];
        int has_key[MAXD] = {0};
        for (int s = 0; s < ps; s++) {
            const int d = prev->tasks[pt[s]].devices[pp[s]];
            dev_key[d] = pk[s];
            has_key[d] = 1;
        }
        for (int d = 0; d < prev->n; d++) {
            if (!has_key[d]) continue;
            for (int s = 0; s < ns; s++)
                if (dev_of_slot[s] < 0 && key_eq(&nk[s], &dev_key[d])) {
                    dev_of_slot[s] = d;
                    used_dev[d] = 1;
                    break;
                }
        }
        for (int d = 0; d < prev->n; d++)
            if (has_key[d] && !used_dev[d]) pl->changed++;
    }
    int d = 0;
    for (int s = 0; s < ns; s++) {
        if (dev_of_slot[s] >= 0) continue;
        while (used_dev[d]) d++;
        dev_of_slot[s] = d;
        used_dev[d] = 1;
    }
    for (int s = 0; s < ns; s++) pl->tasks[nt[s]].devices[np[s]] = dev_of_slot[s];
}

/* ---- explanations ---- */

static double local_ips(const planner *P, const mc_plan_task *t, int variant, int reps)
{
    if (variant < 0) {
        const double svc = msg(P, data_in_bytes(P->p, t->first)) + range_latency(P, t->first, t->last) +
                           msg(P, P->p->layers[t->last - 1].cost.out_bytes);
        return reps / svc;
    }
    const mc_prof_cost *c = &P->p->layers[t->first].splits[variant].cost;
    return reps / (msg(P, c->in_bytes) + c->latency + msg(P, c->out_bytes));
}

static void task_why(const planner *P, const mc_plan *pl, int ti)
{
    const mc_plan_task *t = &pl->tasks[ti];
    char *w = ((mc_plan_task *)t)->why;
    const size_t wn = sizeof t->why;
    const mc_profile *p = P->p;
    const int D = t->parts * t->replicas;
    int n = snprintf(w, wn, "layers %s..%s: %.2f ms/frame, %.1f MB/device", p->layers[t->first].name,
                     p->layers[t->last - 1].name, t->compute_s * 1e3, t->mem_bytes / MB);
    if (n < 0 || (size_t)n >= wn) return;
    /* Best alternative over the same devices. */
    double alt = -1;
    int alt_v = -2, alt_r = 0;
    const int single = t->last - t->first == 1 && is_heavy(p->layers[t->first].op);
    if (t->variant >= 0 || t->replicas > 1 || D > 1) {
        if (range_mem(p, t->first, t->last) <= P->o->mem_bytes) {
            alt = local_ips(P, t, -1, D);
            alt_v = -1;
            alt_r = D;
        }
        if (single)
            for (int v = 0; v < p->layers[t->first].n_splits; v++) {
                const mc_prof_split *S = &p->layers[t->first].splits[v];
                if (v == t->variant || S->cost.mem_bytes > P->o->mem_bytes || D % S->parts) continue;
                const double x = local_ips(P, t, v, D / S->parts);
                if (x > alt) {
                    alt = x;
                    alt_v = v;
                    alt_r = D / S->parts;
                }
            }
        if (alt_v == -1 && t->variant < 0) alt_v = -2; /* the task itself */
    }
    if (t->variant >= 0) {
        const double full = p->layers[t->first].cost.mem_bytes;
        if (full > P->o->mem_bytes)
            n += snprintf(w + n, wn - (size_t)n, "; %s needs %.1f MB > budget %.1f MB, so it is split %s into %d parts",
                          p->layers[t->first].name, full / MB, P->o->mem_bytes / MB,
                          mc_split_method_name(t->method), t->parts);
        else
            n += snprintf(w + n, wn - (size_t)n, "; split %s into %d parts", mc_split_method_name(t->method),
                          t->parts);
    }
    if ((size_t)n < wn && t->replicas > 1)
        n += snprintf(w + n, wn - (size_t)n, "; %d data-parallel replicas", t->replicas);
    if ((size_t)n < wn && alt_v > -2 && alt > 0) {
        if (alt_v < 0)
            n += snprintf(w + n, wn - (size_t)n, "; %.1f IPS vs %.1f with %d replicas instead",
                          local_ips(P, t, t->variant, t->replicas), alt, alt_r);
        else
            n += snprintf(w + n, wn - (size_t)n, "; %.1f IPS vs %.1f with %s x%d (%d replicas) instead",
                          local_ips(P, t, t->variant, t->replicas), alt,
                          mc_split_method_name(p->layers[t->first].splits[alt_v].method),
                          p->layers[t->first].splits[alt_v].parts, alt_r);
    } else if ((size_t)n < wn && D > 1 && t->variant < 0 && !single)
        n += snprintf(w + n, wn - (size_t)n, "; spans several layers, so only data parallelism applies");
    if ((size_t)n < wn && ti == pl->bottleneck)
        snprintf(w + n, wn - (size_t)n, "; bottleneck (%.2f IPS)", t->ips);
}

/* ---- moves from plan n-1 ---- */

static int mem_ok(const planner *P, const mc_plan *pl)
{
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        const double m = k->variant >= 0 ? P->p->layers[k->first].splits[k->variant].cost.mem_bytes
                                         : range_mem(P->p, k->first, k->last);
        if (m > P->o->mem_bytes || k->first >= k->last) return 0;
    }
    return 1;
}

static int unit_of_heavy(const planner *P, int layer)
{
    for (int u = 0; u < P->U; u++)
        if (P->uheavy[u] == layer) return u;
    return -1;
}

/* Tries candidate c (plan n-1 changed by one device); keeps it in best if better. */
static void consider(const planner *P, mc_plan *c, mc_plan *best, const char *what)
{
    if (!mem_ok(P, c)) return;
    mc_plan_evaluate(P->p, P->o, c);
    if (!best->feasible || c->ips > best->ips * (1 + 1e-9)) {
        snprintf(c->why, sizeof c->why, "%s", what);
        c->feasible = 1;
        *best = *c;
    }
}

static void chain_plan(const planner *P, const mc_plan *prev, mc_plan *best)
{
    mc_plan c;
    char what[256];
    memset(best, 0, sizeof *best);
    best->n = prev->n + 1;
    /* One device left idle: never worse than n-1. */
    c = *prev;
    c.n = prev->n + 1;
    consider(P, &c, best, "plan n-1 unchanged, one device left idle");
    for (int t = 0; t < prev->n_tasks; t++) {
        const mc_plan_task *k = &prev->tasks[t];
        const char *fn = P->p->layers[k->first].name, *ln = P->p->layers[k->last - 1].name;
        if (k->parts == 1) { /* one more replica */
            c = *prev;
            c.n = prev->n + 1;
            c.used = prev->used + 1;
            c.tasks[t].replicas++;
            snprintf(what, sizeof what, "plan n-1 plus a replica of %s..%s (data parallelism)", fn, ln);
            consider(P, &c, best, what);
        }
        if (k->replicas == 1) { /* one more part */
            const int u = unit_of_heavy(P, k->first);
            const int one_unit = u >= 0 && k->last == P->ustart[u + 1];
            const int prev_split = t > 0 && prev->tasks[t - 1].variant >= 0;
            const int lights = k->last != k->first + 1; /* light layers that would move on */
            const int next_split = t + 1 < prev->n_tasks && prev->tasks[t + 1].variant >= 0;
            if (u >= 0 && (k->variant >= 0 || (one_unit && split_allowed(P, u, prev_split) &&
                                               (!lights || (t + 1 < prev->n_tasks && !next_split))))) {
                const mc_prof_layer *L = &P->p->layers[k->first];
                for (int v = 0; v < L->n_splits; v++) {
                    if (L->splits[v].parts != k->parts + 1) continue;
                    c = *prev;
                    c.n = prev->n + 1;
                    c.used = prev->used + 1;
                    set_split_task(P, &c.tasks[t], k->first, v, 1);
                    if (t + 1 < c.n_tasks) c.tasks[t + 1].first = k->first + 1; /* lights move on */
                    snprintf(what, sizeof what, "plan n-1 with %s split %s into %d parts (model parallelism)", fn,
                             mc_split_method_name(L->splits[v].method), L->splits[v].parts);
                    consider(P, &c, best, what);
                }
            }
        }
        if (k->replicas == 1 && k->variant < 0 && prev->n_tasks < MC_PLAN_MAX_TASKS) { /* cut in two */
            for (int u = 0; u < P->U; u++) {
                const int b = P->ustart[u];
                if (b <= k->first || b >= k->last) continue;
                c = *prev;
                c.n = prev->n + 1;
                c.used = prev->used + 1;
                memmove(&c.tasks[t + 2], &c.tasks[t + 1], sizeof c.tasks[0] * (size_t)(prev->n_tasks - t - 1));
                set_data_task(&c.tasks[t], k->first, b, 1);
                set_data_task(&c.tasks[t + 1], b, k->last, 1);
                c.n_tasks++;
                snprintf(what, sizeof what, "plan n-1 with %s..%s cut into two pipeline tasks before %s", fn, ln,
                         P->p->layers[b].name);
                consider(P, &c, best, what);
            }
        }
    }
}

static void name_tasks(mc_plan *pl)
{
    for (int t = 0; t < pl->n_tasks; t++) snprintf(pl->tasks[t].name, sizeof pl->tasks[t].name, "block%d", t + 1);
}

mc_status mc_plan_all(const mc_profile *p, const mc_plan_opts *o, mc_plan *plans)
{
    if (o->n_max < 1 || o->n_max > MAXD)
        return mc_error_set(MC_ERR_INVALID_ARG, "plan: the number of devices must be from 1 to %d, got %d", MAXD,
                            o->n_max);
    if (!(o->mem_bytes > 0))
        return mc_error_set(MC_ERR_INVALID_ARG, "plan: the memory budget per device must be > 0");
    if (o->link_a < 0 || o->link_b < 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "plan: link model a=%g b=%g must be >= 0", o->link_a, o->link_b);
    if (p->n_layers < 1) return mc_error_set(MC_ERR_INVALID_ARG, "plan: the profile has no layers");

    planner P = {p, o, 0, NULL, NULL, NULL, NULL, NULL};
    mc_status st = MC_OK;
    P.ustart = calloc((size_t)p->n_layers + 2, sizeof(int));
    P.uheavy = calloc((size_t)p->n_layers + 1, sizeof(int));
    P.lat_pre = calloc((size_t)p->n_layers + 1, sizeof(double));
    if (!P.ustart || !P.uheavy || !P.lat_pre) {
        st = mc_error_set(MC_ERR_NOMEM, "plan: no memory");
        goto done;
    }
    for (int l = 0; l < p->n_layers; l++) {
        P.lat_pre[l + 1] = P.lat_pre[l] + p->layers[l].cost.latency;
        if (is_heavy(p->layers[l].op)) {
            if (P.U == 0) {
                P.ustart[0] = 0;
                P.uheavy[0] = l;
                P.U = 1;
            } else {
                P.ustart[P.U] = l;
                P.uheavy[P.U] = l;
                P.U++;
            }
        }
    }
    if (P.U == 0) {
        P.U = 1;
        P.uheavy[0] = -1;
    }
    P.ustart[P.U] = p->n_layers;

    /* Step 1: every unit must fit, whole or split. */
    for (int u = 0; u < P.U; u++) {
        const int h = P.uheavy[u];
        const double whole = range_mem(p, P.ustart[u], P.ustart[u + 1]);
        if (whole <= o->mem_bytes) continue;
        const mc_prof_layer *L = h >= 0 ? &p->layers[h] : NULL;
        double least = DBL_MAX;
        int lv = -1;
        for (int v = 0; L && v < L->n_splits; v++)
            if (L->splits[v].cost.mem_bytes < least) {
                least = L->splits[v].cost.mem_bytes;
                lv = v;
            }
        if (lv >= 0 && least <= o->mem_bytes) continue;
        const char *nm = h >= 0 ? p->layers[h].name : p->layers[P.ustart[u]].name;
        if (lv >= 0)
            st = mc_error_set(MC_ERR_INVALID_ARG,
                              "plan: memory budget %.1f MB per device is too small: layer %s needs %.1f MB, and "
                              "%.1f MB per part even split %s into %d parts (the most the profile has; profile "
                              "more parts with --splits or raise --mem)",
                              o->mem_bytes / MB, nm, whole / MB, least / MB,
                              mc_split_method_name(L->splits[lv].method), L->splits[lv].parts);
        else
            st = mc_error_set(MC_ERR_INVALID_ARG,
                              "plan: memory budget %.1f MB per device is too small: layer %s needs %.1f MB and "
                              "the profile has no split of it that fits",
                              o->mem_bytes / MB, nm, whole / MB);
        goto done;
    }

    P.best = malloc(sizeof(double) * (idx(P.U, MAXD, 1) + 1));
    P.ch = calloc(idx(P.U, MAXD, 1) + 1, sizeof(choice));
    if (!P.best || !P.ch) {
        st = mc_error_set(MC_ERR_NOMEM, "plan: no memory for the search");
        goto done;
    }
    run_dp(&P);
    int min_n = -1;
    for (int d = 1; d <= MAXD && min_n < 0; d++)
        if (P.best[idx(P.U, d, 0)] >= 0 || P.best[idx(P.U, d, 1)] >= 0) min_n = d;
    if (min_n < 0) {
        st = mc_error_set(MC_ERR_INVALID_ARG,
                          "plan: no assignment of %s fits %.1f MB per device with up to %d devices", p->model,
                          o->mem_bytes / MB, MAXD);
        goto done;
    }
    if (min_n > o->n_max) {
        st = mc_error_set(MC_ERR_INVALID_ARG,
                          "plan: %s needs at least %d devices with %.1f MB each (layers over the budget must be "
                          "split), but --devices is %d",
                          p->model, min_n, o->mem_bytes / MB, o->n_max);
        goto done;
    }
    for (int n = 1; n <= o->n_max; n++) {
        mc_plan *pl = &plans[n - 1];
        memset(pl, 0, sizeof *pl);
        pl->n = n;
        pl->bottleneck = -1;
        if (n < min_n) {
            snprintf(pl->why, sizeof pl->why,
                     "no plan: with %.1f MB per device %s needs at least %d devices", o->mem_bytes / MB, p->model,
                     min_n);
            continue;
        }
        mc_plan dp, ch;
        dp_plan(&P, n, &dp);
        mc_plan_evaluate(p, o, &dp);
        polish(&P, &dp);
        const mc_plan *prev = n > min_n ? &plans[n - 2] : NULL;
        if (prev) {
            chain_plan(&P, prev, &ch);
            if (ch.feasible && ch.ips >= 0.97 * dp.ips) {
                *pl = ch;
                char t[sizeof pl->why];
                snprintf(t, sizeof t, "%.400s: %.2f IPS (a fresh balanced plan would give %.2f IPS)", ch.why, ch.ips,
                         dp.ips);
                snprintf(pl->why, sizeof pl->why, "%s", t);
            } else {
                *pl = dp;
                snprintf(pl->why, sizeof pl->why,
                         "re-planned: balanced pipeline of %d tasks, %.2f IPS (keeping plan n-1 and adding one "
                         "device gives at most %.2f IPS)",
                         dp.n_tasks, dp.ips, ch.feasible ? ch.ips : 0.0);
            }
        } else {
            *pl = dp;
            snprintf(pl->why, sizeof pl->why, "balanced pipeline of %d tasks over %d devices, %.2f IPS", dp.n_tasks,
                     n, dp.ips);
        }
        name_tasks(pl);
        assign_devices(prev, pl);
        for (int t = 0; t < pl->n_tasks; t++) task_why(&P, pl, t);
    }
done:
    free(P.ustart);
    free(P.uheavy);
    free(P.lat_pre);
    free(P.best);
    free(P.ch);
    return st;
}

int mc_profile_calibrate(mc_profile *p, const mc_plan *pl, const double *measured_s, double *factor)
{
    int done = 0;
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        double f = 1.0;
        if (measured_s[t] > 0 && k->compute_s > 0) {
            f = measured_s[t] / k->compute_s;
            f = f < 0.01 ? 0.01 : f > 100 ? 100 : f;
            for (int l = k->first; l < k->last && l < p->n_layers; l++) {
                mc_prof_layer *L = &p->layers[l];
                L->cost.latency *= f;
                for (int v = 0; v < L->n_splits; v++) L->splits[v].cost.latency *= f;
            }
            done++;
        }
        if (factor) factor[t] = f;
    }
    return done;
}
