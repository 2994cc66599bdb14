/* cmd_plan_twostream.c - `mchair plan --model twostream|twostream-half`:
 *   --system N       the paper's system of N devices (built-in presets,
 *                    farm/twostream_system.h) as three farm files;
 *   --devices N ...  the planner's systems for 1..N devices: the devices
 *                    shared between the spatial, temporal and head graphs
 *                    (plan/plan_system.h), three farm files per n.
 * Three farm files because each graph runs on a farm of its own
 * (`mchair initial --model twostream --farm S,T,H`, docs/twostream.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../devmodel/devmodel.h"
#include "../farm/farmfile.h"
#include "../farm/twostream_system.h"
#include "../models/twostream.h"
#include "../plan/plan_system.h"
#include "plan_twostream.h"

static const char *const graph_file[3] = {"spatial", "temporal", "head"};

static int make_dir(const char *d)
{
    if (mkdir(d, 0777) && errno != EEXIST) {
        fprintf(stderr, "mchair: cannot create %s: %s\n", d, strerror(errno));
        return 1;
    }
    return 0;
}

static int write_json(const char *path, const cJSON *j)
{
    char *s = cJSON_Print(j);
    FILE *f = s ? fopen(path, "w") : NULL;
    int rc = !f || fputs(s, f) < 0 || fputc('\n', f) < 0;
    if (rc) fprintf(stderr, "mchair: cannot write %s: %s\n", path, strerror(errno));
    if (f && fclose(f)) rc = 1;
    free(s);
    return rc;
}

/* --system N: the preset system's three farm files. */
static int write_system(const mc_plan_ts_args *a)
{
    const mc_ts_system *s = mc_ts_system_find((int)a->system);
    char list[128];
    mc_ts_system_list(list, sizeof list);
    if (!s) {
        fprintf(stderr, "mchair: --system %ld: the paper's two-stream systems have %s devices (the one-device "
                        "system loads its tasks in turn and is not a farm)\n", a->system, list);
        return 2;
    }
    if (strcmp(s->model, a->model)) {
        fprintf(stderr, "mchair: --system %ld is a system of model %s, not %s (systems: %s)\n", a->system, s->model,
                a->model, list);
        return 2;
    }
    if (!a->out) {
        fprintf(stderr, "mchair: --system needs --out DIR (for DIR/spatial.json, temporal.json, head.json)\n");
        return 2;
    }
    if (a->port + s->devices > 65536 || a->initial_port + 2 > 65535) {
        fprintf(stderr, "mchair: --port %ld + %d devices or --initial-port %ld + 2 is past port 65535\n", a->port,
                s->devices, a->initial_port);
        return 2;
    }
    mc_farm *f = malloc(3 * sizeof *f);
    if (!f || make_dir(a->out) ||
        mc_ts_system_write(s, a->out, a->host, (int)a->port, (int)a->initial_port, f)) {
        if (f) fprintf(stderr, "mchair: %s\n", mc_error_last());
        free(f);
        return 1;
    }
    printf("two-stream system of %d devices (%s), the recording device (initial) extra:\n", s->devices, s->model);
    for (int g = 0; g < 3; g++) {
        printf("  %s/%s.json: %s (preset %s), initial %s:%ld\n", a->out, graph_file[g], f[g].model, f[g].preset,
               a->host, a->initial_port + g);
        for (int t = 0; t < f[g].n_tasks; t++) {
            const mc_farm_task *k = &f[g].tasks[t];
            printf("    %-9s %s..%s", k->name, k->first_name, k->last_name);
            if (k->method != MC_SPLIT_DATA) printf(", %s into %d parts", mc_split_name(k->method), k->parts);
            printf(", %d replica%s, %d device%s\n", k->n_addr / k->parts, k->n_addr / k->parts > 1 ? "s" : "",
                   k->n_addr, k->n_addr > 1 ? "s" : "");
        }
    }
    free(f);
    return 0;
}

/* Runs fn on graph g = 0, 1, 2 of def (spatial, temporal, head) with its
 * model opened here; stops at the first fn that fails (it says why) and
 * returns 1, or 0. */
typedef int (*graph_fn)(int g, const char *name, const mc_model *m, void *ctx);
static int each_graph(const mc_twostream_def *def, graph_fn fn, void *ctx)
{
    const char *gm[3] = {def->spatial, def->temporal, def->head};
    for (int g = 0; g < 3; g++) {
        mc_model m;
        if (mc_model_open(gm[g], &m)) {
            fprintf(stderr, "mchair: %s\n", mc_error_last());
            return 1;
        }
        int rc = fn(g, gm[g], &m, ctx);
        mc_model_free(&m);
        if (rc) return 1;
    }
    return 0;
}

typedef struct modeled_ctx {
    const mc_plan_ts_args *a;
    const mc_devmodel *dm;
    mc_profile *p;
} modeled_ctx;

static int model_one(int g, const char *name, const mc_model *m, void *ctx)
{
    static const int parts[3] = {2, 3, 4};
    modeled_ctx *c = ctx;
    if (mc_profile_model(m, c->dm, parts, 3, &c->p[g])) {
        fprintf(stderr, "mchair: model of %s on %s: %s\n", name, c->a->devmodel, mc_error_last());
        return 1;
    }
    c->p[g].has_link = mc_devmodel_plan_link(c->dm, &c->p[g].link_a, &c->p[g].link_b);
    return 0;
}

/* --device-model P: the three graphs' profiles modeled (as `mchair profile
 * --device-model P`: split parts 2, 3, 4; the device's link); *mem_mb the
 * model's plan budget when --mem is not given. */
static int model_profiles(const mc_plan_ts_args *a, const mc_twostream_def *def, mc_profile p[3], double *mem_mb)
{
    mc_devmodel dm;
    if (mc_devmodel_open(a->devmodel, &dm)) {
        fprintf(stderr, "mchair: --device-model %s: %s\n", a->devmodel, mc_error_last());
        return 2;
    }
    if (*mem_mb <= 0) *mem_mb = mc_devmodel_budget_mb(&dm);
    modeled_ctx c = {a, &dm, p};
    int rc = each_graph(def, model_one, &c);
    if (rc)
        for (int g = 0; g < 3; g++) mc_profile_free(&p[g]); /* p was zeroed: free(NULL) for the ones not made */
    return rc;
}

typedef struct loaded_ctx {
    char **path;
    mc_profile *p;
    int loaded;
} loaded_ctx;

static int load_one(int g, const char *name, const mc_model *m, void *ctx)
{
    loaded_ctx *c = ctx;
    if (mc_profile_load(c->path[g], &c->p[g])) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        return 1;
    }
    c->loaded++;
    if (mc_profile_check_model(&c->p[g], m, c->path[g])) {
        fprintf(stderr, "mchair: %s (profile %d of --profile is the %s graph's, %s)\n", mc_error_last(), g + 1,
                graph_file[g], name);
        return 1;
    }
    mc_profile_fill_cuts(&c->p[g], m);
    return 0;
}

static int load_profiles(const mc_plan_ts_args *a, const mc_twostream_def *def, mc_profile p[3])
{
    const char *gm[3] = {def->spatial, def->temporal, def->head};
    char buf[3 * 4096], *save = NULL;
    snprintf(buf, sizeof buf, "%s", a->profiles);
    char *path[3] = {0};
    int n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n < 3) path[n] = t;
        n++;
    }
    if (n != 3) {
        fprintf(stderr, "mchair: --model %s needs --profile SPATIAL,TEMPORAL,HEAD: three profiles, of %s, %s and %s "
                        "(got %d)\n", a->model, gm[0], gm[1], gm[2], n);
        return 2;
    }
    loaded_ctx c = {path, p, 0};
    int rc = each_graph(def, load_one, &c);
    if (rc)
        for (int g = 0; g < c.loaded; g++) mc_profile_free(&p[g]);
    return rc;
}

/* The three farm files of system plan s in DIR/system-<n>/. */
static int write_planned(const mc_plan_ts_args *a, const mc_twostream_def *def, const mc_plan_system *s,
                         mc_plan *const plans[3], const mc_profile p[3], cJSON *sum)
{
    const char *gm[3] = {def->spatial, def->temporal, def->head};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/system-%d", a->out ? a->out : "", s->n);
    if (a->out && make_dir(dir)) return 1;
    int rc = 0, first = 0;
    mc_farm *f = a->out ? malloc(sizeof *f) : NULL; /* large: on the heap */
    if (a->out && !f) return 1;
    cJSON *files = cJSON_AddArrayToObject(sum, "farms");
    for (int g = 0; g < 3; g++) {
        const mc_plan *pl = &plans[g][s->share[g] - 1];
        cJSON *farm = mc_farm_plan_json(pl, &p[g], gm[g], a->host, (int)a->port + first, (int)a->initial_port + g);
        if (!farm) {
            fprintf(stderr, "mchair: system of %d devices, %s graph: %s\n", s->n, graph_file[g], mc_error_last());
            free(f);
            return 1;
        }
        cJSON *info = cJSON_AddObjectToObject(farm, "system");
        cJSON_AddNumberToObject(info, "devices", s->n);
        cJSON_AddStringToObject(info, "model", def->name);
        cJSON_AddStringToObject(info, "graph", graph_file[g]);
        cJSON_AddNumberToObject(info, "first_device", first);
        cJSON_AddNumberToObject(info, "predicted_ips", s->ips);
        first += s->share[g];
        if (!a->out) { /* the farms themselves in the summary on stdout */
            cJSON_AddItemToArray(files, farm);
            continue;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.json", dir, graph_file[g]);
        if (write_json(path, farm)) rc = 1;
        else if (mc_farm_load(path, NULL, f)) { /* read back as the nodes will: the model's layers and splits */
            fprintf(stderr, "mchair: %s\n", mc_error_last());
            rc = 1;
        }
        cJSON_AddItemToArray(files, cJSON_CreateString(path));
        cJSON_Delete(farm);
    }
    free(f);
    return rc;
}

static int plan_systems(mc_plan_ts_args *a, const mc_twostream_def *def)
{
    if (a->n_max < 1 || a->n_max > MC_PLAN_MAX_DEVICES || (a->mem_mb <= 0 && !a->devmodel) ||
        !a->profiles == !a->devmodel) {
        fprintf(stderr, "mchair: plan --model %s needs --devices N (1..%d), --mem MB and one of --profile S,T,H or "
                        "--device-model P (or --system N for the paper's systems)\n", a->model, MC_PLAN_MAX_DEVICES);
        return 2;
    }
    if (a->port + a->n_max > 65536 || a->initial_port + 2 > 65535) {
        fprintf(stderr, "mchair: --port %ld + %ld devices or --initial-port %ld + 2 is past port 65535\n", a->port,
                a->n_max, a->initial_port);
        return 2;
    }
    mc_profile p[3];
    memset(p, 0, sizeof p);
    int rc = a->devmodel ? model_profiles(a, def, p, &a->mem_mb) : load_profiles(a, def, p);
    if (rc) return rc;
    const int n_max = (int)a->n_max, per = n_max > 2 ? n_max - 2 : 1;
    a->o.n_max = per;
    a->o.mem_bytes = a->mem_mb * 1024 * 1024;
    const char *link_src = a->link_given ? "--link" : "Musical Chair WiFi fit";
    if (!a->link_given && p[0].has_link) { /* the spatial graph's profile: the devices' link */
        a->o.link_a = p[0].link_a;
        a->o.link_b = p[0].link_b;
        link_src = "profile";
    }
    mc_plan *plans[3] = {calloc((size_t)per, sizeof(mc_plan)), calloc((size_t)per, sizeof(mc_plan)),
                         calloc((size_t)per, sizeof(mc_plan))};
    mc_plan_system *sys = calloc((size_t)n_max, sizeof *sys);
    const char *names[3] = {def->spatial, def->temporal, def->head};
    cJSON *all = NULL;
    rc = 1;
    if (!plans[0] || !plans[1] || !plans[2] || !sys) goto done;
    double t0 = mc_now();
    const mc_profile *pp[3] = {&p[0], &p[1], &p[2]};
    if (mc_plan_system_all(pp, names, &a->o, n_max, plans, sys)) {
        fprintf(stderr, "mchair: %s\n", mc_error_last());
        goto done;
    }
    const double took = mc_now() - t0;
    if (a->out && make_dir(a->out)) goto done;
    fprintf(stderr, "mchair: %s systems of 1..%d devices (recording device extra), %.1f MiB each, link t = %.3g s/kB "
                    "* d + %.3g s (%s); planning took %.3f s\n",
            def->name, n_max, a->mem_mb, a->o.link_a * 1000, a->o.link_b, link_src, took);
    fprintf(stderr, "%4s %-9s %10s %10s %10s %10s %-10s %5s\n", "n", "s/t/h", "pred.IPS", "spatial", "temporal", "head",
            "bottleneck", "used");
    all = cJSON_CreateObject();
    cJSON_AddStringToObject(all, "model", def->name);
    cJSON_AddNumberToObject(all, "memory_bytes", a->o.mem_bytes);
    cJSON_AddNumberToObject(all, "link_a_s_per_byte", a->o.link_a);
    cJSON_AddNumberToObject(all, "link_b_s", a->o.link_b);
    cJSON_AddNumberToObject(all, "planning_s", took);
    cJSON *arr = cJSON_AddArrayToObject(all, "systems");
    /* Every graph's predicted IPS for 1..per devices: what the share was chosen from. */
    cJSON *gi = cJSON_AddObjectToObject(all, "graph_ips");
    for (int g = 0; g < 3; g++) {
        cJSON *v = cJSON_AddArrayToObject(gi, graph_file[g]);
        for (int k = 0; k < per; k++)
            cJSON_AddItemToArray(v, plans[g][k].feasible ? cJSON_CreateNumber(plans[g][k].ips) : cJSON_CreateNull());
    }
    rc = 0;
    for (int n = 1; n <= n_max; n++) {
        const mc_plan_system *s = &sys[n - 1];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "devices", n);
        if (!s->feasible) {
            fprintf(stderr, "%4d  does not fit: %s\n", n, s->why);
            cJSON_AddStringToObject(o, "why", s->why);
            continue;
        }
        char sh[32];
        snprintf(sh, sizeof sh, "%d/%d/%d", s->share[0], s->share[1], s->share[2]);
        fprintf(stderr, "%4d %-9s %10.2f %10.2f %10.2f %10.2f %-10s %5d\n", n, sh, s->ips,
                plans[0][s->share[0] - 1].ips, plans[1][s->share[1] - 1].ips, plans[2][s->share[2] - 1].ips,
                graph_file[s->bottleneck], s->used);
        cJSON_AddItemToObject(o, "share", cJSON_CreateIntArray(s->share, 3));
        cJSON_AddNumberToObject(o, "predicted_ips", s->ips);
        cJSON_AddStringToObject(o, "bottleneck", graph_file[s->bottleneck]);
        cJSON_AddNumberToObject(o, "devices_used", s->used);
        if (write_planned(a, def, s, plans, p, o)) rc = 1;
    }
    int any = 0;
    for (int n = 1; n <= n_max; n++) any |= sys[n - 1].feasible;
    if (!any) {
        fprintf(stderr, "mchair: no %s system of 1..%d devices fits (reasons above)\n", def->name, n_max);
        rc = 1;
    }
    if (a->out) {
        char path[4200];
        snprintf(path, sizeof path, "%s/plan.json", a->out);
        if (write_json(path, all)) rc = 1;
    } else {
        char *txt = cJSON_Print(all);
        if (txt) puts(txt);
        free(txt);
    }
done:
    cJSON_Delete(all);
    for (int g = 0; g < 3; g++) {
        free(plans[g]);
        mc_profile_free(&p[g]);
    }
    free(sys);
    return rc;
}

int mc_plan_twostream(mc_plan_ts_args *a)
{
    const mc_twostream_def *def = mc_twostream_find(a->model);
    if (!def) {
        fprintf(stderr, "mchair: %s is not a two-stream model (twostream, twostream-half)\n", a->model);
        return 2;
    }
    if (a->system) return write_system(a);
    return plan_systems(a, def);
}
