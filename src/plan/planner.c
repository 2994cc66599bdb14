/* planner.c - Algorithm 1 / Procedure 1 over a profile (see planner.h).
 *
 * Models are graphs, so a task boundary is a cut (model.h) and what it costs
 * on the wire is every tensor crossing it (the profile's cut_bytes): inside
 * a residual block that is the block's input and the branch, between blocks
 * only the block's output.  Boundaries are searched at a few candidate cuts
 * per heavy layer (conv2d, sepconv2d, dwconv2d, conv3d, dense), so that
 * light layers (pools, activations, adds, batchnorms, padding) stay with
 * their parent as Algorithm 1 groups them:
 *   - the cheapest cut between a heavy layer and the next one (ties: the
 *     latest, i.e. just before the next heavy layer; in a chain the pools
 *     shrink the tensor, so that is where the boundaries have always been);
 *   - the cut right before a heavy layer and the one right after it, which
 *     only a split task uses: a split task runs its layer alone, the light
 *     layers before it close the previous task and those after it open the
 *     next one (whose node merges the parts first).
 * A position is reached in one of three states: at a cheap cut (0), just
 * after a split task (1), or just before a heavy layer that must then be
 * split (2).  For every device count d the dynamic program
 *     best[pos][s][d] = max over the last task ending at pos and its
 *                       configuration of min(best[start][s'][d - devices],
 *                       throughput of the task)
 * finds the pipeline of highest IPS, where a configuration is r replicas of
 * the whole range, or, for a split task, r replicas of a profiled split
 * variant.  Inside the DP a task's messages are priced as one message in and
 * one out; the exact cost model (mc_plan_evaluate) prices the fan-out to and
 * from split tasks and the initial node, and is what plans are compared and
 * reported with.
 */
#include "planner.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/net_stream.h"

#define MAXD MC_PLAN_MAX_DEVICES
#define MB (1024.0 * 1024.0)
#define NS 3 /* position states */

enum { AT_CUT = 0, AFTER_SPLIT = 1, BEFORE_SPLIT = 2 };
enum { POS_CHEAP = 1, POS_BEFORE_HEAVY = 2, POS_AFTER_HEAVY = 4 };

typedef struct choice {
    short i, s_prev, variant, reps; /* i: position index the task starts at; variant -1: data */
} choice;

typedef struct planner {
    const mc_profile *p;
    const mc_plan_opts *o;
    int n;           /* layers */
    int npos;
    int *pos;        /* candidate boundaries (layer indices, increasing; 0 and n included) */
    int *kind;       /* POS_* flags per position */
    int *pos_of;     /* [n + 1]: index in pos of a layer boundary, or -1 */
    double *lat_pre; /* prefix sums of layer latency */
    double *best;    /* [npos * NS * (MAXD + 1)] */
    choice *ch;
} planner;

static int is_heavy(mc_op_type op)
{
    return op == MC_OP_CONV2D || op == MC_OP_DENSE || op == MC_OP_SEPCONV2D || op == MC_OP_DWCONV2D ||
           op == MC_OP_CONV3D;
}

static double msg(const planner *P, double bytes) { return P->o->link_a * bytes + P->o->link_b; }

/* Per link, the largest max |p - p32| / max p32 of the probabilities that
 * bench/bench_wire.py measured for one encoded cut over AlexNet's and VGG16's
 * cuts (200 frames each), rounded up (docs/wire.md). */
static const double wire_error[MC_WIRE_COUNT] = {0.0, 1e-3, 4e-2};

double mc_plan_wire_error(mc_wire w) { return (unsigned)w < MC_WIRE_COUNT ? wire_error[w] : 1e30; }

static double wire_budget(const mc_plan_opts *o) { return o->wire_budget > 0 ? o->wire_budget : MC_PLAN_WIRE_BUDGET; }

/* The encoding the dynamic program prices every link between tasks with:
 * the one asked for, or (auto) the smallest whose error fits the budget
 * alone; mc_plan_evaluate then prices each link as assigned. */
static mc_wire dp_wire(const mc_plan_opts *o)
{
    if (o->wire >= 0 && o->wire < MC_WIRE_COUNT) return (mc_wire)o->wire;
    if (o->wire != MC_PLAN_WIRE_AUTO) return MC_WIRE_F32;
    for (int w = MC_WIRE_COUNT - 1; w > 0; w--)
        if (wire_error[w] <= wire_budget(o)) return (mc_wire)w;
    return MC_WIRE_F32;
}

/* Bytes on the wire of a cut's float32 bytes in encoding w. */
static double encoded(double f32_bytes, mc_wire w)
{
    return (double)mc_wire_bytes(w, (size_t)(f32_bytes / sizeof(float)));
}

/* A cut between two tasks (not the model's input, which travels as uint8,
 * nor its output, which goes to initial as float32) in the DP's encoding. */
static double link_bytes(const planner *P, double f32_bytes, int cut)
{
    return cut <= 0 || cut >= P->n ? f32_bytes : encoded(f32_bytes, dp_wire(P->o));
}

static double range_latency(const planner *P, int first, int last)
{
    return P->lat_pre[last] - P->lat_pre[first];
}

/* Bytes of tensors waiting beside layer k (crossing the cut before it besides its input). */
static double waiting(const mc_profile *p, int k)
{
    const double x = mc_profile_cut_bytes(p, k) - p->layers[k].cost.in_bytes;
    return x > 0 ? x : 0;
}

/* Activation bytes of a chain of 3-D layers streamed from layer l inside
 * [l, last) (models/net_stream.h, the same rule as the net's): the chain's
 * input and output whole plus the rings between.  Sets *end to the chain's
 * end (l + 1 when none starts at l) and returns 0 when the net would not
 * stream it. */
static double chain_act(const mc_profile *p, int l, int last, int *end)
{
    int e = l + 1;
    while (e < last && e - l < MC_NET_CHAIN_MAX && p->layers[e].stream_ring_bytes > 0) e++;
    *end = e;
    if (e - l < 2) return 0;
    double rings = 0, inner = 0;
    for (int k = l + 1; k < e; k++) {
        rings += p->layers[k].stream_ring_bytes;
        if (p->layers[k - 1].cost.out_bytes > inner) inner = p->layers[k - 1].cost.out_bytes;
    }
    return rings < 2 * inner ? p->layers[l].cost.in_bytes + p->layers[e - 1].cost.out_bytes + rings : 0;
}

/* Weights + two activation buffers (ping-pong) + workspace + tensors
 * waiting beside them; a view (flatten, a folded batchnorm) allocates
 * nothing, so a range of views only holds its input.  A chain of 3-D
 * layers the net streams holds its input, its output and rings of a few
 * frames instead (C3D's conv1..pool2: 15 MB, not 2 x 51 MB). */
static double range_mem(const mc_profile *p, int first, int last)
{
    double w = 0, act = 0, ws = 0, live = 0, held = 0, chains = 0;
    for (int l = first; l < last; l++) {
        const mc_prof_cost *c = &p->layers[l].cost;
        w += c->weight_bytes;
        if (c->ws_bytes > ws) ws = c->ws_bytes;
        if (l > first && waiting(p, l) > live) live = waiting(p, l);
    }
    for (int l = first, e; l < last; l = e) {
        const double ch = chain_act(p, l, last, &e);
        if (ch > 0) {
            if (ch > chains) chains = ch;
            continue;
        }
        for (int k = l; k < e; k++) {
            const mc_prof_cost *c = &p->layers[k].cost;
            if (p->layers[k].view) {
                if (c->in_bytes > held) held = c->in_bytes;
            } else {
                if (c->in_bytes > act) act = c->in_bytes;
                if (c->out_bytes > act) act = c->out_bytes;
            }
        }
    }
    double a = 2 * act > held ? 2 * act : held;
    if (chains > a) a = chains;
    return w + a + ws + live;
}

/* Bytes passing split layer h by (part 0 carries them in and out, split.h). */
static double through_bytes(const mc_profile *p, int h)
{
    const double x = mc_profile_cut_bytes(p, mc_profile_split_end(p, h)) - p->layers[h].cost.out_bytes;
    return x > 0 ? x : 0;
}

static double split_mem(const mc_profile *p, int h, int v)
{
    return p->layers[h].splits[v].cost.mem_bytes + 2 * through_bytes(p, h);
}

static size_t idx(int pi, int s, int d) { return ((size_t)pi * NS + (size_t)s) * (MAXD + 1) + (size_t)d; }

/* Bytes a data task's input costs on the wire: the model's input travels as
 * the artifact's uint8 frame (one byte per value, mc_farm_send_u8), every
 * other cut as float32.  (A split first task gets float32 slices; its
 * split cost already says so.) */
static double data_in_bytes(const mc_profile *p, int first)
{
    const double b = mc_profile_cut_bytes(p, first);
    return first == 0 ? b / sizeof(float) : b;
}

static double data_svc(const planner *P, int first, int last)
{
    return msg(P, link_bytes(P, data_in_bytes(P->p, first), first)) + range_latency(P, first, last) +
           msg(P, link_bytes(P, mc_profile_cut_bytes(P->p, last), last));
}

static double split_svc(const planner *P, int h, int v)
{
    const mc_prof_split *S = &P->p->layers[h].splits[v];
    const double th = through_bytes(P->p, h);
    return msg(P, link_bytes(P, S->cost.in_bytes + th, h)) + S->cost.latency +
           msg(P, link_bytes(P, S->cost.out_bytes + th, mc_profile_split_end(P->p, h)));
}

/* Relaxes best[pj][sj][d0 + r*per] from best[pi][si][d0] with a task of throughput r / svc. */
static void relax(planner *P, int pi, int si, int pj, int sj, double svc, int per, short variant)
{
    for (int d0 = 0; d0 < MAXD; d0++) {
        const double prev = P->best[idx(pi, si, d0)];
        if (prev < 0) continue;
        for (int r = 1; d0 + r * per <= MAXD; r++) {
            double v = r / svc;
            if (prev < v) v = prev;
            const size_t k = idx(pj, sj, d0 + r * per);
            if (v > P->best[k]) {
                P->best[k] = v;
                P->ch[k] = (choice){(short)pi, (short)si, variant, (short)r};
            }
        }
    }
}

static void run_dp(planner *P)
{
    const size_t n = idx(P->npos - 1, NS - 1, MAXD) + 1;
    for (size_t k = 0; k < n; k++) P->best[k] = -1;
    P->best[idx(0, AT_CUT, 0)] = DBL_MAX;
    const double budget = P->o->mem_bytes;
    for (int pj = 1; pj < P->npos; pj++) {
        const int last = P->pos[pj];
        /* A split task [h, h+1) (or with its folded batchnorm [h, h+2)) ending here:
         * from the cut before h, in any state. */
        for (int h = last - 2; h < last && (P->kind[pj] & POS_AFTER_HEAVY); h++) {
            if (h < 0 || !is_heavy(P->p->layers[h].op) || mc_profile_split_end(P->p, h) != last) continue;
            const int pi = P->pos_of[h];
            const mc_prof_layer *L = &P->p->layers[h];
            for (int si = 0; si < NS && pi >= 0; si++) {
                if (si == AT_CUT && !(P->kind[pi] & POS_BEFORE_HEAVY)) continue;
                for (int v = 0; v < L->n_splits; v++)
                    if (split_mem(P->p, h, v) <= budget)
                        relax(P, pi, si, pj, AFTER_SPLIT, split_svc(P, h, v), L->splits[v].parts, (short)v);
            }
        }
        /* Data tasks [first, last) ending at a cheap cut, or before a heavy layer to be split. */
        for (int sj = 0; sj < NS; sj++) {
            if (sj == AFTER_SPLIT) continue;
            if (sj == AT_CUT && !(P->kind[pj] & POS_CHEAP)) continue;
            if (sj == BEFORE_SPLIT && (!(P->kind[pj] & POS_BEFORE_HEAVY) || (P->kind[pj] & POS_CHEAP))) continue;
            for (int pi = pj - 1; pi >= 0; pi--) {
                const int first = P->pos[pi];
                if (range_mem(P->p, first, last) > budget) continue; /* a streamed chain may fit where less does not */
                const double svc = data_svc(P, first, last);
                if (P->kind[pi] & POS_CHEAP) relax(P, pi, AT_CUT, pj, sj, svc, 1, -1);
                if (P->kind[pi] & POS_AFTER_HEAVY) relax(P, pi, AFTER_SPLIT, pj, sj, svc, 1, -1);
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
    t->last = mc_profile_split_end(p, layer);
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
    const int end = P->npos - 1;
    int s = P->best[idx(end, AFTER_SPLIT, n)] > P->best[idx(end, AT_CUT, n)] ? AFTER_SPLIT : AT_CUT;
    if (P->best[idx(end, s, n)] < 0) return 0;
    mc_plan_task tmp[MC_PLAN_MAX_TASKS];
    int nt = 0, j = end, d = n;
    while (j > 0 && nt < MC_PLAN_MAX_TASKS) {
        const choice c = P->ch[idx(j, s, d)];
        if (c.variant < 0) {
            set_data_task(&tmp[nt], P->pos[c.i], P->pos[j], c.reps);
            d -= c.reps;
        } else {
            set_split_task(P, &tmp[nt], P->pos[c.i], c.variant, c.reps);
            d -= c.reps * tmp[nt].parts;
        }
        nt++;
        j = c.i;
        s = c.s_prev;
    }
    if (j > 0) return 0; /* more tasks than a plan holds */
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

/* Bytes of hop h (initial -> task 0, task h-1 -> task h, task T-1 ->
 * initial) before any encoding: float32, or the uint8 frame from initial. */
static double hop_bytes(const mc_profile *p, const mc_plan *pl, int h)
{
    const int T = pl->n_tasks;
    const mc_plan_task *snd = h > 0 ? &pl->tasks[h - 1] : NULL, *rcv = h < T ? &pl->tasks[h] : NULL;
    /* a split task's part 0 also carries the tensors passing its layer by */
    if (snd && snd->variant >= 0) return split_cost(p, snd)->out_bytes + through_bytes(p, snd->first);
    if (rcv && rcv->variant >= 0) return split_cost(p, rcv)->in_bytes + through_bytes(p, rcv->first);
    if (snd) return mc_profile_cut_bytes(p, snd->last);
    return data_in_bytes(p, rcv->first);
}

/* Each task's output encoding as o->wire says: the same on every link
 * between tasks, each task's own, or (auto) per link, the largest messages
 * first, the smallest encoding whose error still fits what is left of the
 * budget.  The link to initial stays float32. */
static void assign_wire(const mc_profile *p, const mc_plan_opts *o, mc_plan *pl)
{
    const int T = pl->n_tasks;
    if (T < 1) return;
    if (o->wire != MC_PLAN_WIRE_TASKS)
        for (int t = 0; t < T; t++)
            pl->tasks[t].wire = o->wire > 0 && o->wire < MC_WIRE_COUNT ? (mc_wire)o->wire : MC_WIRE_F32;
    pl->tasks[T - 1].wire = MC_WIRE_F32;
    if (o->wire != MC_PLAN_WIRE_AUTO) return;
    int order[MC_PLAN_MAX_TASKS], n = 0;
    for (int h = 1; h < T; h++) order[n++] = h;
    for (int i = 1; i < n; i++) /* by bytes, largest first (insertion sort: a few links) */
        for (int j = i; j > 0 && hop_bytes(p, pl, order[j]) > hop_bytes(p, pl, order[j - 1]); j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    double left = wire_budget(o);
    for (int i = 0; i < n; i++)
        for (int w = MC_WIRE_COUNT - 1; w > 0; w--)
            if (wire_error[w] <= left) {
                pl->tasks[order[i] - 1].wire = (mc_wire)w;
                left -= wire_error[w];
                break;
            }
}

void mc_plan_evaluate(const mc_profile *p, const mc_plan_opts *o, mc_plan *pl)
{
    const int T = pl->n_tasks;
    double send[MC_PLAN_MAX_TASKS + 1] = {0}, recv[MC_PLAN_MAX_TASKS + 1] = {0};
    double hop_lat = 0, init_cost = 0;
    assign_wire(p, o, pl);
    /* Hops: initial -> 0, t -> t+1, T-1 -> initial (index T). */
    for (int h = 0; h <= T; h++) {
        const mc_plan_task *snd = h > 0 ? &pl->tasks[h - 1] : NULL, *rcv = h < T ? &pl->tasks[h] : NULL;
        const int ps = snd ? snd->parts : 1, pr = rcv ? rcv->parts : 1;
        double bytes = hop_bytes(p, pl, h);
        if (snd && rcv) bytes = encoded(bytes, snd->wire);
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
            k->mem_bytes = split_mem(p, k->first, k->variant);
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
                int nb = -1; /* the next cheap cut before / after the boundary */
                for (int q = 0; q < P->npos; q++) {
                    const int x = P->pos[q];
                    if (!(P->kind[q] & POS_CHEAP)) continue;
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
    return reps / (variant < 0 ? data_svc(P, t->first, t->last) : split_svc(P, t->first, variant));
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
    const int single = is_heavy(p->layers[t->first].op) && t->last == mc_profile_split_end(p, t->first);
    if (t->variant >= 0 || t->replicas > 1 || D > 1) {
        if (range_mem(p, t->first, t->last) <= P->o->mem_bytes) {
            alt = local_ips(P, t, -1, D);
            alt_v = -1;
            alt_r = D;
        }
        if (single)
            for (int v = 0; v < p->layers[t->first].n_splits; v++) {
                const mc_prof_split *S = &p->layers[t->first].splits[v];
                if (v == t->variant || split_mem(p, t->first, v) > P->o->mem_bytes || D % S->parts) continue;
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
        const double m = k->variant >= 0 ? split_mem(P->p, k->first, k->variant) : range_mem(P->p, k->first, k->last);
        if (m > P->o->mem_bytes || k->first >= k->last) return 0;
    }
    return 1;
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
        if (k->replicas == 1) { /* one more part: of a split task, or a task of one heavy layer split */
            int h = k->first, ok = k->variant >= 0, before = 0, after = 0;
            if (!ok) {
                int heavy = 0;
                for (int l = k->first; l < k->last; l++)
                    if (is_heavy(P->p->layers[l].op)) heavy++, h = l;
                before = h > k->first; /* light layers before it close the previous task */
                after = k->last > mc_profile_split_end(P->p, h); /* those after it open the next one */
                ok = heavy == 1 && (!before || (t > 0 && prev->tasks[t - 1].variant < 0)) &&
                     (!after || (t + 1 < prev->n_tasks && prev->tasks[t + 1].variant < 0));
            }
            const mc_prof_layer *L = &P->p->layers[h];
            for (int v = 0; ok && v < L->n_splits; v++) {
                if (L->splits[v].parts != k->parts + 1) continue;
                c = *prev;
                c.n = prev->n + 1;
                c.used = prev->used + 1;
                set_split_task(P, &c.tasks[t], h, v, 1);
                if (before) c.tasks[t - 1].last = h;
                if (after) c.tasks[t + 1].first = mc_profile_split_end(P->p, h);
                snprintf(what, sizeof what, "plan n-1 with %s split %s into %d parts (model parallelism)",
                         P->p->layers[h].name, mc_split_method_name(L->splits[v].method), L->splits[v].parts);
                consider(P, &c, best, what);
            }
        }
        if (k->replicas == 1 && k->variant < 0 && prev->n_tasks < MC_PLAN_MAX_TASKS) { /* cut in two */
            for (int q = 0; q < P->npos; q++) {
                const int b = P->pos[q];
                if (!(P->kind[q] & POS_CHEAP) || b <= k->first || b >= k->last) continue;
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
    if (o->wire < MC_PLAN_WIRE_TASKS || o->wire > MC_PLAN_WIRE_AUTO)
        return mc_error_set(MC_ERR_INVALID_ARG, "plan: wire encoding %d is none of f32, f16, int8, auto", o->wire);
    if (p->n_layers < 1) return mc_error_set(MC_ERR_INVALID_ARG, "plan: the profile has no layers");

    planner P = {p, o, p->n_layers, 0, NULL, NULL, NULL, NULL, NULL, NULL};
    mc_status st = MC_OK;
    const int nl = p->n_layers;
    P.pos = calloc((size_t)nl + 1, sizeof(int));
    P.kind = calloc((size_t)nl + 1, sizeof(int));
    P.pos_of = calloc((size_t)nl + 1, sizeof(int));
    P.lat_pre = calloc((size_t)nl + 1, sizeof(double));
    if (!P.pos || !P.kind || !P.pos_of || !P.lat_pre) {
        st = mc_error_set(MC_ERR_NOMEM, "plan: no memory");
        goto done;
    }
    /* Candidate boundaries: in every gap between heavy layers the cheapest
     * cut (ties: the latest), and around every heavy layer the cuts a split
     * task needs.  P.pos_of first holds the flags per layer boundary. */
    int *flag = P.pos_of;
    flag[0] = flag[nl] = POS_CHEAP;
    for (int l = 0, prev = -1; l <= nl; l++) {
        if (l < nl && !is_heavy(p->layers[l].op)) continue;
        int cheap = prev + 1;
        for (int k = prev + 1; k <= l; k++)
            if (mc_profile_cut_bytes(p, k) <= mc_profile_cut_bytes(p, cheap)) cheap = k;
        flag[cheap] |= POS_CHEAP;
        if (l < nl) {
            flag[l] |= POS_BEFORE_HEAVY;
            flag[mc_profile_split_end(p, l)] |= POS_AFTER_HEAVY;
        }
        prev = l;
    }
    for (int k = 0; k <= nl; k++) {
        P.kind[P.npos] = flag[k];
        if (flag[k]) P.pos[P.npos++] = k;
    }
    for (int k = 0; k <= nl; k++) P.pos_of[k] = -1;
    for (int q = 0; q < P.npos; q++) P.pos_of[P.pos[q]] = q;
    for (int l = 0; l < nl; l++) P.lat_pre[l + 1] = P.lat_pre[l] + p->layers[l].cost.latency;

    /* Step 1: every layer must fit: a heavy one whole or split, a light one
     * in the smallest range of candidate cuts around it. */
    for (int l = 0; l < nl; l++) {
        const mc_prof_layer *L = &p->layers[l];
        const int heavy = is_heavy(L->op);
        int c1 = l, c2 = heavy ? mc_profile_split_end(p, l) : l + 1;
        if (!heavy) {
            if (L->fold_of) continue; /* part of its convolution's range */
            while (P.pos_of[c1] < 0) c1--;
            while (P.pos_of[c2] < 0) c2++;
        }
        double whole = range_mem(p, c1, c2);
        if (whole > o->mem_bytes) {
            /* Alone it may hold a large tensor that a task running it with
             * the layers around it streams (models/net_stream.h): the range
             * between the cheap cuts around it. */
            int a = c1, b = c2;
            while (a > 0 && (P.pos_of[a] < 0 || !(P.kind[P.pos_of[a]] & POS_CHEAP))) a--;
            while (b < nl && (P.pos_of[b] < 0 || !(P.kind[P.pos_of[b]] & POS_CHEAP))) b++;
            if (range_mem(p, a, b) < whole) whole = range_mem(p, a, b);
        }
        if (whole <= o->mem_bytes) continue;
        double least = DBL_MAX;
        int lv = -1;
        for (int v = 0; heavy && v < L->n_splits; v++)
            if (split_mem(p, l, v) < least) {
                least = split_mem(p, l, v);
                lv = v;
            }
        if (lv >= 0 && least <= o->mem_bytes) continue;
        if (lv >= 0)
            st = mc_error_set(MC_ERR_INVALID_ARG,
                              "plan: memory budget %.1f MB per device is too small: layer %s needs %.1f MB, and "
                              "%.1f MB per part even split %s into %d parts (the most the profile has; profile "
                              "more parts with --splits or raise --mem)",
                              o->mem_bytes / MB, L->name, whole / MB, least / MB,
                              mc_split_method_name(L->splits[lv].method), L->splits[lv].parts);
        else if (heavy)
            st = mc_error_set(MC_ERR_INVALID_ARG,
                              "plan: memory budget %.1f MB per device is too small: layer %s needs %.1f MB and "
                              "the profile has no split of it that fits",
                              o->mem_bytes / MB, L->name, whole / MB);
        else
            st = mc_error_set(MC_ERR_INVALID_ARG,
                              "plan: memory budget %.1f MB per device is too small: layer %s (%s..%s, the least a "
                              "task holding it runs) needs %.1f MB",
                              o->mem_bytes / MB, L->name, p->layers[c1].name, p->layers[c2 - 1].name, whole / MB);
        goto done;
    }

    const size_t cells = idx(P.npos - 1, NS - 1, MAXD) + 1;
    P.best = malloc(sizeof(double) * cells);
    P.ch = calloc(cells, sizeof(choice));
    if (!P.best || !P.ch) {
        st = mc_error_set(MC_ERR_NOMEM, "plan: no memory for the search");
        goto done;
    }
    run_dp(&P);
    int min_n = -1;
    for (int d = 1; d <= MAXD && min_n < 0; d++)
        if (P.best[idx(P.npos - 1, AT_CUT, d)] >= 0 || P.best[idx(P.npos - 1, AFTER_SPLIT, d)] >= 0) min_n = d;
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
    free(P.pos);
    free(P.kind);
    free(P.pos_of);
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
