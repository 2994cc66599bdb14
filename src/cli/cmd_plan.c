/* cmd_plan.c - `mchair plan`: task assignments for 1..N devices from a profile.
 *
 * Writes DIR/farm-<n>.json (a farm file per farm-contract.md, with a "plan"
 * object holding the predictions and reasons) for every n that has a plan,
 * and DIR/plan.json with all of them; prints a table.  Without --out the
 * summary JSON goes to stdout after the table (on stderr). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../models/model.h"
#include "../models/net.h"
#include "../farm/farmfile.h"
#include "../plan/planner.h"
#include "../models/twostream.h"
#include "cli.h"
#include "plan_twostream.h"

/* The Musical Chair WiFi fit: t = 0.0002 s/kB * d + 0.002 s. */
#define MC_WIFI_A (0.0002 / 1000.0)
#define MC_WIFI_B 0.002

static void plan_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair plan --model M --devices N --mem MB --profile FILE [--link a,b] [--out DIR]\n"
            "\n"
            "Plans the task assignment for every farm size n = 1..N (Musical Chair Algorithm 1):\n"
            "layers over the memory budget are split, the rest grouped into balanced pipeline\n"
            "tasks, extra devices go where they raise the predicted IPS most.\n"
            "\n"
            "  --model M      built-in model or model file (must match the profile)\n"
            "  --devices N    largest number of task devices, 1..%d (the initial node is extra)\n"
            "  --mem MB       memory per device in MiB (weights + activations + workspace)\n"
            "  --profile FILE from `mchair profile --model M`\n"
            "  --link a,b     message cost t = a*kB + b seconds (default: the profile's \"link\",\n"
            "                 else the Musical Chair WiFi fit 0.0002,0.002)\n"
            "  --out DIR      write DIR/farm-<n>.json and DIR/plan.json\n"
            "  --host H       address of the nodes in the farm files (default 127.0.0.1)\n"
            "  --port P       port of device 0; device i listens on P+i (default 12345)\n"
            "  --initial-port P  port of the initial node in the farm files (default 9999)\n"
            "  --wire E       encoding of the activations between tasks: f32 (default), f16, int8,\n"
            "                 or auto: per link the smallest whose error fits --wire-budget; the\n"
            "                 messages are priced at their encoded size, each task's \"wire\" is\n"
            "                 written to the farm files (docs/wire.md)\n"
            "  --wire-budget X  auto: the error the encodings may add to the probabilities\n"
            "                 (max |p - p32| / max p32, summed over the links; default %g)\n"
            "\n"
            "\n"
            "Procedure 1, step 3 (deploy, monitor, plan again): with --measured REPORT.json (from\n"
            "`mchair initial --json` over the farm FARM.json given with --farm) the profile's layer\n"
            "latencies are first scaled task by task to what the farm measured, then planned.\n"
            "  --farm FARM.json       the farm that ran (with \"tasks\", as plan --out writes it)\n"
            "  --measured REPORT.json initial's report of that run (its \"task_mean_s\")\n"
            "  --save-profile FILE    write the calibrated profile (for the next round)\n"
            "\n"
            "       mchair plan --evaluate FARM.json --profile FILE [--link a,b] [--mem MB] [--wire E]\n"
            "  predicts IPS, latency, memory and bottleneck of an existing farm file (with\n"
            "  \"tasks\") with the same cost model, e.g. to compare a hand-made farm with a plan;\n"
            "  its tasks' \"wire\" unless --wire is given.\n"
            "\n"
            "The two-stream model (three graphs, each on a farm of its own; docs/twostream.md):\n"
            "       mchair plan --model twostream|twostream-half --devices N --mem MB\n"
            "                   --profile SPATIAL,TEMPORAL,HEAD | --device-model P  [--link a,b] [--wire E] [--out DIR]\n"
            "  shares n = 1..N devices between the spatial, temporal and head graphs (each planned\n"
            "  as above for its share; the share of highest predicted IPS = min over the graphs)\n"
            "  and writes DIR/system-<n>/spatial.json, temporal.json, head.json and DIR/plan.json;\n"
            "  the three profiles are of twostream-spatial, twostream-temporal and twostream-head\n"
            "  (or twostream-half-head); --device-model P (e.g. rpi3) models them instead, as `mchair\n"
            "  profile --device-model P` does (--mem then defaults to the model's plan budget).\n"
            "  Devices at --port + d (spatial's first, then temporal's,\n"
            "  then the head's), the three farms' initials at --initial-port, +1, +2.\n"
            "       mchair plan --model twostream|twostream-half --system N --out DIR [--host H]\n"
            "                   [--port P] [--initial-port P]\n"
            "  the paper's system of N devices (built-in presets: 4 = twostream-half, 5, 8, 10, 12;\n"
            "  the recording device, i.e. initial, extra) as DIR/spatial.json, temporal.json,\n"
            "  head.json, tasks written out; run with `mchair initial --model M --farm\n"
            "  DIR/spatial.json,DIR/temporal.json,DIR/head.json`.\n",
            MC_PLAN_MAX_DEVICES, MC_PLAN_WIRE_BUDGET);
}

static int write_file(const char *path, cJSON *j)
{
    char *s = cJSON_Print(j);
    FILE *f = s ? fopen(path, "w") : NULL;
    int rc = 0;
    if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0) {
        fprintf(stderr, "mchair: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    if (f && fclose(f)) rc = 1;
    free(s);
    return rc;
}

static int parse_link(const char *link, mc_plan_opts *o)
{
    double a, b;
    int c = 0;
    if (sscanf(link, "%lf,%lf%n", &a, &b, &c) != 2 || link[c] || a < 0 || b < 0) {
        fprintf(stderr, "mchair: --link needs a,b (seconds per kB, seconds), both >= 0, got '%s'\n", link);
        return -1;
    }
    o->link_a = a / 1000.0;
    o->link_b = b;
    return 0;
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mchair: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int big = !feof(f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = big ? NULL : cJSON_Parse(buf);
    if (!j) fprintf(stderr, "mchair: %s: %s\n", path, big ? "larger than 1 MB" : "not valid JSON");
    return j;
}

/* A farm file as a plan over the profile (farmfile.h), evaluated. */
static int plan_of_farm(const cJSON *farm, const char *path, const mc_profile *p, const mc_plan_opts *o, mc_plan *pl)
{
    mc_farm *f = malloc(sizeof *f);
    int rc = !f || mc_farm_parse_for_profile(farm, path, p, f) || mc_farm_to_plan(f, p, o, pl);
    if (rc) fprintf(stderr, "mchair: %s\n", f ? mc_error_last() : "out of memory");
    free(f);
    return rc;
}

/* --wire: an mc_wire, or MC_PLAN_WIRE_AUTO; -2 when not an encoding. */
static int parse_plan_wire(const char *s)
{
    mc_wire w;
    if (!strcmp(s, "auto")) return MC_PLAN_WIRE_AUTO;
    if (mc_wire_parse(s, &w)) {
        fprintf(stderr, "mchair: --wire needs f32, f16, int8 or auto, got '%s'\n", s);
        return -2;
    }
    return (int)w;
}

static int evaluate_farm(const char *farm_path, const char *prof, const char *link, double mem_mb, int wire,
                         double wire_budget)
{
    mc_profile p;
    if (mc_profile_load(prof, &p)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        return 1;
    }
    mc_plan_opts o = {1, mem_mb > 0 ? mem_mb * 1024 * 1024 : 1e300, MC_WIFI_A, MC_WIFI_B, wire, wire_budget};
    if (p.has_link) {
        o.link_a = p.link_a;
        o.link_b = p.link_b;
    }
    int rc = 1;
    cJSON *farm = NULL;
    mc_plan *pl = calloc(1, sizeof *pl);
    if (!pl || (link && parse_link(link, &o)) || !(farm = read_json(farm_path))) goto done;
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(farm, "model");
    int same_model = !cJSON_IsString(mo) || !strcmp(mo->valuestring, p.model);
    if (!same_model) { /* a model file path (as plan --out writes it): compare the model's name */
        mc_model fm;
        if (!mc_model_open(mo->valuestring, &fm)) {
            same_model = !strcmp(fm.name, p.model);
            mc_model_free(&fm);
        }
    }
    if (!same_model) {
        fprintf(stderr, "mchair: %s is a farm of model '%s', %s profiles '%s'\n", farm_path, mo->valuestring, prof,
                p.model);
        goto done;
    }
    if (plan_of_farm(farm, farm_path, &p, &o, pl)) goto done;
    fprintf(stderr, "mchair: %s: %d devices, predicted %.2f IPS, latency %.2f ms, max %.1f MiB/device, bottleneck %s\n",
            farm_path, pl->used, pl->ips, pl->latency_s * 1e3, pl->max_mem_bytes / (1024.0 * 1024.0),
            pl->bottleneck >= 0 ? pl->tasks[pl->bottleneck].name : "initial");
    rc = 0;
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        fprintf(stderr, "  %-12s %s..%s %s/%d parts, %d replicas: compute %.2f ms, service %.2f ms, %.2f IPS, %.1f MiB, "
                        "sends %s%s\n",
                k->name, p.layers[k->first].name, p.layers[k->last - 1].name, mc_split_method_name(k->method),
                k->parts, k->replicas, k->compute_s * 1e3, k->service_s * 1e3, k->ips, k->mem_bytes / (1024.0 * 1024.0),
                mc_wire_name(k->wire), k->mem_bytes > o.mem_bytes ? " OVER --mem" : "");
        if (k->mem_bytes > o.mem_bytes) rc = 1;
    }
    cJSON *j = mc_farm_plan_json(pl, &p, p.model, "127.0.0.1", 12345, 9999);
    cJSON *info = cJSON_DetachItemFromObject(j, "plan");
    cJSON_DeleteItemFromObject(info, "changed_devices");
    cJSON_DeleteItemFromObject(info, "why");
    char *s = cJSON_Print(info);
    if (s) puts(s);
    free(s);
    cJSON_Delete(info);
    cJSON_Delete(j);
done:
    cJSON_Delete(farm);
    free(pl);
    mc_profile_free(&p);
    return rc;
}

/* Procedure 1, step 3: scales the profile to what a run of farm_path
 * measured (initial's report), printing the factors. */
static int calibrate(mc_profile *p, const mc_plan_opts *o, const char *farm_path, const char *report_path,
                     const char *save_path)
{
    int rc = 1;
    cJSON *farm = NULL, *rep = NULL;
    mc_plan *pl = calloc(1, sizeof *pl);
    if (!pl || !(farm = read_json(farm_path)) || !(rep = read_json(report_path))) goto done;
    if (plan_of_farm(farm, farm_path, p, o, pl)) goto done;
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(rep, "model");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(rep, "task_mean_s");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(rep, "throughput_ips");
    if (cJSON_IsString(rm) && strcmp(rm->valuestring, p->model)) {
        fprintf(stderr, "mchair: %s is a run of model '%s', the profile is of '%s'\n", report_path, rm->valuestring,
                p->model);
        goto done;
    }
    if (!cJSON_IsObject(tm)) {
        fprintf(stderr, "mchair: %s has no \"task_mean_s\" object (write it with `mchair initial --json`)\n",
                report_path);
        goto done;
    }
    double meas[MC_PLAN_MAX_TASKS], f[MC_PLAN_MAX_TASKS];
    for (int t = 0; t < pl->n_tasks; t++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(tm, pl->tasks[t].name);
        meas[t] = cJSON_IsNumber(x) ? x->valuedouble : 0;
    }
    const double predicted_ips = pl->ips;
    if (!mc_profile_calibrate(p, pl, meas, f)) {
        fprintf(stderr, "mchair: %s measured none of the tasks of %s (task names differ?)\n", report_path, farm_path);
        goto done;
    }
    fprintf(stderr, "mchair: calibrated with %s (farm %s: predicted %.2f IPS, measured throughput %.2f/s)\n",
            report_path, farm_path, predicted_ips, cJSON_IsNumber(thr) ? thr->valuedouble : 0.0);
    fprintf(stderr, "  %-14s %12s %12s %8s\n", "task", "profiled_ms", "measured_ms", "factor");
    for (int t = 0; t < pl->n_tasks; t++) {
        char mb[32] = "-";
        if (meas[t] > 0) snprintf(mb, sizeof mb, "%.3f", meas[t] * 1e3);
        fprintf(stderr, "  %-14s %12.3f %12s %8.2f\n", pl->tasks[t].name, pl->tasks[t].compute_s * 1e3, mb, f[t]);
    }
    rc = 0;
    if (save_path) {
        cJSON *j = mc_profile_to_json(p);
        rc = !j || write_file(save_path, j);
        cJSON_Delete(j);
    }
done:
    cJSON_Delete(farm);
    cJSON_Delete(rep);
    free(pl);
    return rc;
}

int mc_cmd_plan(int argc, char **argv)
{
    static const struct option lo[] = {
        {"model", 1, 0, 'm'}, {"devices", 1, 0, 'n'}, {"mem", 1, 0, 'M'}, {"profile", 1, 0, 'p'},
        {"link", 1, 0, 'l'},  {"out", 1, 0, 'o'},     {"host", 1, 0, 'H'}, {"port", 1, 0, 'P'},
        {"initial-port", 1, 0, 'I'}, {"evaluate", 1, 0, 'e'}, {"help", 0, 0, 'h'},
        {"farm", 1, 0, 'F'}, {"measured", 1, 0, 'R'}, {"save-profile", 1, 0, 'S'}, {"wire", 1, 0, 'W'},
        {"wire-budget", 1, 0, 'B'}, {"system", 1, 0, 'Y'}, {"device-model", 1, 0, 'D'},
        {0, 0, 0, 0}};
    const char *evaluate = NULL, *ran_farm = NULL, *measured = NULL, *save_profile = NULL;
    const char *model = NULL, *prof = NULL, *link = NULL, *out = NULL, *host = "127.0.0.1", *devmodel = NULL;
    long n_max = 0, port = 12345, initial_port = 9999, system = 0;
    double mem_mb = 0, wire_budget = 0;
    int c, have_n = 0, wire = -3; /* -3: not given */
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prof = optarg; break;
        case 'D': devmodel = optarg; break;
        case 'l': link = optarg; break;
        case 'o': out = optarg; break;
        case 'e': evaluate = optarg; break;
        case 'F': ran_farm = optarg; break;
        case 'R': measured = optarg; break;
        case 'S': save_profile = optarg; break;
        case 'H': host = optarg; break;
        case 'W':
            if ((wire = parse_plan_wire(optarg)) == -2) return 2;
            break;
        case 'B':
            wire_budget = strtod(optarg, &end);
            if (end == optarg || *end || !(wire_budget > 0)) {
                fprintf(stderr, "mchair: --wire-budget needs a number > 0, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'n':
            errno = 0;
            n_max = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end) {
                fprintf(stderr, "mchair: --devices needs an integer, got '%s'\n", optarg);
                return 2;
            }
            have_n = 1;
            break;
        case 'M':
            mem_mb = strtod(optarg, &end);
            if (end == optarg || *end || !(mem_mb > 0)) {
                fprintf(stderr, "mchair: --mem needs a positive number of MiB, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'P':
            if (mc_parse_pos_int("--port", optarg, 65535 - MC_PLAN_MAX_DEVICES, &port)) return 2;
            break;
        case 'I':
            if (mc_parse_pos_int("--initial-port", optarg, 65535, &initial_port)) return 2;
            break;
        case 'Y':
            if (mc_parse_pos_int("--system", optarg, MC_PLAN_MAX_DEVICES, &system)) return 2;
            break;
        case 'h': plan_usage(stdout); return 0;
        default: plan_usage(stderr); return 2;
        }
    }
    if (model && mc_twostream_find(model)) { /* three graphs, three farms: cmd_plan_twostream.c */
        if (evaluate || measured || ran_farm || optind < argc) {
            fprintf(stderr, "mchair: plan --model %s: --evaluate, --measured and --farm take one graph's farm; give "
                            "--model twostream-spatial, twostream-temporal or twostream-head\n", model);
            return 2;
        }
        mc_plan_ts_args ta = {model, system, have_n ? n_max : 0, mem_mb, prof, devmodel, out, host, port, initial_port,
                              {1, 1, MC_WIFI_A, MC_WIFI_B, wire == -3 ? (int)MC_WIRE_F32 : wire, wire_budget},
                              link != NULL};
        if (link && parse_link(link, &ta.o)) return 2;
        return mc_plan_twostream(&ta);
    }
    if (system || devmodel) {
        fprintf(stderr, "mchair: %s is for --model twostream or twostream-half%s\n", system ? "--system N" : "--device-model",
                system ? " (the paper's systems)" : " (else: mchair profile --device-model P)");
        return 2;
    }
    if (evaluate) {
        if (optind < argc || !prof) {
            fprintf(stderr, "mchair: plan --evaluate needs --profile\n");
            return 2;
        }
        return evaluate_farm(evaluate, prof, link, mem_mb, wire == -3 ? MC_PLAN_WIRE_TASKS : wire, wire_budget);
    }
    if (optind < argc || !model || !prof || !have_n || mem_mb <= 0) {
        fprintf(stderr, "mchair: plan needs --model, --devices, --mem and --profile\n");
        plan_usage(stderr);
        return 2;
    }
    if (!measured != !ran_farm || (save_profile && !measured)) {
        fprintf(stderr, "mchair: --measured and --farm go together (the report of a run of that farm)%s\n",
                save_profile && !measured ? "; --save-profile needs them" : "");
        return 2;
    }
    if (n_max < 1 || n_max > MC_PLAN_MAX_DEVICES) {
        fprintf(stderr, "mchair: --devices must be from 1 to %d (got %ld)\n", MC_PLAN_MAX_DEVICES, n_max);
        return 2;
    }
    mc_model m;
    mc_profile p;
    if (mc_model_open(model, &m)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        return 1;
    }
    if (mc_profile_load(prof, &p)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        mc_model_free(&m);
        return 1;
    }
    int rc = 1;
    mc_plan *plans = NULL;
    if (mc_profile_check_model(&p, &m, prof)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        goto done;
    }
    mc_profile_fill_cuts(&p, &m); /* what every task boundary sends, from the model's graph */
    mc_plan_opts o = {(int)n_max, mem_mb * 1024 * 1024, MC_WIFI_A, MC_WIFI_B, wire == -3 ? (int)MC_WIRE_F32 : wire,
                      wire_budget};
    const char *link_src = "Musical Chair WiFi fit";
    if (p.has_link) {
        o.link_a = p.link_a;
        o.link_b = p.link_b;
        link_src = "profile";
    }
    if (link) {
        if (parse_link(link, &o)) {
            rc = 2;
            goto done;
        }
        link_src = "--link";
    }
    if (measured && calibrate(&p, &o, ran_farm, measured, save_profile)) goto done;
    plans = calloc((size_t)n_max, sizeof *plans);
    if (!plans) goto done;
    double t0 = mc_now();
    if (mc_plan_all(&p, &o, plans)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        goto done;
    }
    double took = mc_now() - t0;
    if (out && mkdir(out, 0777) && errno != EEXIST) {
        fprintf(stderr, "mchair: cannot create %s: %s\n", out, strerror(errno));
        goto done;
    }
    fprintf(stderr, "mchair: plans for %s, 1..%ld devices, %.1f MiB each, link t = %.3g s/kB * d + %.3g s (%s); "
                    "planning took %.3f s\n",
            m.name, n_max, mem_mb, o.link_a * 1000, o.link_b, link_src, took);
    fprintf(stderr, "%4s %6s %10s %11s %10s %-12s %8s  tasks\n", "n", "tasks", "pred.IPS", "latency_ms", "max_MiB",
            "bottleneck", "changed");
    cJSON *all = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(all, "plans");
    cJSON_AddStringToObject(all, "model", m.name);
    cJSON_AddNumberToObject(all, "memory_bytes", o.mem_bytes);
    cJSON_AddNumberToObject(all, "link_a_s_per_byte", o.link_a);
    cJSON_AddNumberToObject(all, "link_b_s", o.link_b);
    cJSON_AddNumberToObject(all, "planning_s", took);
    cJSON_AddStringToObject(all, "wire", o.wire == MC_PLAN_WIRE_AUTO ? "auto" : mc_wire_name((mc_wire)o.wire));
    if (o.wire == MC_PLAN_WIRE_AUTO)
        cJSON_AddNumberToObject(all, "wire_budget", o.wire_budget > 0 ? o.wire_budget : MC_PLAN_WIRE_BUDGET);
    rc = 0;
    for (int n = 1; n <= n_max; n++) {
        const mc_plan *pl = &plans[n - 1];
        if (!pl->feasible) {
            fprintf(stderr, "%4d  %s\n", n, pl->why);
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddNumberToObject(o2, "devices", n);
            cJSON_AddStringToObject(o2, "why", pl->why);
            cJSON_AddItemToArray(arr, o2);
            continue;
        }
        char desc[512];
        int k = 0;
        desc[0] = '\0';
        for (int t = 0; t < pl->n_tasks && k < (int)sizeof desc - 64; t++) {
            const mc_plan_task *x = &pl->tasks[t];
            k += snprintf(desc + k, sizeof desc - (size_t)k, "%s%s..%s", t ? " | " : "", p.layers[x->first].name,
                          p.layers[x->last - 1].name);
            if (x->variant >= 0)
                k += snprintf(desc + k, sizeof desc - (size_t)k, " %s/%d", mc_split_method_name(x->method), x->parts);
            if (x->replicas > 1) k += snprintf(desc + k, sizeof desc - (size_t)k, " x%d", x->replicas);
            if (x->wire != MC_WIRE_F32) k += snprintf(desc + k, sizeof desc - (size_t)k, " >%s", mc_wire_name(x->wire));
        }
        fprintf(stderr, "%4d %6d %10.2f %11.2f %10.1f %-12s %8d  %s\n", n, pl->n_tasks, pl->ips, pl->latency_s * 1e3,
                pl->max_mem_bytes / (1024.0 * 1024.0), pl->bottleneck >= 0 ? pl->tasks[pl->bottleneck].name : "initial",
                pl->changed, desc);
        /* "model" as given: a model file path runs unchanged on the nodes (the profile has only its name) */
        cJSON *farm = mc_farm_plan_json(pl, &p, model, host, (int)port, (int)initial_port);
        if (!farm) {
            fprintf(stderr, "mchair: plan for %d devices: %s\n", n, mc_error_last());
            rc = 1;
            continue;
        }
        if (out) {
            char path[4096];
            snprintf(path, sizeof path, "%s/farm-%d.json", out, n);
            if (write_file(path, farm)) rc = 1;
        }
        cJSON_AddItemToArray(arr, farm);
    }
    if (out) {
        char path[4096];
        snprintf(path, sizeof path, "%s/plan.json", out);
        if (write_file(path, all)) rc = 1;
    } else {
        char *s = cJSON_Print(all);
        if (s) puts(s);
        free(s);
    }
    cJSON_Delete(all);
done:
    free(plans);
    mc_profile_free(&p);
    mc_model_free(&m);
    return rc;
}
