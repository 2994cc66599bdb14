/* check_ops.c - every op on every backend equals a naive reference loop.
 *
 * The table of cases (op, input shape, parameters) and the naive reference
 * are in op_cases.h (shared with tests/gpu/check_gpu.c); each case runs
 * through the backend interface exactly as the net runner does, and the
 * result is compared with the reference.  A new backend that needs no
 * special hardware adds itself to test_backends (the CUDA backend is
 * checked by tests/gpu/check_gpu.c, which needs a GPU).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "ops/conv2d_direct.h"
#include "ops/conv2d_winograd.h"
#include "ops/op.h"
#include "op_cases.h"
#include "testutil.h"

static const mc_backend_kind test_backends[] = {MC_BACKEND_CPU};
#define N_BACKENDS ((int)(sizeof test_backends / sizeof test_backends[0]))

static void run_case(const op_case *c, mc_backend_kind kind, int threads)
{
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(kind, threads, &be), MC_OK);
    mc_layer l;
    make_layer(c, &l);
    ck_assert_msg(mc_layer_infer(&l) == MC_OK, "%s: %s", c->label, mc_error_last());
    size_t nin = mc_shape_count(&l.in), nout = mc_shape_count(&l.out);
    float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *yr = malloc(nout * sizeof *yr);
    double *ref = calloc(nout, sizeof *ref);
    op_case_params(&l, x);
    void *bi, *bo, *ws = NULL;
    size_t wsb = be->workspace_bytes(be, &l);
    ck_assert_int_eq(be->buffer_alloc(be, nin * 4, &bi), MC_OK);
    ck_assert_int_eq(be->buffer_alloc(be, nout * 4, &bo), MC_OK);
    if (wsb) ck_assert_int_eq(be->buffer_alloc(be, wsb, &ws), MC_OK);
    ck_assert_int_eq(be->prepare_layer(be, &l), MC_OK);
    ck_assert_int_eq(be->upload(be, bi, x, nin), MC_OK);
    ck_assert_msg(be->forward(be, &l, bi, bo, ws) == MC_OK, "%s: %s", c->label, mc_error_last());
    ck_assert_int_eq(be->download(be, y, bo, nout), MC_OK);
    reference(&l, x, ref);
    for (size_t i = 0; i < nout; i++) yr[i] = (float)ref[i];
    double err = mc_test_max_rel_err(y, yr, nout, 1e-6);
    ck_assert_msg(err <= 1e-5, "%s on %s: max relative error %g", c->label, be->name, err);
    be->release_layer(be, &l);
    be->buffer_free(be, bi);
    be->buffer_free(be, bo);
    if (ws) be->buffer_free(be, ws);
    mc_tensor_free(&l.weight);
    mc_tensor_free(&l.bias);
    free(x);
    free(y);
    free(yr);
    free(ref);
    mc_backend_destroy(be);
}

/* _i: case index * N_BACKENDS + backend index. */
START_TEST(every_op_on_every_backend_matches_the_naive_reference)
{
    run_case(&cases[_i / N_BACKENDS], test_backends[_i % N_BACKENDS], 1);
}
END_TEST

/* The Winograd and direct paths split their work between threads (whole
 * bands per thread, or shared bands; rows of the output). */
START_TEST(convolutions_split_between_two_threads_match_the_naive_reference)
{
    for (int i = 0; i < N_CASES; i++)
        if (!strncmp(cases[i].label, "winograd", 8) || !strncmp(cases[i].label, "direct", 6))
            run_case(&cases[i], MC_BACKEND_CPU, 2);
}
END_TEST

typedef struct bad_case {
    const char *label;
    op_case c;
    mc_status want;
} bad_case;

static const bad_case bad[] = {
    {"valid conv kernel larger than input", {"", MC_OP_CONV2D, 3, 3, 1, 2, 5, 5, 1, 1, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
    {"conv with zero filters", {"", MC_OP_CONV2D, 5, 5, 1, 0, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"conv with zero stride", {"", MC_OP_CONV2D, 5, 5, 1, 2, 3, 3, 0, 1, MC_PAD_SAME, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"pool window larger than input", {"", MC_OP_MAXPOOL2D, 1, 1, 1, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
    {"dense with zero units", {"", MC_OP_DENSE, 1, 1, 4, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"empty input", {"", MC_OP_RELU, 0, 1, 4, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
};

START_TEST(impossible_shapes_are_refused_with_the_layer_named)
{
    mc_layer l;
    make_layer(&bad[_i].c, &l);
    mc_status st = mc_layer_infer(&l);
    ck_assert_msg(st == bad[_i].want, "%s: got %s", bad[_i].label, mc_status_to_string(st));
    ck_assert_msg(strstr(mc_error_last(), "layer t") != NULL, "%s: message '%s'", bad[_i].label,
                  mc_error_last());
}
END_TEST

START_TEST(winograd_and_direct_cases_really_take_their_paths)
{
    int seen = 0, direct = 0;
    for (int i = 0; i < N_CASES; i++) {
        mc_layer l;
        make_layer(&cases[i], &l);
        ck_assert_int_eq(mc_layer_infer(&l), MC_OK);
        if (strncmp(cases[i].label, "winograd", 8) == 0) {
            ck_assert_msg(mc_winograd_applies(&l), "%s", cases[i].label);
            seen++;
        } else {
            ck_assert_msg(!mc_winograd_applies(&l), "%s", cases[i].label);
        }
        if (strncmp(cases[i].label, "direct", 6) == 0) {
            ck_assert_msg(mc_conv_direct_applies(&l), "%s", cases[i].label);
            direct++;
        }
        /* im2col keeps the convolutions with narrow outputs (and 1x1) */
        if (l.op == MC_OP_CONV2D && l.out.ne[1] < 4) ck_assert_msg(!mc_conv_direct_applies(&l), "%s", cases[i].label);
    }
    ck_assert_int_eq(seen, 6);
    ck_assert_int_eq(direct, 7);
}
END_TEST

START_TEST(status_codes_have_names)
{
    ck_assert_str_eq(mc_status_to_string(MC_OK), "ok");
    ck_assert_str_eq(mc_status_to_string(MC_ERR_NOMEM), "out of memory");
    ck_assert_str_eq(mc_status_to_string((mc_status)-100), "unknown status");
}
END_TEST

Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("conformance");
    tcase_add_loop_test(tc, every_op_on_every_backend_matches_the_naive_reference, 0, N_CASES * N_BACKENDS);
    tcase_add_loop_test(tc, impossible_shapes_are_refused_with_the_layer_named, 0,
                        (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, status_codes_have_names);
    tcase_add_test(tc, winograd_and_direct_cases_really_take_their_paths);
    tcase_add_test(tc, convolutions_split_between_two_threads_match_the_naive_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(ops_suite()); }
