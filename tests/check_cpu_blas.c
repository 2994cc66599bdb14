/* check_cpu_blas.c - choosing OpenBLAS kernels that fit the processor.
 *
 * The decision (mc_blas_core_choose) is checked table-driven over processor
 * features and the cores OpenBLAS may report, including processors this
 * machine is not.  Then end to end through `mchair predict --json`: the
 * core it runs fits this processor (a non-generic one wherever the CPU has
 * AVX2), OpenBLAS' generic fallback is replaced (simulated with
 * MCHAIR_BLAS_PRETEND_CORE, since OpenBLAS may choose well here), and a
 * user's OPENBLAS_CORETYPE is kept.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cpu_blas.h"
#include "testutil.h"

#define DYN "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY USE_OPENMP Prescott MAX_THREADS=64"
#define FIXED "OpenBLAS 0.3.21 NO_AFFINITY HASWELL MAX_THREADS=64"

static const struct choose_case {
    const char *label;
    int arm64;
    mc_cpu_level level;
    int bf16;
    const char *current, *config, *want; /* want NULL: keep */
} choose_cases[] = {
    {"AVX-512 Xeon left on Prescott gets SkylakeX", 0, MC_CPU_AVX512, 0, "Prescott", DYN, "SkylakeX"},
    {"AVX-512 with bf16 left on Prescott gets Cooperlake", 0, MC_CPU_AVX512, 1, "Prescott", DYN, "Cooperlake"},
    {"AVX-512 on Haswell kernels (e.g. Zen 4 as Zen) is raised", 0, MC_CPU_AVX512, 1, "Zen", DYN, "Cooperlake"},
    {"AVX2 processor on Nehalem kernels gets Haswell", 0, MC_CPU_AVX2, 0, "Nehalem", DYN, "Haswell"},
    {"AVX-only processor on Core2 gets Sandybridge", 0, MC_CPU_AVX, 0, "Core2", DYN, "Sandybridge"},
    {"core names are case-insensitive", 0, MC_CPU_AVX2, 0, "PRESCOTT", DYN, "Haswell"},
    {"SkylakeX on AVX-512 is kept", 0, MC_CPU_AVX512, 1, "SkylakeX", DYN, NULL},
    {"Zen on an AVX2 EPYC is kept", 0, MC_CPU_AVX2, 0, "Zen", DYN, NULL},
    {"Haswell where the OS saves no zmm state is kept", 0, MC_CPU_AVX2, 0, "Haswell", DYN, NULL},
    {"a generic core on a generic processor is kept", 0, MC_CPU_GENERIC, 0, "Prescott", DYN, NULL},
    {"a build for one core cannot switch", 0, MC_CPU_AVX512, 0, "Prescott", FIXED, NULL},
    {"no config string: keep", 0, MC_CPU_AVX512, 0, "Prescott", NULL, NULL},
    {"an unknown core name is left alone", 0, MC_CPU_AVX512, 0, "Zen5", DYN, NULL},
    {"an arm64 core on x86 is left alone", 0, MC_CPU_AVX512, 0, "armv8", DYN, NULL},
    {"arm64 generic armv8 on a Cortex-A72 gets cortexa72", 1, MC_CPU_NEON, 0, "armv8", DYN, "cortexa72"},
    {"arm64 generic armv8 on a Cortex-A76 (RPi 5) gets neoversen1", 1, MC_CPU_NEON_V82, 0, "armv8", DYN, "neoversen1"},
    {"arm64 generic armv8 with SVE gets neoversev1", 1, MC_CPU_SVE, 0, "ARMV8", DYN, "neoversev1"},
    {"arm64 Cortex-A55 keeps its in-order kernels", 1, MC_CPU_NEON_V82, 0, "cortexa55", DYN, NULL},
    {"arm64 cortexa72 recognised is kept", 1, MC_CPU_NEON, 0, "cortexa72", DYN, NULL},
    {"arm64 without ASIMD keeps armv8", 1, MC_CPU_GENERIC, 0, "armv8", DYN, NULL},
    {"an x86 core on arm64 is left alone", 1, MC_CPU_NEON, 0, "Haswell", DYN, NULL},
};

START_TEST(the_core_is_replaced_only_when_openblas_fell_short)
{
    const struct choose_case *c = &choose_cases[_i];
    mc_cpu_features f;
    memset(&f, 0, sizeof f);
    f.arm64 = c->arm64;
    f.x86 = !c->arm64;
    f.level = c->level;
    f.avx512_bf16 = c->bf16;
    char why[200] = "";
    const char *got = mc_blas_core_choose(&f, c->current, c->config, why, sizeof why);
    if (c->want) ck_assert_msg(got && !strcmp(got, c->want), "%s: got %s (%s)", c->label, got ? got : "keep", why);
    else ck_assert_msg(!got, "%s: got %s (%s)", c->label, got, why);
    ck_assert_msg(why[0] != 0, "%s: no reason given", c->label);
    /* what is chosen is a core the table knows, at the processor's level */
    if (got) ck_assert_int_eq(mc_blas_core_level(got), (int)c->level);
}
END_TEST

START_TEST(core_levels_follow_the_kernels_they_run)
{
    ck_assert_int_eq(mc_blas_core_level("Prescott"), MC_CPU_GENERIC);
    ck_assert_int_eq(mc_blas_core_level("sandybridge"), MC_CPU_AVX);
    ck_assert_int_eq(mc_blas_core_level("Haswell"), MC_CPU_AVX2);
    ck_assert_int_eq(mc_blas_core_level("Cooperlake"), MC_CPU_AVX512);
    ck_assert_int_eq(mc_blas_core_level("armv8"), MC_CPU_GENERIC);
    ck_assert_int_eq(mc_blas_core_level("neoversen1"), MC_CPU_NEON_V82);
    ck_assert_int_eq(mc_blas_core_level("nosuchcore"), -1);
    ck_assert_int_eq(mc_blas_core_level(NULL), -1);
}
END_TEST

START_TEST(this_process_reports_its_core_processor_and_features)
{
    mc_blas_info bi;
    mc_blas_info_get(&bi);
    ck_assert_msg(bi.core[0] && strcmp(bi.core, "?"), "no core name");
    ck_assert_msg(strstr(bi.config, "OpenBLAS") != NULL, "config '%s'", bi.config);
    ck_assert(bi.processor[0]);
#if defined(__x86_64__)
    ck_assert(bi.cpu.x86 && !bi.cpu.arm64);
#elif defined(__aarch64__)
    ck_assert(bi.cpu.arm64 && !bi.cpu.x86);
    ck_assert_msg(bi.cpu.level >= MC_CPU_NEON, "arm64 without ASIMD? flags '%s'", bi.cpu.flags);
#endif
}
END_TEST

/* ---------------------------------------------------------- end to end */
#ifdef MC_MCHAIR_BIN /* not in the engine-only (cross) build, which has no CLI */

/* Runs `mchair predict` on a one-layer model with the environment changes
 * given (NAME=VALUE sets, NAME= unsets) and returns its JSON "blas" object
 * (the caller deletes the returned root). */
static cJSON *predict_blas(const char *const *env, cJSON **root)
{
    char model[] = "/tmp/mchair-blas-XXXXXX", json[64];
    int fd = mkstemp(model);
    ck_assert_int_ge(fd, 0);
    const char *text = "input 8 8 4\nconv2d c filters=4 kernel=3 padding=same act=relu\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(json, sizeof json, "%s.json", model);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("MCHAIR_BLAS_CORE_FROM");
        unsetenv("MCHAIR_BLAS_PRETEND_CORE");
        unsetenv("MCHAIR_NO_REEXEC");
        for (int i = 0; env && env[i]; i++) {
            char kv[128];
            snprintf(kv, sizeof kv, "%s", env[i]);
            char *eq = strchr(kv, '=');
            *eq = 0;
            if (eq[1]) setenv(kv, eq + 1, 1);
            else unsetenv(kv);
        }
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        execl(MC_MCHAIR_BIN, MC_MCHAIR_BIN, "predict", "--model", model, "--repeat", "1", "--warmup", "0",
              "--quiet", "--json", json, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    unlink(model);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mchair predict failed (status %d)", status);
    FILE *f = fopen(json, "r");
    ck_assert_ptr_nonnull(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    unlink(json);
    *root = cJSON_Parse(buf);
    ck_assert_ptr_nonnull(*root);
    cJSON *b = cJSON_GetObjectItem(*root, "blas");
    ck_assert_ptr_nonnull(b);
    return b;
}

static const char *jstr(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(o, k);
    ck_assert_msg(cJSON_IsString(v), "no string '%s'", k);
    return v->valuestring;
}

START_TEST(predict_runs_a_core_that_fits_this_processor)
{
    cJSON *root, *b = predict_blas(NULL, &root);
    mc_cpu_features f;
    mc_cpu_features_detect(&f);
    int level = mc_blas_core_level(jstr(b, "core"));
    ck_assert_msg(!cJSON_IsTrue(cJSON_GetObjectItem(b, "mismatch")), "mismatch: %s",
                  cJSON_GetObjectItem(b, "note") ? jstr(b, "note") : "");
    if (f.x86 && f.level >= MC_CPU_AVX2)
        ck_assert_msg(level >= MC_CPU_AVX2, "core %s (source %s) on a processor with %s", jstr(b, "core"),
                      jstr(b, "source"), f.flags);
    ck_assert(strlen(jstr(b, "processor")) > 0);
    cJSON_Delete(root);
}
END_TEST

START_TEST(a_generic_fallback_is_replaced_before_openblas_loads)
{
    mc_cpu_features f;
    mc_cpu_features_detect(&f);
    static const char *const env[] = {"MCHAIR_BLAS_PRETEND_CORE=Prescott", NULL};
    cJSON *root, *b = predict_blas(env, &root);
    ck_assert_str_eq(jstr(b, "source"), "auto");
    ck_assert_str_eq(jstr(b, "openblas_choice"), "Prescott");
    ck_assert_int_eq(mc_blas_core_level(jstr(b, "core")), (int)f.level);
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(b, "mismatch")));
    cJSON_Delete(root);
}
END_TEST

START_TEST(a_users_coretype_is_respected_and_flagged_when_it_falls_short)
{
    static const char *const env[] = {"OPENBLAS_CORETYPE=Prescott", NULL};
    cJSON *root, *b = predict_blas(env, &root);
    ck_assert_str_eq(jstr(b, "core"), "Prescott");
    ck_assert_str_eq(jstr(b, "source"), "user");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(b, "mismatch")));
    cJSON_Delete(root);
    static const char *const env2[] = {"OPENBLAS_CORETYPE=Haswell", "MCHAIR_BLAS_PRETEND_CORE=Prescott", NULL};
    b = predict_blas(env2, &root);
    ck_assert_str_eq(jstr(b, "core"), "Haswell");
    ck_assert_str_eq(jstr(b, "source"), "user");
    cJSON_Delete(root);
}
END_TEST

#endif

Suite *cpu_blas_suite(void)
{
    Suite *s = suite_create("cpu_blas");
    TCase *tc = tcase_create("decision");
    tcase_add_loop_test(tc, the_core_is_replaced_only_when_openblas_fell_short, 0,
                        (int)(sizeof choose_cases / sizeof choose_cases[0]));
    tcase_add_test(tc, core_levels_follow_the_kernels_they_run);
    tcase_add_test(tc, this_process_reports_its_core_processor_and_features);
    suite_add_tcase(s, tc);
#ifdef MC_MCHAIR_BIN
    TCase *e2e = tcase_create("predict");
    tcase_set_timeout(e2e, 120);
    tcase_add_test(e2e, predict_runs_a_core_that_fits_this_processor);
    /* The fallback is simulated on x86 with a better core to select; on
     * other processors these two are not registered (not run, not passed). */
    mc_cpu_features f;
    mc_cpu_features_detect(&f);
    if (f.x86 && f.level >= MC_CPU_AVX2) {
        tcase_add_test(e2e, a_generic_fallback_is_replaced_before_openblas_loads);
        tcase_add_test(e2e, a_users_coretype_is_respected_and_flagged_when_it_falls_short);
    } else {
        printf("check_cpu_blas: not an x86 processor with AVX2: the fallback tests are not run\n");
    }
    suite_add_tcase(s, e2e);
#endif
    return s;
}

int main(void) { return mc_test_run(cpu_blas_suite()); }
