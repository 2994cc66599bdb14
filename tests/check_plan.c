/* check_plan.c - the profile (measurement, JSON, link fit) and the planner.
 *
 * Planner tests run on synthetic profiles built here (known latencies and
 * sizes), so the expected groupings can be worked out by hand; a table row
 * is one profile + budget + device count + the expected task boundaries.
 * The link test starts a small libmicrohttpd server on loopback, runs
 * `mchair profile --link` against it and stops it again.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>

#include "models/model.h"
#include "models/net.h"
#include "farm/farmfile.h"
#include "plan/planner.h"
#include "plan/profile.h"
#include "testutil.h"

#define MIB (1024.0 * 1024.0)

/* ---- synthetic profiles ---- */

typedef struct syn_layer {
    const char *name;
    mc_op_type op;
    double lat_ms, w_mb, in_kb, out_kb;
    int split; /* add output splits into 2, 3, 4 parts */
} syn_layer;

static void make_profile(const char *model, const syn_layer *ls, int n, mc_profile *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->model, sizeof p->model, "%s", model);
    p->n_layers = n;
    p->layers = calloc((size_t)n, sizeof *p->layers);
    ck_assert_ptr_nonnull(p->layers);
    for (int i = 0; i < n; i++) {
        mc_prof_layer *l = &p->layers[i];
        snprintf(l->name, sizeof l->name, "%s", ls[i].name);
        l->op = ls[i].op;
        mc_prof_cost *c = &l->cost;
        c->latency = ls[i].lat_ms * 1e-3;
        c->weight_bytes = ls[i].w_mb * MIB;
        c->in_bytes = ls[i].in_kb * 1024;
        c->out_bytes = ls[i].out_kb * 1024;
        c->mem_bytes = mc_prof_mem(c->weight_bytes, c->in_bytes, c->out_bytes, 0);
        if (!ls[i].split) continue;
        for (int parts = 2; parts <= 4; parts++) {
            mc_prof_split *s = &l->splits[l->n_splits++];
            s->method = l->op == MC_OP_DENSE ? MC_SPLIT_FC_OUTPUT : MC_SPLIT_CONV_CHANNEL;
            s->parts = parts;
            s->grid_h = s->grid_w = 1;
            s->cost.latency = c->latency / parts;
            s->cost.weight_bytes = c->weight_bytes / parts;
            s->cost.in_bytes = c->in_bytes;
            s->cost.out_bytes = c->out_bytes / parts;
            s->cost.mem_bytes = mc_prof_mem(s->cost.weight_bytes, s->cost.in_bytes, s->cost.out_bytes, 0);
        }
    }
}

#define C MC_OP_CONV2D
#define D MC_OP_DENSE
#define POOL MC_OP_MAXPOOL2D
#define FLAT MC_OP_FLATTEN

static const syn_layer six_convs[] = {
    {"c1", C, 4, 10, 1, 1, 0}, {"c2", C, 4, 10, 1, 1, 0}, {"c3", C, 2, 10, 1, 1, 0},
    {"c4", C, 2, 10, 1, 1, 0}, {"c5", C, 2, 10, 1, 1, 0}, {"c6", C, 2, 10, 1, 1, 0},
};
static const syn_layer ten_convs[] = {
    {"c1", C, 1, 1, 1, 1, 0}, {"c2", C, 1, 1, 1, 1, 0}, {"c3", C, 1, 1, 1, 1, 0}, {"c4", C, 1, 1, 1, 1, 0},
    {"c5", C, 1, 1, 1, 1, 0}, {"c6", C, 1, 1, 1, 1, 0}, {"c7", C, 1, 1, 1, 1, 0}, {"c8", C, 1, 1, 1, 1, 0},
    {"c9", C, 1, 1, 1, 1, 0}, {"c10", C, 9, 1, 1, 1, 0},
};
/* A slow pool: moving p1 to the next task would balance better (6|5|1 ms),
 * but light layers stay with their conv (10|1|1 ms). */
static const syn_layer with_pools[] = {
    {"c1", C, 6, 10, 1, 1, 0}, {"p1", POOL, 4, 0, 1, 1, 0}, {"c2", C, 1, 10, 1, 1, 0},
    {"p2", POOL, 0, 0, 1, 1, 0}, {"c3", C, 1, 10, 1, 1, 0},  {"flat", FLAT, 0, 0, 1, 1, 0},
};
/* AlexNet-like: convs, a huge fc1, fc2, fc3 (sizes in MiB / KiB). */
static const syn_layer alexish[] = {
    {"conv1", C, 60, 0.1, 588, 588, 1}, {"pool1", POOL, 2, 0, 588, 147, 0}, {"conv2", C, 90, 0.6, 147, 392, 1},
    {"pool2", POOL, 1, 0, 392, 98, 0},  {"conv3", C, 40, 0.8, 98, 147, 1},  {"conv4", C, 60, 1.3, 147, 147, 1},
    {"conv5", C, 40, 0.9, 147, 98, 1},  {"pool5", POOL, 1, 0, 98, 24, 0},   {"flatten", FLAT, 0, 0, 24, 24, 0},
    {"fc1", D, 70, 98, 24, 16, 1},      {"fc2", D, 45, 64, 16, 16, 1},      {"fc3", D, 10, 15.6, 16, 4, 1},
};

typedef struct group_case {
    const char *label;
    const syn_layer *layers;
    int n_layers;
    double mem_mb;
    int devices;
    int n_tasks;
    int first[4];      /* expected first layer of each task */
    double ips;        /* expected predicted IPS (link cost 0) */
} group_case;

static const group_case groups[] = {
    {"memory forbids 8|8, so 10|6", six_convs, 6, 35, 2, 2, {0, 3}, 100},
    {"the slow last layer gets one partner", ten_convs, 10, 4.5, 3, 3, {0, 4, 8}, 100},
    {"pools stay with their conv", with_pools, 6, 15, 3, 3, {0, 2, 4}, 100},
};

static mc_plan *plan_ok(const mc_profile *p, const mc_plan_opts *o)
{
    mc_plan *plans = calloc((size_t)o->n_max, sizeof *plans);
    ck_assert_ptr_nonnull(plans);
    ck_assert_msg(mc_plan_all(p, o, plans) == MC_OK, "%s", mc_error_last());
    return plans;
}

/* Tasks cover the model in order, memory fits, device ids are distinct and < n. */
static void check_plan_shape(const mc_profile *p, const mc_plan_opts *o, const mc_plan *pl)
{
    int seen[MC_PLAN_MAX_DEVICES] = {0}, next = 0, devs = 0;
    ck_assert(pl->feasible);
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        ck_assert_int_eq(k->first, next);
        ck_assert_int_gt(k->last, k->first);
        next = k->last;
        ck_assert_msg(k->mem_bytes <= o->mem_bytes, "n=%d task %d needs %.0f bytes > budget", pl->n, t, k->mem_bytes);
        if (k->variant >= 0) ck_assert_int_eq(k->last, k->first + 1);
        for (int i = 0; i < k->parts * k->replicas; i++) {
            ck_assert_int_ge(k->devices[i], 0);
            ck_assert_int_lt(k->devices[i], pl->n);
            ck_assert_int_eq(seen[k->devices[i]]++, 0);
            devs++;
        }
        ck_assert(k->why[0]);
    }
    ck_assert_int_eq(next, p->n_layers);
    ck_assert_int_eq(devs, pl->used);
    ck_assert_int_le(pl->used, pl->n);
}

START_TEST(layers_are_grouped_into_balanced_tasks)
{
    const group_case *g = &groups[_i];
    mc_profile p;
    make_profile("syn", g->layers, g->n_layers, &p);
    mc_plan_opts o = {g->devices, g->mem_mb * MIB, 0, 0, MC_WIRE_F32, 0};
    mc_plan *plans = plan_ok(&p, &o);
    const mc_plan *pl = &plans[g->devices - 1];
    check_plan_shape(&p, &o, pl);
    ck_assert_msg(pl->n_tasks == g->n_tasks, "%s: %d tasks, expected %d", g->label, pl->n_tasks, g->n_tasks);
    for (int t = 0; t < g->n_tasks; t++) {
        ck_assert_msg(pl->tasks[t].first == g->first[t], "%s: task %d starts at layer %d, expected %d", g->label, t,
                      pl->tasks[t].first, g->first[t]);
        ck_assert_int_eq(pl->tasks[t].replicas, 1);
    }
    ck_assert_msg(fabs(pl->ips - g->ips) < 1e-6 * g->ips, "%s: %g IPS, expected %g", g->label, pl->ips, g->ips);
    free(plans);
    mc_profile_free(&p);
}
END_TEST

START_TEST(a_layer_over_the_budget_is_split_into_the_fewest_parts_that_fit)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    /* fc1 holds 98 MiB: 80 MiB needs 2 parts (+1 device for the convs, +1 for fc2..fc3);
     * 40 MiB needs 3 (32.7 MiB each), and fc2 (64 MiB) 2 more: 1 + 3 + 2 + 1. */
    static const struct {
        double mem_mb;
        int min_n, parts;
    } rows[] = {{80, 4, 2}, {40, 7, 3}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        mc_plan_opts o = {12, rows[r].mem_mb * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
        mc_plan *plans = plan_ok(&p, &o);
        for (int n = 1; n < rows[r].min_n; n++) {
            ck_assert(!plans[n - 1].feasible);
            ck_assert_ptr_nonnull(strstr(plans[n - 1].why, "needs at least"));
        }
        const mc_plan *pl = &plans[rows[r].min_n - 1];
        check_plan_shape(&p, &o, pl);
        int found = 0;
        for (int t = 0; t < pl->n_tasks; t++)
            if (pl->tasks[t].first == 9) {
                ck_assert_int_eq(pl->tasks[t].variant >= 0, 1);
                ck_assert_int_eq(pl->tasks[t].parts, rows[r].parts);
                ck_assert_ptr_nonnull(strstr(pl->tasks[t].why, "budget"));
                found = 1;
            }
        ck_assert(found);
        for (int n = rows[r].min_n; n <= 12; n++) check_plan_shape(&p, &o, &plans[n - 1]);
        free(plans);
    }
    mc_profile_free(&p);
}
END_TEST

START_TEST(more_devices_never_lower_the_predicted_ips)
{
    static const struct {
        const syn_layer *layers;
        int n;
        double mem_mb, a, b;
    } rows[] = {
        {alexish, 12, 80, 2e-7, 0.002}, {alexish, 12, 1024, 0, 0}, {alexish, 12, 40, 1e-8, 0.0005},
        {ten_convs, 10, 4.5, 1e-6, 0.001}, {with_pools, 6, 100, 0, 0.001},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        mc_profile p;
        make_profile("syn", rows[r].layers, rows[r].n, &p);
        mc_plan_opts o = {16, rows[r].mem_mb * MIB, rows[r].a, rows[r].b, MC_WIRE_F32, 0};
        mc_plan *plans = plan_ok(&p, &o);
        double last = 0;
        for (int n = 1; n <= 16; n++) {
            if (!plans[n - 1].feasible) continue;
            check_plan_shape(&p, &o, &plans[n - 1]);
            ck_assert_msg(plans[n - 1].ips >= last * (1 - 1e-12), "row %zu: n=%d gives %g IPS < %g at n-1", r, n,
                          plans[n - 1].ips, last);
            ck_assert_int_le(plans[n - 1].changed, n - 1);
            last = plans[n - 1].ips;
        }
        ck_assert(last > 0);
        free(plans);
        mc_profile_free(&p);
    }
}
END_TEST

START_TEST(the_prediction_follows_the_cost_model)
{
    /* Two tasks, link t = a*bytes + b: hand-computed service times.  The
     * model's input travels as a uint8 frame: a quarter of its float bytes. */
    static const syn_layer two[] = {{"c1", C, 10, 1, 100, 50, 0}, {"c2", C, 20, 1, 50, 10, 0}};
    mc_profile p;
    make_profile("syn", two, 2, &p);
    const double a = 1e-8, b = 0.001;
    mc_plan_opts o = {2, 1024 * MIB, a, b, MC_WIRE_F32, 0};
    mc_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.n = pl.used = 2;
    pl.n_tasks = 2;
    pl.tasks[0] = (mc_plan_task){.first = 0, .last = 1, .variant = -1, .parts = 1, .replicas = 1};
    pl.tasks[1] = (mc_plan_task){.first = 1, .last = 2, .variant = -1, .parts = 1, .replicas = 1};
    mc_plan_evaluate(&p, &o, &pl);
    const double m_in = a * 100 * 1024 / 4 + b, m_mid = a * 50 * 1024 + b, m_out = a * 10 * 1024 + b;
    ck_assert_double_eq_tol(pl.tasks[0].service_s, m_in + 0.010 + m_mid, 1e-12);
    ck_assert_double_eq_tol(pl.tasks[1].service_s, m_mid + 0.020 + m_out, 1e-12);
    ck_assert_double_eq_tol(pl.ips, 1 / (m_mid + 0.020 + m_out), 1e-9);
    ck_assert_int_eq(pl.bottleneck, 1);
    ck_assert_double_eq_tol(pl.latency_s, m_in + 0.010 + m_mid + 0.020 + m_out, 1e-12);
    mc_profile_free(&p);
}
END_TEST

/* A graph: three residual blocks x -> c1 -> c2 -> add(x, c2).  Between
 * blocks one 100 kB tensor crosses a cut, inside a block two tensors of
 * 200 kB.  Latencies 5 ms per conv: balanced halves (15 | 15 ms) cut block 2
 * in its middle, which a chain profile (every cut = the layer's input) would
 * choose; with the graph's cut sizes the planner cuts between blocks. */
static const syn_layer blocks3[] = {
    {"b1c1", C, 5, 1, 100, 100, 0}, {"b1c2", C, 5, 1, 100, 100, 0}, {"b1add", MC_OP_ADD, 0, 0, 100, 100, 0},
    {"b2c1", C, 5, 1, 100, 100, 0}, {"b2c2", C, 5, 1, 100, 100, 1}, {"b2add", MC_OP_ADD, 0, 0, 100, 100, 0},
    {"b3c1", C, 5, 1, 100, 100, 0}, {"b3c2", C, 5, 1, 100, 100, 0}, {"b3add", MC_OP_ADD, 0, 0, 100, 100, 0},
};

static void make_graph_profile(mc_profile *p)
{
    make_profile("blocks", blocks3, 9, p);
    for (int i = 0; i < 9; i++) p->layers[i].cut_bytes = (i % 3 ? 400 : 100) * 1024.0; /* x + branch inside */
    p->has_cuts = 1;
}

START_TEST(a_graph_is_cut_where_few_bytes_cross)
{
    mc_profile p;
    make_graph_profile(&p);
    mc_plan_opts o = {2, 4.5 * MIB, 2.5e-8, 0, MC_WIRE_F32, 0}; /* the whole model (6 MB of weights) needs two devices */
    mc_plan *plans = plan_ok(&p, &o);
    const mc_plan *pl = &plans[1];
    check_plan_shape(&p, &o, pl);
    ck_assert_int_eq(pl->n_tasks, 2);
    const int cut = pl->tasks[1].first;
    ck_assert_msg(cut == 3 || cut == 6, "the boundary lies inside a block, before %s", p.layers[cut].name);
    free(plans);
    p.has_cuts = 0; /* the same layers read as a chain: the balanced middle of block 2 */
    plans = plan_ok(&p, &o);
    ck_assert_int_eq(plans[1].n_tasks, 2);
    ck_assert_int_eq(plans[1].tasks[1].first, 4);
    free(plans);
    mc_profile_free(&p);
}
END_TEST

START_TEST(a_split_inside_a_block_carries_the_block_input_with_part_0)
{
    /* b2c2 split in 2 (conv_channel): part 0's messages carry x (the 100 kB
     * waiting for b2add) beside its half input and half output */
    mc_profile p;
    make_graph_profile(&p);
    const double a = 1e-8, b = 0.001;
    mc_plan_opts o = {4, 1024 * MIB, a, b, MC_WIRE_F32, 0};
    mc_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.n = pl.used = 4;
    pl.n_tasks = 3;
    pl.tasks[0] = (mc_plan_task){.first = 0, .last = 4, .variant = -1, .parts = 1, .replicas = 1};
    pl.tasks[1] = (mc_plan_task){.first = 4, .last = 5, .method = MC_SPLIT_CONV_CHANNEL, .variant = 0, .parts = 2,
                                 .replicas = 1};
    pl.tasks[2] = (mc_plan_task){.first = 5, .last = 9, .variant = -1, .parts = 1, .replicas = 1};
    mc_plan_evaluate(&p, &o, &pl);
    const mc_prof_split *s = &p.layers[4].splits[0];
    ck_assert_int_eq(s->parts, 2);
    const double th = 400 * 1024 - 100 * 1024; /* through: cut 5 minus b2c2's output */
    const double m_in = a * (s->cost.in_bytes + th) + b, m_out = a * (s->cost.out_bytes + th) + b;
    ck_assert_double_eq_tol(pl.tasks[1].service_s, m_in + s->cost.latency + m_out, 1e-12);
    /* the task before it sends one message per part, the task after receives one per part */
    const double to_split = 2 * m_in, from_split = 2 * m_out;
    ck_assert_double_eq_tol(pl.tasks[0].service_s,
                            a * 100 * 1024 / 4 + b + 3 * 0.005 + to_split, 1e-12);
    ck_assert_double_eq_tol(pl.tasks[2].service_s, from_split + 2 * 0.005 + a * 100 * 1024 + b, 1e-12);
    ck_assert_double_eq_tol(pl.tasks[1].mem_bytes, s->cost.mem_bytes + 2 * th, 1);
    mc_profile_free(&p);
}
END_TEST

/* Procedure 1, step 3: what a deployed plan measured scales its tasks'
 * layers (and their splits) in the profile, and planning again gives the
 * task that ran slower than profiled more devices. */
START_TEST(measured_task_times_recalibrate_the_profile_and_move_devices)
{
    /* two layers that cannot share a device: a task each, replicated */
    static const syn_layer ls[] = {{"c1", C, 10, 100, 100, 100, 0}, {"d1", D, 10, 100, 100, 10, 0}};
    mc_profile p;
    make_profile("syn", ls, 2, &p);
    mc_plan_opts o = {4, 130 * MIB, 0, 0, MC_WIRE_F32, 0};
    mc_plan *plans = plan_ok(&p, &o);
    const mc_plan *pl = &plans[3];
    ck_assert_int_eq(pl->n_tasks, 2);
    ck_assert_msg(pl->tasks[0].replicas == 2 && pl->tasks[1].replicas == 2, "profiled: 2 + 2 devices (got %d + %d)",
                  pl->tasks[0].replicas, pl->tasks[1].replicas);

    /* the farm measured task 0 at 30 ms per frame, task 1 as profiled */
    double measured[2] = {0.030, 0.010}, f[2];
    mc_plan deployed = *pl;
    ck_assert_int_eq(mc_profile_calibrate(&p, &deployed, measured, f), 2);
    ck_assert(fabs(f[0] - 3.0) < 1e-12 && fabs(f[1] - 1.0) < 1e-12);
    ck_assert(fabs(p.layers[0].cost.latency - 0.030) < 1e-12 && fabs(p.layers[1].cost.latency - 0.010) < 1e-12);
    mc_plan_evaluate(&p, &o, &deployed); /* the deployed plan now predicts what was measured */
    ck_assert(fabs(deployed.tasks[0].compute_s - 0.030) < 1e-12);
    free(plans);
    plans = plan_ok(&p, &o);
    pl = &plans[3];
    ck_assert_msg(pl->n_tasks == 2 && pl->tasks[0].replicas == 3 && pl->tasks[1].replicas == 1,
                  "calibrated: the slow task should get 3 of the 4 devices (got %d tasks, %d + %d)", pl->n_tasks,
                  pl->tasks[0].replicas, pl->tasks[1].replicas);
    ck_assert(fabs(pl->ips - 100.0) < 1e-9);

    /* unmeasured tasks keep their latencies; absurd measurements are clamped */
    double none[2] = {0, -1}, tiny[2] = {1e-12, 0};
    ck_assert_int_eq(mc_profile_calibrate(&p, &deployed, none, f), 0);
    ck_assert(f[0] == 1.0 && f[1] == 1.0 && fabs(p.layers[0].cost.latency - 0.030) < 1e-12);
    ck_assert_int_eq(mc_profile_calibrate(&p, &deployed, tiny, f), 1);
    ck_assert(fabs(f[0] - 0.01) < 1e-12);
    free(plans);
    mc_profile_free(&p);

    /* split variants of a calibrated layer scale with it */
    static const syn_layer one[] = {{"c1", C, 12, 1, 100, 100, 1}};
    make_profile("syn", one, 1, &p);
    mc_plan single;
    memset(&single, 0, sizeof single);
    single.n_tasks = 1;
    single.tasks[0].first = 0;
    single.tasks[0].last = 1;
    single.tasks[0].compute_s = 0.012;
    double m1[1] = {0.024};
    ck_assert_int_eq(mc_profile_calibrate(&p, &single, m1, NULL), 1);
    ck_assert(fabs(p.layers[0].cost.latency - 0.024) < 1e-12);
    for (int v = 0; v < p.layers[0].n_splits; v++)
        ck_assert(fabs(p.layers[0].splits[v].cost.latency - 0.024 / p.layers[0].splits[v].parts) < 1e-12);
    mc_profile_free(&p);
}
END_TEST

/* Planning 1..16 devices of a VGG16-sized model gives a valid plan for every
 * count.  How long it takes is printed, not asserted (a sanitizer build or a
 * loaded machine is slower; `mchair plan` prints its time). */
START_TEST(planning_one_to_sixteen_devices_of_a_vgg_sized_model_gives_valid_plans)
{
    /* VGG16-sized: 13 convs with splits, 5 pools, flatten, 3 dense. */
    syn_layer v[22];
    int n = 0;
    static const int per_block[5] = {2, 2, 3, 3, 3};
    static char names[22][16];
    for (int blk = 0; blk < 5; blk++) {
        for (int c = 0; c < per_block[blk]; c++, n++) {
            snprintf(names[n], sizeof names[n], "b%dc%d", blk + 1, c + 1);
            v[n] = (syn_layer){names[n], C, 100 + 10 * n, 0.1 + blk * 2, 3136 >> blk, 3136 >> blk, 1};
        }
        snprintf(names[n], sizeof names[n], "b%dpool", blk + 1);
        v[n] = (syn_layer){names[n], POOL, 3, 0, 3136 >> blk, 784 >> blk, 0};
        n++;
    }
    v[n++] = (syn_layer){"flatten", FLAT, 0, 0, 98, 98, 0};
    v[n++] = (syn_layer){"fc1", D, 400, 392, 98, 16, 1};
    mc_profile p;
    make_profile("vggish", v, n, &p);
    mc_plan_opts o = {16, 256 * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
    double t0 = mc_now();
    mc_plan *plans = plan_ok(&p, &o);
    double took = mc_now() - t0;
    printf("planning 1..16 devices of a VGG16-sized model: %.3f s\n", took);
    /* from the fewest devices that fit on, every count has a valid plan */
    int first = 0;
    while (first < 16 && !plans[first].feasible) first++;
    ck_assert_int_lt(first, 16);
    for (int d = first; d < 16; d++) check_plan_shape(&p, &o, &plans[d]);
    free(plans);
    mc_profile_free(&p);
}
END_TEST

typedef struct err_case {
    double mem_mb;
    int devices;
    const char *needle;
} err_case;

static const err_case errs[] = {
    {80, 0, "number of devices"},
    {20, 8, "memory budget 20.0 MB"}, /* fc1 needs 24.5 MiB even in 4 parts */
    {80, 3, "needs at least 4 devices"},
    {-1, 4, "memory budget"},
};

START_TEST(impossible_requests_are_refused_naming_the_constraint)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    mc_plan_opts o = {errs[_i].devices, errs[_i].mem_mb * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
    mc_plan plans[16];
    ck_assert_int_ne(mc_plan_all(&p, &o, plans), MC_OK);
    ck_assert_msg(strstr(mc_error_last(), errs[_i].needle), "message '%s' lacks '%s'", mc_error_last(),
                  errs[_i].needle);
    if (errs[_i].mem_mb == 20) ck_assert_ptr_nonnull(strstr(mc_error_last(), "fc1"));
    mc_profile_free(&p);
}
END_TEST

START_TEST(a_profile_for_another_model_is_refused)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin("vgg16", &m), MC_OK);
    mc_profile p;
    make_profile("alexnet", alexish, 12, &p);
    ck_assert_int_ne(mc_profile_check_model(&p, &m, "prof.json"), MC_OK);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "profile is for model 'alexnet', not 'vgg16'"));
    mc_model_free(&m);
    mc_profile_free(&p);
}
END_TEST

START_TEST(the_farm_file_follows_the_contract)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    mc_plan_opts o = {9, 80 * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
    mc_plan *plans = plan_ok(&p, &o);
    for (int n = 4; n <= 9; n++) {
        const mc_plan *pl = &plans[n - 1];
        cJSON *j = mc_farm_plan_json(pl, &p, "alexish", "127.0.0.1", 12345, 9999);
        ck_assert_ptr_nonnull(j);
        const cJSON *tasks = cJSON_GetObjectItem(j, "tasks"), *node = cJSON_GetObjectItem(j, "node"), *t;
        ck_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "alexish");
        ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(node, "initial"), 0)->valuestring, "127.0.0.1:9999");
        int seen[MC_PLAN_MAX_DEVICES] = {0}, k = 0, listed = 0;
        cJSON_ArrayForEach(t, tasks)
        {
            const mc_plan_task *x = &pl->tasks[k++];
            const char *name = cJSON_GetObjectItem(t, "name")->valuestring;
            const cJSON *ly = cJSON_GetObjectItem(t, "layers");
            ck_assert_str_eq(cJSON_GetArrayItem(ly, 0)->valuestring, p.layers[x->first].name);
            ck_assert_str_eq(cJSON_GetArrayItem(ly, 1)->valuestring, p.layers[x->last - 1].name);
            const cJSON *me = cJSON_GetObjectItem(t, "method");
            if (x->parts > 1) {
                ck_assert_str_eq(me->valuestring, mc_split_method_name(x->method));
                ck_assert_int_eq(cJSON_GetObjectItem(t, "parts")->valueint, x->parts);
            } else {
                ck_assert_ptr_null(me);
            }
            const cJSON *ad = cJSON_GetObjectItem(node, name), *a;
            ck_assert_int_eq(cJSON_GetArraySize(ad), x->parts * x->replicas);
            cJSON_ArrayForEach(a, ad)
            {
                int port = atoi(strchr(a->valuestring, ':') + 1) - 12345;
                ck_assert(port >= 0 && port < n);
                ck_assert_int_eq(seen[port]++, 0);
                listed++;
            }
        }
        ck_assert_int_eq(k, pl->n_tasks);
        ck_assert_int_eq(listed, pl->used);
        const cJSON *info = cJSON_GetObjectItem(j, "plan");
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(info, "devices")), n);
        ck_assert_double_eq_tol(cJSON_GetObjectItem(info, "predicted_ips")->valuedouble, pl->ips, 1e-9);
        ck_assert(strlen(cJSON_GetObjectItem(info, "why")->valuestring) > 10);
        cJSON_Delete(j);
    }
    free(plans);
    mc_profile_free(&p);
}
END_TEST

/* The artifact's hand-made AlexNet farm-5 and farm-6 (contract presets), on the alexish profile. */
static const char *const presets[] = {
    "{\"tasks\":[{\"name\":\"block1\",\"layers\":[\"conv1\",\"flatten\"]},"
    "{\"name\":\"block2\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
    "{\"name\":\"block3\",\"layers\":[\"fc2\",\"fc3\"]}],"
    "\"node\":{\"initial\":[\"i\"],\"block1\":[\"a\"],\"block2\":[\"b\",\"c\"],\"block3\":[\"d\"]}}",
    "{\"tasks\":[{\"name\":\"block1\",\"layers\":[\"conv1\",\"flatten\"]},"
    "{\"name\":\"block2\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
    "{\"name\":\"block3\",\"layers\":[\"fc2\",\"fc3\"]}],"
    "\"node\":{\"initial\":[\"i\"],\"block1\":[\"a\",\"e\"],\"block2\":[\"b\",\"c\"],\"block3\":[\"d\"]}}",
};

/* A farm file as a plan over profile p (farmfile.h's reader, then the cost model). */
static mc_status plan_from_farm(const cJSON *j, const char *origin, const mc_profile *p, const mc_plan_opts *o,
                                mc_plan *pl)
{
    mc_farm f;
    mc_status st = mc_farm_parse_for_profile(j, origin, p, &f);
    return st ? st : mc_farm_to_plan(&f, p, o, pl);
}

START_TEST(plans_reach_at_least_the_hand_made_farms)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    mc_plan_opts o = {8, 80 * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
    cJSON *j = cJSON_Parse(presets[_i]);
    ck_assert_ptr_nonnull(j);
    mc_plan hand;
    ck_assert_msg(plan_from_farm(j, "preset", &p, &o, &hand) == MC_OK, "%s", mc_error_last());
    cJSON_Delete(j);
    ck_assert_int_eq(hand.used, 4 + _i);
    ck_assert_int_eq(hand.n_tasks, 3);
    ck_assert_int_eq(hand.tasks[1].parts, 2);
    ck_assert_int_eq(hand.tasks[0].replicas, 1 + _i);
    mc_plan *plans = plan_ok(&p, &o);
    const mc_plan *pl = &plans[hand.used - 1];
    ck_assert_msg(pl->ips >= hand.ips * (1 - 1e-9), "plan for %d devices: %g IPS < hand-made %g", hand.used, pl->ips,
                  hand.ips);
    free(plans);
    mc_profile_free(&p);
}
END_TEST

/* Encodings on the links (core/wire.h, docs/wire.md): priced at their
 * encoded size, assigned within the budget by auto, kept from a farm file,
 * and written to the plan's farm files. */
START_TEST(links_are_priced_encoded_and_auto_stays_within_the_accuracy_budget)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    cJSON *j = cJSON_Parse(presets[0]);
    ck_assert_ptr_nonnull(j);
    mc_plan pl[MC_WIRE_COUNT], free_link;
    for (int w = 0; w < MC_WIRE_COUNT; w++) {
        mc_plan_opts o = {8, 80 * MIB, 2e-7, 0.002, w, 0};
        ck_assert_msg(plan_from_farm(j, "preset", &p, &o, &pl[w]) == MC_OK, "%s", mc_error_last());
        ck_assert_int_eq(pl[w].tasks[0].wire, w);
        ck_assert_int_eq(pl[w].tasks[1].wire, w);
        ck_assert_int_eq(pl[w].tasks[2].wire, MC_WIRE_F32); /* to initial: float32 */
        if (w) { /* fewer bytes between the tasks: lower latency, never lower IPS */
            ck_assert_msg(pl[w].latency_s < pl[w - 1].latency_s, "%s: latency %g, %s %g", mc_wire_name((mc_wire)w),
                          pl[w].latency_s, mc_wire_name((mc_wire)(w - 1)), pl[w - 1].latency_s);
            ck_assert(pl[w].ips >= pl[w - 1].ips * (1 - 1e-12));
        }
    }
    /* bytes that cost nothing: the encodings change nothing */
    mc_plan_opts o0 = {8, 80 * MIB, 0, 0.002, MC_WIRE_INT8, 0};
    ck_assert_int_eq(plan_from_farm(j, "preset", &p, &o0, &free_link), MC_OK);
    o0.wire = MC_WIRE_F32;
    ck_assert_int_eq(plan_from_farm(j, "preset", &p, &o0, &pl[0]), MC_OK);
    ck_assert_double_eq_tol(free_link.latency_s, pl[0].latency_s, 1e-12);
    /* auto: per link the smallest encoding whose error fits what is left */
    static const struct { double budget; int n_int8, n_f16; } autos[] = {
        {0.05, 1, 1},   /* int8 (0.04) on the larger link, f16 (0.001) on the other */
        {0.039, 0, 2},  /* int8 does not fit */
        {0.0015, 0, 1}, /* one f16 */
        {5e-4, 0, 0},   /* nothing fits */
    };
    for (size_t i = 0; i < sizeof autos / sizeof autos[0]; i++) {
        mc_plan_opts o = {8, 80 * MIB, 2e-7, 0.002, MC_PLAN_WIRE_AUTO, autos[i].budget};
        mc_plan a;
        ck_assert_int_eq(plan_from_farm(j, "preset", &p, &o, &a), MC_OK);
        int n8 = 0, n16 = 0;
        double err = 0;
        for (int t = 0; t < a.n_tasks; t++) {
            n8 += a.tasks[t].wire == MC_WIRE_INT8;
            n16 += a.tasks[t].wire == MC_WIRE_F16;
            err += mc_plan_wire_error(a.tasks[t].wire);
        }
        ck_assert_msg(n8 == autos[i].n_int8 && n16 == autos[i].n_f16, "budget %g: %d int8, %d f16", autos[i].budget,
                      n8, n16);
        ck_assert(err <= autos[i].budget);
        ck_assert_int_eq(a.tasks[a.n_tasks - 1].wire, MC_WIRE_F32);
    }
    cJSON_Delete(j);
    /* a farm file's own "wire" is what MC_PLAN_WIRE_TASKS prices */
    cJSON *k = cJSON_Parse("{\"tasks\":[{\"name\":\"block1\",\"layers\":[\"conv1\",\"flatten\"],\"wire\":\"int8\"},"
                           "{\"name\":\"block2\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
                           "{\"name\":\"block3\",\"layers\":[\"fc2\",\"fc3\"],\"wire\":\"f16\"}],"
                           "\"node\":{\"initial\":[\"i\"],\"block1\":[\"a\"],\"block2\":[\"b\",\"c\"],\"block3\":[\"d\"]}}");
    mc_plan_opts ot = {8, 80 * MIB, 2e-7, 0.002, MC_PLAN_WIRE_TASKS, 0};
    mc_plan own;
    ck_assert_msg(plan_from_farm(k, "own", &p, &ot, &own) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(own.tasks[0].wire, MC_WIRE_INT8);
    ck_assert_int_eq(own.tasks[1].wire, MC_WIRE_F32);
    ck_assert_int_eq(own.tasks[2].wire, MC_WIRE_F32); /* the link to initial is float32 whatever the file says */
    cJSON_Delete(k);
    /* planned with auto: every farm file records each task's encoding, as planned */
    mc_plan_opts oa = {9, 80 * MIB, 2e-7, 0.002, MC_PLAN_WIRE_AUTO, 0.05};
    mc_plan *plans = plan_ok(&p, &oa);
    int encoded = 0;
    for (int n = 2; n <= 9; n++) {
        const mc_plan *x = &plans[n - 1];
        if (!x->feasible) continue;
        cJSON *fj = mc_farm_plan_json(x, &p, "alexish", "127.0.0.1", 12345, 9999);
        mc_farm f;
        ck_assert_msg(mc_farm_parse_for_profile(fj, "plan", &p, &f) == MC_OK, "%s", mc_error_last());
        ck_assert_int_eq(f.n_tasks, x->n_tasks);
        double err = 0;
        for (int t = 0; t < x->n_tasks; t++) {
            ck_assert_int_eq(f.tasks[t].wire, x->tasks[t].wire);
            err += mc_plan_wire_error(x->tasks[t].wire);
            encoded += x->tasks[t].wire != MC_WIRE_F32;
        }
        ck_assert(err <= 0.05);
        cJSON_Delete(fj);
    }
    ck_assert_int_gt(encoded, 0);
    free(plans);
    mc_profile_free(&p);
}
END_TEST

START_TEST(a_farm_that_skips_layers_cannot_be_evaluated)
{
    mc_profile p;
    make_profile("alexish", alexish, 12, &p);
    mc_plan_opts o = {8, 80 * MIB, 2e-7, 0.002, MC_WIRE_F32, 0};
    cJSON *j = cJSON_Parse("{\"tasks\":[{\"name\":\"a\",\"layers\":[\"conv1\",\"pool5\"]},"
                           "{\"name\":\"b\",\"layers\":[\"fc1\",\"fc3\"]}],\"node\":{\"initial\":[\"i\"],\"a\":[\"x\"],\"b\":[\"y\"]}}");
    mc_plan pl;
    ck_assert_int_ne(plan_from_farm(j, "gap.json", &p, &o, &pl), MC_OK);
    ck_assert_msg(strstr(mc_error_last(), "gap.json") && strstr(mc_error_last(), "flatten"), "%s", mc_error_last());
    cJSON_Delete(j);
    mc_profile_free(&p);
}
END_TEST

/* ---- the profile itself ---- */

START_TEST(the_line_fit_recovers_a_known_line)
{
    double x[5] = {1e3, 1e4, 1e5, 3e5, 1e6}, y[5];
    for (int i = 0; i < 5; i++) y[i] = 2e-7 * x[i] + 0.002;
    double a, b;
    ck_assert_int_eq(mc_fit_line(x, y, 5, &a, &b), MC_OK);
    ck_assert_double_eq_tol(a, 2e-7, 1e-15);
    ck_assert_double_eq_tol(b, 0.002, 1e-12);
    double same[2] = {1, 1};
    ck_assert_int_ne(mc_fit_line(same, y, 2, &a, &b), MC_OK);
}
END_TEST

/* Runs the mchair binary with a shell command line; returns its exit code. */
static int run_mchair(const char *args, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", MC_MCHAIR_BIN, args);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t k = fread(out, 1, n - 1, f);
    out[k] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(profiling_a_small_model_measures_every_layer_and_split)
{
    char dir[] = "/tmp/mc_check_plan_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char model[256], prof[256], args[1024], out[8192];
    snprintf(model, sizeof model, "%s/tiny.model", dir);
    snprintf(prof, sizeof prof, "%s/tiny.json", dir);
    FILE *f = fopen(model, "w");
    ck_assert_ptr_nonnull(f);
    /* a graph: a residual add (timed through forward_n), a folded batchnorm and a flatten (views, 0 s) */
    fputs("model tiny\ninput 16 16 4\nconv2d c1 filters=8 kernel=3 padding=same act=relu\n"
          "conv2d c2 filters=8 kernel=3 padding=same\nbatchnorm b2 act=relu\nadd a in=c1,b2\n"
          "maxpool2d p1 pool=2 stride=2\nflatten flat\ndense fc units=12 act=softmax\n", f);
    fclose(f);
    snprintf(args, sizeof args, "profile --model %s --repeat 1 --splits 2,4 --threads 1 --out %s", model, prof);
    int rc = run_mchair(args, out, sizeof out);
    mc_profile p;
    mc_status st = rc == 0 ? mc_profile_load(prof, &p) : MC_ERR_IO;
    unlink(prof);
    unlink(model);
    rmdir(dir);
    ck_assert_msg(rc == 0, "mchair profile failed: %s", out);
    ck_assert_msg(st == MC_OK, "%s", mc_error_last());
    ck_assert_str_eq(p.model, "tiny");
    ck_assert_int_eq(p.n_layers, 7);
    /* conv: channel, filter, spatial x {2, 4}; dense: output, input x {2, 4}. */
    ck_assert_int_eq(p.layers[0].n_splits, 6);
    ck_assert_int_eq(p.layers[1].n_splits, 6);
    ck_assert_int_eq(p.layers[3].n_splits, 0);
    ck_assert_int_eq(p.layers[4].n_splits, 0);
    ck_assert_int_eq(p.layers[6].n_splits, 4);
    ck_assert_double_eq(p.layers[0].cost.weight_bytes, (3 * 3 * 4 * 8 + 8) * 4);
    ck_assert_double_eq(p.layers[0].cost.in_bytes, 16 * 16 * 4 * 4);
    ck_assert_double_eq(p.layers[6].cost.weight_bytes, (8 * 8 * 8 * 12 + 12) * 4);
    for (int i = 0; i < 7; i++) {
        const int view = i == 2 || i == 5;
        ck_assert_msg(view ? p.layers[i].cost.latency == 0 : p.layers[i].cost.latency > 0, "layer %d: %g s", i,
                      p.layers[i].cost.latency);
        ck_assert(p.layers[i].cost.mem_bytes >= p.layers[i].cost.weight_bytes + p.layers[i].cost.in_bytes);
    }
    /* what crosses each cut: c1's output waits for the add beside c2's and b2's */
    const double t = 16 * 16 * 8 * 4;
    ck_assert(p.has_cuts);
    ck_assert_double_eq(p.layers[0].cut_bytes, 16 * 16 * 4 * 4);
    ck_assert_double_eq(p.layers[1].cut_bytes, t);
    ck_assert_double_eq(p.layers[2].cut_bytes, 2 * t);
    ck_assert_double_eq(p.layers[3].cut_bytes, 2 * t);
    ck_assert_double_eq(p.layers[4].cut_bytes, t);
    ck_assert_double_eq(p.layers[6].cut_bytes, 8 * 8 * 8 * 4);
    ck_assert_double_eq(mc_profile_cut_bytes(&p, 7), 12 * 4);
    const mc_prof_split *s = &p.layers[6].splits[0]; /* fc_output into 2: half the rows */
    ck_assert_int_eq(s->method, MC_SPLIT_FC_OUTPUT);
    ck_assert_int_eq(s->parts, 2);
    ck_assert_double_eq(s->cost.weight_bytes, (8 * 8 * 8 * 6 + 6) * 4);
    ck_assert_double_eq(s->cost.out_bytes, 6 * 4);
    for (int k = 0; k < p.layers[0].n_splits; k++) {
        const mc_prof_split *x = &p.layers[0].splits[k];
        ck_assert(x->cost.latency > 0);
        if (x->method == MC_SPLIT_CONV_SPATIAL && x->parts == 4) {
            ck_assert_int_eq(x->grid_h, 2);
            ck_assert_int_eq(x->grid_w, 2);
            ck_assert_double_eq(x->cost.in_bytes, 10 * 10 * 4 * 4); /* 8x8 tile + halo 1 */
        }
    }
    /* JSON round trip. */
    cJSON *j = mc_profile_to_json(&p);
    mc_profile q;
    ck_assert_int_eq(mc_profile_from_json(j, "roundtrip", &q), MC_OK);
    ck_assert_int_eq(q.layers[0].n_splits, 6);
    ck_assert(q.has_cuts);
    ck_assert_double_eq(q.layers[2].cut_bytes, 2 * t);
    ck_assert_double_eq(q.layers[6].splits[0].cost.latency, s->cost.latency);
    cJSON_Delete(j);
    mc_profile_free(&q);
    mc_profile_free(&p);
}
END_TEST

/* A tiny HTTP server that answers every POST with 200 and counts bytes. */
typedef struct sink {
    long posts, bytes;
} sink;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)url;
    (void)version;
    (void)data;
    sink *s = cls;
    static int marker;
    if (strcmp(method, "POST")) return MHD_NO;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*size) {
        __atomic_add_fetch(&s->bytes, (long)*size, __ATOMIC_SEQ_CST);
        *size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&s->posts, 1, __ATOMIC_SEQ_CST);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

START_TEST(the_link_fit_times_posts_to_a_loopback_server)
{
    sink s = {0, 0};
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &s,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    ck_assert_msg(d != NULL, "cannot start the loopback HTTP server");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    const int port = info ? info->port : 0;
    char dir[] = "/tmp/mc_check_link_XXXXXX", path[256], args[512], out[4096];
    char *tmp = mkdtemp(dir);
    snprintf(path, sizeof path, "%s/link.json", dir);
    snprintf(args, sizeof args, "profile --link 127.0.0.1:%d --repeat 2 --out %s", port, path);
    int rc = tmp && port > 0 ? run_mchair(args, out, sizeof out) : -1;
    MHD_stop_daemon(d);
    cJSON *j = NULL;
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[16384];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        j = cJSON_Parse(buf);
    }
    unlink(path);
    rmdir(dir);
    ck_assert_msg(port > 0 && rc == 0, "mchair profile --link failed (port %d): %s", port, out);
    /* 5 sizes x (1 warm-up + 2 timed) POSTs, 1 kB .. 1 MB. */
    ck_assert_int_eq(s.posts, 15);
    ck_assert_int_eq(s.bytes, 3 * (1000 + 10000 + 100000 + 300000 + 1000000));
    ck_assert_ptr_nonnull(j);
    const cJSON *lk = cJSON_GetObjectItem(j, "link");
    const cJSON *a = cJSON_GetObjectItem(lk, "a_s_per_byte"), *b = cJSON_GetObjectItem(lk, "b_s");
    ck_assert(cJSON_IsNumber(a) && cJSON_IsNumber(b));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(lk, "samples")), 10);
    /* The fit goes through the samples' means: a*mean(x) + b = mean(t). */
    double sx = 0, st = 0;
    const cJSON *smp;
    cJSON_ArrayForEach(smp, cJSON_GetObjectItem(lk, "samples"))
    {
        sx += cJSON_GetObjectItem(smp, "bytes")->valuedouble;
        st += cJSON_GetObjectItem(smp, "seconds")->valuedouble;
        ck_assert(cJSON_GetObjectItem(smp, "seconds")->valuedouble > 0);
    }
    ck_assert_double_eq_tol(a->valuedouble * sx / 10 + b->valuedouble, st / 10, 1e-9);
    cJSON_Delete(j);
}
END_TEST

START_TEST(the_link_fit_names_an_address_nobody_answers)
{
    char out[4096];
    /* Port 1 on loopback: nothing listens there in the test environment. */
    int rc = run_mchair("profile --link 127.0.0.1:1 --repeat 1", out, sizeof out);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "127.0.0.1:1"), "message lacks the address: %s", out);
}
END_TEST

typedef struct cli_case {
    const char *args;
    const char *needle;
} cli_case;

static const cli_case cli_errs[] = {
    {"plan --model alexnet --devices 0 --mem 64 --profile /nonexistent.json", "--devices must be from 1"},
    {"plan --model alexnet --devices 4 --mem 64 --profile /nonexistent.json", "/nonexistent.json"},
    {"plan --model alexnet --devices 4 --profile x.json", "--mem"},
    {"profile --model alexnet --splits 1", "--splits"},
};

START_TEST(the_commands_refuse_bad_arguments_with_a_message)
{
    char out[4096];
    int rc = run_mchair(cli_errs[_i].args, out, sizeof out);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, cli_errs[_i].needle), "'%s': output lacks '%s': %s", cli_errs[_i].args,
                  cli_errs[_i].needle, out);
}
END_TEST

/* A chain of 3-D layers the net streams (models/net_stream.h) is planned
 * at what it holds: C3D's conv1..pool2 keeps the clip, pool2's output and
 * rings of a few frames (15 MB), so it fits 40 MiB, which conv1's 51 MB
 * output held whole does not.  The same profile without the streaming
 * figures has no plan. */
START_TEST(a_streamed_chain_of_clip_layers_is_planned_at_its_rings)
{
    mc_model m;
    ck_assert_int_eq(mc_model_open("c3d", &m), MC_OK);
    mc_profile p;
    memset(&p, 0, sizeof p);
    snprintf(p.model, sizeof p.model, "c3d");
    p.n_layers = 4; /* conv1, pool1, conv2, pool2 */
    p.layers = calloc((size_t)p.n_layers, sizeof *p.layers);
    ck_assert_ptr_nonnull(p.layers);
    for (int i = 0; i < p.n_layers; i++) {
        const mc_layer *l = &m.layers[i];
        mc_prof_layer *pl = &p.layers[i];
        snprintf(pl->name, sizeof pl->name, "%s", l->name);
        pl->op = l->op;
        pl->cost.latency = 1e-11 * mc_op_get(l->op)->macs(l);
        pl->cost.weight_bytes = 4.0 * (double)(mc_shape_count(&l->wshape) + mc_shape_count(&l->bshape));
        pl->cost.in_bytes = 4.0 * (double)mc_shape_count(&l->in);
        pl->cost.out_bytes = 4.0 * (double)mc_shape_count(&l->out);
        pl->cost.mem_bytes = mc_prof_mem(pl->cost.weight_bytes, pl->cost.in_bytes, pl->cost.out_bytes, 0);
    }
    mc_profile_fill_cuts(&p, &m);
    ck_assert(p.layers[0].stream_ring_bytes == 0); /* nothing before conv1 */
    ck_assert(p.layers[1].stream_ring_bytes == 4.0 * 112 * 112 * 64);     /* pool1 reads 1 frame of conv1 */
    ck_assert(p.layers[2].stream_ring_bytes == 4.0 * 3 * 56 * 56 * 64);   /* conv2: 3 of pool1 */
    ck_assert(p.layers[3].stream_ring_bytes == 4.0 * 2 * 56 * 56 * 128);  /* pool2: 2 of conv2 */
    mc_plan_opts o = {.n_max = 1, .mem_bytes = 40 * MIB, .link_a = 1e-8, .link_b = 2e-4};
    mc_plan *plans = calloc(1, sizeof *plans);
    ck_assert_msg(mc_plan_all(&p, &o, plans) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(plans[0].n_tasks, 1);
    const double want = 4.0 * (16 * 112 * 112 * 3 + 8 * 28 * 28 * 128) + p.layers[1].stream_ring_bytes +
                        p.layers[2].stream_ring_bytes + p.layers[3].stream_ring_bytes + p.layers[0].cost.weight_bytes +
                        p.layers[2].cost.weight_bytes;
    ck_assert_msg(fabs(plans[0].tasks[0].mem_bytes - want) < 1, "conv1..pool2 planned at %.0f bytes, expected %.0f",
                  plans[0].tasks[0].mem_bytes, want);
    for (int i = 0; i < p.n_layers; i++) p.layers[i].stream_ring_bytes = 0;
    ck_assert_int_ne(mc_plan_all(&p, &o, plans), MC_OK); /* whole tensors: conv1 alone holds 2 x 51 MB */
    free(plans);
    mc_profile_free(&p);
    mc_model_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tp = tcase_create("planner");
    tcase_add_loop_test(tp, layers_are_grouped_into_balanced_tasks, 0, (int)(sizeof groups / sizeof groups[0]));
    tcase_add_test(tp, a_layer_over_the_budget_is_split_into_the_fewest_parts_that_fit);
    tcase_add_test(tp, more_devices_never_lower_the_predicted_ips);
    tcase_add_test(tp, the_prediction_follows_the_cost_model);
    tcase_add_test(tp, a_graph_is_cut_where_few_bytes_cross);
    tcase_add_test(tp, a_split_inside_a_block_carries_the_block_input_with_part_0);
    tcase_add_test(tp, a_streamed_chain_of_clip_layers_is_planned_at_its_rings);
    tcase_add_test(tp, measured_task_times_recalibrate_the_profile_and_move_devices);
    tcase_add_test(tp, planning_one_to_sixteen_devices_of_a_vgg_sized_model_gives_valid_plans);
    tcase_add_loop_test(tp, impossible_requests_are_refused_naming_the_constraint, 0,
                        (int)(sizeof errs / sizeof errs[0]));
    tcase_add_test(tp, a_profile_for_another_model_is_refused);
    tcase_add_loop_test(tp, plans_reach_at_least_the_hand_made_farms, 0, 2);
    tcase_add_test(tp, the_farm_file_follows_the_contract);
    tcase_add_test(tp, a_farm_that_skips_layers_cannot_be_evaluated);
    tcase_add_test(tp, links_are_priced_encoded_and_auto_stays_within_the_accuracy_budget);
    suite_add_tcase(s, tp);
    TCase *tf = tcase_create("profile");
    tcase_set_timeout(tf, 120);
    tcase_add_test(tf, the_line_fit_recovers_a_known_line);
    tcase_add_test(tf, profiling_a_small_model_measures_every_layer_and_split);
    tcase_add_test(tf, the_link_fit_times_posts_to_a_loopback_server);
    tcase_add_test(tf, the_link_fit_names_an_address_nobody_answers);
    tcase_add_loop_test(tf, the_commands_refuse_bad_arguments_with_a_message, 0,
                        (int)(sizeof cli_errs / sizeof cli_errs[0]));
    suite_add_tcase(s, tf);
    return mc_test_run(s);
}
