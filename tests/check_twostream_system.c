/* check_twostream_system.c - the paper's two-stream systems as built-in
 * farm presets (farm/twostream_system.c, farmfile.c) and the sharing of N
 * devices between the three graphs (plan/plan_system.c):
 *   - every system's three node-only farm files resolve to the tasks,
 *     splits and replicas of the paper's Figures 14b and 18 (our reading,
 *     written out here independently of the tables in the code), and the
 *     files mc_ts_system_write leaves load back as farms;
 *   - a node map the presets do not know is refused, naming the presets;
 *   - the share of n devices the planner picks has the highest IPS of all
 *     shares (brute force over made-up plan tables, with infeasible plans),
 *     and n that do not fit say why. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "farm/farmfile.h"
#include "farm/twostream_system.h"
#include "plan/plan_system.h"
#include "testutil.h"

/* One expected task: name, first and last layer, parts, replicas. */
typedef struct want_task {
    const char *name, *first, *last;
    int parts, replicas;
} want_task;

typedef struct want_system {
    int devices;
    const char *graph[3];
    int n_tasks[3];
    want_task task[3][4];
} want_system;

#define S(r) {"spatial", "conv1s", "fc1s", 1, r}
#define T(r) {"temporal", "conv1t", "fc1t", 1, r}
#define PYR {"pyr", "pyramid_s", "pyramid", 1, 1}
#define HEAD8 {PYR, {"fc1", "fc1", "fc1", 2, 1}, {"fc2", "fc2", "fc2", 2, 1}, {"fc3", "fc3", "fc3", 1, 1}}

static const want_system want[] = {
    {4, {"twostream-spatial", "twostream-temporal", "twostream-half-head"}, {1, 1, 2},
     {{S(1)}, {T(1)}, {PYR, {"dense", "fc1", "fc3", 1, 1}}}},
    {5, {"twostream-spatial", "twostream-temporal", "twostream-head"}, {1, 1, 3},
     {{S(1)}, {T(1)}, {PYR, {"fc1", "fc1", "fc1", 1, 1}, {"fc23", "fc2", "fc3", 1, 1}}}},
    {8, {"twostream-spatial", "twostream-temporal", "twostream-head"}, {1, 1, 4}, {{S(1)}, {T(1)}, HEAD8}},
    {10, {"twostream-spatial", "twostream-temporal", "twostream-head"}, {1, 1, 4}, {{S(2)}, {T(2)}, HEAD8}},
    {12, {"twostream-spatial", "twostream-temporal", "twostream-head"}, {1, 1, 4}, {{S(3)}, {T(3)}, HEAD8}},
};
#define N_WANT ((int)(sizeof want / sizeof want[0]))

static void check_farm(const mc_farm *f, const want_system *w, int g)
{
    ck_assert_str_eq(f->model, w->graph[g]);
    ck_assert_msg(f->preset[0], "system %d graph %d: not a preset farm", w->devices, g);
    ck_assert_int_eq(f->n_tasks, w->n_tasks[g]);
    for (int t = 0; t < f->n_tasks; t++) {
        const mc_farm_task *k = &f->tasks[t];
        const want_task *e = &w->task[g][t];
        ck_assert_str_eq(k->name, e->name);
        ck_assert_str_eq(k->first_name, e->first);
        ck_assert_str_eq(k->last_name, e->last);
        ck_assert_int_eq(k->parts, e->parts);
        ck_assert_int_eq(k->method, e->parts > 1 ? MC_SPLIT_FC_OUTPUT : MC_SPLIT_DATA);
        ck_assert_int_eq(k->n_addr, e->parts * e->replicas);
    }
}

START_TEST(each_system_is_three_preset_farms_as_in_the_paper)
{
    const want_system *w = &want[_i];
    const mc_ts_system *s = mc_ts_system_find(w->devices);
    ck_assert_ptr_nonnull(s);
    mc_farm *f = malloc(sizeof *f);
    int d = 0, total = 0;
    for (int g = 0; g < 3; g++) {
        cJSON *j = mc_ts_system_node_json(s, g, "127.0.0.1", 20000, d, 30000 + g, &d);
        ck_assert_ptr_nonnull(j);
        ck_assert_ptr_null(cJSON_GetObjectItem(j, "tasks")); /* the preset gives them */
        ck_assert_int_eq(mc_farm_from_json(j, "test", NULL, f), MC_OK);
        cJSON_Delete(j);
        check_farm(f, w, g);
        ck_assert_int_eq(f->initial.port, 30000 + g);
        for (int t = 0; t < f->n_tasks; t++)
            for (int a = 0; a < f->tasks[t].n_addr; a++) ck_assert_int_eq(f->tasks[t].addr[a].port, 20000 + total++);
    }
    ck_assert_int_eq(total, w->devices); /* every device once, none twice */
    free(f);
}
END_TEST

START_TEST(a_written_system_loads_back_with_its_tasks_spelled_out)
{
    const want_system *w = &want[_i];
    char dir[] = "/tmp/mchair-tsys-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    mc_farm *f = malloc(4 * sizeof *f);
    ck_assert_int_eq(mc_ts_system_write(mc_ts_system_find(w->devices), dir, "127.0.0.1", 21000, 31000, f), MC_OK);
    static const char *const file[3] = {"spatial", "temporal", "head"};
    for (int g = 0; g < 3; g++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.json", dir, file[g]);
        check_farm(&f[g], w, g);
        ck_assert_int_eq(mc_farm_load(path, NULL, &f[3]), MC_OK);
        f[3].preset[0] = 'x'; /* written with explicit tasks: the check below needs only the tasks */
        check_farm(&f[3], w, g);
        unlink(path);
    }
    rmdir(dir);
    free(f);
}
END_TEST

START_TEST(systems_that_are_not_the_papers_are_refused_by_name)
{
    ck_assert_ptr_null(mc_ts_system_find(1));
    ck_assert_ptr_null(mc_ts_system_find(7));
    mc_farm *f = malloc(sizeof *f);
    /* a head farm whose task names are no preset's */
    const char *bad = "{\"model\": \"twostream-head\", \"node\": {\"initial\": [\"127.0.0.1:1\"], "
                      "\"a\": [\"127.0.0.1:2\"], \"b\": [\"127.0.0.1:3\"]}}";
    ck_assert_int_eq(mc_farm_parse(bad, "bad.json", NULL, f), MC_ERR_NOT_FOUND);
    ck_assert_msg(strstr(mc_error_last(), "twostream-head farm-4/7") && strstr(mc_error_last(), "bad.json"), "%s",
                  mc_error_last());
    /* the spatial preset with 3 replicas: picked by its task name */
    const char *three = "{\"model\": \"twostream-spatial\", \"node\": {\"initial\": [\"127.0.0.1:1\"], "
                        "\"spatial\": [\"127.0.0.1:2\", \"127.0.0.1:3\", \"127.0.0.1:4\"]}}";
    ck_assert_int_eq(mc_farm_parse(three, "three.json", NULL, f), MC_OK);
    ck_assert_int_eq(f->n_tasks, 1);
    ck_assert_int_eq(f->tasks[0].n_addr, 3);
    free(f);
}
END_TEST

/* ---- sharing devices between graphs ---- */

#define NMAX 10
#define PER (NMAX - 2)

/* Made-up plan tables: graph g's IPS for k devices, some infeasible. */
static void fill_plans(mc_plan *plans[3], uint64_t seed)
{
    uint64_t i = 0;
#define NEXT() mc_rng_u64(seed, 7, i++)
    for (int g = 0; g < 3; g++) {
        const int least = (int)(NEXT() % 3); /* graph g needs least + 1 devices */
        for (int k = 0; k < PER; k++) {
            memset(&plans[g][k], 0, sizeof plans[g][k]);
            plans[g][k].n = k + 1;
            plans[g][k].feasible = k >= least;
            plans[g][k].used = k + 1 - (int)(NEXT() % 2 && k > 0);
            /* not monotone on purpose: a share may do better with fewer devices on one graph */
            plans[g][k].ips = 0.5 + (double)(NEXT() % 1000) / 100.0;
            if (!plans[g][k].feasible) snprintf(plans[g][k].why, sizeof plans[g][k].why, "needs %d", least + 1);
        }
    }
#undef NEXT
}

START_TEST(the_chosen_share_is_the_best_of_all_shares)
{
    mc_plan *plans[3];
    for (int g = 0; g < 3; g++) plans[g] = calloc(PER, sizeof(mc_plan));
    mc_plan_system sys[NMAX];
    static const char *const names[3] = {"s", "t", "h"};
    fill_plans(plans, 1000 + (uint64_t)_i);
    mc_plan_system_share(plans, names, NMAX, sys);
    for (int n = 1; n <= NMAX; n++) {
        double best = -1;
        for (int a = 1; a <= PER; a++)
            for (int b = 1; b <= PER; b++) {
                int c = n - a - b;
                if (c < 1 || c > PER || !plans[0][a - 1].feasible || !plans[1][b - 1].feasible ||
                    !plans[2][c - 1].feasible)
                    continue;
                double ips = plans[0][a - 1].ips;
                if (plans[1][b - 1].ips < ips) ips = plans[1][b - 1].ips;
                if (plans[2][c - 1].ips < ips) ips = plans[2][c - 1].ips;
                if (ips > best) best = ips;
            }
        const mc_plan_system *s = &sys[n - 1];
        ck_assert_int_eq(s->n, n);
        if (best < 0) {
            ck_assert_msg(!s->feasible, "n=%d: no share fits, but the planner found one", n);
            ck_assert_msg(s->why[0], "n=%d: infeasible without a reason", n);
            continue;
        }
        ck_assert_msg(s->feasible, "n=%d: a share fits (%.2f IPS) but none was chosen: %s", n, best, s->why);
        ck_assert_int_eq(s->share[0] + s->share[1] + s->share[2], n);
        double got = plans[0][s->share[0] - 1].ips;
        for (int g = 1; g < 3; g++)
            if (plans[g][s->share[g] - 1].ips < got) got = plans[g][s->share[g] - 1].ips;
        ck_assert_double_eq_tol(s->ips, got, 1e-12);
        ck_assert_msg(got >= best * (1 - 1e-12), "n=%d: chose %.3f IPS, the best share gives %.3f", n, got, best);
        ck_assert_double_eq_tol(plans[s->bottleneck][s->share[s->bottleneck] - 1].ips, got, 1e-12);
    }
    for (int g = 0; g < 3; g++) free(plans[g]);
}
END_TEST

START_TEST(fewer_than_three_devices_never_fit)
{
    mc_plan *plans[3];
    for (int g = 0; g < 3; g++) {
        plans[g] = calloc(1, sizeof(mc_plan));
        plans[g][0].feasible = 1;
        plans[g][0].ips = 1;
        plans[g][0].used = 1;
    }
    static const char *const names[3] = {"s", "t", "h"};
    mc_plan_system sys[3];
    mc_plan_system_share(plans, names, 3, sys);
    ck_assert(!sys[0].feasible && strstr(sys[0].why, "needs a device of its own"));
    ck_assert(!sys[1].feasible && strstr(sys[1].why, "needs a device of its own"));
    ck_assert(sys[2].feasible && sys[2].share[0] == 1 && sys[2].share[1] == 1 && sys[2].share[2] == 1);
    plans[2][0].feasible = 0; /* the head does not fit on one device: said so, by name */
    snprintf(plans[2][0].why, sizeof plans[2][0].why, "too big");
    mc_plan_system_share(plans, names, 3, sys);
    ck_assert_msg(!sys[2].feasible && strstr(sys[2].why, "h on 1 device: too big"), "%s", sys[2].why);
    for (int g = 0; g < 3; g++) free(plans[g]);
}
END_TEST

static Suite *twostream_system_suite(void)
{
    Suite *s = suite_create("twostream_system");
    TCase *p = tcase_create("presets");
    tcase_add_loop_test(p, each_system_is_three_preset_farms_as_in_the_paper, 0, N_WANT);
    tcase_add_loop_test(p, a_written_system_loads_back_with_its_tasks_spelled_out, 0, N_WANT);
    tcase_add_test(p, systems_that_are_not_the_papers_are_refused_by_name);
    suite_add_tcase(s, p);
    TCase *q = tcase_create("share");
    tcase_add_loop_test(q, the_chosen_share_is_the_best_of_all_shares, 0, 40);
    tcase_add_test(q, fewer_than_three_devices_never_fit);
    suite_add_tcase(s, q);
    return s;
}

int main(void) { return mc_test_run(twostream_system_suite()); }
