/* cmd_initial.c - `mchair initial`: the farm's source and sink.
 *
 * Sends frames (random, as the artifact did, or files) to the first task,
 * at most --window in flight (or paced at --rate), and collects the final
 * results (forward calls with next = "initial").  Results are reordered by
 * tag: per-inference lines print in tag order.  A frame is lost when the
 * first task cannot be reached (after retries), when a node reports that it
 * could not deliver it (mc.error metadata), or when it is not back within
 * --timeout.  A frame is dropped (counted apart from lost ones) when the
 * first task asked us to hold off (backpressure, response metadata
 * mc.almost_full) at the time it was due at --rate, or when a node dropped it
 * and said so (mc.dropped; at --rate frames carry mc.droppable, which lets
 * nodes drop them).  In closed loop initial waits instead of dropping.
 * Exits when every frame is accounted for: 0 if none was lost.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../farm/farmfile.h"
#include "../farm/frame.h"
#include "../farm/queue.h"
#include "../farm/send.h"
#include "../models/model.h"
#include "../models/net.h"
#include "../models/weights.h"
#include "../net/http.h"
#include "cli.h"

#define RESULTS_QUEUE 64
#define RESULTS_BYTES ((size_t)16 << 20) /* and at most this many bytes (or 2 results) */
#define MAX_INPUTS 256
#define LOST_REASONS 64

static volatile sig_atomic_t init_stop;
static void on_signal(int sig)
{
    (void)sig;
    init_stop = 1;
}

typedef struct initial_opts {
    const char *farm, *model, *listen, *json, *timer, *outputs;
    const char *inputs[MAX_INPUTS];
    int n_inputs;
    long repeat, window;
    double rate, timeout_s;
    uint64_t seed;
    int quiet;
    int float_frames; /* 1: send random frames as float32 instead of uint8 */
} initial_opts;

enum { F_UNSENT, F_FLIGHT, F_DONE, F_LOST, F_DROPPED };

typedef struct sink_ctx {
    mc_ipc *ipc;
    mc_queue results;
    size_t want;     /* floats per result */
    int last_parts;
    const mc_split_part *last_sp; /* parts of a split last task (NULL if not split) */
    long repeat;
} sink_ctx;

/* HTTP side of the sink: checks and queues results. */
static mc_status on_result(void *ctx, mc_ipc_forward *f)
{
    sink_ctx *s = ctx;
    if (strcmp(f->next, "initial"))
        return mc_error_set(MC_ERR_INVALID_ARG, "this is the initial node; got next='%s'", f->next);
    char *end;
    long idx = strtol(f->tag, &end, 10);
    if (!*f->tag || *end || idx < 0 || idx >= s->repeat)
        return mc_error_set(MC_ERR_NOT_FOUND, "tag '%s' was not sent by this initial node", f->tag);
    const char *err = mc_ipc_meta_get(&f->meta, "mc.error");
    if (!err) err = mc_ipc_meta_get(&f->meta, "mc.dropped");
    int part = 0;
    size_t want = s->want;
    if (!err && s->last_sp) {
        const char *p = mc_ipc_meta_get(&f->meta, "mc.part");
        int k, P;
        if (!p || sscanf(p, "%d/%d", &k, &P) != 2 || P != s->last_parts || k < 0 || k >= P)
            return mc_error_set(MC_ERR_FORMAT, "result parts need metadata mc.part=k/%d", s->last_parts);
        want = mc_split_out_count(&s->last_sp[k]);
        part = k;
    }
    if (!err && f->input_len != want * sizeof(float))
        return mc_error_set(MC_ERR_SHAPE, "result of %zu bytes; expected %zu float32 values", f->input_len, want);
    mc_frame *fr = mc_frame_new(f->tag, err ? 0 : want);
    if (!fr) return mc_error_set(MC_ERR_NOMEM, "initial: out of memory");
    if (!err) memcpy(fr->data, f->input, want * sizeof(float));
    else fr->n = 0;
    fr->part = part;
    fr->meta = f->meta;
    fr->t_recv = mc_now();
    if (mc_queue_push_sized(&s->results, fr, fr->n * sizeof(float), 10.0, NULL)) {
        mc_frame_free(fr);
        return mc_error_set(MC_ERR_FULL, "busy: initial result buffer is full");
    }
    return MC_OK;
}

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    sink_ctx *s = ctx;
    return mc_ipc_serve(s->ipc, body, len, on_result, s, resp, resp_len);
}

static void initial_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair initial --farm FARM.json [options]\n"
            "\n"
            "Source and sink of a farm: sends frames to the first task, receives the final\n"
            "results and reports end-to-end latency, IPS (1/mean latency), throughput,\n"
            "per-task latency and lost tags.\n"
            "\n"
            "  --farm FILE         farm file\n"
            "  --model M           model when the farm file has none\n"
            "  --repeat N          frames to send (default $STAT_REPEAT, else 10)\n"
            "  --rate FPS          send at this rate (default: closed loop, --window in flight)\n"
            "  --window W          frames in flight at most (default: number of devices)\n"
            "  --input FILES       comma-separated frame files (float32, uint8 or P6), used in turn\n"
            "  --seed S            seed of the random frames (default 1; frame i as predict's i-th)\n"
            "  --frames uint8|float32  how random frames travel (default uint8, the artifact's\n"
            "                      150528-byte frames; float32 is 4x the bytes, same numbers)\n"
            "  --timeout S         a frame not back after S seconds is lost (default 60)\n"
            "  --outputs DIR       write each result to DIR/<tag>.f32\n"
            "  --json FILE         write a JSON report\n"
            "  --timer FILE        write the CK timer file (tmp-ck-timer.json)\n"
            "  --listen ADDR:PORT  where results arrive (default: the farm's initial address)\n"
            "  --quiet             only the summary\n");
}

static int parse_initial(int argc, char **argv, initial_opts *o)
{
    static const struct option lo[] = {
        {"farm", 1, 0, 'f'},   {"model", 1, 0, 'm'},  {"repeat", 1, 0, 'r'},  {"rate", 1, 0, 'R'},
        {"window", 1, 0, 'W'}, {"input", 1, 0, 'i'},  {"seed", 1, 0, 's'},    {"timeout", 1, 0, 'T'},
        {"outputs", 1, 0, 'o'}, {"json", 1, 0, 'j'},  {"timer", 1, 0, 't'},   {"listen", 1, 0, 'l'},
        {"quiet", 0, 0, 'q'},  {"help", 0, 0, 'h'},   {"frames", 1, 0, 'F'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
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
        case 'R':
            o->rate = atof(optarg);
            if (o->rate <= 0) {
                fprintf(stderr, "mchair initial: --rate needs a positive number of frames per second\n");
                return 2;
            }
            break;
        case 'W': if (mc_parse_pos_int("--window", optarg, 1024, &o->window)) return 2; break;
        case 'i': {
            char *s = optarg, *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (o->n_inputs >= MAX_INPUTS) {
                    fprintf(stderr, "mchair initial: at most %d --input files\n", MAX_INPUTS);
                    return 2;
                }
                o->inputs[o->n_inputs++] = tok;
            }
            break;
        }
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &v)) return 2; o->seed = (uint64_t)v; break;
        case 'T':
            o->timeout_s = atof(optarg);
            if (o->timeout_s <= 0) {
                fprintf(stderr, "mchair initial: --timeout needs positive seconds\n");
                return 2;
            }
            break;
        case 'o': o->outputs = optarg; break;
        case 'j': o->json = optarg; break;
        case 't': o->timer = optarg; break;
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
        case 'h': initial_usage(stdout); return 1;
        default: initial_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mchair initial: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->farm) {
        fprintf(stderr, "mchair initial: --farm is required\n");
        return 2;
    }
    if (!o->repeat) {
        const char *env = getenv("STAT_REPEAT");
        o->repeat = 10;
        if (env && *env && mc_parse_pos_int("STAT_REPEAT", env, 10000000, &o->repeat)) return 2;
    }
    return 0;
}

typedef struct task_time {
    double sum;
    long n;
} task_time;

int mc_cmd_initial(int argc, char **argv)
{
    initial_opts o;
    int rc = parse_initial(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    mc_farm *farm = calloc(1, sizeof *farm);
    mc_model m;
    int have_model = 0, have_q = 0, have_merge = 0;
    sink_ctx sink;
    memset(&sink, 0, sizeof sink);
    mc_http_server *srv = NULL;
    mc_rpc *rpc = NULL;
    mc_merge merge;
    mc_split_part *last_sp = NULL, *first_sp = NULL;
    float *in = NULL, **files = NULL;
    uint8_t *frame_u8 = NULL;
    double *t_send = NULL, *lat = NULL;
    unsigned char *state = NULL;
    task_time tt[MC_FARM_MAX_TASKS];
    memset(tt, 0, sizeof tt);
    char (*reasons)[320] = calloc(LOST_REASONS, sizeof *reasons);
    long *reason_tag = calloc(LOST_REASONS, sizeof *reason_tag);
    int n_reasons = 0;
    mc_status st = MC_OK;
    rc = 2;
    if (!farm || !reasons || !reason_tag) {
        st = mc_error_set(MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = mc_farm_load(o.farm, o.model, farm))) goto fail;
    if ((st = mc_model_open(farm->model, &m))) goto fail;
    have_model = 1;
    mc_shape in_shape = m.input;
    size_t nin = mc_shape_count(&in_shape);
    size_t nout = mc_shape_count(&m.layers[m.n_layers - 1].out);
    const mc_farm_task *last = &farm->tasks[farm->n_tasks - 1], *first = &farm->tasks[0];
    /* A split last task: merge its parts; a split first task: cut each part's input. */
    if ((st = mc_farm_task_parts(&m, last, &last_sp)) || (st = mc_farm_task_parts(&m, first, &first_sp))) goto fail;
    mc_farm_cut cut = {first_sp, &m.layers[first->first]};
    if (!o.window) o.window = mc_farm_devices(farm);

    /* inputs */
    in = malloc(nin * sizeof *in);
    /* Random frames travel as the artifact's uint8 images unless the first
     * task is split (its parts need float32 slices cut here). */
    const int send_u8 = !o.n_inputs && !o.float_frames && first->method == MC_SPLIT_DATA;
    if (send_u8 && !(frame_u8 = malloc(nin))) {
        st = mc_error_set(MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    t_send = calloc((size_t)o.repeat, sizeof *t_send);
    lat = calloc((size_t)o.repeat, sizeof *lat);
    state = calloc((size_t)o.repeat, 1);
    if (!in || !t_send || !lat || !state) {
        st = mc_error_set(MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o.n_inputs) {
        files = calloc((size_t)o.n_inputs, sizeof *files);
        if (!files) {
            st = mc_error_set(MC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < o.n_inputs; i++) {
            if (!(files[i] = malloc(nin * sizeof(float)))) {
                st = mc_error_set(MC_ERR_NOMEM, "out of memory");
                goto fail;
            }
            if ((st = mc_input_read(o.inputs[i], in_shape, files[i]))) goto fail;
        }
    }
    if (o.outputs) mkdir(o.outputs, 0777);

    /* sink */
    sink.want = nout;
    sink.last_parts = last->parts;
    sink.last_sp = last_sp;
    sink.repeat = o.repeat;
    size_t rbytes = 2 * nout * sizeof(float) > RESULTS_BYTES ? 2 * nout * sizeof(float) : RESULTS_BYTES;
    if ((st = mc_queue_init_bytes(&sink.results, RESULTS_QUEUE, rbytes))) goto fail;
    have_q = 1;
    if (last_sp) {
        if ((st = mc_merge_init(&merge, last_sp, last->parts, &m.layers[last->first], 64, o.timeout_s))) goto fail;
        have_merge = 1;
    }
    if ((st = mc_ipc_new(&sink.ipc)) || (st = mc_rpc_new(sink.ipc, &rpc))) goto fail;
    mc_addr la = farm->initial;
    if (o.listen && (st = mc_addr_parse(o.listen, MC_FARM_INITIAL_PORT, &la))) goto fail;
    if ((st = mc_http_server_start(la.host, la.port, nout * sizeof(float) + 65536, on_body, &sink, &srv))) goto fail;
    if (!o.quiet) {
        char ab[80];
        printf("initial: model %s, farm %s (%d devices, %d tasks), %ld frames, %s, results at %s\n", m.name,
               farm->preset[0] ? farm->preset : "from file", mc_farm_devices(farm), farm->n_tasks, o.repeat,
               o.rate > 0 ? "paced" : "closed loop", mc_addr_str(&la, ab, sizeof ab));
        fflush(stdout);
    }

    long next = 0, inflight = 0, accounted = 0, lowest = 0, done = 0, lost = 0, dropped = 0, rerouted = 0;
    mc_ipc_meta meta; /* a sampling source lets the farm drop frames under backpressure */
    meta.n = 0;
    if (o.rate > 0) mc_ipc_meta_set(&meta, "mc.droppable", "1");
    double t0 = mc_now(), t_first = 0, t_last = 0;
    while (accounted < o.repeat && !init_stop) {
        double now = mc_now();
        int can_send = next < o.repeat && inflight < o.window && (o.rate <= 0 || now >= t0 + next / o.rate);
        char tag[32];
        snprintf(tag, sizeof tag, "%ld", next);
        double held = can_send ? mc_farm_hold_s(rpc, farm, 0, tag) : 0;
        if (held > 0) {
            if (o.rate > 0) { /* lower the sampling rate: this frame is not taken */
                state[next] = F_DROPPED;
                accounted++;
                dropped++;
                next++;
            }
            can_send = 0;
        }
        if (can_send) {
            const float *x = in;
            if (files) x = files[next % o.n_inputs];
            else if (send_u8) mc_input_random_u8(frame_u8, nin, o.seed, (uint64_t)next);
            else mc_input_random(in, nin, o.seed, (uint64_t)next);
            t_send[next] = mc_now();
            if (!t_first) t_first = t_send[next];
            state[next] = F_FLIGHT;
            inflight++;
            mc_farm_delivery d = MC_FARM_DELIVERY_INIT;
            mc_status s = send_u8 ? mc_farm_send_u8(rpc, farm, tag, frame_u8, nin, &meta, MC_RPC_POLICY_DEFAULT,
                                                    &init_stop, &d)
                                  : mc_farm_send(rpc, farm, 0, first_sp ? &cut : NULL, tag, x, nin, &meta,
                                                 MC_RPC_POLICY_DEFAULT, &init_stop, &d);
            if (!s && d.failovers)
                fprintf(stderr, "initial: tag %s: a replica of %s was unreachable; sent to replica %d\n", tag,
                        farm->tasks[0].name, d.replica);
            if (!s && d.replica != mc_farm_route_replica(&farm->tasks[0], tag)) rerouted++;
            if (s == MC_ERR_FULL) { /* refused as busy: dropped, not lost */
                state[next] = F_DROPPED;
                inflight--;
                accounted++;
                dropped++;
            } else if (s) {
                state[next] = F_LOST;
                inflight--;
                accounted++;
                lost++;
                if (n_reasons < LOST_REASONS) {
                    reason_tag[n_reasons] = next;
                    snprintf(reasons[n_reasons++], 320, "%s", mc_error_last());
                }
                fprintf(stderr, "initial: lost tag %s: %s\n", tag, mc_error_last());
            }
            next++;
        }
        int more_to_send = next < o.repeat && inflight < o.window;
        double wait = more_to_send ? (o.rate > 0 ? t0 + next / o.rate - mc_now() : held) : 0.02;
        if (wait < 0) wait = 0;
        if (wait > 0.05) wait = 0.05;
        mc_frame *fr = mc_queue_pop(&sink.results, wait > 0 ? wait : 0.0005);
        while (fr) {
            long idx = strtol(fr->tag, NULL, 10);
            const char *err = mc_ipc_meta_get(&fr->meta, "mc.error");
            if (state[idx] != F_FLIGHT) { /* late or duplicate: ignore */
                mc_frame_free(fr);
            } else if (!err && mc_ipc_meta_get(&fr->meta, "mc.dropped")) {
                state[idx] = F_DROPPED;
                inflight--;
                accounted++;
                dropped++;
                mc_frame_free(fr);
            } else if (err) {
                state[idx] = F_LOST;
                inflight--;
                accounted++;
                lost++;
                if (n_reasons < LOST_REASONS) {
                    reason_tag[n_reasons] = idx;
                    snprintf(reasons[n_reasons++], 320, "%s", err);
                }
                fprintf(stderr, "initial: lost tag %ld: %s\n", idx, err);
                mc_frame_free(fr);
            } else {
                if (have_merge) {
                    char lt[MC_IPC_TAG_MAX];
                    int e;
                    fr = mc_merge_add(&merge, fr, mc_now(), lt, &e);
                }
                if (fr) {
                    state[idx] = F_DONE;
                    lat[idx] = fr->t_recv - t_send[idx];
                    t_last = fr->t_recv;
                    inflight--;
                    accounted++;
                    done++;
                    for (int k = 0; k < fr->meta.n; k++) {
                        if (strncmp(fr->meta.key[k], "mc.t.", 5)) continue;
                        int ti = mc_farm_find_task(farm, fr->meta.key[k] + 5);
                        if (ti >= 0) {
                            tt[ti].sum += atof(fr->meta.val[k]);
                            tt[ti].n++;
                        }
                    }
                    if (o.outputs) {
                        char p[1024];
                        snprintf(p, sizeof p, "%s/%ld.f32", o.outputs, idx);
                        if (mc_floats_write(p, fr->data, fr->n))
                            fprintf(stderr, "initial: %s\n", mc_error_last());
                    }
                    mc_frame_free(fr);
                }
            }
            fr = mc_queue_pop(&sink.results, 0);
        }
        /* timeouts */
        now = mc_now();
        for (long i = lowest; i < next; i++) {
            if (state[i] == F_FLIGHT && now - t_send[i] > o.timeout_s) {
                state[i] = F_LOST;
                inflight--;
                accounted++;
                lost++;
                if (n_reasons < LOST_REASONS) {
                    reason_tag[n_reasons] = i;
                    snprintf(reasons[n_reasons++], 320, "no result within %.1f s", o.timeout_s);
                }
                fprintf(stderr, "initial: lost tag %ld: no result within %.1f s\n", i, o.timeout_s);
            }
        }
        /* print in tag order */
        while (lowest < next && state[lowest] >= F_DONE) {
            if (!o.quiet) {
                if (state[lowest] == F_DONE) printf("inference %ld/%ld: %.4f s\n", lowest + 1, o.repeat, lat[lowest]);
                else printf("inference %ld/%ld: %s\n", lowest + 1, o.repeat, state[lowest] == F_DROPPED ? "dropped" : "lost");
            }
            lowest++;
        }
    }
    if (init_stop) fprintf(stderr, "initial: interrupted with %ld frames unaccounted\n", o.repeat - accounted);

    double mean = 0;
    for (long i = 0; i < o.repeat; i++)
        if (state[i] == F_DONE) mean += lat[i];
    mean = done ? mean / (double)done : 0;
    double span = t_last > t_first ? t_last - t_first : 0;
    double thr = span > 0 ? done / span : 0;
    printf("frames %ld, done %ld, dropped %ld, lost %ld; mean latency %.4f s, IPS %.2f (1/mean), throughput %.2f/s, "
           "peak RSS %.0f MB\n",
           o.repeat, done, dropped, lost, mean, mean > 0 ? 1.0 / mean : 0, thr, mc_peak_rss_bytes() / 1e6);
    for (int i = 0; i < farm->n_tasks; i++)
        if (tt[i].n)
            printf("  task %-12s mean %.4f s over %ld results\n", farm->tasks[i].name, tt[i].sum / tt[i].n, tt[i].n);
    if (rerouted)
        printf("failover: %ld frames went to another replica of %s than routed (one was unreachable)\n", rerouted,
               farm->tasks[0].name);
    if (lost) {
        printf("lost tags:");
        for (long i = 0; i < o.repeat; i++)
            if (state[i] == F_LOST || state[i] == F_FLIGHT || state[i] == F_UNSENT) printf(" %ld", i);
        printf("\n");
        for (int i = 0; i < n_reasons; i++) printf("  tag %ld: %s\n", reason_tag[i], reasons[i]);
    }
    if (o.timer && (st = mc_timer_write(o.timer, thr > 0 ? 1.0 / thr : 0, mean))) goto fail;
    if (o.json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", m.name);
        cJSON_AddStringToObject(r, "farm", farm->preset[0] ? farm->preset : o.farm);
        cJSON_AddNumberToObject(r, "devices", mc_farm_devices(farm));
        cJSON_AddNumberToObject(r, "repeat", (double)o.repeat);
        cJSON_AddNumberToObject(r, "done", (double)done);
        cJSON *a = cJSON_AddArrayToObject(r, "latency_s");
        for (long i = 0; i < o.repeat; i++)
            cJSON_AddItemToArray(a, state[i] == F_DONE ? cJSON_CreateNumber(lat[i]) : cJSON_CreateNull());
        /* when each result arrived, seconds after the first send (steady-state throughput) */
        cJSON *ra = cJSON_AddArrayToObject(r, "recv_s");
        for (long i = 0; i < o.repeat; i++)
            cJSON_AddItemToArray(ra, state[i] == F_DONE ? cJSON_CreateNumber(t_send[i] + lat[i] - t_first)
                                                        : cJSON_CreateNull());
        cJSON_AddNumberToObject(r, "mean_s", mean);
        cJSON_AddNumberToObject(r, "ips", mean > 0 ? 1.0 / mean : 0);
        cJSON_AddNumberToObject(r, "throughput_ips", thr);
        cJSON *ts = cJSON_AddObjectToObject(r, "task_mean_s");
        for (int i = 0; i < farm->n_tasks; i++)
            if (tt[i].n) cJSON_AddNumberToObject(ts, farm->tasks[i].name, tt[i].sum / tt[i].n);
        cJSON *lt = cJSON_AddArrayToObject(r, "lost");
        for (long i = 0; i < o.repeat; i++)
            if (state[i] != F_DONE && state[i] != F_DROPPED) cJSON_AddItemToArray(lt, cJSON_CreateNumber((double)i));
        cJSON *dt = cJSON_AddArrayToObject(r, "dropped");
        for (long i = 0; i < o.repeat; i++)
            if (state[i] == F_DROPPED) cJSON_AddItemToArray(dt, cJSON_CreateNumber((double)i));
        cJSON *lr = cJSON_AddObjectToObject(r, "lost_reasons");
        for (int i = 0; i < n_reasons; i++) {
            char k[32];
            snprintf(k, sizeof k, "%ld", reason_tag[i]);
            cJSON_AddStringToObject(lr, k, reasons[i]);
        }
        cJSON_AddNumberToObject(r, "rerouted", (double)rerouted);
        cJSON_AddNumberToObject(r, "peak_rss_bytes", (double)mc_peak_rss_bytes());
        char *txt = cJSON_Print(r);
        cJSON_Delete(r);
        FILE *f = txt ? fopen(o.json, "w") : NULL;
        int bad = !f || fputs(txt, f) < 0;
        if (f && fclose(f)) bad = 1;
        free(txt);
        if (bad) {
            st = mc_error_set(MC_ERR_IO, "%s: cannot write JSON report", o.json);
            goto fail;
        }
    }
    rc = lost || init_stop ? 1 : 0;
    goto done;
fail:
    fprintf(stderr, "mchair initial: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
    rc = 2;
done:
    mc_http_server_stop(srv);
    mc_rpc_free(rpc);
    if (have_q) mc_queue_free(&sink.results, mc_frame_free);
    if (have_merge) mc_merge_free(&merge);
    mc_ipc_free(sink.ipc);
    if (files)
        for (int i = 0; i < o.n_inputs; i++) free(files[i]);
    free(files);
    free(in);
    free(frame_u8);
    free(t_send);
    free(lat);
    free(state);
    free(reasons);
    free(reason_tag);
    free(last_sp);
    free(first_sp);
    if (have_model) mc_model_free(&m);
    free(farm);
    return rc;
}
