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
#include "ops/op.h"
#include "testutil.h"

static const char tiny_text[] = "model tiny\ninput 12 10 3\n"
                                "conv2d c1 filters=6 kernel=3 padding=same act=relu\n"
                                "maxpool2d p1\n"
                                "conv2d c2 filters=5 kernel=3 stride=2 padding=same act=relu\n"
                                "flatten f\n"
                                "dense d1 units=16 act=relu\n"
                                "dense d2 units=7 act=softmax\n";

/* Every new op in a graph: padding, residual add, separable and depthwise
 * convolutions, batchnorms that fold (after c1, b1, dw) or not (bn_free),
 * a concatenation of three, pools, a dense head. */
static const char graph_text[] = "model tinygraph\ninput 9 8 3\n"
                                 "zeropad pad pad=1\n"
                                 "conv2d c1 filters=6 kernel=3 stride=2 bias=no\n"
                                 "batchnorm bn1 act=relu\n"
                                 "conv2d b1 filters=4 kernel=1\n"
                                 "batchnorm b1_bn eps=1e-5 act=relu\n"
                                 "sepconv2d b2 filters=6 kernel=3 padding=same\n"
                                 "batchnorm b2_bn\n"
                                 "add add1 in=bn1,b2_bn act=relu\n"
                                 "dwconv2d dw kernel=3 padding=same multiplier=2\n"
                                 "batchnorm dw_bn\n"
                                 "avgpool2d ap in=add1 pool=3 stride=1 padding=same\n"
                                 "concat cat in=dw_bn,ap,add1\n"
                                 "relu r\n"
                                 "maxpool2d mp pool=2 padding=same\n"
                                 "batchnorm bn_free\n"
                                 "globalavgpool gap\n"
                                 "dense d units=5 act=softmax\n";

/* A clip model: 3-D convolutions and pools, padding along T too. */
static const char clip_text[] = "model tinyclip\ninput 6 5 2 4\n"
                                "conv3d c1 filters=3 kernel=3 padding=same act=relu\n"
                                "maxpool3d p1 pool=2 pool_t=1\n"
                                "conv3d c2 filters=4 kernel=2 padding=same\n"
                                "batchnorm bn\n"
                                "zeropad z pad_bottom=1 pad_right=1 pad_back=1\n"
                                "maxpool3d p2 pool=2\n"
                                "flatten f\n"
                                "dense d units=3\n";

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

/* The pieces [0, a), [a, b), [b, n) of a model, each fed its predecessor's
 * outputs (the concatenated cut), give the whole model's output bit for
 * bit, for every a < b (b == n: two pieces). */
static void check_pieces_equal_whole(const char *text, const char *name, int every_pair, int is_graph)
{
    mc_model m;
    ck_assert_msg(mc_model_parse(text, name, &m) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 3), MC_OK);
    const int n = m.n_layers;
    size_t nin = mc_shape_count(&m.input), nout = mc_model_cut_floats(&m, n);
    float *x = malloc(nin * sizeof *x);
    mc_input_random(x, nin, 3, 0);
    float *whole = run_range(&m, 0, n, x);
    int multi = 0;
    for (int a = 1; a < n; a++) {
        multi += mc_model_cut(&m, a, NULL, 0) > 1;
        for (int b = every_pair ? a + 1 : n; b <= n; b++) {
            float *p1 = run_range(&m, 0, a, x);
            float *p2 = b < n ? run_range(&m, a, b, p1) : p1;
            float *out = run_range(&m, b < n ? b : a, n, p2);
            ck_assert_msg(memcmp(out, whole, nout * sizeof *out) == 0, "%s cut at %d and %d: differs from the whole",
                          name, a, b);
            if (p2 != p1) free(p2);
            free(p1);
            free(out);
        }
    }
    if (is_graph) ck_assert_int_gt(multi, 0); /* some cut carries several tensors */
    free(whole);
    free(x);
    mc_model_free(&m);
}

START_TEST(graph_pieces_between_any_cuts_equal_the_whole_model_bit_for_bit)
{
    check_pieces_equal_whole(graph_text, "tinygraph", 1, 1);
    check_pieces_equal_whole(clip_text, "tinyclip", 1, 0);
}
END_TEST

/* ResNet50 in three pieces, cut inside blocks (two tensors cross each cut). */
START_TEST(resnet50_in_three_pieces_equals_the_whole_bit_for_bit)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin("resnet50", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 5), MC_OK);
    const int a = mc_model_find_layer(&m, "conv2_block2_3_conv"), b = mc_model_find_layer(&m, "conv4_block1_0_conv");
    ck_assert_int_eq(mc_model_cut(&m, a, NULL, 0), 2);
    ck_assert_int_eq(mc_model_cut(&m, b, NULL, 0), 2);
    size_t nin = mc_shape_count(&m.input), nout = 1000;
    float *x = malloc(nin * sizeof *x);
    mc_input_random(x, nin, 5, 0);
    float *whole = run_range(&m, 0, m.n_layers, x);
    float *p1 = run_range(&m, 0, a, x), *p2 = run_range(&m, a, b, p1), *out = run_range(&m, b, m.n_layers, p2);
    ck_assert(memcmp(out, whole, nout * sizeof *out) == 0);
    free(x);
    free(whole);
    free(p1);
    free(p2);
    free(out);
    mc_model_free(&m);
}
END_TEST

/* mc_net_forward_n takes and gives one array per cut tensor; the
 * concatenated mc_net_forward is the same numbers in producer order. */
START_TEST(several_tensors_cross_a_cut_as_separate_arrays_or_one_concatenation)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(graph_text, "g", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 4), MC_OK);
    const int a = mc_model_find_layer(&m, "b2"), b = mc_model_find_layer(&m, "ap");
    mc_backend *be;
    mc_net n;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
    ck_assert_msg(mc_net_init(&n, &m, a, b, be) == MC_OK, "%s", mc_error_last());
    /* in: bn1 (the folded c1) and b1_bn (the folded b1); out: add1 and dw_bn (the folded dw) */
    ck_assert_int_eq(mc_net_n_inputs(&n), 2);
    ck_assert_str_eq(mc_net_input(&n, 0)->name, "bn1");
    ck_assert_str_eq(mc_net_input(&n, 1)->name, "b1_bn");
    ck_assert_int_eq(mc_net_n_outputs(&n), 2);
    ck_assert_str_eq(mc_net_output(&n, 0)->name, "add1");
    ck_assert_str_eq(mc_net_output(&n, 1)->name, "dw_bn");
    ck_assert_ptr_null(mc_net_output(&n, 2));
    ck_assert_uint_eq(mc_net_output(&n, 1)->offset, mc_net_output(&n, 0)->floats);
    ck_assert_uint_eq(mc_net_in_count(&n), mc_model_cut_floats(&m, a));
    ck_assert_uint_eq(mc_net_out_count(&n), mc_model_cut_floats(&m, b));
    size_t ni = mc_net_in_count(&n), no = mc_net_out_count(&n);
    float *in = malloc(ni * sizeof *in), *out = malloc(no * sizeof *out);
    float *o0 = malloc(mc_net_output(&n, 0)->floats * 4), *o1 = malloc(mc_net_output(&n, 1)->floats * 4);
    mc_input_random(in, ni, 4, 1);
    ck_assert_int_eq(mc_net_forward(&n, in, out), MC_OK);
    const float *ins[2] = {in, in + mc_net_input(&n, 1)->offset};
    float *outs[2] = {o0, o1};
    ck_assert_int_eq(mc_net_forward_n(&n, ins, outs), MC_OK);
    ck_assert(memcmp(o0, out, mc_net_output(&n, 0)->floats * 4) == 0);
    ck_assert(memcmp(o1, out + mc_net_output(&n, 1)->offset, mc_net_output(&n, 1)->floats * 4) == 0);
    mc_net_free(&n);
    /* a tensor crossing both cuts passes through unchanged */
    const int c = mc_model_find_layer(&m, "dw");
    ck_assert_int_eq(mc_net_init(&n, &m, c, c + 1, be), MC_OK);
    ck_assert_int_eq(mc_net_n_inputs(&n), 1); /* add1 */
    ck_assert_int_eq(mc_net_n_outputs(&n), 2);  /* add1 again, and dw */
    ck_assert_int_eq(mc_net_output(&n, 0)->producer, mc_net_input(&n, 0)->producer);
    float *y = malloc(mc_net_out_count(&n) * sizeof *y);
    ck_assert_int_eq(mc_net_forward(&n, in, y), MC_OK);
    ck_assert(memcmp(y, in, mc_net_input(&n, 0)->floats * 4) == 0);
    mc_net_free(&n);
    mc_backend_destroy(be);
    free(in);
    free(out);
    free(o0);
    free(o1);
    free(y);
    mc_model_free(&m);
}
END_TEST

/* Buffers are planned once: a chain ping-pongs between two; ResNet50 needs
 * few more, however many layers, and inference allocates nothing. */
START_TEST(buffers_are_reused_as_soon_as_a_tensor_is_dead_and_inference_allocates_nothing)
{
    static const char *const models[] = {"alexnet", "resnet50"};
    for (int i = 0; i < 2; i++) {
        mc_model m;
        ck_assert_int_eq(mc_model_builtin(models[i], &m), MC_OK);
        ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 1), MC_OK);
        mc_backend *be;
        mc_net n;
        ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
        ck_assert_int_eq(mc_net_init(&n, &m, 0, m.n_layers, be), MC_OK);
        size_t largest = mc_shape_count(&m.input), all = 0;
        for (int k = 0; k < m.n_layers; k++) {
            size_t o = mc_shape_count(&m.layers[k].out);
            largest = o > largest ? o : largest;
            all += m.layers[k].alias ? 0 : o;
        }
        largest *= sizeof(float);
        all *= sizeof(float);
        if (i == 0) {
            ck_assert_int_eq(n.n_bufs, 2);
            ck_assert_uint_le(mc_net_activation_bytes(&n), 2 * largest);
        } else {
            /* the block input, the branch, and a dying tensor beside the new one */
            ck_assert_int_le(n.n_bufs, 4);
            ck_assert_uint_le(mc_net_activation_bytes(&n), 3 * largest);
            ck_assert_uint_lt(mc_net_activation_bytes(&n), all / 5); /* 127 layers' outputs */
        }
        size_t nin = mc_net_in_count(&n), nout = mc_net_out_count(&n);
        float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y);
        mc_input_random(x, nin, 1, 0);
        size_t before = mc_alloc_bytes_in_use();
        mc_alloc_fail_after(0); /* any allocation now fails, and forward would report it */
        mc_status st = mc_net_forward(&n, x, y);
        mc_alloc_fail_after(-1);
        ck_assert_msg(st == MC_OK, "%s: forward allocated: %s", models[i], mc_error_last());
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), before);
        free(x);
        free(y);
        mc_net_free(&n);
        mc_backend_destroy(be);
        mc_model_free(&m);
    }
}
END_TEST

/* A folded batchnorm gives what the convolution then the batchnorm give. */
START_TEST(a_folded_batchnorm_equals_the_convolution_then_the_batchnorm)
{
    static const char text[] = "input 7 6 5\n"
                               "sepconv2d s filters=4 kernel=3 padding=same bias=no\n"
                               "batchnorm bn eps=1e-4 act=relu\n";
    mc_model m, raw;
    ck_assert_int_eq(mc_model_parse(text, "f", &m), MC_OK);
    ck_assert_int_eq(mc_model_parse(text, "f", &raw), MC_OK);
    ck_assert_int_eq(m.layers[0].fold_bn, 1);
    ck_assert_int_eq(mc_weights_random(&m, 0, 1, 8), MC_OK); /* the conv's range holds the batchnorm's too */
    ck_assert_ptr_nonnull(m.layers[1].aux[1].data);
    ck_assert_int_eq(mc_weights_random(&raw, 0, 2, 8), MC_OK);
    ck_assert_int_eq(mc_weights_save(&m, "check_net_fold.w"), MC_OK); /* before folding: allowed */
    float x[7 * 6 * 5], y[7 * 6 * 4], mid[7 * 6 * 4], want[7 * 6 * 4], ws[7 * 6 * 5 + 8];
    mc_input_random(x, sizeof x / 4, 8, 0);
    float *got = run_range(&m, 0, 2, x);
    ck_assert(m.layers[0].bn_folded);
    memcpy(y, got, sizeof y);
    free(got);
    /* unfolded, op by op: the raw layer has act=relu moved to it by the parser */
    mc_layer s = raw.layers[0];
    s.act = MC_ACT_NONE;
    ck_assert_int_eq(mc_op_get(MC_OP_SEPCONV2D)->forward_cpu(&s, x, mid, ws), MC_OK);
    ck_assert_int_eq(mc_op_get(MC_OP_BATCHNORM)->forward_cpu(&raw.layers[1], mid, want, ws), MC_OK);
    double err = mc_test_max_rel_err(y, want, sizeof y / 4, 1e-6);
    ck_assert_msg(err <= 1e-5, "folded vs unfolded: max relative error %g", err);
    /* folded weights are not the file's: saving them is refused */
    ck_assert_int_eq(mc_weights_save(&m, "check_net_fold2.w"), MC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "batchnorm bn"));
    /* a second net on the same model does not fold twice */
    got = run_range(&m, 0, 2, x);
    ck_assert(memcmp(got, y, sizeof y) == 0);
    free(got);
    /* reloading gives plain weights again: same numbers */
    ck_assert_int_eq(mc_weights_load(&m, 0, 2, "check_net_fold.w"), MC_OK);
    ck_assert(!m.layers[0].bn_folded);
    got = run_range(&m, 0, 2, x);
    ck_assert(memcmp(got, y, sizeof y) == 0);
    free(got);
    remove("check_net_fold.w");
    mc_model_free(&m);
    mc_model_free(&raw);
}
END_TEST

/* The file holds aux tensors and leaves out bias=no biases; a range loads
 * its own layers and the batchnorms folded into them. */
START_TEST(a_graph_models_weight_file_round_trips_per_range)
{
    mc_model a, b;
    ck_assert_int_eq(mc_model_parse(graph_text, "g", &a), MC_OK);
    ck_assert_int_eq(mc_model_parse(graph_text, "g", &b), MC_OK);
    ck_assert_int_eq(mc_weights_random(&a, 0, a.n_layers, 6), MC_OK);
    ck_assert_int_eq(mc_weights_save(&a, "check_net_graph.w"), MC_OK);
    const int c1 = mc_model_find_layer(&b, "c1"), bn1 = mc_model_find_layer(&b, "bn1"),
              b2 = mc_model_find_layer(&b, "b2");
    ck_assert_msg(mc_weights_load(&b, c1, c1 + 1, "check_net_graph.w") == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(memcmp(a.layers[c1].weight.data, b.layers[c1].weight.data, mc_tensor_bytes(&a.layers[c1].weight)), 0);
    for (size_t i = 0; i < mc_tensor_count(&b.layers[c1].bias); i++) ck_assert(b.layers[c1].bias.data[i] == 0.0f);
    ck_assert_int_eq(memcmp(a.layers[bn1].aux[1].data, b.layers[bn1].aux[1].data, mc_tensor_bytes(&a.layers[bn1].aux[1])), 0);
    ck_assert_ptr_null(b.layers[b2].weight.data);
    ck_assert_int_eq(mc_weights_load(&b, b2, b2 + 1, "check_net_graph.w"), MC_OK);
    ck_assert_int_eq(memcmp(a.layers[b2].aux[0].data, b.layers[b2].aux[0].data, mc_tensor_bytes(&a.layers[b2].aux[0])), 0);
    /* variances drawn positive, gammas near 1 */
    for (size_t i = 0; i < mc_tensor_count(&a.layers[bn1].aux[1]); i++) {
        ck_assert(a.layers[bn1].aux[1].data[i] >= 0.5f && a.layers[bn1].aux[1].data[i] < 1.5f);
        ck_assert(a.layers[bn1].weight.data[i] >= 0.9f && a.layers[bn1].weight.data[i] < 1.1f);
    }
    mc_model_free(&a);
    mc_model_free(&b);
    remove("check_net_graph.w");
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

/* Makes allocation k fail, for every k < tries, while loading the weights
 * of model `text`, making a net for layers [first, n - end_back) and
 * running it once: each failure must come back as MC_ERR_NOMEM with
 * nothing left allocated. */
static void check_every_allocation_failure(const char *text, int first, int end_back, long tries)
{
    int successes = 0;
    for (long k = 0; k < tries; k++) {
        mc_model m;
        ck_assert_int_eq(mc_model_parse(text, "t", &m), MC_OK);
        const int last = m.n_layers - end_back;
        float *x = calloc(mc_model_cut_floats(&m, first), sizeof *x), *y = malloc(mc_model_cut_floats(&m, last) * 4);
        mc_backend *be;
        ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
        size_t before = mc_alloc_bytes_in_use();
        mc_alloc_fail_after(k);
        mc_net net;
        mc_status st = mc_weights_random(&m, 0, m.n_layers, 1);
        if (!st) st = mc_net_init(&net, &m, first, last, be);
        if (!st) st = mc_net_forward(&net, x, y);
        mc_alloc_fail_after(-1);
        ck_assert_msg(st == MC_OK || st == MC_ERR_NOMEM, "fail after %ld: %s", k, mc_status_to_string(st));
        if (st == MC_OK) {
            successes++;
            mc_net_free(&net);
        }
        mc_model_free(&m);
        mc_backend_destroy(be);
        free(x);
        free(y);
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), before);
    }
    ck_assert_int_gt(successes, 0); /* enough allocations allowed eventually */
}

START_TEST(every_allocation_failure_returns_nomem_and_leaves_no_half_state)
{
    check_every_allocation_failure(tiny_text, 0, 0, 64);
    check_every_allocation_failure(graph_text, 5, 7, 120); /* two tensors in, two out */
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

/* Streamed chains of clip layers (net_stream.h) against whole tensors, on
 * odd shapes: strides and windows along T that do not divide the clip,
 * same and valid padding, windows wider and narrower than their stride,
 * 1x1x1 kernels, a chain broken by a tensor with two readers, a chain
 * longer than MC_NET_CHAIN_MAX.  `chains`: the chains the whole model must
 * stream; `smaller`: streaming it holds fewer activation bytes. */
static const struct stream_case {
    const char *label, *text;
    int chains, smaller;
} stream_cases[] = {
    {"c3d head, odd frames", "model s1\ninput 13 11 3 7\n"
                             "conv3d c1 filters=4 kernel=3 padding=same act=relu\n"
                             "maxpool3d p1 pool=2 pool_t=1\n"
                             "conv3d c2 filters=5 kernel=3 padding=same act=relu\n"
                             "maxpool3d p2 pool=2\n"
                             "flatten f\n"
                             "dense d units=3\n",
     1, 1},
    {"strides and valid windows along T", "model s2\ninput 9 7 2 11\n"
                                          "conv3d c1 filters=4 kernel=2 kernel_t=3 stride_t=2\n"
                                          "conv3d c2 filters=3 kernel=3 stride=2 stride_t=1 padding=same act=relu\n"
                                          "maxpool3d p1 pool=3 pool_t=2 stride_t=1 padding=same\n"
                                          "maxpool3d p2 pool=1 pool_t=2 stride_t=3\n",
     1, 1},
    {"pointwise, same pools, a zeropad between", "model s3\ninput 6 10 4 5\n"
                                                 "conv3d c1 filters=3 kernel=1\n"
                                                 "maxpool3d p1 pool=3 stride=2 padding=same\n"
                                                 "conv3d c2 filters=2 kernel=3 kernel_t=1 padding=same\n"
                                                 "zeropad z pad_bottom=1 pad_back=2\n"
                                                 "conv3d c3 filters=2 kernel=2 kernel_t=4 padding=same\n"
                                                 "maxpool3d p2 pool=2 pool_t=3 stride_t=1\n",
     2, 1},
    {"two readers break the chain", "model s4\ninput 5 6 2 6\n"
                                    "conv3d a filters=3 kernel=3 padding=same\n"
                                    "conv3d b filters=3 kernel=3 padding=same act=relu\n"
                                    "maxpool3d p pool=2 stride=1 padding=same\n"
                                    "add s in=a,p\n"
                                    "maxpool3d q pool=2\n",
     1, 1},
    {"a chain longer than a chain may be", "model s5\ninput 3 4 2 16\n"
                                           "conv3d l1 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l2 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l3 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l4 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l5 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l6 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l7 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l8 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l9 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l10 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l11 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l12 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l13 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l14 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l15 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l16 filters=2 kernel=1 kernel_t=2 padding=same\n"
                                           "conv3d l17 filters=2 kernel=3 kernel_t=2 padding=same\n"
                                           "maxpool3d l18 pool=2\n",
     2, 0},
};

/* Range [a, b) of m, streamed or not (MC_NET_WHOLE), on input x; fills
 * *chains and *act (activation bytes) and returns the output. */
static float *run_range_flags(mc_model *m, int a, int b, const float *x, unsigned flags, int *chains, size_t *act)
{
    mc_backend *be;
    mc_net n;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
    ck_assert_msg(mc_net_init_ex(&n, m, a, b, be, flags) == MC_OK, "%s", mc_error_last());
    float *out = malloc(mc_net_out_count(&n) * sizeof *out);
    ck_assert_int_eq(mc_net_forward(&n, x, out), MC_OK);
    *chains = n.n_chains;
    *act = mc_net_activation_bytes(&n);
    mc_net_free(&n);
    mc_backend_destroy(be);
    return out;
}

START_TEST(a_streamed_chain_of_clip_layers_equals_whole_tensors_bit_for_bit)
{
    const struct stream_case *c = &stream_cases[_i];
    mc_model m;
    ck_assert_msg(mc_model_parse(c->text, c->label, &m) == MC_OK, "%s: %s", c->label, mc_error_last());
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 5), MC_OK);
    const int n = m.n_layers;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b <= n; b++) {
            if (b - a < n && n > 8) continue; /* the long chain: the whole model only */
            const size_t nin = mc_model_cut_floats(&m, a), nout = mc_model_cut_floats(&m, b);
            float *x = malloc(nin * sizeof *x);
            mc_input_random(x, nin, 7, (uint64_t)a);
            for (size_t i = 0; i < nin; i += 7) x[i] = -x[i]; /* negative values too (relu, max) */
            int ks, kw;
            size_t as, aw;
            float *s = run_range_flags(&m, a, b, x, 0, &ks, &as);
            float *w = run_range_flags(&m, a, b, x, MC_NET_WHOLE, &kw, &aw);
            ck_assert_msg(memcmp(s, w, nout * sizeof *s) == 0, "%s, layers [%d, %d): streamed differs from whole",
                          c->label, a, b);
            ck_assert_int_eq(kw, 0);
            if (a == 0 && b == n) {
                ck_assert_msg(ks == c->chains, "%s: %d chains streamed, expected %d", c->label, ks, c->chains);
                if (c->smaller)
                    ck_assert_msg(as < aw, "%s: streamed holds %zu activation bytes, whole %zu", c->label, as, aw);
            }
            free(s);
            free(w);
            free(x);
        }
    mc_model_free(&m);
}
END_TEST

/* On a host backend a net reads the caller's inputs and writes its outputs
 * in place: for every range of three graphs (tensors passing through,
 * in-place layers whose input is the caller's, views), the same numbers as
 * with buffers of its own and copies (the same CPU backend told it is not
 * host memory), and the input arrays unchanged. */
START_TEST(a_host_net_reads_and_writes_the_callers_arrays_without_copies)
{
    static const char *const texts[] = {tiny_text, graph_text, clip_text};
    for (int t = 0; t < 3; t++) {
        mc_model m;
        ck_assert_int_eq(mc_model_parse(texts[t], "io", &m), MC_OK);
        ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 3), MC_OK);
        mc_backend *be;
        ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
        mc_backend copying = *be; /* the same kernels, buffers of its own */
        copying.host_memory = 0;
        for (int a = 0; a < m.n_layers; a++)
            for (int b = a + 1; b <= m.n_layers; b++) {
                mc_net h, c;
                ck_assert_int_eq(mc_net_init(&h, &m, a, b, be), MC_OK);
                ck_assert_int_eq(mc_net_init(&c, &m, a, b, &copying), MC_OK);
                ck_assert_uint_le(mc_net_activation_bytes(&h), mc_net_activation_bytes(&c));
                const size_t nin = mc_net_in_count(&h), nout = mc_net_out_count(&h);
                float *x = malloc(nin * sizeof *x), *x0 = malloc(nin * sizeof *x), *yh = malloc(nout * sizeof *yh),
                      *yc = malloc(nout * sizeof *yc);
                mc_input_random(x, nin, 9, (uint64_t)a);
                for (size_t i = 0; i < nin; i += 3) x[i] = -x[i];
                memcpy(x0, x, nin * sizeof *x);
                for (int rep = 0; rep < 2; rep++) { /* twice: nothing left over from the first */
                    ck_assert_int_eq(mc_net_forward(&h, x, yh), MC_OK);
                    ck_assert_int_eq(mc_net_forward(&c, x, yc), MC_OK);
                    ck_assert_msg(memcmp(x, x0, nin * sizeof *x) == 0, "graph %d [%d, %d): the input was written", t,
                                  a, b);
                    ck_assert_msg(memcmp(yh, yc, nout * sizeof *yh) == 0, "graph %d [%d, %d): in place differs", t, a,
                                  b);
                }
                free(x);
                free(x0);
                free(yh);
                free(yc);
                mc_net_free(&h);
                mc_net_free(&c);
            }
        mc_backend_destroy(be);
        mc_model_free(&m);
    }
}
END_TEST

/* C3D's conv1..pool2 holds no whole conv1 or conv2 output when streamed:
 * its activations are the clip, pool2's output and rings of a few frames. */
START_TEST(c3d_conv1_to_pool2_streams_within_a_few_frames)
{
    mc_model m;
    ck_assert_int_eq(mc_model_open("c3d", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, 4, 1), MC_OK);
    mc_backend *be;
    mc_net n;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    ck_assert_msg(mc_net_init(&n, &m, 0, 4, be) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(n.n_chains, 1);
    /* the clip and pool2's output are the caller's arrays (a host backend) */
    const size_t rings = 1 * 112 * 112 * 64 * 4 + 3 * 56 * 56 * 64 * 4 + 2 * 56 * 56 * 128 * 4;
    ck_assert_uint_eq(mc_net_stream_ring_bytes(&n, -1), rings);
    ck_assert_uint_eq(mc_net_activation_bytes(&n), rings);
    /* one band of conv2's im2col rows (28 of a frame's 56), not a frame (21.7 MB) or the clip */
    ck_assert_uint_eq(n.ws_bytes, (size_t)28 * 56 * 27 * 64 * 4);
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
    tcase_add_test(tc, graph_pieces_between_any_cuts_equal_the_whole_model_bit_for_bit);
    tcase_add_test(tc, several_tensors_cross_a_cut_as_separate_arrays_or_one_concatenation);
    tcase_add_test(tc, a_folded_batchnorm_equals_the_convolution_then_the_batchnorm);
    tcase_add_test(tc, a_graph_models_weight_file_round_trips_per_range);
    tcase_add_loop_test(tc, a_streamed_chain_of_clip_layers_equals_whole_tensors_bit_for_bit, 0,
                        (int)(sizeof stream_cases / sizeof stream_cases[0]));
    tcase_add_test(tc, c3d_conv1_to_pool2_streams_within_a_few_frames);
    tcase_add_test(tc, a_host_net_reads_and_writes_the_callers_arrays_without_copies);
    suite_add_tcase(s, tc);
    /* Whole ResNet50 inferences (several each): tagged heavy, left out where
     * every instruction is emulated (the aarch64 run under qemu:
     * CK_EXCLUDE_TAGS=heavy); what they check does not depend on the ISA. */
    TCase *heavy = tcase_create("heavy");
    tcase_set_tags(heavy, "heavy");
    tcase_set_timeout(heavy, 600);
    tcase_add_test(heavy, resnet50_in_three_pieces_equals_the_whole_bit_for_bit);
    tcase_add_test(heavy, buffers_are_reused_as_soon_as_a_tensor_is_dead_and_inference_allocates_nothing);
    suite_add_tcase(s, heavy);
    return s;
}

int main(void) { return mc_test_run(net_suite()); }
