/* cmd_node.c - `mchair node`: one task node of a farm (see farm/node.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../farm/node.h"
#include "cli.h"

static volatile sig_atomic_t node_stop;

static void on_signal(int sig)
{
    (void)sig;
    node_stop = 1;
}

static void node_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair node --farm FARM.json [options]\n"
            "\n"
            "Runs one task of a farm: receives tensors (Avro IPC over HTTP, image.avpr),\n"
            "runs the task's layers and forwards the result.  Stops on SIGINT/SIGTERM.\n"
            "\n"
            "  --farm FILE         farm file (JSON; the CK avro machine file, extended)\n"
            "  --model M           model when the farm file has none (alexnet, vgg16, FILE)\n"
            "  --task NAME         the task to run (default: found from --listen or this machine's addresses)\n"
            "  --listen ADDR:PORT  address to serve (must be one of the task's addresses)\n"
            "  --seed S            seed of the random weights (default 1, as predict)\n"
            "  --weights FILE      weight file instead of random weights\n"
            "  --threads T         compute threads (default: all cores)\n"
            "  --device cpu|gpu    backend (default cpu)\n"
            "  --mem-limit MB      memory bound in MiB (default: the task's weights + 64; 0: none);\n"
            "                      Winograd's transformed weights are built only as far as they fit\n"
            "  --quiet             no start-up line\n");
}

int mc_cmd_node(int argc, char **argv)
{
    static const struct option lo[] = {{"farm", 1, 0, 'f'},   {"model", 1, 0, 'm'},   {"task", 1, 0, 'k'},
                                       {"listen", 1, 0, 'l'}, {"seed", 1, 0, 's'},    {"weights", 1, 0, 'w'},
                                       {"threads", 1, 0, 't'}, {"device", 1, 0, 'd'}, {"quiet", 0, 0, 'q'},
                                       {"mem-limit", 1, 0, 'M'},
                                       {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    mc_node_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.mem_limit_mb = -1;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'f': o.farm = optarg; break;
        case 'm': o.model = optarg; break;
        case 'k': o.task = optarg; break;
        case 'l': o.listen = optarg; break;
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &v)) return 2; o.seed = (uint64_t)v; break;
        case 'w': o.weights = optarg; break;
        case 't': if (mc_parse_pos_int("--threads", optarg, 1024, &v)) return 2; o.threads = (int)v; break;
        case 'd': o.device = optarg; break;
        case 'M': {
            char *end;
            o.mem_limit_mb = strtod(optarg, &end);
            if (end == optarg || *end || o.mem_limit_mb < 0) {
                fprintf(stderr, "mchair node: --mem-limit needs MiB >= 0 (0: no bound), got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'q': o.quiet = 1; break;
        case 'h': node_usage(stdout); return 0;
        default: node_usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.farm) {
        if (!o.farm) fprintf(stderr, "mchair node: --farm is required\n");
        else fprintf(stderr, "mchair node: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    mc_status st = mc_node_run(&o, &node_stop);
    if (st) {
        fprintf(stderr, "mchair node: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
        return 1;
    }
    return 0;
}
