/* check_cuda_backend.c - what the default suite can check of the GPU
 * backend on any machine: that the CUDA build really contains it, and that
 * `mchair predict --device gpu` either runs on the GPU or, where there is no
 * GPU (or no CUDA build), fails with a clear message and a non-zero exit.
 * The numerical GPU checks are tests/gpu/check_gpu.c (needs a GPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "testutil.h"

/* Under AddressSanitizer the CUDA driver needs the shadow gap unprotected
 * (else it cannot map GPU memory); ASAN_OPTIONS from the environment still
 * applies on top of this default.  Unused in builds without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "protect_shadow_gap=0"; }

/* Whether this machine has a usable GPU, as the backend sees it. */
static int gpu_present(char *why, size_t n)
{
    mc_backend *be = NULL;
    mc_status st = mc_backend_create(MC_BACKEND_CUDA, 0, &be);
    snprintf(why, n, "%s", st ? mc_error_last() : "");
    mc_backend_destroy(be);
    return st == MC_OK;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char *buf = calloc(1, 1 << 16);
    ck_assert(buf);
    size_t got = fread(buf, 1, (1 << 16) - 1, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

/* Runs `mchair <args>` with stdout/stderr captured; returns the exit code. */
static int run_mchair(const char *args, char **out, char **err)
{
    char o[] = "/tmp/mc_cuda_out_XXXXXX", e[] = "/tmp/mc_cuda_err_XXXXXX", cmd[1024];
    int fo = mkstemp(o), fe = mkstemp(e);
    ck_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    /* mchair too may be an ASan build (see __asan_default_options). */
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS='%s%sprotect_shadow_gap=0' '%s' %s >'%s' 2>'%s'",
             asan ? asan : "", asan && *asan ? ":" : "", MC_MCHAIR_BIN, args, o, e);
    int rc = system(cmd);
    *out = slurp(o);
    *err = slurp(e);
    unlink(o);
    unlink(e);
    ck_assert_msg(rc != -1 && WIFEXITED(rc), "mchair did not exit normally (%d)", rc);
    return WEXITSTATUS(rc);
}

START_TEST(the_cuda_build_contains_the_cuda_backend)
{
#ifdef MC_HAVE_CUDA
    ck_assert_int_eq(mc_backend_cuda_compiled(), 1);
#else
    ck_assert_int_eq(mc_backend_cuda_compiled(), 0);
#endif
}
END_TEST

START_TEST(gpu_and_cuda_name_the_cuda_backend)
{
    mc_backend_kind k = MC_BACKEND_CPU;
    ck_assert_int_eq(mc_backend_from_name("gpu", &k), MC_OK);
    ck_assert_int_eq(k, MC_BACKEND_CUDA);
    k = MC_BACKEND_CPU;
    ck_assert_int_eq(mc_backend_from_name("cuda", &k), MC_OK);
    ck_assert_int_eq(k, MC_BACKEND_CUDA);
    ck_assert_int_eq(mc_backend_from_name("tpu", &k), MC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(creating_the_gpu_backend_gives_a_cuda_backend_or_says_why)
{
    mc_backend *be = (mc_backend *)1;
    mc_status st = mc_backend_create(MC_BACKEND_CUDA, 0, &be);
    if (st == MC_OK) {
        ck_assert_int_eq(mc_backend_cuda_compiled(), 1);
        ck_assert_str_eq(be->name, "cuda");
        mc_backend_destroy(be);
        return;
    }
    ck_assert_int_eq(st, MC_ERR_UNSUPPORTED);
    ck_assert_ptr_null(be);
    const char *want = mc_backend_cuda_compiled() ? "no CUDA GPU is available" : "no CUDA backend";
    ck_assert_msg(strstr(mc_error_last(), want) != NULL, "message '%s' lacks '%s'", mc_error_last(), want);
}
END_TEST

START_TEST(predict_on_the_gpu_runs_there_or_fails_clearly)
{
    char why[512], *out, *err;
    int have_gpu = gpu_present(why, sizeof why);
    int rc = run_mchair("predict --model alexnet --device gpu --repeat 1 --warmup 0", &out, &err);
    if (have_gpu) {
        ck_assert_msg(rc == 0, "predict --device gpu failed on a GPU machine: %s", err);
        ck_assert_msg(strstr(out, "device cuda") != NULL, "output does not name the cuda device: %s", out);
        ck_assert_msg(strstr(out, "top-5:") != NULL, "no prediction printed: %s", out);
    } else {
        ck_assert_msg(rc != 0, "predict --device gpu exited 0 without a GPU: %s", out);
        const char *want = mc_backend_cuda_compiled() ? "no CUDA GPU is available" : "no CUDA backend";
        ck_assert_msg(strstr(err, want) != NULL, "stderr '%s' lacks '%s'", err, want);
        ck_assert_msg(strstr(out, "top-5:") == NULL, "printed a prediction without a GPU: %s", out);
    }
    free(out);
    free(err);
}
END_TEST

Suite *cuda_suite(void)
{
    Suite *s = suite_create("cuda backend");
    TCase *tc = tcase_create("device selection");
    tcase_add_test(tc, the_cuda_build_contains_the_cuda_backend);
    tcase_add_test(tc, gpu_and_cuda_name_the_cuda_backend);
    tcase_add_test(tc, creating_the_gpu_backend_gives_a_cuda_backend_or_says_why);
    tcase_add_test(tc, predict_on_the_gpu_runs_there_or_fails_clearly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(cuda_suite()); }
