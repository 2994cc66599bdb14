/* cmd_node.c - `mchair node`: one task node of a farm (see farm/node.h). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/flag.h"
#include "../devmodel/devmodel.h"
#include "../farm/farmfile.h"
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
            "  --quiet             no start-up line\n"
            "  --stats FILE        at the end, write the node's figures (JSON): per task, frames computed,\n"
            "                      seconds computing, loads, reloads and seconds reloading\n"
            "\n"
            "One device holding several tasks (the two-stream one-device system, docs/twostream.md):\n"
            "  mchair node --farm S.json,T.json,H.json --listen HOST [--mem MB | --device-model rpi3]\n"
            "runs every task whose address in any of the farm files is on HOST (each on its own\n"
            "port; farm file i's weights from seed S+i, or --weights W0,W1,..), sharing one device:\n"
            "one task computes at a time, and the tasks' weights are held within --mem MB (under a\n"
            "device model: its memory budget, weight copies counted) or without a bound; a frame for\n"
            "a task that was evicted loads it again (evicting the least recently used), and each\n"
            "reload is timed (padded to the device model's load rate), logged, counted in --stats and\n"
            "carried on the frame as metadata mc.r.TASK (seconds).\n"
            "  --all-tasks         the same with one farm file\n");
    mc_key_usage(f);
}

/* Writes the pool's figures as JSON to `path`. */
static int write_stats(mc_node_pool *pool, const char *path)
{
    cJSON *j = mc_node_pool_json(pool);
    char *txt = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    FILE *f = txt ? fopen(path, "w") : NULL;
    int bad = !f || fputs(txt, f) < 0;
    if (f && fclose(f)) bad = 1;
    if (bad) fprintf(stderr, "mchair node: --stats %s: cannot write it\n", path);
    free(txt);
    return bad;
}

/* One task's node on a device holding several. */
typedef struct device_task {
    mc_node_opts o;
    char listen[MC_FARM_HOST_MAX + 16];
    pthread_t th;
    int started;
    mc_status st;
} device_task;

static void *device_task_main(void *arg)
{
    device_task *d = arg;
    d->st = mc_node_run(&d->o, &node_stop);
    if (d->st) {
        fprintf(stderr, "mchair node %s (%s): %s (%s)\n", d->o.task, d->listen, mc_error_last(),
                mc_status_to_string(d->st));
        node_stop = 1; /* one task failing stops the device */
    }
    return NULL;
}

/* Splits "a,b,c" into at most `max` parts (in `buf`); returns the count. */
static int split_list(const char *s, char *buf, size_t cap, const char **part, int max)
{
    snprintf(buf, cap, "%s", s);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) part[n++] = tok;
    return n;
}

#define DEVICE_FARMS 8
#define DEVICE_TASKS 64

/* A device holding every task of several farm files whose address is on
 * --listen's host: one node per task, sharing one pool (node.h). */
static int run_device(const mc_node_opts *base, int mem_given, const char *stats)
{
    static char fbuf[4096], wbuf[4096];
    const char *files[DEVICE_FARMS], *weights[DEVICE_FARMS];
    int nf = split_list(base->farm, fbuf, sizeof fbuf, files, DEVICE_FARMS), nw = 0;
    if (base->weights && (nw = split_list(base->weights, wbuf, sizeof wbuf, weights, DEVICE_FARMS)) != nf) {
        fprintf(stderr, "mchair node: --weights lists %d files for %d farm files\n", nw, nf);
        return 2;
    }
    if (!base->listen || strchr(base->listen, ':')) {
        fprintf(stderr, "mchair node: several farm files (or --all-tasks) need --listen HOST, the device's address "
                        "without a port (each task listens on its own port)\n");
        return 2;
    }
    if (base->task) {
        fprintf(stderr, "mchair node: --task does not go with several farm files (the device runs all its tasks)\n");
        return 2;
    }
    static char names[DEVICE_TASKS][MC_NAME_MAX];
    double budget = mem_given ? base->mem_mb : base->devmodel ? mc_devmodel_budget_mb(base->devmodel) : 0;
    device_task *d = calloc(DEVICE_TASKS, sizeof *d);
    mc_farm *farm = malloc(sizeof *farm);
    mc_node_pool *pool = NULL;
    int nd = 0, rc = 0;
    if (!d || !farm || mc_node_pool_new(budget, base->devmodel, &pool)) {
        fprintf(stderr, "mchair node: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 0; i < nf && !rc; i++) {
        char *text = NULL;
        if (mc_farm_read_text(files[i], &text) || mc_farm_parse(text, files[i], base->model, farm)) {
            fprintf(stderr, "mchair node: %s\n", mc_error_last());
            free(text);
            rc = 2;
            break;
        }
        free(text);
        for (int t = 0; t < farm->n_tasks && !rc; t++)
            for (int a = 0; a < farm->tasks[t].n_addr && !rc; a++) {
                const mc_addr *ad = &farm->tasks[t].addr[a];
                if (strcmp(ad->host, base->listen)) continue;
                for (int j = 0; j < nd; j++)
                    if (atoi(strrchr(d[j].listen, ':') + 1) == ad->port) {
                        fprintf(stderr, "mchair node: %s: task %s has port %d, as task %s of %s: one port per task\n",
                                files[i], farm->tasks[t].name, ad->port, d[j].o.task, d[j].o.farm);
                        rc = 2;
                    }
                if (rc) break;
                if (nd == DEVICE_TASKS) {
                    fprintf(stderr, "mchair node: more than %d tasks on %s\n", DEVICE_TASKS, base->listen);
                    rc = 2;
                    break;
                }
                device_task *e = &d[nd++];
                e->o = *base;
                e->o.farm = files[i];
                e->o.farm_label = files[i];
                snprintf(names[nd - 1], sizeof names[nd - 1], "%s", farm->tasks[t].name);
                e->o.task = names[nd - 1]; /* the farm struct is reused for the next file */
                e->o.seed = base->seed + (uint64_t)i; /* the two-stream pipeline's: spatial S, temporal S+1, head S+2 */
                e->o.weights = nw ? weights[i] : NULL;
                e->o.pool = pool;
                mc_addr_str(ad, e->listen, sizeof e->listen);
                e->o.listen = e->listen;
            }
    }
    if (!rc && nd == 0) {
        fprintf(stderr, "mchair node: no task of %s has an address on %s\n", base->farm, base->listen);
        rc = 2;
    }
    if (!rc && !base->quiet) {
        printf("device %s: %d tasks of %d farm files, memory budget %s", base->listen, nd, nf, budget > 0 ? "" : "none");
        if (budget > 0) printf("%.1f MiB%s", budget, mem_given ? "" : " (the device model's)");
        printf("\n");
        fflush(stdout);
    }
    for (int j = 0; j < nd && !rc; j++) {
        if (pthread_create(&d[j].th, NULL, device_task_main, &d[j])) {
            fprintf(stderr, "mchair node: cannot start a thread for task %s\n", d[j].o.task);
            node_stop = 1;
            rc = 1;
            break;
        }
        d[j].started = 1;
    }
    for (int j = 0; j < nd; j++)
        if (d[j].started) {
            pthread_join(d[j].th, NULL);
            if (d[j].st) rc = 1;
        }
    if (pool && nd && !base->quiet) mc_node_pool_print(pool, stderr);
    if (pool && nd && stats && write_stats(pool, stats)) rc = 1;
out:
    mc_node_pool_free(pool);
    free(farm);
    free(d);
    return rc;
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
                                       {"test-link-ms", 1, 0, 'L'}, {"stats", 1, 0, 'X'},
                                       {"all-tasks", 0, 0, 'T'},
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
    int c, encrypt = 0, all_tasks = 0, mem_given = 0;
    const char *key_file = NULL, *stats = NULL;
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
            if (c == 'e') {
                o.mem_mb = v2;
                mem_given = 1;
            }
            else if (c == 'H') o.heartbeat_s = v2;
            else if (c == 'L') o.slow_link_ms = v2;
            else o.slow_ms = v2;
            break;
        }
        case 'q': o.quiet = 1; break;
        case 'X': stats = optarg; break;
        case 'T': all_tasks = 1; break;
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
    mc_status st;
    if (o.farm && (all_tasks || strchr(o.farm, ','))) {
        int rc = run_device(&o, mem_given, stats);
        mc_auth_free(o.auth);
        return rc;
    }
    mc_node_pool *pool = NULL;
    if (stats && !o.master) { /* a device of one task: the pool only keeps its figures */
        if ((st = mc_node_pool_new(0, o.devmodel, &pool))) {
            fprintf(stderr, "mchair node: %s\n", mc_error_last());
            mc_auth_free(o.auth);
            return 1;
        }
        o.pool = pool;
    } else if (stats) {
        fprintf(stderr, "mchair node: --stats is for static nodes (--farm)\n");
        mc_auth_free(o.auth);
        return 2;
    }
    st = mc_node_run(&o, &node_stop);
    if (pool) {
        if (write_stats(pool, stats)) st = st ? st : MC_ERR_IO;
        mc_node_pool_free(pool);
    }
    mc_auth_free(o.auth);
    if (st) {
        fprintf(stderr, "mchair node: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
        return 1;
    }
    return 0;
}
