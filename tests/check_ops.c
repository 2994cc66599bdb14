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
#include "ops/conv2d_pointwise.h"
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
    size_t nin = op_case_in_count(&l), nout = mc_shape_count(&l.out);
    float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *yr = malloc(nout * sizeof *yr);
    double *ref = calloc(nout, sizeof *ref);
    op_case_params(&l, x);
    for (size_t i = 0; i < nout; i++) y[i] = -12345.0f; /* catch unwritten outputs */
    op_case_run(be, &l, x, y);
    reference(&l, x, ref);
    for (size_t i = 0; i < nout; i++) yr[i] = (float)ref[i];
    double err = mc_test_max_rel_err(y, yr, nout, 1e-6);
    ck_assert_msg(err <= 1e-5, "%s on %s: max relative error %g", c->label, be->name, err);
    op_case_free(&l);
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
        if (!strncmp(cases[i].label, "winograd", 8) || !strncmp(cases[i].label, "direct", 6) ||
            !strncmp(cases[i].label, "pointwise", 9))
            run_case(&cases[i], MC_BACKEND_CPU, 2);
}
END_TEST

/* Output of a pointwise case on `threads` threads, and whether it ran on
 * the packed weights. */
static float *pointwise_output(const op_case *c, int threads, int *packed)
{
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, threads, &be), MC_OK);
    mc_layer l;
    make_layer(c, &l);
    ck_assert_int_eq(mc_layer_infer(&l), MC_OK);
    size_t nin = op_case_in_count(&l), nout = mc_shape_count(&l.out);
    float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y);
    op_case_params(&l, x);
    ck_assert_int_eq(be->prepare_layer(be, &l), MC_OK);
    *packed = l.cpu_packed != NULL;
    be->release_layer(be, &l);
    ck_assert_ptr_null(l.cpu_packed);
    op_case_run(be, &l, x, y);
    op_case_free(&l);
    free(x);
    mc_backend_destroy(be);
    return y;
}

/* The pointwise path splits rows or columns between threads; every output
 * is the same sum in the same order either way, which a farm's split parts
 * rely on (a part equals its piece of the whole layer bit for bit). */
START_TEST(pointwise_cases_take_the_packed_path_and_agree_bit_for_bit_on_one_and_two_threads)
{
    int seen = 0;
    for (int i = 0; i < N_CASES; i++) {
        if (strncmp(cases[i].label, "pointwise", 9)) continue;
        mc_layer l;
        make_layer(&cases[i], &l);
        ck_assert_int_eq(mc_layer_infer(&l), MC_OK);
        ck_assert_msg(l.op == MC_OP_SEPCONV2D || mc_pointwise_applies(&l), "%s", cases[i].label);
        int p1, p2;
        float *y1 = pointwise_output(&cases[i], 1, &p1), *y2 = pointwise_output(&cases[i], 2, &p2);
        ck_assert_msg(p1 && p2, "%s: not packed", cases[i].label);
        ck_assert_msg(memcmp(y1, y2, mc_shape_count(&l.out) * sizeof *y1) == 0, "%s: 1 and 2 threads differ",
                      cases[i].label);
        free(y1);
        free(y2);
        seen++;
    }
    ck_assert_int_eq(seen, 9);
}
END_TEST

/* In-place ops (op.h `inplace`): the net runner may hand them out == in. */
START_TEST(in_place_ops_give_the_same_numbers_over_their_input)
{
    int seen = 0;
    for (int i = 0; i < N_CASES; i++) {
        mc_layer l;
        make_layer(&cases[i], &l);
        ck_assert_int_eq(mc_layer_infer(&l), MC_OK);
        if (!mc_op_get(l.op)->inplace) continue;
        seen++;
        size_t nin = op_case_in_count(&l), nout = mc_shape_count(&l.out), n0 = mc_shape_count(&l.in);
        float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *ws = NULL;
        op_case_params(&l, x);
        const mc_op_def *d = mc_op_get(l.op);
        if (d->workspace) ws = malloc(d->workspace(&l) * sizeof *ws);
        const float *ins[MC_MAX_INPUTS];
        for (int k = 0; k < l.n_in; k++) ins[k] = x + k * n0;
        ck_assert_int_eq(l.n_in > 1 ? d->forward_cpu_n(&l, ins, y, ws) : d->forward_cpu(&l, x, y, ws), MC_OK);
        ck_assert_int_eq(l.n_in > 1 ? d->forward_cpu_n(&l, ins, x, ws) : d->forward_cpu(&l, x, x, ws), MC_OK);
        ck_assert_msg(memcmp(x, y, nout * sizeof *y) == 0, "%s: in place differs", cases[i].label);
        op_case_free(&l);
        free(x);
        free(y);
        free(ws);
    }
    ck_assert_int_ge(seen, 4); /* relu, batchnorm, add */
}
END_TEST

/* The op table lists every op once, in enum order (op.c), and the
 * conformance table has a case for every op. */
START_TEST(every_op_has_its_table_entry_and_a_conformance_case)
{
    for (int t = 0; t < MC_OP_COUNT; t++) {
        const mc_op_def *d = mc_op_get((mc_op_type)t);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(mc_op_from_name(d->name), t);
        int has_case = 0;
        for (int i = 0; i < N_CASES; i++) has_case |= cases[i].op == (mc_op_type)t;
        ck_assert_msg(has_case, "op %s has no row in op_cases.h", d->name);
    }
    ck_assert_ptr_null(mc_op_get(MC_OP_COUNT));
    ck_assert_int_eq(mc_op_from_name("conv9d"), MC_OP_COUNT);
    /* Keywords the model format promises (docs/model-format.md). */
    static const struct {
        const char *kw;
        mc_op_type t;
    } kw[] = {{"conv2d", MC_OP_CONV2D},     {"batchnorm", MC_OP_BATCHNORM}, {"add", MC_OP_ADD},
              {"concat", MC_OP_CONCAT},     {"globalavgpool", MC_OP_GLOBALAVGPOOL},
              {"avgpool2d", MC_OP_AVGPOOL2D}, {"zeropad", MC_OP_ZEROPAD}, {"dwconv2d", MC_OP_DWCONV2D},
              {"sepconv2d", MC_OP_SEPCONV2D}, {"conv3d", MC_OP_CONV3D}, {"maxpool3d", MC_OP_MAXPOOL3D},
              {"tpyramid", MC_OP_TPYRAMID}};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) ck_assert_int_eq(mc_op_from_name(kw[i].kw), kw[i].t);
}
END_TEST

typedef struct bad_case {
    const char *label;
    op_case c;
    mc_status want;
} bad_case;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* positional rows: graph fields 0 */
static const bad_case bad[] = {
    {"valid conv kernel larger than input", {"", MC_OP_CONV2D, 3, 3, 1, 2, 5, 5, 1, 1, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
    {"conv with zero filters", {"", MC_OP_CONV2D, 5, 5, 1, 0, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"conv with zero stride", {"", MC_OP_CONV2D, 5, 5, 1, 2, 3, 3, 0, 1, MC_PAD_SAME, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"pool window larger than input", {"", MC_OP_MAXPOOL2D, 1, 1, 1, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
    {"dense with zero units", {"", MC_OP_DENSE, 1, 1, 4, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_INVALID_ARG},
    {"empty input", {"", MC_OP_RELU, 0, 1, 4, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE}, MC_ERR_SHAPE},
    {"add of one input", {.op = MC_OP_ADD, .h = 2, .w = 2, .c = 2}, MC_ERR_INVALID_ARG},
    {"conv2d of two inputs", {.op = MC_OP_CONV2D, .h = 4, .w = 4, .c = 2, .units = 2, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .n_in = 2}, MC_ERR_INVALID_ARG},
    {"add of different channels", {.op = MC_OP_ADD, .h = 2, .w = 2, .c = 2, .n_in = 2, .cs = {2, 3}}, MC_ERR_SHAPE},
    {"batchnorm with eps 0", {.op = MC_OP_BATCHNORM, .h = 2, .w = 2, .c = 2, .eps = -1}, MC_ERR_INVALID_ARG},
    {"dwconv valid kernel larger than input", {.op = MC_OP_DWCONV2D, .h = 2, .w = 5, .c = 2, .kh = 3, .kw = 3, .sh = 1, .sw = 1}, MC_ERR_SHAPE},
    {"sepconv with zero filters", {.op = MC_OP_SEPCONV2D, .h = 5, .w = 5, .c = 2, .kh = 3, .kw = 3, .sh = 1, .sw = 1}, MC_ERR_INVALID_ARG},
    {"conv3d valid kernel longer than the clip", {.op = MC_OP_CONV3D, .h = 5, .w = 5, .c = 2, .t = 2, .units = 2, .kh = 3, .kw = 3, .kt = 3, .sh = 1, .sw = 1, .st = 1}, MC_ERR_SHAPE},
    {"maxpool3d window longer than the clip", {.op = MC_OP_MAXPOOL3D, .h = 4, .w = 4, .c = 2, .t = 1, .kh = 2, .kw = 2, .kt = 2, .sh = 2, .sw = 2, .st = 2}, MC_ERR_SHAPE},
    {"conv2d on a clip", {.op = MC_OP_CONV2D, .h = 4, .w = 4, .c = 2, .t = 3, .units = 2, .kh = 1, .kw = 1, .sh = 1, .sw = 1}, MC_ERR_SHAPE},
    {"zeropad with a negative pad", {.op = MC_OP_ZEROPAD, .h = 4, .w = 4, .c = 2, .pads = {1, -1}}, MC_ERR_INVALID_ARG},
    {"tpyramid window past the last frame", {.op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 4, .t = 20, .first = 10, .frames = 15}, MC_ERR_SHAPE},
    {"tpyramid window too short for its levels", {.op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 4, .t = 7}, MC_ERR_SHAPE},
    {"tpyramid with 9 levels", {.op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 4, .t = 300, .levels = 9}, MC_ERR_INVALID_ARG},
};
#pragma GCC diagnostic pop

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
    tcase_add_test(tc, pointwise_cases_take_the_packed_path_and_agree_bit_for_bit_on_one_and_two_threads);
    tcase_add_test(tc, in_place_ops_give_the_same_numbers_over_their_input);
    tcase_add_test(tc, every_op_has_its_table_entry_and_a_conformance_case);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(ops_suite()); }
