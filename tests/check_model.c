/* check_model.c - the model text format and the built-in models' shapes. */
#include <stdio.h>
#include <string.h>

#include "models/model.h"
#include "testutil.h"

typedef struct shape_row {
    const char *layer;
    int h, w, c;
} shape_row;

/* DESIGN.md section 2, written out independently of zoo.c. */
static const shape_row alexnet_shapes[] = {
    {"conv1", 56, 56, 48},   {"pool1", 28, 28, 48},   {"conv2", 28, 28, 128}, {"pool2", 14, 14, 128},
    {"conv3", 14, 14, 192},  {"conv4", 14, 14, 192}, {"conv5", 14, 14, 128}, {"pool5", 7, 7, 128},
    {"flatten", 1, 1, 6272}, {"fc1", 1, 1, 4096},    {"fc2", 1, 1, 4096},    {"fc3", 1, 1, 1000},
};

static const shape_row vgg16_shapes[] = {
    {"block1_conv2", 224, 224, 64}, {"block1_pool", 112, 112, 64}, {"block2_conv2", 112, 112, 128},
    {"block2_pool", 56, 56, 128},   {"block3_conv3", 56, 56, 256}, {"block3_pool", 28, 28, 256},
    {"block4_conv3", 28, 28, 512},  {"block4_pool", 14, 14, 512},  {"block5_conv3", 14, 14, 512},
    {"block5_pool", 7, 7, 512},     {"flatten", 1, 1, 25088},      {"fc1", 1, 1, 4096},
    {"fc2", 1, 1, 4096},            {"predictions", 1, 1, 1000},
};

static void check_shapes(const char *model, const shape_row *rows, size_t n, int n_layers, size_t params)
{
    mc_model m;
    ck_assert_msg(mc_model_builtin(model, &m) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(m.n_layers, n_layers);
    for (size_t i = 0; i < n; i++) {
        int k = mc_model_find_layer(&m, rows[i].layer);
        ck_assert_msg(k >= 0, "%s has no layer %s", model, rows[i].layer);
        mc_shape want = mc_shape_make(rows[i].c, rows[i].w, rows[i].h, 1);
        char a[64], b[64];
        ck_assert_msg(mc_shape_equal(&m.layers[k].out, &want), "%s %s: %s, want %s", model, rows[i].layer,
                      mc_shape_str(&m.layers[k].out, a, sizeof a), mc_shape_str(&want, b, sizeof b));
    }
    ck_assert_uint_eq(mc_model_param_count(&m, 0, m.n_layers), params);
    mc_model_free(&m);
}

START_TEST(alexnet_has_the_artifact_shapes)
{
    /* conv: 11*11*3*48+48, 5*5*48*128+128, 3*3*128*192+192, 3*3*192*192+192, 3*3*192*128+128;
     * fc: 6272*4096+4096, 4096*4096+4096, 4096*1000+1000 */
    size_t p = 17472 + 153728 + 221376 + 331968 + 221312 + 25694208 + 16781312 + 4097000;
    check_shapes("alexnet", alexnet_shapes, sizeof alexnet_shapes / sizeof alexnet_shapes[0], 12, p);
}
END_TEST

START_TEST(vgg16_has_the_keras_shapes_and_138m_parameters)
{
    check_shapes("vgg16", vgg16_shapes, sizeof vgg16_shapes / sizeof vgg16_shapes[0], 22, 138357544);
}
END_TEST

/* Keras' ResNet50 / Xception summaries and the C3D paper, written out
 * independently of the zoo texts: (layer, H, W, C) and (layer, T, H, W, C). */
static const shape_row resnet50_shapes[] = {
    {"conv1_pad", 230, 230, 3},          {"conv1_conv", 112, 112, 64},        {"pool1_pool", 56, 56, 64},
    {"conv2_block1_0_conv", 56, 56, 256}, {"conv2_block3_add", 56, 56, 256},  {"conv3_block1_1_conv", 28, 28, 128},
    {"conv3_block4_add", 28, 28, 512},   {"conv4_block6_add", 14, 14, 1024},  {"conv5_block1_2_conv", 7, 7, 512},
    {"conv5_block3_add", 7, 7, 2048},    {"avg_pool", 1, 1, 2048},            {"predictions", 1, 1, 1000},
};

static const shape_row xception_shapes[] = {
    {"block1_conv1", 149, 149, 32},  {"block1_conv2", 147, 147, 64},   {"block2_sepconv2", 147, 147, 128},
    {"block2_pool", 74, 74, 128},    {"block2_res", 74, 74, 128},      {"block3_add", 37, 37, 256},
    {"block4_add", 19, 19, 728},     {"block12_add", 19, 19, 728},     {"block13_sepconv2", 19, 19, 1024},
    {"block13_add", 10, 10, 1024},   {"block14_sepconv2", 10, 10, 2048}, {"avg_pool", 1, 1, 2048},
    {"predictions", 1, 1, 1000},
};

START_TEST(resnet50_has_the_keras_shapes_and_25_6m_parameters)
{
    /* Keras applications ResNet50: 25,636,712 parameters with the batch
     * norms' moving statistics. */
    check_shapes("resnet50", resnet50_shapes, sizeof resnet50_shapes / sizeof resnet50_shapes[0], 127, 25636712);
}
END_TEST

START_TEST(xception_has_the_keras_shapes_and_22_9m_parameters)
{
    /* Keras applications Xception: 22,910,480 (no bias in its convolutions). */
    check_shapes("xception", xception_shapes, sizeof xception_shapes / sizeof xception_shapes[0], 109, 22910480);
}
END_TEST

START_TEST(c3d_has_the_papers_shapes)
{
    static const struct {
        const char *layer;
        int t, h, w, c;
    } rows[] = {{"conv1", 16, 112, 112, 64}, {"pool1", 16, 56, 56, 64}, {"pool2", 8, 28, 28, 128},
                {"conv3b", 8, 28, 28, 256},  {"pool3", 4, 14, 14, 256}, {"pool4", 2, 7, 7, 512},
                {"zeropad5", 2, 8, 8, 512},  {"pool5", 1, 4, 4, 512},   {"flatten", 1, 1, 1, 8192},
                {"fc8", 1, 1, 1, 487}};
    mc_model m;
    ck_assert_msg(mc_model_builtin("c3d", &m) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(m.n_layers, 18);
    mc_shape in = mc_shape_make(3, 112, 112, 16);
    ck_assert(mc_shape_equal(&m.input, &in));
    int convs = 0, pools = 0;
    for (int i = 0; i < m.n_layers; i++) {
        convs += m.layers[i].op == MC_OP_CONV3D;
        pools += m.layers[i].op == MC_OP_MAXPOOL3D;
    }
    ck_assert_int_eq(convs, 8);
    ck_assert_int_eq(pools, 5);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int k = mc_model_find_layer(&m, rows[i].layer);
        ck_assert_msg(k >= 0, "c3d has no layer %s", rows[i].layer);
        mc_shape want = mc_shape_make(rows[i].c, rows[i].w, rows[i].h, rows[i].t);
        char a[64], b[64];
        ck_assert_msg(mc_shape_equal(&m.layers[k].out, &want), "c3d %s: %s, want %s", rows[i].layer,
                      mc_shape_str(&m.layers[k].out, a, sizeof a), mc_shape_str(&want, b, sizeof b));
    }
    /* 3x3x3 convs 3-64-128-256-256-512-512-512-512, fc 8192-4096-4096-487 */
    size_t p = 0;
    static const int ch[] = {3, 64, 128, 256, 256, 512, 512, 512, 512};
    for (int i = 0; i < 8; i++) p += (size_t)27 * ch[i] * ch[i + 1] + ch[i + 1];
    p += (size_t)8192 * 4096 + 4096 + (size_t)4096 * 4096 + 4096 + (size_t)4096 * 487 + 487;
    ck_assert_uint_eq(mc_model_param_count(&m, 0, m.n_layers), p);
    mc_model_free(&m);
}
END_TEST

typedef struct bad_text {
    const char *text;
    const char *msg; /* substring the error must contain */
} bad_text;

static const bad_text bad_models[] = {
    {"input 8 8 3\nconv2d c filters=4 kernel=3 wobble=2\n", "m:2: unknown parameter 'wobble'"},
    {"input 8 8 3\nconv9d c filters=4\n", "m:2: unknown layer kind 'conv9d'"},
    {"conv2d c filters=4 kernel=3\n", "m:1: 'input H W C' must come before layers"},
    {"input 8 8\n", "m:1: expected one 'input H W C [T]'"},
    {"input 8 -8 3\nrelu r\n", "m:1: expected one 'input H W C [T]'"},
    {"input 8 8 3\nconv2d c filters=x kernel=3\n", "m:2: filters=x must be a positive integer"},
    {"input 8 8 3\nconv2d c filters=4 kernel=9 padding=valid\n", "m:2: layer c: 9x9 kernel does not fit"},
    {"input 8 8 3\nrelu a\nrelu a\n", "m:3: layer name 'a' is used twice"},
    {"input 8 8 3\nconv2d c filters=4 kernel=3 padding=full\n", "m:2: padding=full"},
    {"input 8 8 3\ndense d act=tanh units=3\n", "m:2: act=tanh"},
    {"input 8 8 3\nrelu\n", "m:2: relu needs a name"},
    {"input 8 8 3\nrelu r stride\n", "m:2: expected key=value, got 'stride'"},
    {"# nothing\ninput 8 8 3\n", "m: the model has no layers"},
    {"input 8 8 3\nrelu a\nrelu b in=c\n", "m:3: layer b reads 'c', which is not an earlier layer"},
    {"input 8 8 3\nrelu a in=b\nrelu b\n", "m:2: layer a reads 'b', which is not an earlier layer"},
    {"input 8 8 3\nrelu a in=a\n", "m:2: layer a reads 'a', which is not an earlier layer"},
    {"input 8 8 3\nrelu a\nrelu b in=input\n", "m: the output of layer a is never read"},
    {"input 8 8 3\nrelu a\nrelu b\nadd c in=a,a\n", "m: the output of layer b is never read"},
    {"input 8 8 3\nrelu a\nadd b in=a\n", "m:3: layer b: add takes 2 or more inputs, got 1"},
    {"input 8 8 3\nrelu a\nrelu b in=a,input\n", "m:3: layer b: relu takes one input, got 2"},
    {"input 8 8 3\nrelu a\nadd b in=a,a,a,a,a,a,a,a,a\n", "m:3: layer b reads more than 8 inputs"},
    {"input 8 8 3\nrelu input\n", "m:2: a layer cannot be called 'input'"},
    {"input 8 8 3\nconv2d c filters=4 kernel=1\nadd d in=c,input\n", "m:3: layer d: add of 8x8x4 and 8x8x3"},
    {"input 8 8 3\nconv2d c filters=4 kernel=1\nconcat d in=c,e\n", "m:3: layer d reads 'e'"},
    {"input 8 8 3\nmaxpool2d p\nconcat d in=p,input\n", "m:3: layer d: concat of 4x4x3 and 8x8x3"},
    {"input 8 8 3\nbatchnorm b eps=0\n", "m:2: eps=0 must be a positive number"},
    {"input 8 8 3\nbatchnorm b eps=x\n", "m:2: eps=x must be a positive number"},
    {"input 8 8 3\nconv2d c filters=2 kernel=1 bias=maybe\n", "m:2: bias=maybe (expected yes or no)"},
    {"input 8 8 3\nzeropad z pad=-1\n", "m:2: pad=-1 must be a non-negative integer"},
    {"input 8 8 3\nzeropad z pad_middle=1\n", "m:2: unknown parameter 'pad_middle'"},
    {"input 8 8 3 4\nconv3d c filters=2 kernel=3 kernel_t=5\n", "m:2: layer c: 5x3x3 kernel does not fit"},
    {"input 8 8 3 4\nconv2d c filters=2 kernel=3\n", "m:2: layer c: conv2d takes HxWxC input, got 4x8x8x3"},
    {"input 8 8 3\nsepconv2d s kernel=3\n", "m:2: layer s: sepconv2d needs filters > 0"},
    {"", "m: the model has no layers"},
};

START_TEST(malformed_model_text_is_refused_with_line_and_reason)
{
    mc_model m;
    mc_status st = mc_model_parse(bad_models[_i].text, "m", &m);
    ck_assert_int_ne(st, MC_OK);
    ck_assert_msg(strstr(mc_error_last(), bad_models[_i].msg) != NULL, "case %d: got '%s', want '%s'", _i,
                  mc_error_last(), bad_models[_i].msg);
    ck_assert_ptr_null(m.layers);
}
END_TEST

START_TEST(a_user_model_file_parses_with_comments_and_defaults)
{
    const char *path = "check_model_user.mcm";
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# tiny model\nmodel tiny\ninput 9 9 2   # H W C\n\n"
          "conv2d c1 filters=4 kernel=3 stride=2 padding=same act=relu\n"
          "maxpool2d p1\nflatten f\ndense out units=3 act=softmax\n",
          f);
    fclose(f);
    mc_model m;
    ck_assert_msg(mc_model_open(path, &m) == MC_OK, "%s", mc_error_last());
    ck_assert_str_eq(m.name, "tiny");
    ck_assert_int_eq(m.n_layers, 4);
    ck_assert_int_eq(m.layers[0].out.ne[1], 5);  /* ceil(9/2) */
    ck_assert_int_eq(m.layers[1].sh, 2);         /* pool stride defaults to window 2 */
    ck_assert_int_eq(m.layers[1].out.ne[2], 2);
    ck_assert_int_eq(m.layers[2].out.ne[0], 2 * 2 * 4);
    ck_assert_int_eq(m.layers[3].act, MC_ACT_SOFTMAX);
    mc_model_free(&m);
    remove(path);
}
END_TEST

START_TEST(unknown_model_names_list_the_built_ins)
{
    mc_model m;
    ck_assert_int_eq(mc_model_open("resnet9000", &m), MC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "alexnet vgg16 resnet50 xception c3d"));
    ck_assert_int_eq(mc_model_open("/nonexistent/model.mcm", &m), MC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "/nonexistent/model.mcm"));
}
END_TEST

START_TEST(layer_ranges_are_validated)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin("alexnet", &m), MC_OK);
    ck_assert_int_eq(mc_model_check_range(&m, 0, 12), MC_OK);
    ck_assert_int_eq(mc_model_check_range(&m, 5, 5), MC_ERR_INVALID_ARG);
    ck_assert_int_eq(mc_model_check_range(&m, -1, 3), MC_ERR_INVALID_ARG);
    ck_assert_int_eq(mc_model_check_range(&m, 3, 13), MC_ERR_INVALID_ARG);
    mc_model_free(&m);
}
END_TEST

/* A residual block, a concatenation, and batchnorms that fold or do not. */
static const char graph_text[] = "model g\ninput 6 5 3\n"
                                 "conv2d c1 filters=4 kernel=3 padding=same\n"       /* 0 */
                                 "batchnorm bn1 act=relu\n"                          /* 1: folds into c1 */
                                 "conv2d c2 filters=4 kernel=3 padding=same act=relu\n" /* 2 */
                                 "batchnorm bn2\n"                                   /* 3: c2 has an act */
                                 "add a in=bn1,bn2 act=relu\n"                       /* 4 */
                                 "conv2d c3 in=a filters=2 kernel=1\n"               /* 5: read twice */
                                 "batchnorm bn3\n"                                   /* 6 */
                                 "concat cat in=c3,bn3,input\n"                      /* 7 */
                                 "flatten f\n"                                       /* 8 */
                                 "dense d units=3\n";                                /* 9 */

START_TEST(graph_models_name_their_inputs_and_fold_batchnorms_into_single_use_convolutions)
{
    mc_model m;
    ck_assert_msg(mc_model_parse(graph_text, "g", &m) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(m.n_layers, 10);
    ck_assert_int_eq(m.layers[2].inputs[0], 1); /* the layer above by default */
    ck_assert_int_eq(m.layers[4].n_in, 2);
    ck_assert_int_eq(m.layers[4].inputs[0], 1);
    ck_assert_int_eq(m.layers[4].inputs[1], 3);
    ck_assert_int_eq(m.layers[7].n_in, 3);
    ck_assert_int_eq(m.layers[7].inputs[2], -1);
    ck_assert_int_eq(m.layers[7].out.ne[0], 2 + 2 + 3);
    /* bn1 folds into c1, which takes its activation; bn2 and bn3 do not */
    ck_assert_int_eq(m.layers[0].fold_bn, 1);
    ck_assert_int_eq(m.layers[0].act, MC_ACT_RELU);
    ck_assert(m.layers[1].alias);
    ck_assert_int_eq(m.layers[2].fold_bn, 0);
    ck_assert(!m.layers[3].alias);
    ck_assert_int_eq(m.layers[5].fold_bn, 0);
    ck_assert(!m.layers[6].alias);
    ck_assert(m.layers[8].alias); /* flatten is a view */
    mc_model_free(&m);
}
END_TEST

static void check_cut(const mc_model *m, int k, const int *producers, int n)
{
    mc_cut_tensor t[8];
    ck_assert_int_eq(mc_model_cut(m, k, t, 8), n);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(t[i].producer == producers[i], "cut %d tensor %d: producer %d, want %d", k, i, t[i].producer,
                      producers[i]);
        ck_assert_str_eq(t[i].name, producers[i] < 0 ? "input" : m->layers[producers[i]].name);
        mc_shape want = producers[i] < 0 ? m->input : m->layers[producers[i]].out;
        ck_assert(mc_shape_equal(&t[i].shape, &want));
        ck_assert_uint_eq(t[i].floats, mc_shape_count(&want));
        ck_assert_uint_eq(t[i].offset, off);
        off += t[i].floats;
    }
    ck_assert_uint_eq(mc_model_cut_floats(m, k), off);
}

START_TEST(a_cut_lists_the_tensors_made_before_it_and_read_after_it)
{
    mc_model m;
    ck_assert_int_eq(mc_model_parse(graph_text, "g", &m), MC_OK);
    check_cut(&m, 0, (int[]){-1}, 1);
    check_cut(&m, 1, (int[]){-1, 0}, 2);    /* concat reads the input at the end */
    check_cut(&m, 3, (int[]){-1, 1, 2}, 3); /* bn1 crosses (the folded c1's output), and c2 */
    check_cut(&m, 5, (int[]){-1, 4}, 2);
    check_cut(&m, 6, (int[]){-1, 5}, 2);
    check_cut(&m, 7, (int[]){-1, 5, 6}, 3);
    check_cut(&m, 8, (int[]){7}, 1);
    check_cut(&m, 10, (int[]){9}, 1);
    ck_assert_int_eq(mc_model_cut(&m, 11, NULL, 0), -1);
    ck_assert_int_eq(mc_model_cut(&m, -1, NULL, 0), -1);
    /* several tensors: the range's input is their concatenation */
    mc_shape s = mc_model_range_in(&m, 3), o = mc_model_range_out(&m, 3);
    ck_assert_int_eq(s.ne[0], 6 * 5 * 3 + 2 * 6 * 5 * 4);
    ck_assert(mc_shape_equal(&s, &o));
    s = mc_model_range_in(&m, 8);
    ck_assert_int_eq(s.ne[0], 7); /* one tensor: its own shape */
    ck_assert_int_eq(s.ne[1], 5);
    mc_model_free(&m);
    /* a chain: every cut is the layer before it */
    ck_assert_int_eq(mc_model_builtin("alexnet", &m), MC_OK);
    for (int k = 1; k <= m.n_layers; k++) {
        check_cut(&m, k, (int[]){k - 1}, 1);
        mc_shape r = mc_model_range_in(&m, k < m.n_layers ? k : k - 1);
        ck_assert(mc_shape_equal(&r, &m.layers[k < m.n_layers ? k : k - 1].in));
    }
    mc_model_free(&m);
}
END_TEST

/* In ResNet50 a cut between blocks carries one tensor, inside a block two. */
START_TEST(resnet50_cuts_carry_one_tensor_between_blocks_and_two_inside)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin("resnet50", &m), MC_OK);
    int single = 0;
    for (int k = 1; k < m.n_layers; k++) {
        int n = mc_model_cut(&m, k, NULL, 0);
        ck_assert_msg(n == 1 || n == 2, "cut %d carries %d tensors", k, n);
        if (n == 1 && strstr(m.layers[k].name, "_1_conv")) single++;
    }
    ck_assert_int_eq(single, 16); /* before each of the 16 blocks */
    int k = mc_model_find_layer(&m, "conv3_block2_2_conv");
    mc_cut_tensor t[2];
    ck_assert_int_eq(mc_model_cut(&m, k, t, 2), 2);
    ck_assert_str_eq(t[0].name, "conv3_block1_add");
    ck_assert_str_eq(t[1].name, "conv3_block2_1_bn");
    mc_model_free(&m);
}
END_TEST

Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, alexnet_has_the_artifact_shapes);
    tcase_add_test(tc, vgg16_has_the_keras_shapes_and_138m_parameters);
    tcase_add_loop_test(tc, malformed_model_text_is_refused_with_line_and_reason, 0,
                        (int)(sizeof bad_models / sizeof bad_models[0]));
    tcase_add_test(tc, a_user_model_file_parses_with_comments_and_defaults);
    tcase_add_test(tc, unknown_model_names_list_the_built_ins);
    tcase_add_test(tc, layer_ranges_are_validated);
    tcase_add_test(tc, resnet50_has_the_keras_shapes_and_25_6m_parameters);
    tcase_add_test(tc, xception_has_the_keras_shapes_and_22_9m_parameters);
    tcase_add_test(tc, c3d_has_the_papers_shapes);
    tcase_add_test(tc, graph_models_name_their_inputs_and_fold_batchnorms_into_single_use_convolutions);
    tcase_add_test(tc, a_cut_lists_the_tensors_made_before_it_and_read_after_it);
    tcase_add_test(tc, resnet50_cuts_carry_one_tensor_between_blocks_and_two_inside);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(model_suite()); }
