/* cpu_blas.h - which OpenBLAS kernels this process runs, and whether they
 * fit the processor.
 *
 * Why: Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels
 * ("core") from cpuid when it loads.  A processor newer than the library
 * (an unknown model number, a VM's odd cpuid) makes it fall back to generic
 * kernels without a word: Prescott (SSE3) on an AVX-512 Xeon ran VGG16 at a
 * third of the speed.  The decision below compares the core OpenBLAS chose
 * with what the processor offers (cpuid and the OS's saved register state
 * on x86, getauxval hwcaps on arm64) and names the core to select instead;
 * the command line (src/cli/main.c) then sets OPENBLAS_CORETYPE and
 * re-executes itself once, since OpenBLAS reads it only when it loads.  A
 * user's own OPENBLAS_CORETYPE is never overridden.
 *
 * The decision is a pure function of (features, OpenBLAS' choice, its
 * build configuration) so that it is tested table-driven
 * (tests/check_cpu_blas.c) for processors this machine is not.
 */
#ifndef MC_CPU_BLAS_H
#define MC_CPU_BLAS_H

#include <stddef.h>

/* What a processor offers, as far as choosing BLAS kernels goes.  Levels
 * are cumulative: a level counts only when the OS saves its registers. */
typedef enum mc_cpu_level {
    MC_CPU_GENERIC = 0, /* x86-64 SSE2/SSE3, or arm64 without ASIMD */
    MC_CPU_AVX,         /* x86: AVX (Sandybridge) */
    MC_CPU_AVX2,        /* x86: AVX2 + FMA (Haswell, Zen) */
    MC_CPU_AVX512,      /* x86: AVX-512 F/CD/BW/DQ/VL (SkylakeX and later) */
    MC_CPU_NEON,        /* arm64: ASIMD (Cortex-A53/A57/A72 class) */
    MC_CPU_NEON_V82,    /* arm64: ASIMD + dot product (ARMv8.2: Cortex-A76, Neoverse N1) */
    MC_CPU_SVE,         /* arm64: SVE (Neoverse V1, A64FX) */
    MC_CPU_LEVEL_COUNT
} mc_cpu_level;

typedef struct mc_cpu_features {
    int x86, arm64;   /* which ISA the flags below describe */
    mc_cpu_level level;
    int avx512_bf16;  /* x86: AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4) */
    char flags[128];  /* the relevant flags seen, space-separated, for reports */
} mc_cpu_features;

/* Reads this processor's features (cpuid/xgetbv or getauxval). */
void mc_cpu_features_detect(mc_cpu_features *f);
/* The processor's name (x86 brand string, /proc/cpuinfo "model name", or
 * the arm64 implementer/part); "unknown" if none. */
void mc_cpu_name(char *buf, size_t n);

/* The level of an OpenBLAS core name (case-insensitive; "Prescott",
 * "Haswell", "SkylakeX", "armv8", "cortexa72", ...); -1 if the name is not
 * one this table knows. */
int mc_blas_core_level(const char *core);

/* The decision.  current: the core OpenBLAS chose (openblas_get_corename);
 * config: openblas_get_config() (only a DYNAMIC_ARCH build can switch).
 * Returns the OpenBLAS core name to select, or NULL to keep the current
 * one: the current core is known and at the processor's level, the build
 * cannot switch, or the processor offers nothing better.  why (may be
 * NULL) gets one sentence saying which. */
const char *mc_blas_core_choose(const mc_cpu_features *f, const char *current, const char *config, char *why,
                                size_t why_n);

/* What this process runs, for reports (predict --json, --layers, the
 * benchmark).  source: "openblas" (its own detection, judged adequate),
 * "auto" (mchair selected `core` over OpenBLAS' `openblas_choice`), "user"
 * (OPENBLAS_CORETYPE set by the user), "fixed" (a build without
 * DYNAMIC_ARCH).  mismatch: 1 when the core still falls short of the
 * processor (e.g. the selection was refused); note says why. */
typedef struct mc_blas_info {
    char core[32], openblas_choice[32], source[16];
    char config[160], processor[96];
    mc_cpu_features cpu;
    int mismatch;
    char note[200];
} mc_blas_info;

void mc_blas_info_get(mc_blas_info *bi);

/* Environment variables of the selection (main.c sets them before its
 * re-exec; mc_blas_info_get reads them back). */
#define MC_BLAS_ENV_CORETYPE "OPENBLAS_CORETYPE"
/* Set by mchair next to OPENBLAS_CORETYPE: the core OpenBLAS chose on its
 * own, which tells our selection from a user's. */
#define MC_BLAS_ENV_FROM "MCHAIR_BLAS_CORE_FROM"
/* For tests of the fallback path on machines where OpenBLAS chooses well:
 * treat OpenBLAS' own choice as this core. */
#define MC_BLAS_ENV_PRETEND "MCHAIR_BLAS_PRETEND_CORE"

/* The core to select in this process (main.c, before its re-exec), or NULL;
 * honours a user's OPENBLAS_CORETYPE and MC_BLAS_ENV_PRETEND. */
const char *mc_blas_core_wanted(char *from, size_t from_n);

#endif
