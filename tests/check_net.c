/* check_net.c - weights (random, file) and running layer ranges.
 *
 * The farm depends on three promises tested here: a layer range run on its
 * own gives the same numbers as the whole model; weights generated for a
 * range equal those generated for the whole model; the weight file
 * round-trips and refuses files that do not fit.  Fault injection proves
 * every allocation failure comes back as MC_ERR_NOMEM. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "models/model.h"
#include "models/net.h"
#include "models/weights.h"
#include "testutil.h"

static const char tiny_text[] = "model tiny\ninput 12 10 3\n"
                                "conv2d c1 filters=6 kernel=3 padding=same act=relu\n"
                                "maxpool2d p1\n"
                                "conv2d c2 filters=5 kernel=3 stride=2 padding=same act=relu\n"
                                "flatten f\n"
                                "dense d1 units=16 act=relu\n"
                                "dense d2 units=7 act=softmax\n";

static float *run_range(mc_model *m, int first, int last, const float *in)
{
    mc_backend *be;
    mc_net n;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
    ck_assert_msg(mc_net_init(&n, m, first, last, be) == MC_OK, "%s", mc_error_last());
    float *out = malloc(mc_net_out_count(&n) * sizeof *out);
    ck_assert_int_eq(mc_net_forward(&n, in, out), MC_OK);
    mc_net_free(&n);
    mc_backend_destroy(be);
    return out;
}

static void check_split_equals_whole(const char *model)
{
    mc_model m;
    ck_assert_int_eq(mc_model_open(model, &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 3), MC_OK);
    size_t nin = mc_shape_count(&m.input);
    float *x = malloc(nin * sizeof *x);
    mc_input_random(x, nin, 3, 0);
    float *whole = run_range(&m, 0, m.n_layers, x);
    size_t nout = mc_shape_count(&m.layers[m.n_layers - 1].out);
    for (int k = 1; k < m.n_layers; k++) {
        float *mid = run_range(&m, 0, k, x);
        float *out = run_range(&m, k, m.n_layers, mid);
        double err = mc_test_max_rel_err(out, whole, nout, 1e-12);
        ck_assert_msg(err == 0.0, "%s cut before layer %d: max relative error %g", model, k, err);
        free(mid);
        free(out);
    }
    free(whole);
    free(x);
    mc_model_free(&m);
}

START_TEST(running_two_ranges_equals_running_the_whole_model)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &m), MC_OK);
    mc_model_free(&m);
    FILE *f = fopen("check_net_tiny.mcm", "w");
    fputs(tiny_text, f);
    fclose(f);
    check_split_equals_whole("check_net_tiny.mcm");
    check_split_equals_whole("alexnet");
    remove("check_net_tiny.mcm");
}
END_TEST

START_TEST(weights_generated_for_a_range_equal_the_whole_models)
{
    mc_model a, b;
    ck_assert_int_eq(mc_model_builtin("alexnet", &a), MC_OK);
    ck_assert_int_eq(mc_model_builtin("alexnet", &b), MC_OK);
    ck_assert_int_eq(mc_weights_random(&a, 0, a.n_layers, 11), MC_OK);
    ck_assert_int_eq(mc_weights_random(&b, 9, 10, 11), MC_OK); /* fc1 only */
    ck_assert_ptr_null(b.layers[0].weight.data);
    ck_assert_ptr_null(b.layers[10].weight.data);
    ck_assert_int_eq(memcmp(a.layers[9].weight.data, b.layers[9].weight.data, mc_tensor_bytes(&a.layers[9].weight)), 0);
    ck_assert_int_eq(memcmp(a.layers[9].bias.data, b.layers[9].bias.data, mc_tensor_bytes(&a.layers[9].bias)), 0);
    /* A different seed gives different weights. */
    ck_assert_int_eq(mc_weights_random(&b, 9, 10, 12), MC_OK);
    ck_assert_int_ne(memcmp(a.layers[9].weight.data, b.layers[9].weight.data, 4096), 0);
    mc_model_free(&a);
    mc_model_free(&b);
}
END_TEST

START_TEST(a_weight_file_round_trips_and_loads_per_range)
{
    mc_model a, b;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &a), MC_OK);
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &b), MC_OK);
    ck_assert_int_eq(mc_weights_random(&a, 0, a.n_layers, 5), MC_OK);
    ck_assert_int_eq(mc_weights_save(&a, "check_net.w"), MC_OK);
    ck_assert_msg(mc_weights_load(&b, 2, 5, "check_net.w") == MC_OK, "%s", mc_error_last());
    ck_assert_ptr_null(b.layers[0].weight.data);
    for (int i = 2; i < 5; i++)
        if (a.layers[i].has_params)
            ck_assert_int_eq(memcmp(a.layers[i].weight.data, b.layers[i].weight.data,
                                    mc_tensor_bytes(&a.layers[i].weight)), 0);
    ck_assert_ptr_null(b.layers[5].weight.data);
    mc_model_free(&a);
    mc_model_free(&b);
    remove("check_net.w");
}
END_TEST

/* Writes the tiny model's weight file, then damages it as `how` says. */
static void write_damaged(const char *path, int how)
{
    mc_model a;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &a), MC_OK);
    ck_assert_int_eq(mc_weights_random(&a, 0, a.n_layers, 5), MC_OK);
    ck_assert_int_eq(mc_weights_save(&a, path), MC_OK);
    mc_model_free(&a);
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    switch (how) {
    case 0: /* wrong magic */
        fseek(f, 0, SEEK_SET);
        fputs("NOTMINE!", f);
        break;
    case 1: /* truncated inside the last tensor */
        fclose(f);
        ck_assert_int_eq(truncate(path, size - 8), 0);
        return;
    case 2: /* trailing garbage */
        fputs("xx", f);
        break;
    case 3: /* first tensor's shape changed: ne[0] of c1.weight (offset 8+4+4+9) */
        fseek(f, 8 + 4 + 4 + 9, SEEK_SET);
        fputc(7, f);
        break;
    }
    fclose(f);
}

static const struct {
    const char *msg;
    mc_status st;
} damage[] = {
    {"not a weight file", MC_ERR_FORMAT},
    {"file ends inside tensor d2.bias", MC_ERR_FORMAT},
    {"unexpected data after the last tensor", MC_ERR_FORMAT},
    {"tensor c1.weight has shape", MC_ERR_SHAPE},
};

START_TEST(damaged_weight_files_are_refused_with_the_tensor_named)
{
    write_damaged("check_net_bad.w", _i);
    mc_model b;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &b), MC_OK);
    mc_status st = mc_weights_load(&b, 0, b.n_layers, "check_net_bad.w");
    ck_assert_int_eq(st, damage[_i].st);
    ck_assert_msg(strstr(mc_error_last(), damage[_i].msg) && strstr(mc_error_last(), "check_net_bad.w"),
                  "case %d: '%s'", _i, mc_error_last());
    for (int i = 0; i < b.n_layers; i++) ck_assert_ptr_null(b.layers[i].weight.data);
    mc_model_free(&b);
    remove("check_net_bad.w");
}
END_TEST

START_TEST(a_weight_file_for_another_model_is_refused)
{
    mc_model a, b;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &a), MC_OK);
    ck_assert_int_eq(mc_weights_random(&a, 0, a.n_layers, 5), MC_OK);
    ck_assert_int_eq(mc_weights_save(&a, "check_net_other.w"), MC_OK);
    ck_assert_int_eq(mc_model_builtin("alexnet", &b), MC_OK);
    ck_assert_int_ne(mc_weights_load(&b, 0, b.n_layers, "check_net_other.w"), MC_OK);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "model alexnet needs"));
    mc_model_free(&a);
    mc_model_free(&b);
    remove("check_net_other.w");
}
END_TEST

START_TEST(every_allocation_failure_returns_nomem_and_leaves_no_half_state)
{
    int successes = 0;
    for (long n = 0; n < 64; n++) {
        mc_model m;
        ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &m), MC_OK);
        mc_backend *be;
        ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
        size_t before = mc_alloc_bytes_in_use();
        mc_alloc_fail_after(n);
        mc_net net;
        mc_status st = mc_weights_random(&m, 0, m.n_layers, 1);
        if (!st) st = mc_net_init(&net, &m, 0, m.n_layers, be);
        float x[12 * 10 * 3] = {0}, y[7];
        if (!st) st = mc_net_forward(&net, x, y);
        mc_alloc_fail_after(-1);
        ck_assert_msg(st == MC_OK || st == MC_ERR_NOMEM, "fail after %ld: %s", n, mc_status_to_string(st));
        if (st == MC_OK) {
            successes++;
            mc_net_free(&net);
        }
        mc_model_free(&m);
        mc_backend_destroy(be);
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), before);
    }
    ck_assert_int_gt(successes, 0); /* enough allocations allowed eventually */
}
END_TEST

/* Two Winograd-eligible layers; a budget that fits one grants it to the first. */
START_TEST(the_derived_weight_budget_is_granted_in_layer_order)
{
    static const char text[] = "input 16 16 128\n"
                               "conv2d a filters=128 kernel=3 padding=same act=relu\n"
                               "conv2d b filters=128 kernel=3 padding=same act=relu\n";
    mc_model m;
    ck_assert_int_eq(mc_model_parse(text, "two", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, 2, 9), MC_OK);
    size_t one = 16 * 128 * 128 * sizeof(float); /* 16/9 of a's weights */
    float *x = malloc(16 * 16 * 128 * sizeof *x), *y[3];
    mc_input_random(x, 16 * 16 * 128, 9, 0);
    size_t budgets[3] = {0, one + one / 2, 2 * one};
    int granted[3][2] = {{0, 0}, {1, 0}, {1, 1}};
    for (int k = 0; k < 3; k++) {
        mc_backend *be;
        mc_net n;
        ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
        mc_backend_cpu_set_derived_budget(be, budgets[k]);
        ck_assert_int_eq(mc_net_init(&n, &m, 0, 2, be), MC_OK);
        ck_assert_int_eq(m.layers[0].cpu_state != NULL, granted[k][0]);
        ck_assert_int_eq(m.layers[1].cpu_state != NULL, granted[k][1]);
        y[k] = malloc(mc_net_out_count(&n) * sizeof(float));
        ck_assert_int_eq(mc_net_forward(&n, x, y[k]), MC_OK);
        mc_net_free(&n);
        ck_assert_ptr_null(m.layers[0].cpu_state); /* released with the net */
        mc_backend_destroy(be);
    }
    for (int k = 1; k < 3; k++) {
        double err = mc_test_max_rel_err(y[k], y[0], 16 * 16 * 128, 1e-12);
        ck_assert_msg(err <= 1e-5, "budget %zu: max relative error %g vs im2col", budgets[k], err);
        free(y[k]);
    }
    free(y[0]);
    free(x);
    mc_model_free(&m);
}
END_TEST

typedef struct thread_run {
    mc_net *net;
    float *x, *y;
    int threads_seen;
    mc_status st;
} thread_run;

static void *forward_on_worker(void *arg)
{
    thread_run *r = arg;
    r->st = mc_net_forward(r->net, r->x, r->y);
    r->threads_seen = omp_get_max_threads();
    return NULL;
}

/* A farm node creates the backend on one thread and computes on another. */
START_TEST(the_backend_thread_count_holds_on_any_calling_thread)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(tiny_text, "tiny", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 1), MC_OK);
    omp_set_num_threads(3); /* the creating thread's own setting */
    mc_backend *be;
    mc_net n;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    ck_assert_int_eq(mc_net_init(&n, &m, 0, m.n_layers, be), MC_OK);
    float x[12 * 10 * 3] = {0}, y[7];
    thread_run r = {&n, x, y, 0, MC_OK};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, forward_on_worker, &r), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(r.st, MC_OK);
    ck_assert_int_eq(r.threads_seen, 1);
    ck_assert_int_eq(m.layers[0].cpu_threads, 1); /* kernels prepared for 1 thread */
    mc_net_free(&n);
    mc_backend_destroy(be);
    mc_model_free(&m);
}
END_TEST

Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, running_two_ranges_equals_running_the_whole_model);
    tcase_add_test(tc, weights_generated_for_a_range_equal_the_whole_models);
    tcase_add_test(tc, a_weight_file_round_trips_and_loads_per_range);
    tcase_add_loop_test(tc, damaged_weight_files_are_refused_with_the_tensor_named, 0,
                        (int)(sizeof damage / sizeof damage[0]));
    tcase_add_test(tc, a_weight_file_for_another_model_is_refused);
    tcase_add_test(tc, every_allocation_failure_returns_nomem_and_leaves_no_half_state);
    tcase_add_test(tc, the_derived_weight_budget_is_granted_in_layer_order);
    tcase_add_test(tc, the_backend_thread_count_holds_on_any_calling_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(net_suite()); }
