/* cmd_initial.c - `mchair initial`: the farm's source and sink (farm/initial.h),
 * over a static farm file, a master inside this process (--dynamic) or a
 * master elsewhere (--master).  Prints per-inference lines, the summary,
 * events and lost tags; writes the JSON report and the CK timer file. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../core/flag.h"
#include "../farm/farmfile.h"
#include "../farm/initial.h"
#include "../farm/master.h"
#include "../models/model.h"
#include "../models/twostream.h"
#include "cli.h"

#define MAX_INPUTS 256

static mc_flag init_stop;
static void on_signal(int sig)
{
    (void)sig;
    init_stop = 1;
}

typedef struct initial_args {
    mc_initial_opts run;
    mc_master_opts master;
    const char *json, *timer, *outputs, *master_addr, *key_file;
    const char *inputs[MAX_INPUTS];
    int n_inputs, dynamic, encrypt;
    const char *video; /* --video SRC[,SRC...] */
    long streams;      /* --streams K */
    double fps;        /* --fps F: each stream's frame rate */
} initial_args;

static void initial_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair initial --farm FARM.json [options]                       (a static farm)\n"
            "       mchair initial --dynamic --model M --listen ADDR:PORT --devices N [options]\n"
            "       mchair initial --master HOST:PORT --model M --listen ADDR:PORT [options]\n"
            "\n"
            "Source and sink of a farm: sends frames to the first task, receives the final\n"
            "results and reports end-to-end latency, IPS (1/mean latency), throughput,\n"
            "per-task latency and what became of every tag (done, dropped, lost and why).\n"
            "With --dynamic the farm's master runs here: nodes started with `mchair node\n"
            "--master ADDR:PORT` join it, the stream starts once N have joined, and the\n"
            "master re-plans when devices leave, join or slow down; frames lost on the way\n"
            "are sent again (docs/farm.md).\n"
            "\n"
            "  --farm FILE         farm file\n"
            "  --model M           model (a dynamic farm; or when the farm file has none)\n"
            "  --repeat N          frames to send (default $STAT_REPEAT, else 10)\n"
            "  --rate FPS          send at this rate (default: closed loop, --window in flight)\n"
            "  --window W          frames in flight at most (default: number of devices)\n"
            "  --input FILES       comma-separated frame files, used in turn: PPM, JPEG or PNG images of\n"
            "                      any size (resized to the input), raw float32 or raw uint8\n"
            "  --video SRC[,SRC]   frames from a video: random, a folder of images, a Y4M or raw RGB24\n"
            "                      file, resized to the model's input; one source, or one per stream\n"
            "  --streams K         K streams (cameras) at once; tag i is frame i/K of stream i%%K\n"
            "                      (default 1); random streams use seeds S, S+1, ...\n"
            "  --fps F             each stream's frame rate (sends at K*F frames/s; as --rate)\n"
            "  --seed S            seed of the random frames (default 1; frame i as predict's i-th)\n"
            "  --frames uint8|float32  how random frames travel (default uint8, the artifact's\n"
            "                      150528-byte frames; float32 is 4x the bytes, same numbers)\n"
            "  --timeout S         a frame not back after S seconds is lost (default 60)\n"
            "  --outputs DIR       write each result to DIR/<tag>.f32\n"
            "  --json FILE         write a JSON report\n"
            "  --timer FILE        write the CK timer file (tmp-ck-timer.json)\n"
            "  --listen ADDR:PORT  where results (and control messages) arrive\n"
            "                      (default: the farm's initial address)\n"
            "  --quiet             only the summary and the events\n"
            "dynamic farms:\n"
            "  --dynamic           run the master in this process\n"
            "  --master HOST:PORT  use a master elsewhere (`mchair master`)\n"
            "  --tries N           sends of one frame at most (default 8; 0.25 s doubling to 4 s apart)\n"
            "  --wait S            wait at most S seconds for the devices (default 300)\n");
    mc_master_usage(f);
    mc_key_usage(f);
}

static int pos_double(const char *opt, const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end || !(*out > 0)) {
        fprintf(stderr, "mchair initial: %s needs a positive number, got '%s'\n", opt, v);
        return -1;
    }
    return 0;
}

static int parse_initial(int argc, char **argv, initial_args *a)
{
    static const struct option lo[] = {
        {"farm", 1, 0, 'f'},     {"model", 1, 0, 'm'},      {"repeat", 1, 0, 'r'},   {"rate", 1, 0, 'R'},
        {"window", 1, 0, 'W'},   {"input", 1, 0, 'i'},      {"seed", 1, 0, 's'},     {"timeout", 1, 0, 'T'},
        {"outputs", 1, 0, 'o'},  {"json", 1, 0, 'j'},       {"timer", 1, 0, 't'},    {"listen", 1, 0, 'l'},
        {"quiet", 0, 0, 'q'},    {"help", 0, 0, 'h'},       {"frames", 1, 0, 'F'},   {"dynamic", 0, 0, 'D'},
        {"master", 1, 0, 'M'},   {"tries", 1, 0, 'y'},      {"wait", 1, 0, 'w'},     MC_MASTER_LONGOPTS,
        {"video", 1, 0, 'V'},    {"streams", 1, 0, 'K'},    {"fps", 1, 0, 'P'},
        MC_KEY_LONGOPTS,         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    mc_initial_opts *o = &a->run;
    o->seed = 1;
    o->timeout_s = 60;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'f': o->farm = optarg; break;
        case 'm': o->model = optarg; break;
        case 'r': if (mc_parse_pos_int("--repeat", optarg, 10000000, &o->repeat)) return 2; break;
        case 'R': if (pos_double("--rate", optarg, &o->rate)) return 2; break;
        case 'W': if (mc_parse_pos_int("--window", optarg, 1024, &o->window)) return 2; break;
        case 'i': {
            char *tok, *save = NULL;
            for (tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (a->n_inputs >= MAX_INPUTS) {
                    fprintf(stderr, "mchair initial: at most %d --input files\n", MAX_INPUTS);
                    return 2;
                }
                a->inputs[a->n_inputs++] = tok;
            }
            break;
        }
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &v)) return 2; o->seed = (uint64_t)v; break;
        case 'T': if (pos_double("--timeout", optarg, &o->timeout_s)) return 2; break;
        case 'o': a->outputs = optarg; break;
        case 'j': a->json = optarg; break;
        case 't': a->timer = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'F':
            if (!strcmp(optarg, "uint8")) o->float_frames = 0;
            else if (!strcmp(optarg, "float32")) o->float_frames = 1;
            else {
                fprintf(stderr, "mchair initial: --frames takes uint8 or float32, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'D': a->dynamic = 1; break;
        case 'M': a->master_addr = optarg; break;
        case 'V': a->video = optarg; break;
        case 'K': if (mc_parse_pos_int("--streams", optarg, 64, &a->streams)) return 2; break;
        case 'P': if (pos_double("--fps", optarg, &a->fps)) return 2; break;
        case 'y': if (mc_parse_pos_int("--tries", optarg, 250, &v)) return 2; o->max_tries = (int)v; break;
        case 'w': if (pos_double("--wait", optarg, &o->wait_s)) return 2; break;
        case MC_OPT_KEY_FILE: a->key_file = optarg; break;
        case MC_OPT_ENCRYPT: a->encrypt = 1; break;
        case 'h': initial_usage(stdout); return 1;
        default: {
            int m = mc_master_opt("initial", c, optarg, &a->master);
            if (m < 0) return 2;
            if (m == 0) {
                initial_usage(stderr);
                return 2;
            }
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mchair initial: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (a->video && a->n_inputs) {
        fprintf(stderr, "mchair initial: give --video or --input, not both\n");
        return 2;
    }
    if ((a->streams || a->fps) && !a->video) {
        fprintf(stderr, "mchair initial: --streams and --fps go with --video\n");
        return 2;
    }
    if (!a->streams) a->streams = 1;
    if (a->fps) {
        if (o->rate) {
            fprintf(stderr, "mchair initial: give --fps (per stream) or --rate, not both\n");
            return 2;
        }
        o->rate = a->fps * (double)a->streams;
    }
    if (!!o->farm + a->dynamic + !!a->master_addr != 1) {
        fprintf(stderr, "mchair initial: give one of --farm FILE, --dynamic or --master HOST:PORT\n");
        return 2;
    }
    if (!o->farm && (!o->model || !o->listen)) {
        fprintf(stderr, "mchair initial: a dynamic farm needs --model M and --listen ADDR:PORT\n");
        return 2;
    }
    if (a->dynamic && mc_master_opts_check("initial", &a->master)) return 2;
    if (!a->dynamic && (a->master.devices || a->master.profile || a->master.plans_dir)) {
        fprintf(stderr, "mchair initial: --devices, --profile and --plans go with --dynamic\n");
        return 2;
    }
    if (!o->repeat) {
        const char *env = getenv("STAT_REPEAT");
        o->repeat = 10;
        if (env && *env && mc_parse_pos_int("STAT_REPEAT", env, 10000000, &o->repeat)) return 2;
    }
    return 0;
}

static void write_output(void *ctx, long tag, const float *out, size_t n)
{
    const char *dir = ctx;
    char p[1024];
    snprintf(p, sizeof p, "%s/%ld.f32", dir, tag);
    if (mc_floats_write(p, out, n)) fprintf(stderr, "initial: %s\n", mc_error_last());
}

static void print_summary(const mc_initial_report *r)
{
    printf("frames %ld, done %ld, dropped %ld, lost %ld; mean latency %.4f s, IPS %.2f (1/mean), throughput %.2f/s, "
           "peak RSS %.0f MB\n",
           r->repeat, r->done, r->dropped, r->lost, r->mean_s, r->mean_s > 0 ? 1.0 / r->mean_s : 0, r->throughput_ips,
           mc_peak_rss_bytes() / 1e6);
    for (int i = 0; i < r->n_task_names; i++)
        if (r->task_n[i])
            printf("  task %-12s mean %.4f s over %ld results\n", r->task_name[i], r->task_sum[i] / r->task_n[i],
                   r->task_n[i]);
    for (int i = 0; i < r->n_task_names; i++)
        if (r->task_reloads[i])
            printf("  task %-12s reloaded before %ld results, %.3f s in all\n", r->task_name[i], r->task_reloads[i],
                   r->task_reload_sum[i]);
    if (r->rerouted) printf("failover: %ld frames went to another replica of the first task than routed\n", r->rerouted);
    if (r->dynamic) {
        printf("sent again: %ld times\n", r->reissued);
        for (int i = 0; i < r->n_events; i++) {
            const mc_initial_event *e = &r->events[i];
            printf("event %-9s at %7.2f s: epoch %ld, %d devices, %d loading a task; ", e->kind, e->t_s, e->epoch,
                   e->devices, e->moved);
            if (e->recovery_s >= 0) printf("results under it after %.3f s", e->recovery_s);
            else printf("no result under it");
            printf(" (%s)\n", e->why);
        }
    }
    if (r->lost) {
        printf("lost tags:");
        for (long i = 0; i < r->repeat; i++)
            if (r->state[i] == MC_TAG_LOST || r->state[i] == MC_TAG_FLIGHT || r->state[i] == MC_TAG_UNSENT)
                printf(" %ld", i);
        printf("\n");
        for (int i = 0; i < r->n_reasons; i++) printf("  tag %ld: %s\n", r->reason_tag[i], r->reason[i]);
    }
}

static mc_status write_json(const char *path, cJSON *j)
{
    char *txt = cJSON_Print(j);
    FILE *f = txt ? fopen(path, "w") : NULL;
    int bad = !f || fputs(txt, f) < 0;
    if (f && fclose(f)) bad = 1;
    free(txt);
    return bad ? mc_error_set(MC_ERR_IO, "%s: cannot write JSON report", path) : MC_OK;
}

int mc_cmd_initial(int argc, char **argv)
{
    /* the two-stream model runs on three farms with windows kept here */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--model") && mc_twostream_find(argv[i + 1])) return mc_cmd_initial_twostream(argc, argv);
    initial_args a;
    int rc = parse_initial(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : 2;
    mc_cli_stop_signals(on_signal);

    mc_initial_opts *o = &a.run;
    if (mc_key_open("initial", a.key_file, a.encrypt, "initial", o->listen ? o->listen : "farm-initial", o->quiet,
                    &o->auth))
        return 2;
    a.master.auth = o->auth;
    mc_master *master = NULL;
    mc_initial_report rep;
    memset(&rep, 0, sizeof rep);
    float *frames[MAX_INPUTS] = {0};
    float **vframes = NULL;
    int n_vframes = 0;
    mc_status st = MC_OK;
    rc = 2;
    if (a.n_inputs || a.video) { /* the frames to send, read once */
        mc_model m;
        char *model_ref = NULL;
        if (o->farm) {
            mc_farm *f = malloc(sizeof *f);
            if (!f || (st = mc_farm_load(o->farm, o->model, f))) {
                free(f);
                if (!st) st = mc_error_set(MC_ERR_NOMEM, "out of memory");
                goto fail;
            }
            model_ref = strdup(f->model);
            free(f);
        }
        st = mc_model_open(model_ref ? model_ref : o->model, &m);
        free(model_ref);
        if (st) goto fail;
        for (int i = 0; i < a.n_inputs && !st; i++) {
            if (!(frames[i] = malloc(mc_shape_count(&m.input) * sizeof(float))))
                st = mc_error_set(MC_ERR_NOMEM, "out of memory");
            else
                st = mc_input_read(a.inputs[i], m.input, frames[i]);
        }
        double fps = 0;
        if (!st && a.video) {
            long repeat = o->repeat ? o->repeat : 10;
            st = mc_initial_video_frames(a.video, (int)a.streams, repeat, m.input, o->seed, &vframes, &n_vframes, &fps);
        }
        mc_model_free(&m);
        if (st) goto fail;
        if (a.video) {
            o->inputs = (const float *const *)vframes;
            o->n_inputs = n_vframes;
            if (!o->quiet)
                printf("initial: --video %s: %ld stream(s), %d frames of each held (used in turn); the source "
                       "declares %.3f frames/s (0: none)\n", a.video, a.streams, n_vframes / (int)a.streams, fps);
        } else {
            o->inputs = (const float *const *)frames;
            o->n_inputs = a.n_inputs;
        }
    }
    if (a.outputs) {
        mkdir(a.outputs, 0777);
        o->on_result = write_output;
        o->result_ctx = (void *)a.outputs;
    }
    if (a.dynamic) {
        a.master.model = o->model;
        if ((st = mc_addr_parse(o->listen, MC_FARM_INITIAL_PORT, &a.master.initial))) goto fail;
        if ((st = mc_master_new(&a.master, &master)) || (st = mc_master_start(master))) goto fail;
        o->master = master;
    }
    o->master_addr = a.master_addr;
    st = mc_initial_run(o, &init_stop, &rep);
    if (st) goto fail;
    print_summary(&rep);
    if (a.video && a.streams > 1) /* each stream's frames: tag i is stream i % K */
        for (long k = 0; k < a.streams; k++) {
            long n = 0, done = 0, dropped = 0, lost = 0;
            for (long i = k; i < rep.repeat; i += a.streams, n++) {
                done += rep.state[i] == MC_TAG_DONE;
                dropped += rep.state[i] == MC_TAG_DROPPED;
                lost += rep.state[i] == MC_TAG_LOST;
            }
            printf("stream %ld: %ld frames, %ld done, %ld dropped, %ld lost\n", k, n, done, dropped, lost);
        }
    if (a.timer && (st = mc_timer_write(a.timer, rep.throughput_ips > 0 ? 1.0 / rep.throughput_ips : 0, rep.mean_s)))
        goto fail;
    if (a.json) {
        cJSON *j = mc_initial_report_json(&rep);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)mc_peak_rss_bytes());
        if (master) cJSON_AddItemToObject(j, "master", mc_master_report(master));
        st = write_json(a.json, j);
        cJSON_Delete(j);
        if (st) goto fail;
    }
    rc = rep.lost || rep.interrupted ? 1 : 0;
    goto done;
fail:
    fprintf(stderr, "mchair initial: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
    rc = 2;
done:
    mc_initial_report_free(&rep);
    mc_master_free(master);
    mc_auth_free(o->auth);
    for (int i = 0; i < a.n_inputs; i++) free(frames[i]);
    for (int i = 0; i < n_vframes; i++) free(vframes[i]);
    free(vframes);
    return rc;
}
