/* check_gpu.c - the CUDA backend against the CPU backend (needs a GPU).
 *
 * Not part of the default ctest run: build target `gpu-test` or
 * scripts/test-gpu.sh runs it.  Without a CUDA build or without a GPU it
 * prints why and exits non-zero (it never passes without having compared
 * anything).  With a GPU it checks:
 *  - every case of the op conformance table (op_cases.h) on both backends:
 *    GPU vs CPU and GPU vs the naive reference (add and concat through
 *    forward_n);
 *  - whole AlexNet, VGG16, ResNet50, Xception and C3D (random weights, seed
 *    1): GPU vs CPU output, max relative error <= 1e-5 (strict float32:
 *    TF32 would give ~1e-3 and is caught), for the classifier output and
 *    for the layer before it;
 *  - a model split across devices (GPU runs the first layers, CPU the rest,
 *    as a farm that mixes devices does) gives the single-device numbers,
 *    for AlexNet and for ResNet50 cut inside a block (two tensors cross);
 *  - repeated inference allocates no GPU memory.
 * Convolutions and GEMMs run in strict float32 here (MC_CUDA_MATH=fp32 is
 * forced; TF32 only behind the explicit MC_CUDA_MATH=tf32, never tested
 * at this tolerance).
 *
 * CUDA cannot be used in a process forked after CUDA was initialised, so
 * the suite runs without fork (CK_NOFORK) on one shared GPU backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "models/model.h"
#include "models/net.h"
#include "models/weights.h"
#include "op_cases.h"
#include "testutil.h"

/* Whole models, GPU against CPU: strict float32 agrees to about 1e-6 (the
 * order of summation differs); TF32 tensor cores would give ~1e-3. */
#define MODEL_TOL 1e-5

/* Under AddressSanitizer the CUDA driver needs the shadow gap unprotected
 * (else it cannot map GPU memory); ASAN_OPTIONS from the environment still
 * applies on top of this default.  Unused in builds without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "protect_shadow_gap=0"; }

static mc_backend *gpu, *cpu;

START_TEST(every_op_case_gives_the_cpu_numbers_on_the_gpu)
{
    const op_case *c = &cases[_i];
    mc_layer l;
    make_layer(c, &l);
    ck_assert_msg(mc_layer_infer(&l) == MC_OK, "%s: %s", c->label, mc_error_last());
    ck_assert_msg(gpu->supports_layer(gpu, &l), "%s: the GPU backend refuses it", c->label);
    size_t nin = op_case_in_count(&l), nout = mc_shape_count(&l.out);
    float *x = malloc(nin * 4), *yg = malloc(nout * 4), *yc = malloc(nout * 4), *yr = malloc(nout * 4);
    double *ref = calloc(nout, sizeof *ref);
    ck_assert(x && yg && yc && yr && ref);
    op_case_params(&l, x);
    for (size_t i = 0; i < nout; i++) yg[i] = yc[i] = -12345.0f; /* catch unwritten outputs */
    op_case_run(cpu, &l, x, yc);
    op_case_run(gpu, &l, x, yg);
    reference(&l, x, ref);
    for (size_t i = 0; i < nout; i++) yr[i] = (float)ref[i];
    double e_cpu = mc_test_max_rel_err(yg, yc, nout, 1e-6);
    double e_ref = mc_test_max_rel_err(yg, yr, nout, 1e-6);
    printf("  %-48s gpu vs cpu %.2e, gpu vs reference %.2e\n", c->label, e_cpu, e_ref);
    ck_assert_msg(e_cpu <= 1e-4, "%s: GPU vs CPU max relative error %g", c->label, e_cpu);
    ck_assert_msg(e_ref <= 1e-4, "%s: GPU vs reference max relative error %g", c->label, e_ref);
    op_case_free(&l);
    free(x);
    free(yg);
    free(yc);
    free(yr);
    free(ref);
}
END_TEST

/* Output of layers [first, last) of m for the seed-1 random input. */
static float *run_range(mc_backend *be, mc_model *m, int first, int last, const float *in)
{
    mc_net n;
    ck_assert_msg(mc_net_init(&n, m, first, last, be) == MC_OK, "%s net init: %s", be->name, mc_error_last());
    float *out = malloc(mc_net_out_count(&n) * sizeof *out);
    ck_assert(out);
    ck_assert_msg(mc_net_forward(&n, in, out) == MC_OK, "%s forward: %s", be->name, mc_error_last());
    mc_net_free(&n);
    return out;
}

static const char *const models[] = {"alexnet", "vgg16", "resnet50", "xception", "c3d"};

START_TEST(whole_models_give_the_cpu_numbers_on_the_gpu)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin(models[_i], &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 1), MC_OK);
    size_t nin = mc_shape_count(&m.input);
    float *in = malloc(nin * sizeof *in);
    ck_assert(in);
    mc_input_random(in, nin, 1, 0);
    /* The classifier output, and the logits before it (a softmax can hide
     * errors in small probabilities). */
    for (int cut = 0; cut < 2; cut++) {
        int last = m.n_layers - cut;
        size_t nout = mc_model_cut_floats(&m, last);
        float *yc = run_range(cpu, &m, 0, last, in);
        float *yg = run_range(gpu, &m, 0, last, in);
        double err = mc_test_max_rel_err(yg, yc, nout, 1e-6);
        printf("  %-8s up to %-12s GPU vs CPU max relative error %.2e\n", m.name, m.layers[last - 1].name, err);
        ck_assert_msg(err <= MODEL_TOL, "%s up to %s: GPU vs CPU max relative error %g > %g", m.name,
                      m.layers[last - 1].name, err, MODEL_TOL);
        free(yc);
        free(yg);
    }
    free(in);
    mc_model_free(&m);
}
END_TEST

/* _i: 0 AlexNet cut after pool2, 1 ResNet50 cut inside conv3_block2 (two
 * tensors cross the cut). */
START_TEST(a_model_split_between_gpu_and_cpu_gives_the_single_device_numbers)
{
    static const char *const cuts[][2] = {{"alexnet", "conv3"}, {"resnet50", "conv3_block2_2_conv"}};
    mc_model m;
    ck_assert_int_eq(mc_model_builtin(cuts[_i][0], &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 1), MC_OK);
    int cut = mc_model_find_layer(&m, cuts[_i][1]);
    ck_assert_int_gt(cut, 0);
    size_t nin = mc_shape_count(&m.input), nout = mc_model_cut_floats(&m, m.n_layers);
    float *in = malloc(nin * sizeof *in);
    ck_assert(in);
    mc_input_random(in, nin, 1, 3);
    float *whole = run_range(cpu, &m, 0, m.n_layers, in);
    float *mid = run_range(gpu, &m, 0, cut, in);
    float *split = run_range(cpu, &m, cut, m.n_layers, mid);
    double err = mc_test_max_rel_err(split, whole, nout, 1e-6);
    ck_assert_msg(err <= MODEL_TOL, "GPU [0,%d) + CPU [%d,%d) vs CPU: max relative error %g", cut, cut,
                  m.n_layers, err);
    free(in);
    free(whole);
    free(mid);
    free(split);
    mc_model_free(&m);
}
END_TEST

START_TEST(repeated_inference_allocates_no_gpu_memory)
{
    mc_model m;
    ck_assert_int_eq(mc_model_builtin("alexnet", &m), MC_OK);
    ck_assert_int_eq(mc_weights_random(&m, 0, m.n_layers, 1), MC_OK);
    mc_net n;
    ck_assert_msg(mc_net_init(&n, &m, 0, m.n_layers, gpu) == MC_OK, "%s", mc_error_last());
    size_t nin = mc_net_in_count(&n), nout = mc_net_out_count(&n);
    float *in = malloc(nin * 4), *first = malloc(nout * 4), *out = malloc(nout * 4);
    ck_assert(in && first && out);
    mc_input_random(in, nin, 1, 0);
    ck_assert_int_eq(mc_net_forward(&n, in, first), MC_OK);
    size_t free0, free1, total;
    ck_assert_int_eq(cudaMemGetInfo(&free0, &total), cudaSuccess);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(mc_net_forward(&n, in, out), MC_OK);
        ck_assert_msg(memcmp(out, first, nout * 4) == 0, "inference %d differs from the first", i + 2);
    }
    ck_assert_int_eq(cudaMemGetInfo(&free1, &total), cudaSuccess);
    ck_assert_msg(free1 >= free0, "free GPU memory fell from %zu to %zu bytes over 20 inferences", free0, free1);
    mc_net_free(&n);
    free(in);
    free(first);
    free(out);
    mc_model_free(&m);
}
END_TEST

int main(void)
{
    setenv("MC_CUDA_MATH", "fp32", 1);
    /* Try even when the plugin looks absent: the loader's message says why
     * (not built, or libcudnn/libcublas not found by the dynamic linker). */
    if (mc_backend_create(MC_BACKEND_CUDA, 0, &gpu) != MC_OK) {
        fprintf(stderr, "check_gpu: FAILED: no CUDA backend to test, nothing was compared: %s%s\n", mc_error_last(),
                mc_backend_cuda_compiled() ? "" : " (this build has no CUDA backend: configure with the CUDA "
                                                  "toolkit and cuDNN installed, -DMC_CUDA=ON)");
        return mc_backend_cuda_compiled() ? 3 : 2;
    }
    if (mc_backend_create(MC_BACKEND_CPU, 0, &cpu) != MC_OK) {
        fprintf(stderr, "check_gpu: FAILED: cpu backend: %s\n", mc_error_last());
        mc_backend_destroy(gpu);
        return 1;
    }
    Suite *s = suite_create("gpu");
    TCase *tc = tcase_create("gpu vs cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, every_op_case_gives_the_cpu_numbers_on_the_gpu, 0, N_CASES);
    tcase_add_loop_test(tc, whole_models_give_the_cpu_numbers_on_the_gpu, 0,
                        (int)(sizeof models / sizeof models[0]));
    tcase_add_loop_test(tc, a_model_split_between_gpu_and_cpu_gives_the_single_device_numbers, 0, 2);
    tcase_add_test(tc, repeated_inference_allocates_no_gpu_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr), run = srunner_ntests_run(sr);
    srunner_free(sr);
    mc_backend_destroy(cpu);
    mc_backend_destroy(gpu);
    if (run == 0) {
        fprintf(stderr, "check_gpu: FAILED: no test ran\n");
        return 1;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
