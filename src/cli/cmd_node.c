/* cmd_node.c - `mchair node`: one task node of a farm (see farm/node.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/flag.h"
#include "../devmodel/devmodel.h"
#include "../farm/node.h"
#include "cli.h"

static mc_flag node_stop, node_slow, node_slow_link;

static void on_signal(int sig)
{
    (void)sig;
    node_stop = 1;
}

/* Tests: SIGUSR1 toggles --test-slow-ms (a device that gets slower). */
static void on_usr1(int sig)
{
    (void)sig;
    node_slow = !node_slow;
}

/* Tests: SIGUSR2 toggles --test-link-ms (a link that gets slower). */
static void on_usr2(int sig)
{
    (void)sig;
    node_slow_link = !node_slow_link;
}

static void node_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair node --farm FARM.json [options]                 (a static farm)\n"
            "       mchair node --master HOST:PORT --listen ADDR:PORT [--mem MB]  (a dynamic farm)\n"
            "\n"
            "Runs one task of a farm: receives tensors (Avro IPC over HTTP, image.avpr),\n"
            "runs the task's layers and forwards the result.  Stops on SIGINT/SIGTERM.\n"
            "With --master the node joins the farm's master (it keeps trying until the master\n"
            "answers), sends heartbeats with its figures, and runs whatever task the master's\n"
            "table gives it, switching task without restarting (docs/farm.md).\n"
            "\n"
            "  --farm FILE         farm file (JSON; the CK avro machine file, extended)\n"
            "  --master HOST:PORT  the master (inside `mchair initial --dynamic`, or `mchair master`)\n"
            "  --advertise A:P     the address peers reach this node at (default: --listen)\n"
            "  --mem MB            memory this device offers the farm, told to the master\n"
            "  --heartbeat S       seconds between heartbeats (default 0.5)\n"
            "  --test-slow-ms MS   tests: SIGUSR1 toggles MS more compute per frame (default 200)\n"
            "  --test-link-ms MS   tests: a slow link: each output takes MS x (its bytes / its float32\n"
            "                      bytes) longer to send; SIGUSR2 toggles it off and on\n"
            "  --model M           model when the farm file has none (alexnet, vgg16, FILE)\n"
            "  --task NAME         the task to run (default: found from --listen or this machine's addresses)\n"
            "  --listen ADDR:PORT  address to serve (must be one of the task's addresses)\n"
            "  --seed S            seed of the random weights (default 1, as predict)\n"
            "  --weights FILE      weight file instead of random weights\n"
            "  --threads T         compute threads (default: all cores)\n"
            "  --device cpu|gpu    backend (default cpu)\n"
            "  --device-model P    an emulated device: pad each frame's compute to the time the device\n"
            "                      model P (rpi3, or a preset file) gives the task's layers\n"
            "  --mem-limit MB      memory bound in MiB (default: the task's weights + 64; 0: none);\n"
            "                      Winograd's transformed weights are built only as far as they fit\n"
            "  --wire f32|f16|int8 encoding of this node's outputs (default: the farm file's \"wire\" of\n"
            "                      the task; f32); used only towards nodes that announce it (docs/wire.md)\n"
            "  --quiet             no start-up line\n");
    mc_key_usage(f);
}

int mc_cmd_node(int argc, char **argv)
{
    static const struct option lo[] = {{"farm", 1, 0, 'f'},   {"model", 1, 0, 'm'},   {"task", 1, 0, 'k'},
                                       {"listen", 1, 0, 'l'}, {"seed", 1, 0, 's'},    {"weights", 1, 0, 'w'},
                                       {"threads", 1, 0, 't'}, {"device", 1, 0, 'd'}, {"quiet", 0, 0, 'q'},
                                       {"mem-limit", 1, 0, 'M'}, {"master", 1, 0, 'a'},
                                       {"advertise", 1, 0, 'A'}, {"mem", 1, 0, 'e'},
                                       {"heartbeat", 1, 0, 'H'}, {"test-slow-ms", 1, 0, 'S'},
                                       {"device-model", 1, 0, 'D'}, {"wire", 1, 0, 'W'},
                                       {"test-link-ms", 1, 0, 'L'},
                                       {"help", 0, 0, 'h'},   MC_KEY_LONGOPTS,       {0, 0, 0, 0}};
    static mc_devmodel dm; /* lives as long as the node */
    mc_node_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.mem_limit_mb = -1;
    o.slow = &node_slow;
    o.slow_ms = 200;
    o.slow_link = &node_slow_link;
    node_slow_link = 1; /* on from the start when --test-link-ms is given */
    long v;
    int c, encrypt = 0;
    const char *key_file = NULL;
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
        case 'D':
            if (mc_devmodel_open(optarg, &dm)) {
                fprintf(stderr, "mchair node: --device-model: %s\n", mc_error_last());
                return 2;
            }
            o.devmodel = &dm;
            break;
        case 'W': {
            mc_wire w;
            if (mc_wire_parse(optarg, &w)) {
                fprintf(stderr, "mchair node: --wire: %s\n", mc_error_last());
                return 2;
            }
            o.wire = optarg;
            break;
        }
        case 'a': o.master = optarg; break;
        case 'A': o.advertise = optarg; break;
        case 'e':
        case 'H':
        case 'L':
        case 'S': {
            char *end;
            double v2 = strtod(optarg, &end);
            if (end == optarg || *end || v2 < 0 || (c == 'H' && v2 < 0.05)) {
                fprintf(stderr, "mchair node: --%s needs a number%s, got '%s'\n",
                        c == 'e' ? "mem" : c == 'H' ? "heartbeat" : c == 'L' ? "test-link-ms" : "test-slow-ms",
                        c == 'H' ? " >= 0.05" : " >= 0",
                        optarg);
                return 2;
            }
            if (c == 'e') o.mem_mb = v2;
            else if (c == 'H') o.heartbeat_s = v2;
            else if (c == 'L') o.slow_link_ms = v2;
            else o.slow_ms = v2;
            break;
        }
        case 'q': o.quiet = 1; break;
        case MC_OPT_KEY_FILE: key_file = optarg; break;
        case MC_OPT_ENCRYPT: encrypt = 1; break;
        case 'h': node_usage(stdout); return 0;
        default: node_usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.farm == !o.master) {
        if (optind < argc) fprintf(stderr, "mchair node: unexpected argument '%s'\n", argv[optind]);
        else if (!o.farm) fprintf(stderr, "mchair node: --farm FILE or --master HOST:PORT is required\n");
        else fprintf(stderr, "mchair node: --farm and --master exclude each other\n");
        return 2;
    }
    if (o.master && !o.listen) {
        fprintf(stderr, "mchair node: --master needs --listen ADDR:PORT\n");
        return 2;
    }
    const char *where = o.advertise ? o.advertise : o.listen ? o.listen : o.task;
    if (mc_key_open("node", key_file, encrypt, "node", where, o.quiet, &o.auth)) return 2;
    mc_cli_stop_signals(on_signal);
    struct sigaction su;
    memset(&su, 0, sizeof su);
    su.sa_handler = on_usr1;
    sigaction(SIGUSR1, &su, NULL);
    su.sa_handler = on_usr2;
    sigaction(SIGUSR2, &su, NULL);
    mc_status st = mc_node_run(&o, &node_stop);
    mc_auth_free(o.auth);
    if (st) {
        fprintf(stderr, "mchair node: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
        return 1;
    }
    return 0;
}
