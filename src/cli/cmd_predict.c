/* cmd_predict.c - `mchair predict`: single-device inference and its report.
 *
 * Runs a model (or a layer range of it) repeatedly on one backend and
 * prints per-inference latency, mean, IPS and the top-5 classes; --layers
 * adds a per-layer latency/memory table, --json a machine-readable report
 * and --timer the CK timer file (tmp-ck-timer.json) the artifact wrote. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../backend/backend.h"
#include "../backend/cpu_blas.h"
#include "../core/alloc.h"
#include "../models/model.h"
#include "../models/net.h"
#include "../models/weights.h"
#include "../devmodel/devmodel.h"
#include "../models/twostream.h"
#include "cli.h"

typedef struct predict_opts {
    const char *model, *input, *weights, *save_weights, *save_input, *output, *json, *timer;
    const char *from, *to, *device, *devmodel;
    long repeat, warmup, threads, seed, winograd_mb;
    int layers, quiet;
} predict_opts;

static void predict_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair predict --model alexnet|vgg16|FILE [options]\n"
            "\n"
            "Runs batch-1 inference on this device and reports latency and IPS.\n"
            "\n"
            "  --model M           built-in model (alexnet, vgg16, resnet50, xception, c3d, the two-stream\n"
            "                      graphs twostream-spatial/-temporal/-head) or a model file;\n"
            "                      twostream and twostream-half run the two-stream pipeline\n"
            "                      (mchair predict --model twostream --help)\n"
            "  --repeat N          timed inferences (default: $STAT_REPEAT, else 10)\n"
            "  --warmup N          untimed inferences first (default 1)\n"
            "  --threads T         compute threads (default: all cores)\n"
            "  --device cpu|gpu    backend (default cpu; gpu needs the CUDA build)\n"
            "  --winograd-mb MB    memory Winograd-transformed weights may add (default 64, 0: off;\n"
            "                      a transformed layer frees its plain weights: it adds 7/16 of them)\n"
            "  --seed S            seed of the random weights and inputs (default 1)\n"
            "  --input FILE        input: a PPM, JPEG or PNG image of any size (resized), raw float32 or\n"
            "                      raw uint8 of the input's shape (default random)\n"
            "  --weights FILE      weight file (docs/weights.md) instead of random weights\n"
            "  --save-weights FILE write the weights used to FILE\n"
            "  --save-input FILE   write the (first) input as raw float32\n"
            "  --output FILE       write the (last) output as raw float32\n"
            "  --from L, --to L    run only layers L..L (names or indices, inclusive)\n"
            "  --layers            print a per-layer latency and memory table\n"
            "  --device-model P    an emulated device: pad each inference to the time the device\n"
            "                      model P (rpi3, or a preset file) gives the layers\n"
            "  --json FILE         write a JSON report\n"
            "  --timer FILE        write the CK timer file (e.g. tmp-ck-timer.json)\n"
            "  --quiet             print only the summary line\n"
            "  -h, --help          this text\n");
}

static int resolve_layer(const mc_model *m, const char *s, int *idx)
{
    int i = mc_model_find_layer(m, s);
    if (i < 0) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*s && !*end && v >= 0 && v < m->n_layers) i = (int)v;
    }
    if (i < 0) {
        fprintf(stderr, "mchair: model %s has no layer '%s' (layers:", m->name, s);
        for (int k = 0; k < m->n_layers; k++) fprintf(stderr, " %s", m->layers[k].name);
        fprintf(stderr, ")\n");
        return -1;
    }
    *idx = i;
    return 0;
}

static int parse_predict(int argc, char **argv, predict_opts *o)
{
    static const struct option lo[] = {
        {"model", 1, 0, 'm'},       {"repeat", 1, 0, 'r'},      {"warmup", 1, 0, 'W'},
        {"threads", 1, 0, 't'},     {"seed", 1, 0, 's'},        {"input", 1, 0, 'i'},
        {"weights", 1, 0, 'w'},     {"save-weights", 1, 0, 'S'}, {"save-input", 1, 0, 'I'},
        {"output", 1, 0, 'o'},      {"json", 1, 0, 'j'},        {"timer", 1, 0, 'T'},
        {"from", 1, 0, 'f'},        {"to", 1, 0, 'u'},          {"device", 1, 0, 'd'},
        {"layers", 0, 0, 'l'},      {"quiet", 0, 0, 'q'},       {"help", 0, 0, 'h'},
        {"winograd-mb", 1, 0, 'G'}, {"device-model", 1, 0, 'D'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->warmup = 1;
    o->seed = 1;
    o->device = "cpu";
    o->winograd_mb = 64;
    int c, have_warmup = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'r': if (mc_parse_pos_int("--repeat", optarg, 1000000, &o->repeat)) return 2; break;
        case 'W':
            have_warmup = 1;
            if (strcmp(optarg, "0") && mc_parse_pos_int("--warmup", optarg, 1000, &o->warmup)) return 2;
            if (!strcmp(optarg, "0")) o->warmup = 0;
            break;
        case 't': if (mc_parse_pos_int("--threads", optarg, 1024, &o->threads)) return 2; break;
        case 's': if (mc_parse_pos_int("--seed", optarg, 0x7fffffffL, &o->seed)) return 2; break;
        case 'i': o->input = optarg; break;
        case 'w': o->weights = optarg; break;
        case 'S': o->save_weights = optarg; break;
        case 'I': o->save_input = optarg; break;
        case 'o': o->output = optarg; break;
        case 'j': o->json = optarg; break;
        case 'T': o->timer = optarg; break;
        case 'f': o->from = optarg; break;
        case 'u': o->to = optarg; break;
        case 'd': o->device = optarg; break;
        case 'G':
            if (!strcmp(optarg, "0")) o->winograd_mb = 0;
            else if (mc_parse_pos_int("--winograd-mb", optarg, 1 << 20, &o->winograd_mb)) return 2;
            break;
        case 'l': o->layers = 1; break;
        case 'q': o->quiet = 1; break;
        case 'D': o->devmodel = optarg; break;
        case 'h': predict_usage(stdout); return 1;
        default: predict_usage(stderr); return 2;
        }
    }
    (void)have_warmup;
    if (optind < argc) {
        fprintf(stderr, "mchair predict: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model) {
        fprintf(stderr, "mchair predict: --model is required (alexnet, vgg16 or a model file)\n");
        return 2;
    }
    if (!o->repeat) {
        const char *env = getenv("STAT_REPEAT");
        o->repeat = 10;
        if (env && *env && mc_parse_pos_int("STAT_REPEAT", env, 1000000, &o->repeat)) return 2;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void top5(const float *p, int n, int *idx)
{
    for (int k = 0; k < 5; k++) idx[k] = -1;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 5; k++) {
            if (idx[k] < 0 || p[i] > p[idx[k]]) {
                memmove(idx + k + 1, idx + k, (size_t)(4 - k) * sizeof *idx);
                idx[k] = i;
                break;
            }
        }
    }
}

/* One line naming the processor and the BLAS kernels, so that a table of
 * timings always says what produced it. */
static void print_blas(FILE *f, const mc_blas_info *bi)
{
    fprintf(f, "processor %s (%s), OpenBLAS core %s (%s%s%s)%s%s\n", bi->processor, bi->cpu.flags, bi->core,
            bi->source, strcmp(bi->source, "auto") ? "" : ", OpenBLAS chose ",
            strcmp(bi->source, "auto") ? "" : bi->openblas_choice, bi->mismatch ? "; WARNING: " : "",
            bi->mismatch ? bi->note : "");
}

static void print_layers(const mc_model *m, const mc_net *n, const double *sum, long repeat,
                         const mc_blas_info *bi)
{
    double total = 0;
    printf("\n");
    print_blas(stdout, bi);
    for (int i = n->first; i < n->last; i++) total += sum[i - n->first];
    printf("%3s  %-14s %-9s %-12s %9s %9s %9s %10s %7s %8s\n", "#", "layer", "op", "output",
           "params MB", "out MB", "ws MB", "mean ms", "%", "GFLOP/s");
    for (int i = n->first; i < n->last; i++) {
        const mc_layer *l = &m->layers[i];
        char sb[64];
        double ms = sum[i - n->first] / repeat * 1e3;
        double pmb = l->has_params ? (mc_shape_count(&l->wshape) + mc_shape_count(&l->bshape)) * 4.0 / 1e6 : 0;
        double wmb = n->be->workspace_bytes(n->be, l) / 1e6;
        double macs = mc_op_get(l->op)->macs(l);
        printf("%3d  %-14s %-9s %-12s %9.2f %9.2f %9.2f %10.3f %6.1f%% %8.1f\n", i, l->name,
               mc_op_get(l->op)->name, mc_shape_str(&l->out, sb, sizeof sb), pmb,
               mc_shape_count(&l->out) * 4.0 / 1e6, wmb, ms, total > 0 ? 100 * sum[i - n->first] / total : 0,
               ms > 0 ? 2 * macs / (ms * 1e-3) / 1e9 : 0);
    }
}

static void json_blas(cJSON *r, const mc_blas_info *bi)
{
    cJSON *b = cJSON_AddObjectToObject(r, "blas");
    if (!b) return;
    cJSON_AddStringToObject(b, "core", bi->core);
    cJSON_AddStringToObject(b, "openblas_choice", bi->openblas_choice);
    cJSON_AddStringToObject(b, "source", bi->source);
    cJSON_AddStringToObject(b, "config", bi->config);
    cJSON_AddStringToObject(b, "processor", bi->processor);
    cJSON_AddStringToObject(b, "cpu_flags", bi->cpu.flags);
    cJSON_AddNumberToObject(b, "cpu_level", bi->cpu.level);
    cJSON_AddNumberToObject(b, "core_level", mc_blas_core_level(bi->core));
    cJSON_AddBoolToObject(b, "mismatch", bi->mismatch);
    if (bi->mismatch) cJSON_AddStringToObject(b, "note", bi->note);
}

static mc_status write_json(const char *path, const predict_opts *o, const mc_model *m, const mc_net *n,
                            const double *lat, long repeat, double mean, double median, double total_sec,
                            const int *top, const float *out, const double *sum, int top_ok,
                            const mc_blas_info *bi, cJSON *device_model)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return mc_error_set(MC_ERR_NOMEM, "json: out of memory");
    if (device_model) cJSON_AddItemToObject(r, "device_model", device_model); /* r owns it now */
    json_blas(r, bi);
    cJSON_AddStringToObject(r, "model", m->name);
    cJSON_AddStringToObject(r, "device", n->be->name);
    cJSON_AddNumberToObject(r, "threads", (double)o->threads);
    cJSON_AddNumberToObject(r, "repeat", (double)repeat);
    cJSON_AddStringToObject(r, "first_layer", m->layers[n->first].name);
    cJSON_AddStringToObject(r, "last_layer", m->layers[n->last - 1].name);
    cJSON *a = cJSON_AddArrayToObject(r, "latency_s");
    for (long i = 0; i < repeat; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(lat[i]));
    cJSON_AddNumberToObject(r, "mean_s", mean);
    cJSON_AddNumberToObject(r, "median_s", median);
    cJSON_AddNumberToObject(r, "ips", mean > 0 ? 1.0 / mean : 0);
    cJSON_AddNumberToObject(r, "throughput_ips", total_sec > 0 ? repeat / total_sec : 0);
    double macs = mc_model_macs(m, n->first, n->last);
    cJSON_AddNumberToObject(r, "gflop", 2 * macs / 1e9);
    cJSON_AddNumberToObject(r, "gflops", median > 0 ? 2 * macs / median / 1e9 : 0);
    cJSON_AddNumberToObject(r, "peak_rss_bytes", (double)mc_peak_rss_bytes());
    cJSON_AddNumberToObject(r, "param_bytes", 4.0 * mc_model_param_count(m, n->first, n->last));
    if (top_ok) {
        cJSON *t = cJSON_AddArrayToObject(r, "top5");
        for (int k = 0; k < 5 && top[k] >= 0; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "class", top[k]);
            cJSON_AddNumberToObject(e, "p", out[top[k]]);
            cJSON_AddItemToArray(t, e);
        }
    }
    if (o->layers) {
        cJSON *ls = cJSON_AddArrayToObject(r, "layers");
        for (int i = n->first; i < n->last; i++) {
            const mc_layer *l = &m->layers[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", l->name);
            cJSON_AddStringToObject(e, "op", mc_op_get(l->op)->name);
            cJSON_AddNumberToObject(e, "mean_s", sum[i - n->first] / repeat);
            cJSON_AddNumberToObject(e, "macs", mc_op_get(l->op)->macs(l));
            cJSON_AddNumberToObject(e, "param_bytes",
                                    l->has_params ? 4.0 * (mc_shape_count(&l->wshape) + mc_shape_count(&l->bshape)) : 0);
            cJSON_AddNumberToObject(e, "out_bytes", 4.0 * mc_shape_count(&l->out));
            cJSON_AddNumberToObject(e, "workspace_bytes", (double)n->be->workspace_bytes(n->be, l));
            cJSON_AddItemToArray(ls, e);
        }
    }
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    mc_status st = MC_OK;
    FILE *f = txt ? fopen(path, "w") : NULL;
    if (!f) st = mc_error_set(MC_ERR_IO, "%s: cannot write JSON report", path);
    else {
        int bad = fputs(txt, f) < 0;
        if (fclose(f) || bad) st = mc_error_set(MC_ERR_IO, "%s: cannot write JSON report", path);
    }
    free(txt);
    return st;
}

/* The model named by --model M or --model=M, or NULL. */
static const char *model_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) return argv[i + 1];
        if (!strncmp(argv[i], "--model=", 8)) return argv[i] + 8;
    }
    return NULL;
}

int mc_cmd_predict(int argc, char **argv)
{
    /* a two-stream model is a pipeline of three graphs and windows over a video */
    const char *mname = model_arg(argc, argv);
    if (mname && mc_twostream_find(mname)) return mc_cmd_twostream(argc, argv);
    predict_opts o;
    int rc = parse_predict(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;

    mc_model m;
    mc_backend *be = NULL;
    mc_net net = {0};
    float *in = NULL, *out = NULL;
    double *lat = NULL, *sum = NULL;
    mc_backend_kind kind;
    mc_status st;
    int first = 0, last;

    if ((st = mc_model_open(o.model, &m))) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        return 2;
    }
    last = m.n_layers;
    rc = 1;
    if ((o.from && resolve_layer(&m, o.from, &first)) || (o.to && resolve_layer(&m, o.to, &last)))
        goto done;
    if (o.to) last++;
    if (first >= last) {
        fprintf(stderr, "mchair: --from %s comes after --to %s\n", o.from, o.to);
        goto done;
    }
    if ((st = mc_backend_from_name(o.device, &kind)) || (st = mc_backend_create(kind, (int)o.threads, &be)))
        goto fail;
    /* predict prepares each layer once: a Winograd layer frees its plain
     * weights (VGG16's transforms then add 46 MB instead of 105 MB, which
     * keeps its peak RSS under 700 MB); bands of the default size. */
    if (kind == MC_BACKEND_CPU) mc_backend_cpu_set_winograd(be, (size_t)o.winograd_mb << 20, 1, 0);
    st = o.weights ? mc_weights_load(&m, first, last, o.weights) : mc_weights_random(&m, first, last, (uint64_t)o.seed);
    if (st) goto fail;
    if (o.save_weights) {
        if (first != 0 || last != m.n_layers) {
            fprintf(stderr, "mchair: --save-weights needs the whole model (no --from/--to)\n");
            goto done;
        }
        if ((st = mc_weights_save(&m, o.save_weights))) goto fail;
    }
    if ((st = mc_net_init(&net, &m, first, last, be))) goto fail;
    net.profile = o.layers;
    size_t nin = mc_net_in_count(&net), nout = mc_net_out_count(&net);
    in = malloc(nin * sizeof *in);
    out = malloc(nout * sizeof *out);
    lat = calloc((size_t)o.repeat, sizeof *lat);
    sum = calloc((size_t)(last - first), sizeof *sum);
    if (!in || !out || !lat || !sum) {
        st = mc_error_set(MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o.input) {
        if ((st = mc_input_read(o.input, mc_model_range_in(&m, first), in))) goto fail;
    } else {
        mc_input_random(in, nin, (uint64_t)o.seed, 0);
    }
    if (o.save_input && (st = mc_floats_write(o.save_input, in, nin))) goto fail;

    mc_blas_info bi;
    mc_blas_info_get(&bi);
    if (bi.mismatch) fprintf(stderr, "mchair: warning: %s\n", bi.note);
    char sb[64], sb2[64];
    mc_shape si = mc_model_range_in(&m, first), so = mc_model_range_out(&m, last);
    if (!o.quiet)
        printf("model %s, layers %s..%s (%s -> %s), device %s, %ld warm-up + %ld timed inferences\n",
               m.name, m.layers[first].name, m.layers[last - 1].name, mc_shape_str(&si, sb, sizeof sb),
               mc_shape_str(&so, sb2, sizeof sb2), be->name, o.warmup, o.repeat);
    if (!o.quiet) print_blas(stdout, &bi);
    /* an emulated device: every inference padded to the model's time */
    mc_devmodel dm;
    mc_devmodel_cost dmc = {0};
    double host_sum = 0;
    if (o.devmodel && ((st = mc_devmodel_open(o.devmodel, &dm)) || (st = mc_devmodel_range(&dm, &m, first, last, &dmc, NULL))))
        goto fail;
    if (o.devmodel && !o.quiet)
        printf("device model %s: %.4f s per inference (compute %.4f, memory %.4f, swap %.4f); each inference is "
               "padded to it\n", dm.name, dmc.total_s, dmc.compute_s, dmc.memory_s, dmc.swap_s);
    for (long i = 0; i < o.warmup; i++) {
        double t0 = mc_now();
        if ((st = mc_net_forward(&net, in, out))) goto fail;
        if (o.devmodel) mc_devmodel_pad(t0, dmc.total_s);
    }
    double t_start = mc_now();
    for (long i = 0; i < o.repeat; i++) {
        if (!o.input && i > 0) mc_input_random(in, nin, (uint64_t)o.seed, (uint64_t)i);
        double t0 = mc_now();
        if ((st = mc_net_forward(&net, in, out))) goto fail;
        if (o.devmodel) {
            host_sum += mc_now() - t0;
            mc_devmodel_pad(t0, dmc.total_s);
        }
        lat[i] = mc_now() - t0;
        for (int k = first; k < last; k++) sum[k - first] += net.layer_sec[k - first];
        if (!o.quiet) printf("inference %ld/%ld: %.4f s\n", i + 1, o.repeat, lat[i]);
    }
    double total = mc_now() - t_start, mean = 0;
    for (long i = 0; i < o.repeat; i++) mean += lat[i];
    mean /= (double)o.repeat;
    double *sorted = malloc((size_t)o.repeat * sizeof *sorted);
    double median = mean;
    if (sorted) {
        memcpy(sorted, lat, (size_t)o.repeat * sizeof *sorted);
        qsort(sorted, (size_t)o.repeat, sizeof *sorted, cmp_double);
        median = o.repeat % 2 ? sorted[o.repeat / 2] : 0.5 * (sorted[o.repeat / 2 - 1] + sorted[o.repeat / 2]);
        free(sorted);
    }
    int top[5], top_ok = nout >= 5;
    if (top_ok) top5(out, (int)nout, top);
    double gflop = 2 * mc_model_macs(&m, first, last) / 1e9;
    printf("mean %.4f s, median %.4f s, IPS %.2f (1/mean), throughput %.2f/s, %.1f GFLOP/s, peak RSS %.0f MB\n",
           mean, median, 1.0 / mean, o.repeat / total, gflop / median, mc_peak_rss_bytes() / 1e6);
    if (top_ok && !o.quiet) {
        printf("top-5:");
        for (int k = 0; k < 5; k++) printf(" %d (%.4f)", top[k], out[top[k]]);
        printf("\n");
    }
    if (o.devmodel)
        printf("device model %s: modeled %.4f s per inference, the host computed in %.4f s (mean) and waited the "
               "rest%s\n", dm.name, dmc.total_s, host_sum / (double)o.repeat,
               host_sum / (double)o.repeat > dmc.total_s ? " (the host was SLOWER than the model: not padded)" : "");
    if (o.layers) print_layers(&m, &net, sum, o.repeat, &bi);
    if (o.output && (st = mc_floats_write(o.output, out, nout))) goto fail;
    if (o.timer && (st = mc_timer_write(o.timer, total / o.repeat, mean))) goto fail;
    cJSON *dmj = NULL; /* an emulated device: what the model said and what the host took */
    if (o.devmodel && (dmj = cJSON_CreateObject())) {
        cJSON_AddStringToObject(dmj, "name", dm.name);
        cJSON_AddNumberToObject(dmj, "modeled_s", dmc.total_s);
        cJSON_AddNumberToObject(dmj, "compute_s", dmc.compute_s);
        cJSON_AddNumberToObject(dmj, "memory_s", dmc.memory_s);
        cJSON_AddNumberToObject(dmj, "swap_s", dmc.swap_s);
        cJSON_AddNumberToObject(dmj, "host_mean_s", host_sum / (double)o.repeat);
    }
    if (o.json && (st = write_json(o.json, &o, &m, &net, lat, o.repeat, mean, median, total, top, out, sum, top_ok, &bi,
                                   dmj)))
        goto fail;
    if (!o.json) cJSON_Delete(dmj);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mchair: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
done:
    free(in);
    free(out);
    free(lat);
    free(sum);
    mc_net_free(&net);
    mc_backend_destroy(be);
    mc_model_free(&m);
    return rc;
}
