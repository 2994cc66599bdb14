/* cmd_profile.c - `mchair profile`: measure layers and split parts on this
 * device (--model), or fit the link model t = a*bytes + b to a node (--link).
 * Both write JSON (docs/planner.md) to --out or stdout; the planner reads it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../backend/backend.h"
#include "../devmodel/devmodel.h"
#include "../models/model.h"
#include "../models/net.h"
#include "../plan/profile.h"
#include "cli.h"

static void profile_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair profile --model M [--out FILE] [--threads T] [--repeat N] [--splits 2,3,4]\n"
            "       mchair profile --model M --device-model P [--out FILE] [--splits 2,3,4]\n"
            "       mchair profile --link HOST:PORT [--out FILE] [--repeat N]\n"
            "\n"
            "--model: times every layer of M on this device, and the largest part of each\n"
            "split variant (fc_output, fc_input, conv_channel, conv_filter, conv_spatial for\n"
            "each part count of --splits), and their memory (weights + activations + workspace).\n"
            "--device-model: the same profile from a device model (rpi3 or a preset file) instead of\n"
            "a measurement: the emulated device's latencies and memory (every weight copy its\n"
            "framework keeps), and its link; plan with --mem <the model's budget> (docs/emu/device-model.md).\n"
            "--link: POSTs payloads of 1 KB .. 1 MB to http://HOST:PORT/ (any HTTP server that\n"
            "answers POST, e.g. a node) and fits t = a*bytes + b by least squares.\n"
            "\n"
            "  --out FILE      write the JSON there (default: stdout)\n"
            "  --threads T     compute threads (default: all cores)\n"
            "  --repeat N      timed runs per layer or per payload size, median taken (default 5)\n"
            "  --splits LIST   part counts to profile, comma-separated, each 2..64 (default 2,3,4)\n"
            "  --seed S        seed of the random weights (default 1)\n"
            "  --device cpu|gpu  backend to time on (default cpu; gpu needs the CUDA build)\n");
}

static int parse_parts(const char *s, mc_profile_opts *o)
{
    o->n_parts = 0;
    char *dup = strdup(s), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v = 0;
        if (o->n_parts >= 8) {
            fprintf(stderr, "mchair: --splits takes at most 8 part counts\n");
            free(dup);
            return -1;
        }
        if (mc_parse_pos_int("--splits", t, 64, &v) || v < 2) {
            if (v == 1) fprintf(stderr, "mchair: --splits part counts must be >= 2, got '%s'\n", t);
            free(dup);
            return -1;
        }
        o->parts[o->n_parts++] = (int)v;
    }
    free(dup);
    if (!o->n_parts) {
        fprintf(stderr, "mchair: --splits needs a list like 2,3,4\n");
        return -1;
    }
    return 0;
}

static int write_json(cJSON *j, const char *out)
{
    char *s = cJSON_Print(j);
    int rc = 0;
    if (!s) return 1;
    if (out) {
        FILE *f = fopen(out, "w");
        if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0) {
            fprintf(stderr, "mchair: cannot write %s\n", out);
            rc = 1;
        }
        if (f && fclose(f)) rc = 1;
    } else {
        puts(s);
    }
    free(s);
    return rc;
}

static int run_link(const char *host, const char *out, int repeat)
{
    static const size_t sizes[] = {1000, 10000, 100000, 300000, 1000000};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    double *sec = calloc((size_t)ns * repeat, sizeof(double)), a, b;
    if (!sec) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mc_status st = mc_link_measure(host, sizes, ns, repeat, sec, &a, &b);
    curl_global_cleanup();
    if (st) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        free(sec);
        return 1;
    }
    cJSON *j = cJSON_CreateObject(), *lk = cJSON_AddObjectToObject(j, "link");
    cJSON_AddStringToObject(lk, "address", host);
    cJSON_AddNumberToObject(lk, "a_s_per_byte", a);
    cJSON_AddNumberToObject(lk, "b_s", b);
    cJSON_AddNumberToObject(lk, "a_s_per_kb", a * 1000);
    cJSON *ss = cJSON_AddArrayToObject(lk, "samples");
    for (int i = 0; i < ns; i++)
        for (int r = 0; r < repeat; r++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "bytes", (double)sizes[i]);
            cJSON_AddNumberToObject(o, "seconds", sec[(size_t)i * repeat + r]);
            cJSON_AddItemToArray(ss, o);
        }
    fprintf(stderr, "mchair: link %s: t = %.3g s/byte * bytes + %.3g s (%.3g s/kB), %d POSTs\n", host, a, b,
            a * 1000, ns * repeat);
    int rc = write_json(j, out);
    cJSON_Delete(j);
    free(sec);
    return rc;
}

int mc_cmd_profile(int argc, char **argv)
{
    static const struct option lo[] = {
        {"model", 1, 0, 'm'}, {"out", 1, 0, 'o'},  {"threads", 1, 0, 't'}, {"repeat", 1, 0, 'r'},
        {"splits", 1, 0, 'S'}, {"link", 1, 0, 'l'}, {"seed", 1, 0, 's'},    {"help", 0, 0, 'h'},
        {"device", 1, 0, 'd'}, {"device-model", 1, 0, 'D'},
        {0, 0, 0, 0}};
    const char *model = NULL, *out = NULL, *link = NULL, *devmodel = NULL;
    mc_profile_opts o = {0, 5, 3, {2, 3, 4}, 1, MC_BACKEND_CPU};
    const char *device = "cpu";
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'l': link = optarg; break;
        case 'D': devmodel = optarg; break;
        case 'd': {
            mc_backend_kind k;
            if (mc_backend_from_name(optarg, &k)) {
                fprintf(stderr, "mchair: %s\n", mc_error_last());
                return 2;
            }
            o.device = (int)k;
            device = optarg;
            break;
        }
        case 't':
            if (mc_parse_pos_int("--threads", optarg, 1024, &v)) return 2;
            o.threads = (int)v;
            break;
        case 'r':
            if (mc_parse_pos_int("--repeat", optarg, 64, &v)) return 2;
            o.repeat = (int)v;
            break;
        case 's':
            if (mc_parse_pos_int("--seed", optarg, 0x7fffffff, &v)) return 2;
            o.seed = (unsigned long long)v;
            break;
        case 'S':
            if (parse_parts(optarg, &o)) return 2;
            break;
        case 'h': profile_usage(stdout); return 0;
        default: profile_usage(stderr); return 2;
        }
    }
    if (optind < argc || (!model) == (!link)) {
        fprintf(stderr, "mchair: profile needs exactly one of --model M or --link HOST:PORT\n");
        profile_usage(stderr);
        return 2;
    }
    if (link) return run_link(link, out, o.repeat);

    mc_model m;
    if (mc_model_open(model, &m)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        return 1;
    }
    mc_profile p;
    double t0 = mc_now();
    mc_devmodel dm;
    mc_status st;
    if (devmodel) { /* the emulated device's profile: modeled, nothing measured */
        if (!(st = mc_devmodel_open(devmodel, &dm)) && !(st = mc_profile_model(&m, &dm, o.parts, o.n_parts, &p)))
            p.has_link = mc_devmodel_plan_link(&dm, &p.link_a, &p.link_b);
    } else {
        st = mc_profile_measure(&m, &o, &p);
    }
    if (st) {
        fprintf(stderr, "mchair: profile of %s: %s\n", model, mc_error_last());
        mc_model_free(&m);
        return 1;
    }
    cJSON *j = mc_profile_to_json(&p);
    cJSON_AddStringToObject(j, "device", devmodel ? dm.name : device);
    if (devmodel) {
        cJSON_AddItemToObject(j, "device_model", mc_devmodel_to_json(&dm));
        cJSON_AddNumberToObject(j, "plan_mem_mb", mc_devmodel_budget_mb(&dm));
    }
    cJSON_AddNumberToObject(j, "threads", o.threads);
    cJSON_AddNumberToObject(j, "repeat", o.repeat);
    double total = 0;
    for (int i = 0; i < p.n_layers; i++) total += p.layers[i].cost.latency;
    fprintf(stderr, "mchair: %s %s: %d layers, sum of layer latencies %.4f s, took %.1f s%s\n",
            devmodel ? "modeled" : "profiled", m.name, p.n_layers, total, mc_now() - t0,
            devmodel ? " (plan with --mem as the profile's plan_mem_mb)" : "");
    int rc = write_json(j, out);
    cJSON_Delete(j);
    mc_profile_free(&p);
    mc_model_free(&m);
    return rc;
}
