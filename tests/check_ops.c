/* check_ops.c - every op on every backend equals a naive reference loop.
 *
 * One table of cases (op, input shape, parameters); each case runs through
 * the backend interface exactly as the net runner does, and the result is
 * compared with straightforward loops written here independently of
 * src/ops (double accumulation, no im2col, no BLAS).  A new op adds rows to
 * the table and a reference function; a new backend adds itself to
 * test_backends and is checked against the same references.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "ops/conv2d_winograd.h"
#include "ops/op.h"
#include "testutil.h"

typedef struct op_case {
    const char *label;
    mc_op_type op;
    int h, w, c;      /* input */
    int units, kh, kw, sh, sw;
    mc_padding pad;
    mc_act act;
} op_case;

static const op_case cases[] = {
    {"conv 3x3 same relu", MC_OP_CONV2D, 9, 7, 5, 6, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"conv 3x3 valid", MC_OP_CONV2D, 9, 7, 5, 6, 3, 3, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"conv 11x11 stride 4 same (alexnet conv1 shape)", MC_OP_CONV2D, 35, 33, 3, 8, 11, 11, 4, 4, MC_PAD_SAME, MC_ACT_RELU},
    {"conv 5x5 stride 2 same odd", MC_OP_CONV2D, 13, 10, 4, 7, 5, 5, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"conv 2x4 kernel stride 3x1 valid", MC_OP_CONV2D, 11, 12, 2, 3, 2, 4, 3, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"conv 4x4 even kernel same", MC_OP_CONV2D, 8, 8, 3, 4, 4, 4, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"conv 1x1 pointwise", MC_OP_CONV2D, 6, 5, 16, 9, 1, 1, 1, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"conv 1x1 stride 2", MC_OP_CONV2D, 7, 7, 4, 5, 1, 1, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"conv kernel larger than input, same", MC_OP_CONV2D, 3, 2, 2, 3, 5, 5, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"conv softmax over channels", MC_OP_CONV2D, 4, 4, 3, 5, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_SOFTMAX},
    {"conv wide band (many rows)", MC_OP_CONV2D, 64, 64, 32, 8, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    /* Winograd F(2x2,3x3) path: 3x3 stride 1 with >= 28x28 outputs. */
    {"winograd same, odd output edges", MC_OP_CONV2D, 29, 31, 128, 6, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"winograd valid", MC_OP_CONV2D, 32, 33, 130, 3, 3, 3, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"winograd several bands", MC_OP_CONV2D, 130, 66, 128, 64, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"winograd softmax", MC_OP_CONV2D, 28, 28, 128, 4, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_SOFTMAX},
    {"winograd more than a channel chunk", MC_OP_CONV2D, 28, 29, 1030, 3, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"maxpool 2x2/2", MC_OP_MAXPOOL2D, 8, 6, 3, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"maxpool 2x2/2 odd input valid", MC_OP_MAXPOOL2D, 7, 5, 2, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"maxpool 3x3/2 same", MC_OP_MAXPOOL2D, 7, 9, 4, 0, 3, 3, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"maxpool 3x2/1 valid", MC_OP_MAXPOOL2D, 5, 6, 1, 0, 3, 2, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"dense relu", MC_OP_DENSE, 1, 1, 37, 11, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_RELU},
    {"dense from HxWxC", MC_OP_DENSE, 3, 4, 5, 7, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"dense softmax", MC_OP_DENSE, 1, 1, 64, 10, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_SOFTMAX},
    {"relu", MC_OP_RELU, 3, 5, 7, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"softmax per pixel", MC_OP_SOFTMAX, 2, 3, 6, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"flatten", MC_OP_FLATTEN, 3, 4, 5, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static const mc_backend_kind test_backends[] = {MC_BACKEND_CPU};
#define N_BACKENDS ((int)(sizeof test_backends / sizeof test_backends[0]))

static void make_layer(const op_case *c, mc_layer *l)
{
    memset(l, 0, sizeof *l);
    l->op = c->op;
    snprintf(l->name, sizeof l->name, "t");
    l->in = mc_shape_make(c->c, c->w, c->h, 1);
    l->units = c->units;
    l->kh = c->kh;
    l->kw = c->kw;
    l->sh = c->sh;
    l->sw = c->sw;
    l->padding = c->pad;
    l->act = c->act;
}

static void ref_act(mc_act a, double *x, size_t n, size_t ch)
{
    if (a == MC_ACT_RELU)
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
    if (a == MC_ACT_SOFTMAX)
        for (size_t p = 0; p < n; p += ch) {
            double m = -INFINITY, s = 0;
            for (size_t k = 0; k < ch; k++) m = fmax(m, x[p + k]);
            for (size_t k = 0; k < ch; k++) s += exp(x[p + k] - m);
            for (size_t k = 0; k < ch; k++) x[p + k] = exp(x[p + k] - m) / s;
        }
}

/* Reference padding for SAME, written from the definition: total padding
 * makes out = ceil(in/stride), the smaller half goes first. */
static int ref_pad_before(int in, int k, int s, mc_padding p, int *out)
{
    if (p == MC_PAD_VALID) {
        *out = (in - k) / s + 1;
        return 0;
    }
    *out = (in + s - 1) / s;
    int total = (*out - 1) * s + k - in;
    return total > 0 ? total / 2 : 0;
}

static void reference(const mc_layer *l, const float *in, double *out)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    size_t nin = (size_t)H * W * C;
    int OH, OW;
    switch (l->op) {
    case MC_OP_CONV2D: {
        int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &OH);
        int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &OW);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int co = 0; co < l->units; co++) {
                    double s = l->bias.data[co];
                    for (int ky = 0; ky < l->kh; ky++)
                        for (int kx = 0; kx < l->kw; kx++) {
                            int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int ci = 0; ci < C; ci++)
                                s += (double)in[(iy * W + ix) * C + ci] *
                                     l->weight.data[((ky * l->kw + kx) * C + ci) * l->units + co];
                        }
                    out[(oy * OW + ox) * l->units + co] = s;
                }
        ref_act(l->act, out, (size_t)OH * OW * l->units, (size_t)l->units);
        break;
    }
    case MC_OP_MAXPOOL2D: {
        int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &OH);
        int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &OW);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int c = 0; c < C; c++) {
                    double m = -INFINITY;
                    for (int ky = 0; ky < l->kh; ky++)
                        for (int kx = 0; kx < l->kw; kx++) {
                            int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = fmax(m, in[(iy * W + ix) * C + c]);
                        }
                    out[(oy * OW + ox) * C + c] = m;
                }
        break;
    }
    case MC_OP_DENSE:
        for (int o = 0; o < l->units; o++) {
            double s = l->bias.data[o];
            for (size_t i = 0; i < nin; i++) s += (double)l->weight.data[o * nin + i] * in[i];
            out[o] = s;
        }
        ref_act(l->act, out, (size_t)l->units, (size_t)l->units);
        break;
    case MC_OP_RELU:
    case MC_OP_SOFTMAX:
    case MC_OP_FLATTEN:
        for (size_t i = 0; i < nin; i++) out[i] = in[i];
        if (l->op == MC_OP_RELU) ref_act(MC_ACT_RELU, out, nin, 0);
        if (l->op == MC_OP_SOFTMAX) ref_act(MC_ACT_SOFTMAX, out, nin, (size_t)C);
        break;
    default: ck_abort_msg("no reference for op %d", l->op);
    }
}

/* _i: case index * N_BACKENDS + backend index. */
START_TEST(every_op_on_every_backend_matches_the_naive_reference)
{
    const op_case *c = &cases[_i / N_BACKENDS];
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(test_backends[_i % N_BACKENDS], 1, &be), MC_OK);
    mc_layer l;
    make_layer(c, &l);
    ck_assert_msg(mc_layer_infer(&l) == MC_OK, "%s: %s", c->label, mc_error_last());
    if (l.has_params) {
        ck_assert_int_eq(mc_tensor_alloc(&l.weight, l.wshape, "w"), MC_OK);
        ck_assert_int_eq(mc_tensor_alloc(&l.bias, l.bshape, "b"), MC_OK);
        mc_rng_fill(l.weight.data, mc_tensor_count(&l.weight), 7, 1, 0, 0.5f);
        mc_rng_fill(l.bias.data, mc_tensor_count(&l.bias), 7, 2, 0, 0.5f);
    }
    size_t nin = mc_shape_count(&l.in), nout = mc_shape_count(&l.out);
    float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *yr = malloc(nout * sizeof *yr);
    double *ref = calloc(nout, sizeof *ref);
    mc_rng_fill(x, nin, 7, 3, 0, 1.0f);
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
END_TEST

START_TEST(winograd_cases_really_take_the_winograd_path)
{
    int seen = 0;
    for (int i = 0; i < N_CASES; i++) {
        mc_layer l;
        make_layer(&cases[i], &l);
        ck_assert_int_eq(mc_layer_infer(&l), MC_OK);
        if (strncmp(cases[i].label, "winograd", 8) == 0) {
            ck_assert_msg(mc_winograd_applies(&l), "%s", cases[i].label);
            seen++;
        }
    }
    ck_assert_int_ge(seen, 5);
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
    tcase_add_test(tc, winograd_cases_really_take_the_winograd_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(ops_suite()); }
