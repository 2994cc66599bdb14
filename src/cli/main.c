/* main.c - `mchair`, the Musical Chair command line: dispatch to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mchair COMMAND [options]   (mchair COMMAND --help for its options)\n\n"
               "Musical Chair: DNN inference split across a farm of small devices.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

/* OpenMP threads that spin at barriers steal the cores from everything else
 * on a busy machine (a loopback farm runs several nodes per core), and then
 * a preempted thread stalls every barrier: AlexNet went from 13 ms to 150 ms
 * next to other processes.  libgomp reads OMP_WAIT_POLICY before main()
 * runs, so when the user has not chosen one we set "passive" and exec
 * ourselves once.  MCHAIR_NO_REEXEC=1 turns this off. */
static void prefer_passive_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("MCHAIR_NO_REEXEC")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy. */
}

int main(int argc, char **argv)
{
    prefer_passive_openmp(argv);
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
