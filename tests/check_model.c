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

typedef struct bad_text {
    const char *text;
    const char *msg; /* substring the error must contain */
} bad_text;

static const bad_text bad_models[] = {
    {"input 8 8 3\nconv2d c filters=4 kernel=3 wobble=2\n", "m:2: unknown parameter 'wobble'"},
    {"input 8 8 3\nconv9d c filters=4\n", "m:2: unknown layer kind 'conv9d'"},
    {"conv2d c filters=4 kernel=3\n", "m:1: 'input H W C' must come before layers"},
    {"input 8 8\n", "m:1: expected one 'input H W C [D]'"},
    {"input 8 -8 3\nrelu r\n", "m:1: expected one 'input H W C [D]'"},
    {"input 8 8 3\nconv2d c filters=x kernel=3\n", "m:2: filters=x must be a positive integer"},
    {"input 8 8 3\nconv2d c filters=4 kernel=9 padding=valid\n", "m:2: layer c: 9x9 kernel does not fit"},
    {"input 8 8 3\nrelu a\nrelu a\n", "m:3: layer name 'a' is used twice"},
    {"input 8 8 3\nconv2d c filters=4 kernel=3 padding=full\n", "m:2: padding=full"},
    {"input 8 8 3\ndense d act=tanh units=3\n", "m:2: act=tanh"},
    {"input 8 8 3\nrelu\n", "m:2: relu needs a name"},
    {"input 8 8 3\nrelu r stride\n", "m:2: expected key=value, got 'stride'"},
    {"# nothing\ninput 8 8 3\n", "m: the model has no layers"},
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
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "alexnet vgg16"));
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
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(model_suite()); }
