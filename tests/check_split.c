/* check_split.c - every model-parallel method, merged, equals the unsplit layer.
 *
 * Each table row is a layer (built from a one-layer model text, random
 * weights from a seed; optionally a batchnorm after it that folds into it),
 * a method and a part count, over every convolution kind (conv2d, conv3d,
 * sepconv2d, dwconv2d) and dense.  The test runs the full (folded) layer and
 * every part through the CPU backend interface, merges the parts with
 * mc_split_merge and compares (max relative error <= 1e-5).  Part weights
 * are generated directly from the seed (mc_split_part_load_random) and must
 * equal the slice copied from the full tensors bit for bit; parts of a
 * folded layer fold their share of the batchnorm (mc_split_part_fold_bn).
 * A second table splits a layer inside a residual block, where a tensor
 * passes the split layer by (mc_split_io): the merged cut equals the
 * unsplit piece of the graph, and the model's output equals the whole run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "models/fold.h"
#include "models/model.h"
#include "models/net.h"
#include "models/weights.h"
#include "models/split.h"
#include "testutil.h"

typedef struct split_case {
    const char *layer; /* one model line, the layer is called "x" */
    int h, w, c;       /* input */
    mc_split_method method;
    int parts, gh, gw;
    int t;             /* frames of a clip (conv3d), 0: an image */
    const char *bn;    /* a batchnorm line after x (folded into it), or NULL */
} split_case;

#define CONV_S1 "conv2d x filters=16 kernel=3 padding=same act=relu"
#define SEP "sepconv2d x filters=10 kernel=3 padding=same act=relu"
#define CONV3 "conv3d x filters=6 kernel=3 padding=same act=relu"
#define BNCONV "conv2d x filters=12 kernel=3 padding=same bias=no"
#define BNSEP "sepconv2d x filters=9 kernel=3 padding=same bias=no"
#define BN "batchnorm y eps=0.01 act=relu"
static const split_case cases[] = {
    {"dense x units=40 act=relu", 1, 1, 96, MC_SPLIT_FC_OUTPUT, 1, 0, 0, 0, NULL},
    {"dense x units=40 act=relu", 1, 1, 96, MC_SPLIT_FC_OUTPUT, 2, 0, 0, 0, NULL},
    {"dense x units=41 act=relu", 1, 1, 96, MC_SPLIT_FC_OUTPUT, 3, 0, 0, 0, NULL},
    {"dense x units=10 act=softmax", 1, 1, 50, MC_SPLIT_FC_OUTPUT, 4, 0, 0, 0, NULL},
    {"dense x units=40 act=relu", 4, 4, 8, MC_SPLIT_FC_OUTPUT, 5, 0, 0, 0, NULL},
    {"dense x units=40 act=relu", 1, 1, 96, MC_SPLIT_FC_INPUT, 1, 0, 0, 0, NULL},
    {"dense x units=40 act=relu", 1, 1, 96, MC_SPLIT_FC_INPUT, 2, 0, 0, 0, NULL},
    {"dense x units=33 act=relu", 1, 1, 97, MC_SPLIT_FC_INPUT, 3, 0, 0, 0, NULL},
    {"dense x units=10 act=softmax", 4, 4, 8, MC_SPLIT_FC_INPUT, 4, 0, 0, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_CHANNEL, 1, 0, 0, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0, NULL},
    {"conv2d x filters=13 kernel=5 padding=same act=relu", 8, 8, 6, MC_SPLIT_CONV_CHANNEL, 3, 0, 0, 0, NULL},
    {"conv2d x filters=12 kernel=3 stride=2 padding=valid act=none", 10, 9, 4, MC_SPLIT_CONV_CHANNEL, 5, 0, 0, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_FILTER, 1, 0, 0, 0, NULL},
    {CONV_S1, 9, 11, 6, MC_SPLIT_CONV_FILTER, 2, 0, 0, 0, NULL},
    {"conv2d x filters=13 kernel=5 padding=same act=relu", 8, 8, 7, MC_SPLIT_CONV_FILTER, 3, 0, 0, 0, NULL},
    {"conv2d x filters=8 kernel=11 stride=4 padding=same act=relu", 23, 23, 3, MC_SPLIT_CONV_FILTER, 3, 0, 0, 0, NULL},
    {"conv2d x filters=6 kernel=1 padding=same act=relu", 5, 5, 9, MC_SPLIT_CONV_FILTER, 4, 0, 0, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_SPATIAL, 1, 1, 1, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_SPATIAL, 2, 1, 2, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL},
    {CONV_S1, 9, 11, 5, MC_SPLIT_CONV_SPATIAL, 3, 3, 1, 0, NULL},
    {"conv2d x filters=7 kernel=5 padding=same act=relu", 13, 10, 3, MC_SPLIT_CONV_SPATIAL, 6, 3, 2, 0, NULL},
    {"conv2d x filters=8 kernel=11 stride=4 padding=same act=relu", 37, 41, 3, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL},
    {"conv2d x filters=8 kernel=3 stride=2 padding=valid act=relu", 15, 12, 4, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL},
    {"conv2d x filters=5 kernel=3 padding=valid act=none", 9, 9, 2, MC_SPLIT_CONV_SPATIAL, 3, 3, 1, 0, NULL},
    {"conv2d x filters=6 kernel=4 stride=3 padding=same act=relu", 16, 17, 2, MC_SPLIT_CONV_SPATIAL, 2, 1, 2, 0, NULL},
    {"conv2d x filters=5 kernel=3 padding=same act=softmax", 6, 6, 4, MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0, NULL},
    /* separable convolutions (Xception): channel = pointwise filters, filter = depthwise channels + sums */
    {SEP, 7, 9, 6, MC_SPLIT_CONV_CHANNEL, 3, 0, 0, 0, NULL},
    {SEP, 7, 9, 6, MC_SPLIT_CONV_FILTER, 3, 0, 0, 0, NULL},
    {SEP, 7, 9, 6, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL},
    {"sepconv2d x filters=8 kernel=3 multiplier=2 stride=2 padding=same", 9, 8, 5, MC_SPLIT_CONV_FILTER, 2, 0, 0, 0, NULL},
    {"sepconv2d x filters=7 kernel=3 multiplier=2 stride=2 padding=valid", 11, 10, 3, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL},
    {"sepconv2d x filters=6 kernel=5 padding=same act=softmax", 6, 5, 4, MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0, NULL},
    /* depthwise: channel = input channels and their outputs */
    {"dwconv2d x kernel=3 padding=same act=relu", 8, 7, 6, MC_SPLIT_CONV_CHANNEL, 4, 0, 0, 0, NULL},
    {"dwconv2d x kernel=5 multiplier=3 stride=2 padding=same", 11, 9, 5, MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0, NULL},
    {"dwconv2d x kernel=3 multiplier=2 padding=same act=relu", 8, 7, 6, MC_SPLIT_CONV_SPATIAL, 6, 3, 2, 0, NULL},
    /* 3-D convolutions (C3D): tiles over H x W, every frame */
    {CONV3, 6, 7, 3, MC_SPLIT_CONV_CHANNEL, 4, 0, 0, 5, NULL},
    {CONV3, 6, 7, 3, MC_SPLIT_CONV_FILTER, 3, 0, 0, 5, NULL},
    {CONV3, 6, 7, 3, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 5, NULL},
    {"conv3d x filters=5 kernel_t=2 kernel_h=3 kernel_w=3 stride=2 padding=same act=relu", 9, 8, 4,
     MC_SPLIT_CONV_SPATIAL, 2, 2, 1, 5, NULL},
    {"conv3d x filters=5 kernel=3 padding=valid", 7, 7, 2, MC_SPLIT_CONV_FILTER, 2, 0, 0, 4, NULL},
    /* a batchnorm folded into the layer: every part holds its share of it */
    {BNCONV, 8, 8, 5, MC_SPLIT_CONV_CHANNEL, 3, 0, 0, 0, BN},
    {BNCONV, 8, 8, 5, MC_SPLIT_CONV_FILTER, 2, 0, 0, 0, BN},
    {BNCONV, 8, 8, 5, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, BN},
    {"conv2d x filters=12 kernel=3 padding=same", 8, 8, 5, MC_SPLIT_CONV_FILTER, 3, 0, 0, 0, "batchnorm y"},
    {BNSEP, 7, 7, 6, MC_SPLIT_CONV_CHANNEL, 2, 0, 0, 0, BN},
    {BNSEP, 7, 7, 6, MC_SPLIT_CONV_FILTER, 3, 0, 0, 0, BN},
    {BNSEP, 7, 7, 6, MC_SPLIT_CONV_SPATIAL, 2, 1, 2, 0, BN},
    {"dwconv2d x kernel=3 padding=same", 7, 7, 6, MC_SPLIT_CONV_CHANNEL, 3, 0, 0, 0, BN},
    {"dwconv2d x kernel=3 padding=same bias=no", 7, 7, 6, MC_SPLIT_CONV_SPATIAL, 2, 2, 1, 0, BN},
    {"conv3d x filters=6 kernel=3 padding=same", 4, 5, 3, MC_SPLIT_CONV_FILTER, 2, 0, 0, 3, BN},
    {"conv3d x filters=6 kernel=3 padding=same bias=no", 4, 5, 3, MC_SPLIT_CONV_CHANNEL, 4, 0, 0, 3, BN},
};

/* Builds the model of a case (the layer, and its batchnorm) with random weights. */
static void build(const split_case *c, mc_model *m)
{
    char text[512];
    snprintf(text, sizeof text, "model t\ninput %d %d %d %d\n%s\n%s\n", c->h, c->w, c->c, c->t ? c->t : 1, c->layer,
             c->bn ? c->bn : "");
    ck_assert_msg(mc_model_parse(text, "case", m) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(m->n_layers, c->bn ? 2 : 1);
    if (c->bn) ck_assert_int_eq(m->layers[0].fold_bn, 1);
    ck_assert_int_eq(mc_weights_random(m, 0, m->n_layers, 7), MC_OK);
}

/* Tensor `which` (weight, bias, aux k) of a layer, as split.h numbers them. */
static const mc_tensor *tensor_of(const mc_layer *l, int which)
{
    return which == MC_SPLIT_WEIGHT ? &l->weight : which == MC_SPLIT_BIAS ? &l->bias : &l->aux[which - MC_SPLIT_AUX0];
}

/* Runs a layer through the CPU backend the way the net runner does. */
static void run_layer(mc_backend *be, mc_layer *l, const float *in, float *out)
{
    const size_t ni = mc_shape_count(&l->in), no = mc_shape_count(&l->out);
    size_t ws_bytes = be->workspace_bytes(be, l);
    void *bi, *bo, *bw = NULL;
    ck_assert_int_eq(be->prepare_layer(be, l), MC_OK);
    ck_assert_int_eq(be->buffer_alloc(be, ni * sizeof(float), &bi), MC_OK);
    ck_assert_int_eq(be->buffer_alloc(be, no * sizeof(float), &bo), MC_OK);
    if (ws_bytes) ck_assert_int_eq(be->buffer_alloc(be, ws_bytes, &bw), MC_OK);
    ck_assert_int_eq(be->upload(be, bi, in, ni), MC_OK);
    ck_assert_msg(be->forward(be, l, bi, bo, bw) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(be->download(be, out, bo, no), MC_OK);
    if (bw) be->buffer_free(be, bw);
    be->buffer_free(be, bo);
    be->buffer_free(be, bi);
    be->release_layer(be, l);
}

START_TEST(merged_parts_equal_the_unsplit_layer)
{
    const split_case *c = &cases[_i];
    mc_model m;
    build(c, &m);
    mc_layer *full = &m.layers[0];
    mc_backend *be;
    ck_assert_int_eq(mc_backend_cpu_create(1, &be), MC_OK);

    const size_t ni = mc_shape_count(&full->in), no = mc_shape_count(&full->out);
    float *x = malloc(ni * sizeof(float)), *ref = malloc(no * sizeof(float)),
          *merged = malloc(no * sizeof(float));
    mc_input_random(x, ni, 3, (uint64_t)_i);

    mc_split_part *parts = calloc((size_t)c->parts, sizeof *parts);
    float **outs = calloc((size_t)c->parts, sizeof *outs);
    size_t covered = 0;
    for (int k = 0; k < c->parts; k++) {
        mc_split_part *p = &parts[k];
        ck_assert_msg(mc_split_make_part(full, c->method, c->parts, c->gh, c->gw, k, p) == MC_OK,
                      "case %d part %d: %s", _i, k, mc_error_last());
        /* Generated weights equal the slice of the full tensor exactly. */
        ck_assert_int_eq(mc_split_part_load_from(p, full), MC_OK);
        mc_split_part cp = *p;
        memset(&cp.layer.weight, 0, sizeof cp.layer.weight);
        memset(&cp.layer.bias, 0, sizeof cp.layer.bias);
        memset(cp.layer.aux, 0, sizeof cp.layer.aux);
        ck_assert_int_eq(mc_split_part_load_random(&cp, full, 7), MC_OK);
        for (int w = 0; w < MC_SPLIT_AUX0 + MC_MAX_AUX; w++) {
            const mc_tensor *a = tensor_of(&cp.layer, w), *b = tensor_of(&p->layer, w);
            ck_assert_uint_eq(mc_tensor_count(a), mc_tensor_count(b));
            ck_assert_msg(!mc_tensor_count(a) || !memcmp(a->data, b->data, mc_tensor_bytes(a)),
                          "case %d part %d: generated tensor %d differs from the copied slice", _i, k, w);
        }
        mc_split_part_free(&cp);
        if (c->bn) ck_assert_msg(mc_split_part_fold_bn(p, &m.layers[1]) == MC_OK, "%s", mc_error_last());

        if (k + 1 == c->parts) { /* every part sliced: the full layer folds and runs as the reference */
            if (c->bn) ck_assert_int_eq(mc_fold_bn(&m, full), MC_OK);
            run_layer(be, full, x, ref);
        }
        float *xi = malloc(mc_split_in_count(p) * sizeof(float));
        outs[k] = malloc(mc_split_out_count(p) * sizeof(float));
        mc_split_slice_input(p, full, x, xi);
        run_layer(be, &p->layer, xi, outs[k]);
        free(xi);
        covered += mc_split_out_count(p);
    }
    /* Concat and tile merges cover the output exactly once. */
    if (parts[0].merge_kind != MC_SPLIT_MERGE_SUM) ck_assert_uint_eq(covered, no);
    memset(merged, 0xff, no * sizeof(float)); /* NaN: an uncovered element fails */
    mc_split_merge(parts, c->parts, full, (const float *const *)outs, merged);
    double err = mc_test_max_rel_err(merged, ref, no, 1e-3);
    ck_assert_msg(err <= 1e-5, "case %d (%s, %s, %d parts): max relative error %g", _i, c->layer,
                  mc_split_method_name(c->method), c->parts, err);

    for (int k = 0; k < c->parts; k++) {
        mc_split_part_free(&parts[k]);
        free(outs[k]);
    }
    free(outs);
    free(parts);
    free(x);
    free(ref);
    free(merged);
    mc_backend_destroy(be);
    mc_weights_release(&m, 0, m.n_layers);
    mc_model_free(&m);
}
END_TEST

/* ---- a split layer inside a residual block ----------------------------- */

/* b is split; the block's input a passes it by (cut 1 = {a}, cut 2 = {a, b}). */
static const char *const block_text =
    "model blk\ninput 7 6 5\n"
    "conv2d a filters=6 kernel=3 padding=same act=relu\n"
    "conv2d b filters=6 kernel=3 padding=same bias=no\n"
    "batchnorm bn act=relu\n"
    "add c in=a,bn\n"
    "conv2d d filters=3 kernel=1\n";

typedef struct block_case {
    mc_split_method method;
    int parts, gh, gw;
} block_case;

static const block_case blocks[] = {
    {MC_SPLIT_CONV_CHANNEL, 3, 0, 0},
    {MC_SPLIT_CONV_FILTER, 2, 0, 0},
    {MC_SPLIT_CONV_SPATIAL, 4, 2, 2},
};

static void run_range(mc_backend *be, mc_model *m, int first, int last, const float *in, float *out)
{
    mc_net n;
    ck_assert_msg(mc_net_init(&n, m, first, last, be) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(mc_net_forward(&n, in, out), MC_OK);
    mc_net_free(&n);
}

START_TEST(a_split_inside_a_residual_block_carries_the_block_input_with_part_0)
{
    const block_case *c = &blocks[_i];
    mc_model m;
    ck_assert_int_eq(mc_model_parse(block_text, "block", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 5), MC_OK);
    mc_backend *be;
    ck_assert_int_eq(mc_backend_cpu_create(1, &be), MC_OK);
    const size_t n_in = mc_model_cut_floats(&m, 0), n1 = mc_model_cut_floats(&m, 1), n2 = mc_model_cut_floats(&m, 2),
                 n_out = mc_model_cut_floats(&m, m.n_layers);
    ck_assert_uint_eq(n2, 2 * n1); /* a and b cross cut 2 */
    float *x = malloc(n_in * 4), *cut1 = malloc(n1 * 4), *cut2 = malloc(n2 * 4), *merged = malloc(n2 * 4),
          *ref = malloc(n_out * 4), *got = malloc(n_out * 4);
    mc_input_random(x, n_in, 9, 0);
    run_range(be, &m, 0, m.n_layers, x, ref);
    run_range(be, &m, 0, 1, x, cut1);
    run_range(be, &m, 1, 2, cut1, cut2);

    mc_split_part *parts = calloc((size_t)c->parts, sizeof *parts);
    for (int k = 0; k < c->parts; k++) {
        ck_assert_int_eq(mc_split_make_part(&m.layers[1], c->method, c->parts, c->gh, c->gw, k, &parts[k]), MC_OK);
        ck_assert_int_eq(mc_split_part_load_random(&parts[k], &m.layers[1], 5), MC_OK);
        ck_assert_int_eq(mc_split_part_fold_bn(&parts[k], &m.layers[2]), MC_OK);
    }
    mc_split_io io;
    ck_assert_msg(mc_split_io_init(&io, &m, parts, c->parts) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(io.n_through, 1);
    ck_assert_uint_eq(io.through, n1);
    ck_assert_uint_eq(io.in_total, n1);
    ck_assert_uint_eq(io.out_total, n2);
    memset(merged, 0xff, n2 * 4);
    mc_split_io_merge_begin(&io, merged);
    for (int k = c->parts - 1; k >= 0; k--) { /* any order */
        const size_t th = k == 0 ? io.through : 0;
        ck_assert_uint_eq(mc_split_io_in_count(&io, k), th + mc_split_in_count(&parts[k]));
        float *in = malloc(mc_split_io_in_count(&io, k) * 4), *out = malloc(mc_split_io_out_count(&io, k) * 4);
        mc_split_io_slice(&io, k, cut1, in);
        memcpy(out, in, th * 4); /* what a node does with the tensors passing by */
        run_layer(be, &parts[k].layer, in + th, out + th);
        mc_split_io_merge_add(&io, k, out, merged);
        free(in);
        free(out);
    }
    mc_split_io_merge_end(&io, merged);
    double e = mc_test_max_rel_err(merged, cut2, n2, 1e-3);
    ck_assert_msg(e <= 1e-5, "%s: the merged cut differs from the unsplit piece by %g", mc_split_method_name(c->method), e);
    run_range(be, &m, 2, m.n_layers, merged, got);
    e = mc_test_max_rel_err(got, ref, n_out, 1e-3);
    ck_assert_msg(e <= 1e-5, "%s: the model's output differs by %g", mc_split_method_name(c->method), e);
    for (int k = 0; k < c->parts; k++) mc_split_part_free(&parts[k]);
    free(parts);
    free(x);
    free(cut1);
    free(cut2);
    free(merged);
    free(ref);
    free(got);
    mc_backend_destroy(be);
    mc_weights_release(&m, 0, m.n_layers);
    mc_model_free(&m);
}
END_TEST

START_TEST(spatial_tiles_carry_a_halo_of_half_the_kernel)
{
    split_case c = {"conv2d x filters=4 kernel=5 padding=same act=relu", 12, 12, 3, MC_SPLIT_CONV_SPATIAL, 4, 2, 2, 0, NULL};
    mc_model m;
    char text[256];
    snprintf(text, sizeof text, "model t\ninput %d %d %d\n%s\n", c.h, c.w, c.c, c.layer);
    ck_assert_int_eq(mc_model_parse(text, "case", &m), MC_OK);
    mc_split_part p;
    ck_assert_int_eq(mc_split_make_part(&m.layers[0], c.method, 4, 2, 2, 3, &p), MC_OK);
    /* Bottom-right tile: output rows/cols [6,12) need input [6-2, 12+2). */
    ck_assert_int_eq(p.out_y0, 6);
    ck_assert_int_eq(p.in_y0, 4);
    ck_assert_int_eq(p.in_y1, 14);
    ck_assert_int_eq(p.in_x0, 4);
    ck_assert_int_eq(p.in_x1, 14);
    ck_assert_int_eq(p.layer.padding, MC_PAD_VALID);
    mc_model_free(&m);
}
END_TEST

typedef struct bad_case {
    const char *layer;
    int h, w, c;
    mc_split_method method;
    int parts, gh, gw;
    const char *needle; /* must appear in the error message */
} bad_case;

static const bad_case bad[] = {
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_CHANNEL, 5, 0, 0, "filters"},
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_FILTER, 4, 0, 0, "input channels"},
    {"dense x units=8", 1, 1, 16, MC_SPLIT_CONV_SPATIAL, 2, 1, 2, "dense"},
    {"dense x units=8", 1, 1, 16, MC_SPLIT_FC_OUTPUT, 9, 0, 0, "output units"},
    {"dense x units=8", 1, 1, 16, MC_SPLIT_FC_INPUT, 17, 0, 0, "input features"},
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_FC_OUTPUT, 2, 0, 0, "conv2d"},
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_SPATIAL, 4, 3, 2, "grid"},
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_SPATIAL, 7, 7, 1, "finer"},
    {"conv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_CHANNEL, 0, 0, 0, "part"},
    {"dwconv2d x kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_FILTER, 2, 0, 0, "dwconv2d"},
    {"dwconv2d x kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_CHANNEL, 4, 0, 0, "input channels"},
    {"sepconv2d x filters=4 kernel=3 padding=same", 6, 6, 3, MC_SPLIT_CONV_FILTER, 4, 0, 0, "input channels"},
    {"maxpool2d x pool=2", 6, 6, 3, MC_SPLIT_CONV_SPATIAL, 2, 1, 2, "maxpool2d"},
};

START_TEST(impossible_splits_are_refused_naming_the_layer)
{
    const bad_case *c = &bad[_i];
    mc_model m;
    char text[256];
    snprintf(text, sizeof text, "model t\ninput %d %d %d\n%s\n", c->h, c->w, c->c, c->layer);
    ck_assert_int_eq(mc_model_parse(text, "case", &m), MC_OK);
    mc_split_part p;
    mc_status st = mc_split_make_part(&m.layers[0], c->method, c->parts, c->gh, c->gw, 0, &p);
    ck_assert_int_ne(st, MC_OK);
    ck_assert_msg(strstr(mc_error_last(), "layer x") && strstr(mc_error_last(), c->needle),
                  "case %d: message '%s' should name layer x and '%s'", _i, mc_error_last(), c->needle);
    mc_model_free(&m);
}
END_TEST

START_TEST(a_part_whose_weights_cannot_be_allocated_reports_no_memory)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse("model t\ninput 1 1 64\ndense x units=32\n", "case", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, 1, 7), MC_OK);
    for (int fail_after = 0; fail_after < 2; fail_after++) {
        mc_split_part p;
        ck_assert_int_eq(mc_split_make_part(&m.layers[0], MC_SPLIT_FC_INPUT, 2, 0, 0, 1, &p), MC_OK);
        mc_alloc_fail_after(fail_after);
        mc_status a = mc_split_part_load_random(&p, &m.layers[0], 7);
        mc_split_part_free(&p);
        mc_alloc_fail_after(fail_after);
        mc_status b = mc_split_part_load_from(&p, &m.layers[0]);
        mc_alloc_fail_after(-1);
        mc_split_part_free(&p);
        ck_assert_int_eq(a, MC_ERR_NOMEM);
        ck_assert_int_eq(b, MC_ERR_NOMEM);
    }
    mc_weights_release(&m, 0, 1);
    mc_model_free(&m);
}
END_TEST

START_TEST(method_names_round_trip)
{
    for (int i = 0; i < MC_SPLIT_METHOD_COUNT; i++)
        ck_assert_int_eq(mc_split_method_from_name(mc_split_method_name((mc_split_method)i)), i);
    ck_assert_int_eq(mc_split_method_from_name("fc_sideways"), MC_SPLIT_METHOD_COUNT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("methods");
    tcase_add_loop_test(tc, merged_parts_equal_the_unsplit_layer, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_loop_test(tc, a_split_inside_a_residual_block_carries_the_block_input_with_part_0, 0,
                        (int)(sizeof blocks / sizeof blocks[0]));
    tcase_add_test(tc, spatial_tiles_carry_a_halo_of_half_the_kernel);
    tcase_add_loop_test(tc, impossible_splits_are_refused_naming_the_layer, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, method_names_round_trip);
    tcase_add_test(tc, a_part_whose_weights_cannot_be_allocated_reports_no_memory);
    suite_add_tcase(s, tc);
    return mc_test_run(s);
}
