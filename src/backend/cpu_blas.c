/* cpu_blas.c - OpenBLAS core vs processor features (see cpu_blas.h). */
#include "cpu_blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

/* OpenBLAS' own queries (not in every vendor's cblas.h). */
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* ------------------------------------------------------------------ table */

/* OpenBLAS core names (driver/others/dynamic.c, dynamic_arm64.c) and the
 * level of the kernels each runs.  Names it does not know are left alone. */
static const struct core_level {
    const char *name;
    mc_cpu_level level;
    int arm64;
} cores[] = {
    {"Katmai", MC_CPU_GENERIC, 0},       {"Coppermine", MC_CPU_GENERIC, 0}, {"Northwood", MC_CPU_GENERIC, 0},
    {"Prescott", MC_CPU_GENERIC, 0},     {"Banias", MC_CPU_GENERIC, 0},     {"Atom", MC_CPU_GENERIC, 0},
    {"Core2", MC_CPU_GENERIC, 0},        {"Penryn", MC_CPU_GENERIC, 0},     {"Dunnington", MC_CPU_GENERIC, 0},
    {"Nehalem", MC_CPU_GENERIC, 0},      {"Athlon", MC_CPU_GENERIC, 0},     {"Opteron", MC_CPU_GENERIC, 0},
    {"Opteron_SSE3", MC_CPU_GENERIC, 0}, {"Barcelona", MC_CPU_GENERIC, 0},  {"Nano", MC_CPU_GENERIC, 0},
    {"Bobcat", MC_CPU_GENERIC, 0},       {"Sandybridge", MC_CPU_AVX, 0},    {"Bulldozer", MC_CPU_AVX, 0},
    {"Piledriver", MC_CPU_AVX, 0},       {"Steamroller", MC_CPU_AVX, 0},    {"Haswell", MC_CPU_AVX2, 0},
    {"Excavator", MC_CPU_AVX2, 0},       {"Zen", MC_CPU_AVX2, 0},           {"SkylakeX", MC_CPU_AVX512, 0},
    {"Cooperlake", MC_CPU_AVX512, 0},    {"SapphireRapids", MC_CPU_AVX512, 0},
    {"armv8", MC_CPU_GENERIC, 1},        {"cortexa53", MC_CPU_NEON, 1},     {"cortexa55", MC_CPU_NEON, 1},
    {"cortexa57", MC_CPU_NEON, 1},       {"cortexa72", MC_CPU_NEON, 1},     {"cortexa73", MC_CPU_NEON, 1},
    {"falkor", MC_CPU_NEON, 1},          {"thunderx", MC_CPU_NEON, 1},      {"thunderx2t99", MC_CPU_NEON, 1},
    {"tsv110", MC_CPU_NEON, 1},          {"emag8180", MC_CPU_NEON, 1},      {"neoversen1", MC_CPU_NEON_V82, 1},
    {"thunderx3t110", MC_CPU_NEON_V82, 1}, {"neoversen2", MC_CPU_SVE, 1},   {"neoversev1", MC_CPU_SVE, 1},
    {"a64fx", MC_CPU_SVE, 1},
};

static const struct core_level *core_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(cores[i].name, name)) return &cores[i];
    return NULL;
}

int mc_blas_core_level(const char *core)
{
    const struct core_level *c = core_find(core);
    return c ? (int)c->level : -1;
}

static const char *const level_names[MC_CPU_LEVEL_COUNT] = {"generic", "AVX",  "AVX2", "AVX-512",
                                                            "NEON",    "NEON (ARMv8.2)", "SVE"};

/* The core that fits a processor best among those Debian's DYNAMIC_ARCH
 * builds carry (SapphireRapids is newer than 0.3.21: not chosen).  For f32
 * GEMM SkylakeX and Cooperlake share kernels; Cooperlake adds bf16. */
static const char *core_for(const mc_cpu_features *f)
{
    switch (f->level) {
    case MC_CPU_AVX512: return f->avx512_bf16 ? "Cooperlake" : "SkylakeX";
    case MC_CPU_AVX2: return "Haswell";
    case MC_CPU_AVX: return "Sandybridge";
    case MC_CPU_SVE: return "neoversev1";
    case MC_CPU_NEON_V82: return "neoversen1"; /* Neoverse N1 is a Cortex-A76 */
    case MC_CPU_NEON: return "cortexa72";
    default: return NULL;
    }
}

/* Whether core c is adequate on processor f.  x86: its level reaches the
 * processor's.  arm64: any core OpenBLAS recognised is tuned for some real
 * part (an in-order Cortex-A55 must keep its own kernels even though it has
 * the ARMv8.2 features of an A76); only the generic armv8 fallback is not. */
static int core_adequate(const mc_cpu_features *f, const struct core_level *c)
{
    if (f->arm64) return c->level != MC_CPU_GENERIC || f->level == MC_CPU_GENERIC;
    return c->level >= f->level;
}

const char *mc_blas_core_choose(const mc_cpu_features *f, const char *current, const char *config, char *why,
                                size_t why_n)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        why_n = sizeof dummy;
    }
    const struct core_level *c = core_find(current);
    const char *want = core_for(f);
    if (!config || !strstr(config, "DYNAMIC_ARCH")) {
        snprintf(why, why_n, "OpenBLAS was built for one core (%s): it cannot switch", current ? current : "?");
        return NULL;
    }
    if (!c) {
        snprintf(why, why_n, "OpenBLAS core '%s' is not in mchair's table: kept", current ? current : "?");
        return NULL;
    }
    if (c->arm64 != (f->arm64 != 0)) {
        snprintf(why, why_n, "OpenBLAS core %s is not for this ISA: kept", current);
        return NULL;
    }
    if (core_adequate(f, c) || !want) {
        snprintf(why, why_n, "OpenBLAS chose %s, which fits this %s processor", current, level_names[f->level]);
        return NULL;
    }
    snprintf(why, why_n, "OpenBLAS chose %s (%s kernels) on a processor with %s: selecting %s", current,
             level_names[c->level], level_names[f->level], want);
    return want;
}

/* -------------------------------------------------------------- detection */

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static void flag_add(mc_cpu_features *f, int on, const char *name)
{
    if (!on) return;
    size_t n = strlen(f->flags);
    snprintf(f->flags + n, sizeof f->flags - n, "%s%s", n ? " " : "", name);
}

void mc_cpu_features_detect(mc_cpu_features *f)
{
    memset(f, 0, sizeof *f);
    f->level = MC_CPU_GENERIC;
#if defined(__x86_64__) || defined(__i386__)
    f->x86 = 1;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
    int avx2 = 0, f512 = 0, dq = 0, cd = 0, bw = 0, vl = 0, bf16 = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        avx2 = (b >> 5) & 1;
        f512 = (b >> 16) & 1;
        dq = (b >> 17) & 1;
        cd = (b >> 28) & 1;
        bw = (b >> 30) & 1;
        vl = (b >> 31) & 1;
        if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) bf16 = (a >> 5) & 1;
    }
    flag_add(f, avx, "avx");
    flag_add(f, avx2, "avx2");
    flag_add(f, fma, "fma");
    flag_add(f, f512, "avx512f");
    flag_add(f, bf16, "avx512_bf16");
    flag_add(f, os_ymm, "os-ymm");
    flag_add(f, os_zmm, "os-zmm");
    if (avx && os_ymm) f->level = MC_CPU_AVX;
    if (f->level == MC_CPU_AVX && avx2 && fma) f->level = MC_CPU_AVX2;
    if (f->level == MC_CPU_AVX2 && f512 && dq && cd && bw && vl && os_zmm) f->level = MC_CPU_AVX512;
    f->avx512_bf16 = f->level == MC_CPU_AVX512 && bf16;
#elif defined(__aarch64__)
    f->arm64 = 1;
    unsigned long hw = getauxval(AT_HWCAP);
    int asimd = (hw >> 1) & 1, asimddp = (hw >> 20) & 1, sve = (hw >> 22) & 1;
    flag_add(f, asimd, "asimd");
    flag_add(f, asimddp, "asimddp");
    flag_add(f, sve, "sve");
    if (asimd) f->level = MC_CPU_NEON;
    if (asimd && asimddp) f->level = MC_CPU_NEON_V82;
    if (asimd && sve) f->level = MC_CPU_SVE;
#endif
}

/* arm64 parts named in /proc/cpuinfo ("CPU part") that OpenBLAS users meet. */
static const char *arm_part_name(unsigned impl, unsigned part)
{
    static const struct {
        unsigned impl, part;
        const char *name;
    } parts[] = {{0x41, 0xd03, "Cortex-A53"}, {0x41, 0xd05, "Cortex-A55"}, {0x41, 0xd07, "Cortex-A57"},
                 {0x41, 0xd08, "Cortex-A72"}, {0x41, 0xd09, "Cortex-A73"}, {0x41, 0xd0b, "Cortex-A76"},
                 {0x41, 0xd0c, "Neoverse-N1"}, {0x41, 0xd40, "Neoverse-V1"}, {0x41, 0xd49, "Neoverse-N2"}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].impl == impl && parts[i].part == part) return parts[i].name;
    return NULL;
}

void mc_cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[12];
    if (__get_cpuid(0x80000000, &r[0], &r[1], &r[2], &r[3]) && r[0] >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        if (*p) {
            snprintf(buf, n, "%s", p);
            return;
        }
    }
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    unsigned impl = 0, part = 0;
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v) continue;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10)) {
            snprintf(buf, n, "%s", v);
            break;
        }
        if (!strncmp(line, "CPU implementer", 15)) impl = (unsigned)strtoul(v, NULL, 0);
        if (!strncmp(line, "CPU part", 8)) {
            part = (unsigned)strtoul(v, NULL, 0);
            const char *nm = arm_part_name(impl, part);
            if (nm) snprintf(buf, n, "%s", nm);
            else snprintf(buf, n, "arm64 implementer 0x%x part 0x%x", impl, part);
            break;
        }
    }
    fclose(f);
}

/* ------------------------------------------------------------- selection */

const char *mc_blas_core_wanted(char *from, size_t from_n)
{
    if (getenv(MC_BLAS_ENV_CORETYPE)) return NULL; /* the user's (or our earlier) choice */
    const char *pretend = getenv(MC_BLAS_ENV_PRETEND);
    const char *current = pretend && *pretend ? pretend : openblas_get_corename();
    mc_cpu_features f;
    mc_cpu_features_detect(&f);
    if (from) snprintf(from, from_n, "%s", current ? current : "?");
    return mc_blas_core_choose(&f, current, openblas_get_config(), NULL, 0);
}

void mc_blas_info_get(mc_blas_info *bi)
{
    memset(bi, 0, sizeof *bi);
    mc_cpu_features_detect(&bi->cpu);
    mc_cpu_name(bi->processor, sizeof bi->processor);
    const char *core = openblas_get_corename(), *config = openblas_get_config();
    snprintf(bi->core, sizeof bi->core, "%s", core ? core : "?");
    snprintf(bi->config, sizeof bi->config, "%s", config ? config : "?");
    const char *set = getenv(MC_BLAS_ENV_CORETYPE), *from = getenv(MC_BLAS_ENV_FROM);
    const struct core_level *c = core_find(bi->core);
    if (!config || !strstr(config, "DYNAMIC_ARCH")) {
        snprintf(bi->source, sizeof bi->source, "fixed");
        snprintf(bi->openblas_choice, sizeof bi->openblas_choice, "%s", bi->core);
    } else if (set && from) {
        snprintf(bi->source, sizeof bi->source, "auto");
        snprintf(bi->openblas_choice, sizeof bi->openblas_choice, "%s", from);
    } else if (set) {
        snprintf(bi->source, sizeof bi->source, "user");
        snprintf(bi->openblas_choice, sizeof bi->openblas_choice, "?");
    } else {
        snprintf(bi->source, sizeof bi->source, "openblas");
        snprintf(bi->openblas_choice, sizeof bi->openblas_choice, "%s", bi->core);
    }
    if (set && strcasecmp(set, bi->core)) {
        bi->mismatch = 1;
        snprintf(bi->note, sizeof bi->note, "OPENBLAS_CORETYPE=%s was asked for but OpenBLAS runs %s", set, bi->core);
    } else if (c && c->arm64 == (bi->cpu.arm64 != 0) && !core_adequate(&bi->cpu, c)) {
        bi->mismatch = 1;
        snprintf(bi->note, sizeof bi->note, "OpenBLAS runs %s (%s kernels) on a processor with %s%s", bi->core,
                 level_names[c->level], level_names[bi->cpu.level],
                 !strcmp(bi->source, "user") ? " (OPENBLAS_CORETYPE set by the user)" : "");
    }
}
