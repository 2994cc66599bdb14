/* main.c - `mchair`, the Musical Chair command line: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"predict", mc_cmd_predict, "run a model on this device and report latency and IPS"},
    {"farm", mc_cmd_farm, "emulated farm on this machine: up, down, status, exec (namespaces, tc, cgroups)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mchair COMMAND [options]   (mchair COMMAND --help for its options)\n\n"
               "Musical Chair: DNN inference split across a farm of small devices.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
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
