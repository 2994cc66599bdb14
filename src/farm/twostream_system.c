/* twostream_system.c - the paper's two-stream systems (twostream_system.h):
 * which preset each graph's farm uses and how many devices each task gets,
 * and their farm files.  The task lists themselves are farmfile.c's presets. */
#include "twostream_system.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farmfile.h"

#define SP(n) {"twostream-spatial", 1, {"spatial"}, {n}}
#define TP(n) {"twostream-temporal", 1, {"temporal"}, {n}}
#define HEAD8 {"twostream-head", 4, {"pyr", "fc1", "fc2", "fc3"}, {1, 2, 2, 1}}

static const mc_ts_system systems[] = {
    {4, "twostream-half", {SP(1), TP(1), {"twostream-half-head", 2, {"pyr", "dense"}, {1, 1}}}},
    {5, "twostream", {SP(1), TP(1), {"twostream-head", 3, {"pyr", "fc1", "fc23"}, {1, 1, 1}}}},
    {8, "twostream", {SP(1), TP(1), HEAD8}},
    {10, "twostream", {SP(2), TP(2), HEAD8}},
    {12, "twostream", {SP(3), TP(3), HEAD8}},
};
#define N_SYSTEMS ((int)(sizeof systems / sizeof systems[0]))

static const char *const graph_name[3] = {"spatial", "temporal", "head"};

const mc_ts_system *mc_ts_system_find(int devices)
{
    for (int i = 0; i < N_SYSTEMS; i++)
        if (systems[i].devices == devices) return &systems[i];
    return NULL;
}

void mc_ts_system_list(char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_SYSTEMS && k < size; i++) {
        int w = snprintf(buf + k, size - k, "%s%d%s", i ? ", " : "", systems[i].devices,
                         strcmp(systems[i].model, "twostream") ? " (twostream-half)" : "");
        if (w < 0) break;
        k += (size_t)w;
    }
}

static void add_addr(cJSON *arr, const char *host, int port)
{
    char a[300];
    snprintf(a, sizeof a, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    cJSON_AddItemToArray(arr, cJSON_CreateString(a));
}

cJSON *mc_ts_system_node_json(const mc_ts_system *s, int g, const char *host, int port, int first_dev,
                              int initial_port, int *next_dev)
{
    const mc_ts_system_farm *sf = &s->g[g];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", sf->model);
    cJSON *node = cJSON_AddObjectToObject(j, "node");
    add_addr(cJSON_AddArrayToObject(node, "initial"), host, initial_port);
    int d = first_dev;
    for (int t = 0; t < sf->n_tasks; t++) {
        cJSON *a = cJSON_AddArrayToObject(node, sf->task[t]);
        for (int k = 0; k < sf->addrs[t]; k++) add_addr(a, host, port + d++);
    }
    if (next_dev) *next_dev = d;
    return j;
}

static mc_status write_json(const char *path, const cJSON *j)
{
    char *s = cJSON_Print(j);
    FILE *f = s ? fopen(path, "w") : NULL;
    int bad = !f || fputs(s, f) < 0 || fputc('\n', f) < 0;
    const int err = errno;
    if (f && fclose(f)) bad = 1;
    free(s);
    return bad ? mc_error_set(MC_ERR_IO, "%s: cannot write: %s", path, strerror(err)) : MC_OK;
}

mc_status mc_ts_system_write(const mc_ts_system *s, const char *dir, const char *host, int port, int initial_port,
                             mc_farm *farms)
{
    mc_farm *f = malloc(sizeof *f);
    if (!f) return mc_error_set(MC_ERR_NOMEM, "two-stream system %d: out of memory", s->devices);
    mc_status st = MC_OK;
    int d = 0;
    for (int g = 0; g < 3 && !st; g++) {
        char origin[64], path[4096];
        snprintf(origin, sizeof origin, "system %d, %s farm", s->devices, graph_name[g]);
        snprintf(path, sizeof path, "%s/%s.json", dir, graph_name[g]);
        cJSON *nodes = mc_ts_system_node_json(s, g, host, port, d, initial_port + g, &d);
        st = nodes ? mc_farm_from_json(nodes, origin, NULL, f) : mc_error_set(MC_ERR_NOMEM, "%s: out of memory", origin);
        cJSON_Delete(nodes);
        if (st) break;
        cJSON *out = mc_farm_to_json(f);
        cJSON *info = out ? cJSON_AddObjectToObject(out, "system") : NULL;
        if (!info) {
            cJSON_Delete(out);
            st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", origin);
            break;
        }
        cJSON_AddNumberToObject(info, "devices", s->devices);
        cJSON_AddStringToObject(info, "model", s->model);
        cJSON_AddStringToObject(info, "graph", graph_name[g]);
        cJSON_AddStringToObject(info, "preset", f->preset);
        st = write_json(path, out);
        cJSON_Delete(out);
        if (!st && farms) farms[g] = *f;
    }
    free(f);
    return st;
}
