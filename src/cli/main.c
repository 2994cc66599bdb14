/* main.c - `mchair`, the Musical Chair command line: dispatch to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend/cpu_blas.h"
#include "cli.h"

/* See reexec_with_settings(). */
#define MC_SPINCOUNT "3000"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"predict", mc_cmd_predict, "run a model on this device and report latency and IPS"},
    {"node", mc_cmd_node, "run one task node of a farm (Avro IPC over HTTP)"},
    {"initial", mc_cmd_initial, "source and sink of a farm: send frames, collect results, report IPS"},
    {"master", mc_cmd_master, "the master of a dynamic farm on its own: devices join, leave, get tasks"},
    {"profile", mc_cmd_profile, "measure layers, split parts and links for the planner"},
    {"plan", mc_cmd_plan, "plan task assignments for 1..N devices from a profile"},
    {"farm", mc_cmd_farm, "emulated farm on this machine: up, down, status, exec (namespaces, tc, cgroups)"},
    {"devmodel", mc_cmd_devmodel, "a device model's time for each layer of a model (an emulated RPi 3)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mchair COMMAND [options]   (mchair COMMAND --help for its options)\n\n"
               "Musical Chair: DNN inference split across a farm of small devices.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

/* Settings that only take effect when a library loads, so they are made
 * here and the process re-executes itself once (MCHAIR_NO_REEXEC=1: never):
 *
 * GOMP_SPINCOUNT=3000: an OpenMP thread that has nothing to do spins that
 * many times (tens of microseconds) before it sleeps.  Both extremes lose.
 * Spinning without end (libgomp's default, OMP_WAIT_POLICY=active) steals
 * the cores from everything else on a busy machine (a loopback farm runs
 * several nodes per core) and then a preempted thread stalls every
 * barrier: AlexNet went from 13 ms to 150 ms next to other processes.
 * Sleeping at once (OMP_WAIT_POLICY=passive, used until 2026-12) costs a
 * wake-up of ~80 us in this VM at every layer's parallel region: AlexNet
 * 8.9 ms against 6.8 ms, ResNet50 47 against 41 ms (2 threads; README,
 * engine).  Three processes of 2 threads on 2 cores lost 9% of their total
 * throughput against passive, where active lost 70%.  libgomp reads the
 * variables before main() runs; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT
 * is kept as it is (and no spin count is added to it).
 *
 * OPENBLAS_CORETYPE.  OpenBLAS picks its kernels when it loads and falls
 * back to generic ones on a processor it does not recognise (Prescott/SSE3
 * on an AVX-512 Xeon: VGG16 three times slower).  mc_blas_core_wanted()
 * (backend/cpu_blas.c) compares its choice with cpuid/hwcaps and names
 * the right core; MCHAIR_BLAS_CORE_FROM records what OpenBLAS had chosen,
 * for the reports.  A user's OPENBLAS_CORETYPE is kept as it is.  This
 * covers every subcommand, `mchair node` included. */
static void reexec_with_settings(char **argv)
{
    if (getenv("MCHAIR_NO_REEXEC")) return;
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT") && !setenv("GOMP_SPINCOUNT", MC_SPINCOUNT, 1))
        again = 1;
    char from[32];
    const char *core = mc_blas_core_wanted(from, sizeof from);
    if (core && !setenv(MC_BLAS_ENV_FROM, from, 1) && !setenv(MC_BLAS_ENV_CORETYPE, core, 1)) again = 1;
    if (!again) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy and kernels;
     * the reports then say that the core does not fit (mc_blas_info_get). */
    unsetenv(MC_BLAS_ENV_FROM);
    if (core) unsetenv(MC_BLAS_ENV_CORETYPE);
}

int main(int argc, char **argv)
{
    reexec_with_settings(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mchair: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
