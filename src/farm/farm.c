/* farm.c - farm file parsing and the built-in presets (see farm.h). */
#include "farm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../models/model.h"

const char *mc_split_name(mc_split s) { return mc_split_method_name(s); }

mc_split mc_split_from_name(const char *s) { return mc_split_method_from_name(s); }

mc_status mc_farm_task_part(const mc_model *m, const mc_farm_task *t, int k, mc_split_part *p)
{
    return mc_split_make_part(&m->layers[t->first], t->method, t->parts, t->grid[0], t->grid[1], k, p);
}

mc_status mc_farm_task_parts(const mc_model *m, const mc_farm_task *t, mc_split_part **parts)
{
    *parts = NULL;
    if (t->method == MC_SPLIT_DATA) return MC_OK;
    mc_split_part *p = calloc((size_t)t->parts, sizeof *p);
    if (!p) return mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for %d parts", t->name, t->parts);
    for (int k = 0; k < t->parts; k++) {
        mc_status st = mc_farm_task_part(m, t, k, &p[k]);
        if (st) {
            free(p);
            return st;
        }
    }
    *parts = p;
    return MC_OK;
}

/* The artifact's farms (DESIGN.md section 3) as data: (model, devices incl.
 * initial) -> task list, in the same JSON as a farm file's "tasks". */
static const struct preset {
    const char *model;
    int devices;
    const char *tasks;
} presets[] = {
    {"alexnet", 4,
     "[{\"name\":\"block1\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"block2\",\"layers\":[\"fc1\",\"fc1\"]},"
     "{\"name\":\"block3\",\"layers\":[\"fc2\",\"fc3\"]}]"},
    {"alexnet", 5,
     "[{\"name\":\"block1\",\"layers\":[\"conv1\",\"flatten\"]},"
     "{\"name\":\"block2\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"block3\",\"layers\":[\"fc2\",\"fc3\"]}]"},
    {"alexnet", 6, NULL}, /* = farm-5; block1 gets 2 replicas from its addresses */
    {"vgg16", 9,
     "[{\"name\":\"block1\",\"layers\":[\"block1_conv1\",\"block1_pool\"]},"
     "{\"name\":\"block234\",\"layers\":[\"block2_conv1\",\"block4_pool\"]},"
     "{\"name\":\"block5\",\"layers\":[\"block5_conv1\",\"flatten\"]},"
     "{\"name\":\"fc1\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"fc2\",\"layers\":[\"fc2\",\"predictions\"]}]"},
    {"vgg16", 8, NULL}, /* = farm-9 with block234 on 2 replicas */
    {"vgg16", 11,
     "[{\"name\":\"block12345\",\"layers\":[\"block1_conv1\",\"flatten\"]},"
     "{\"name\":\"fc1\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"fc2\",\"layers\":[\"fc2\",\"predictions\"]}]"},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

static const char *preset_tasks(int i)
{
    /* An entry without its own list shares the previous one of its model. */
    while (i > 0 && !presets[i].tasks) i--;
    return presets[i].tasks;
}

uint64_t mc_tag_number(const char *tag)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(tag, &end, 10);
    if (*tag && !*end && !errno) return v;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

int mc_farm_route(const mc_farm_task *t, const char *tag)
{
    int r = mc_farm_replicas(t);
    return (int)(mc_tag_number(tag) % (uint64_t)(r > 0 ? r : 1)) * t->parts;
}

int mc_farm_find_task(const mc_farm *f, const char *name)
{
    for (int i = 0; i < f->n_tasks; i++)
        if (!strcmp(f->tasks[i].name, name)) return i;
    return -1;
}

int mc_farm_devices(const mc_farm *f)
{
    int n = 1;
    for (int i = 0; i < f->n_tasks; i++) n += f->tasks[i].n_addr;
    return n;
}

mc_status mc_addr_parse(const char *s, int default_port, mc_addr *a)
{
    memset(a, 0, sizeof *a);
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    if (hl == 0 || hl >= sizeof a->host) return mc_error_set(MC_ERR_FORMAT, "bad address '%s'", s);
    memcpy(a->host, s, hl);
    a->port = default_port;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || p <= 0 || p > 65535)
            return mc_error_set(MC_ERR_FORMAT, "bad port in address '%s'", s);
        a->port = (int)p;
    }
    return MC_OK;
}

int mc_addr_equal(const mc_addr *a, const mc_addr *b)
{
    return a->port == b->port && !strcmp(a->host, b->host);
}

const char *mc_addr_str(const mc_addr *a, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", a->host, a->port);
    return buf;
}

/* Replaces each comma that is followed (after white space) by ] or } with
 * a space, outside strings; offsets stay the same, so error positions do. */
static void blank_trailing_commas(char *t)
{
    int in_str = 0;
    for (char *p = t; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == ',') {
            char *q = p + 1;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
            if (*q == ']' || *q == '}') *p = ' ';
        }
    }
}

static void line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static mc_status resolve_layer(const mc_model *m, const char *origin, const char *task, const cJSON *v, int *idx)
{
    if (cJSON_IsString(v)) {
        int i = mc_model_find_layer(m, v->valuestring);
        if (i >= 0) {
            *idx = i;
            return MC_OK;
        }
        return mc_error_set(MC_ERR_NOT_FOUND, "%s: task '%s': model %s has no layer '%s'", origin, task, m->name,
                            v->valuestring);
    }
    if (cJSON_IsNumber(v) && v->valueint >= 0 && v->valueint < m->n_layers) {
        *idx = v->valueint;
        return MC_OK;
    }
    return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': \"layers\" entries must be layer names", origin, task);
}

static mc_status parse_tasks(const cJSON *arr, const char *origin, const mc_model *m, mc_farm *f)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
        return mc_error_set(MC_ERR_FORMAT, "%s: \"tasks\" must be a non-empty array", origin);
    if (cJSON_GetArraySize(arr) > MC_FARM_MAX_TASKS)
        return mc_error_set(MC_ERR_FORMAT, "%s: more than %d tasks", origin, MC_FARM_MAX_TASKS);
    f->n_tasks = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        mc_farm_task *t = &f->tasks[f->n_tasks];
        memset(t, 0, sizeof *t);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *layers = cJSON_GetObjectItemCaseSensitive(it, "layers");
        const cJSON *method = cJSON_GetObjectItemCaseSensitive(it, "method");
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(it, "parts");
        const cJSON *grid = cJSON_GetObjectItemCaseSensitive(it, "grid");
        if (!cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) >= sizeof t->name)
            return mc_error_set(MC_ERR_FORMAT, "%s: task %d has no \"name\" string (max %d chars)", origin,
                                f->n_tasks + 1, MC_NAME_MAX - 1);
        if (!strcmp(name->valuestring, "initial"))
            return mc_error_set(MC_ERR_FORMAT, "%s: 'initial' is the source/sink, not a task name", origin);
        strcpy(t->name, name->valuestring);
        if (mc_farm_find_task(f, t->name) >= 0)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s' is defined twice", origin, t->name);
        if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) != 2)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': \"layers\" must be [first, last]", origin, t->name);
        int a, b;
        mc_status st;
        if ((st = resolve_layer(m, origin, t->name, cJSON_GetArrayItem(layers, 0), &a)) ||
            (st = resolve_layer(m, origin, t->name, cJSON_GetArrayItem(layers, 1), &b)))
            return st;
        if (b < a)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': layer %s comes after %s", origin, t->name,
                                m->layers[a].name, m->layers[b].name);
        int expect = f->n_tasks ? f->tasks[f->n_tasks - 1].last : 0;
        if (a != expect)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s' starts at layer %s but the %s is %s", origin,
                                t->name, m->layers[a].name, f->n_tasks ? "previous task ends before" : "model starts with",
                                m->layers[expect].name);
        t->first = a;
        t->last = b + 1;
        t->method = MC_SPLIT_DATA;
        if (method) {
            if (!cJSON_IsString(method) || (t->method = mc_split_from_name(method->valuestring)) == MC_SPLIT_COUNT)
                return mc_error_set(MC_ERR_FORMAT,
                                    "%s: task '%s': unknown method (data, fc_output, fc_input, conv_channel, "
                                    "conv_filter, conv_spatial)", origin, t->name);
        }
        t->parts = 1;
        t->grid[0] = t->grid[1] = 1;
        if (t->method == MC_SPLIT_CONV_SPATIAL) {
            if (!cJSON_IsArray(grid) || cJSON_GetArraySize(grid) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(grid, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(grid, 1)) || cJSON_GetArrayItem(grid, 0)->valueint < 1 ||
                cJSON_GetArrayItem(grid, 1)->valueint < 1 || cJSON_GetArrayItem(grid, 0)->valueint > MC_FARM_MAX_ADDRS ||
                cJSON_GetArrayItem(grid, 1)->valueint > MC_FARM_MAX_ADDRS)
                return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': conv_spatial needs \"grid\": [gh, gw]", origin,
                                    t->name);
            t->grid[0] = cJSON_GetArrayItem(grid, 0)->valueint;
            t->grid[1] = cJSON_GetArrayItem(grid, 1)->valueint;
            t->parts = t->grid[0] * t->grid[1];
            if (t->parts > MC_FARM_MAX_ADDRS)
                return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': grid %dx%d makes more than %d parts", origin,
                                    t->name, t->grid[0], t->grid[1], MC_FARM_MAX_ADDRS);
            if (cJSON_IsNumber(parts) && parts->valueint != t->parts)
                return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': \"parts\" %d is not grid %dx%d", origin, t->name,
                                    parts->valueint, t->grid[0], t->grid[1]);
        } else if (t->method != MC_SPLIT_DATA) {
            if (!cJSON_IsNumber(parts) || parts->valueint < 2 || parts->valueint > MC_FARM_MAX_ADDRS)
                return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': method %s needs \"parts\" from 2 to %d", origin,
                                    t->name, mc_split_name(t->method), MC_FARM_MAX_ADDRS);
            t->parts = parts->valueint;
        }
        if (t->method != MC_SPLIT_DATA) {
            /* A split task is its split layer only (farm.h); split.h checks the rest
             * (layer kind, part counts, grid) for every part. */
            const mc_layer *l = &m->layers[t->first];
            if (t->last != t->first + 1)
                return mc_error_set(MC_ERR_UNSUPPORTED,
                                    "%s: task '%s': a %s task is exactly one layer, the one it splits (got %s..%s); "
                                    "put the layers after it in the next task", origin, t->name,
                                    mc_split_name(t->method), l->name, m->layers[t->last - 1].name);
            for (int k = 0; k < t->parts; k++) {
                mc_split_part p;
                mc_status ps = mc_farm_task_part(m, t, k, &p);
                if (ps) {
                    char msg[400];
                    snprintf(msg, sizeof msg, "%s", mc_error_last());
                    return mc_error_set(ps, "%s: task '%s': %s", origin, t->name, msg);
                }
            }
        }
        f->n_tasks++;
    }
    if (f->tasks[f->n_tasks - 1].last != m->n_layers)
        return mc_error_set(MC_ERR_FORMAT, "%s: the tasks end at layer %s, the model goes on to %s", origin,
                            m->layers[f->tasks[f->n_tasks - 1].last - 1].name, m->layers[m->n_layers - 1].name);
    return MC_OK;
}

static mc_status parse_addr_list(const cJSON *list, const char *origin, const char *task, int def_port,
                                 mc_addr *out, int max, int *n)
{
    *n = 0;
    if (!cJSON_IsArray(list))
        return mc_error_set(MC_ERR_FORMAT, "%s: \"node\".\"%s\" must be an array of addresses", origin, task);
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if (!cJSON_IsString(it))
            return mc_error_set(MC_ERR_FORMAT, "%s: \"node\".\"%s\": addresses must be strings", origin, task);
        if (*n >= max)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s' has more than %d addresses", origin, task, max);
        if (mc_addr_parse(it->valuestring, def_port, &out[*n])) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': %s", origin, task, msg);
        }
        (*n)++;
    }
    if (*n == 0) return mc_error_set(MC_ERR_FORMAT, "%s: task '%s' has no addresses in \"node\"", origin, task);
    return MC_OK;
}

static mc_status parse_json(cJSON *root, const char *origin, const char *model, mc_farm *f)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(root, "node");
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    if (!cJSON_IsObject(root)) return mc_error_set(MC_ERR_FORMAT, "%s: a farm file is a JSON object", origin);
    if (!cJSON_IsObject(node))
        return mc_error_set(MC_ERR_FORMAT, "%s: no \"node\" object (task -> addresses)", origin);
    if (!model && cJSON_IsString(jm)) model = jm->valuestring;
    if (!model)
        return mc_error_set(MC_ERR_INVALID_ARG, "%s: no \"model\" in the farm file; give --model alexnet|vgg16",
                            origin);
    if (strlen(model) >= sizeof f->model) return mc_error_set(MC_ERR_INVALID_ARG, "model name too long");
    strcpy(f->model, model);

    mc_model m;
    mc_status st = mc_model_open(model, &m);
    if (st) return st;

    /* initial */
    const cJSON *ini = cJSON_GetObjectItemCaseSensitive(node, "initial");
    mc_addr tmp[MC_FARM_MAX_ADDRS];
    int n;
    if (!ini) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: \"node\" has no \"initial\" address (the source/sink)", origin);
        goto out;
    }
    if ((st = parse_addr_list(ini, origin, "initial", MC_FARM_INITIAL_PORT, tmp, MC_FARM_MAX_ADDRS, &n))) goto out;
    f->initial = tmp[0];

    /* tasks: explicit, or the preset for (model, devices) */
    if (tasks) {
        if ((st = parse_tasks(tasks, origin, &m, f))) goto out;
    } else {
        int devices = 1, names = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, node) {
            if (!strcmp(it->string, "initial")) continue;
            names++;
            if (cJSON_IsArray(it)) devices += cJSON_GetArraySize(it);
        }
        int pick = -1;
        for (int i = 0; i < N_PRESETS && pick < 0; i++)
            if (!strcmp(presets[i].model, m.name) && presets[i].devices == devices) pick = i;
        for (int i = 0; i < N_PRESETS && pick < 0; i++) {
            /* Same task names as a preset of this model, other replica counts. */
            if (strcmp(presets[i].model, m.name)) continue;
            cJSON *pt = cJSON_Parse(preset_tasks(i));
            int ok = pt && cJSON_GetArraySize(pt) == names;
            const cJSON *e;
            cJSON_ArrayForEach(e, pt) {
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
                if (!cJSON_IsString(nm) || !cJSON_GetObjectItemCaseSensitive(node, nm->valuestring)) ok = 0;
            }
            cJSON_Delete(pt);
            if (ok) pick = i;
        }
        if (pick < 0) {
            st = mc_error_set(MC_ERR_NOT_FOUND,
                              "%s: no \"tasks\" and no built-in %s preset for %d devices (presets: alexnet farm-4/5/6, "
                              "vgg16 farm-8/9/11)", origin, m.name, devices);
            goto out;
        }
        snprintf(f->preset, sizeof f->preset, "%s farm-%d", m.name, presets[pick].devices);
        cJSON *pt = cJSON_Parse(preset_tasks(pick));
        if (!pt) {
            st = mc_error_set(MC_ERR_NOMEM, "preset: out of memory");
            goto out;
        }
        char porigin[sizeof f->preset + 16];
        snprintf(porigin, sizeof porigin, "preset %s", f->preset);
        st = parse_tasks(pt, porigin, &m, f);
        cJSON_Delete(pt);
        if (st) goto out;
        /* farm-4: block2 on one device cannot be split. */
        for (int i = 0; i < f->n_tasks; i++) {
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(node, f->tasks[i].name);
            if (cJSON_IsArray(l) && cJSON_GetArraySize(l) == 1 && f->tasks[i].method == MC_SPLIT_FC_OUTPUT) {
                f->tasks[i].method = MC_SPLIT_DATA;
                f->tasks[i].parts = 1;
            }
        }
    }

    /* node names must be tasks; every task needs addresses */
    const cJSON *it;
    cJSON_ArrayForEach(it, node) {
        if (!strcmp(it->string, "initial")) continue;
        if (mc_farm_find_task(f, it->string) < 0) {
            char names[512] = "";
            for (int i = 0; i < f->n_tasks; i++) {
                strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
                strncat(names, f->tasks[i].name, sizeof names - strlen(names) - 1);
            }
            st = mc_error_set(MC_ERR_NOT_FOUND, "%s: \"node\" names task '%s', which is not a task of this farm (%s)",
                              origin, it->string, names);
            goto out;
        }
    }
    for (int i = 0; i < f->n_tasks; i++) {
        mc_farm_task *t = &f->tasks[i];
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(node, t->name);
        if (!l) {
            st = mc_error_set(MC_ERR_NOT_FOUND, "%s: task '%s' has no addresses in \"node\"", origin, t->name);
            goto out;
        }
        if ((st = parse_addr_list(l, origin, t->name, MC_FARM_TASK_PORT, t->addr, MC_FARM_MAX_ADDRS, &t->n_addr)))
            goto out;
        if (t->n_addr % t->parts) {
            st = mc_error_set(MC_ERR_FORMAT, "%s: task '%s' is split into %d parts but has %d addresses (need a multiple)",
                              origin, t->name, t->parts, t->n_addr);
            goto out;
        }
    }
out:
    mc_model_free(&m);
    return st;
}

mc_status mc_farm_parse(const char *text, const char *origin, const char *model, mc_farm *f)
{
    memset(f, 0, sizeof *f);
    size_t len = strlen(text);
    char *t = malloc(len + 1);
    if (!t) return mc_error_set(MC_ERR_NOMEM, "%s: out of memory", origin);
    memcpy(t, text, len + 1);
    blank_trailing_commas(t);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(t, &end, 1);
    mc_status st;
    if (!root) {
        int line, col;
        size_t off = end ? (size_t)(end - t) : 0;
        if (!end) {
            const char *e = cJSON_GetErrorPtr();
            if (e && e >= t && e <= t + len) off = (size_t)(e - t);
        }
        line_col(t, off, &line, &col);
        st = mc_error_set(MC_ERR_FORMAT, "%s:%d:%d: malformed JSON", origin, line, col);
    } else {
        st = parse_json(root, origin, model, f);
        cJSON_Delete(root);
    }
    free(t);
    return st;
}

mc_status mc_farm_load(const char *path, const char *model, mc_farm *f)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return mc_error_set(MC_ERR_IO, "%s: cannot open farm file: %s", path, strerror(errno));
    char *buf = NULL;
    long size = -1;
    if (!fseek(fp, 0, SEEK_END)) size = ftell(fp);
    rewind(fp);
    mc_status st = MC_OK;
    if (size < 0 || size > (1 << 20)) st = mc_error_set(MC_ERR_FORMAT, "%s: farm file is not a file under 1 MB", path);
    else if (!(buf = malloc((size_t)size + 1))) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", path);
    else if (fread(buf, 1, (size_t)size, fp) != (size_t)size) st = mc_error_set(MC_ERR_IO, "%s: short read", path);
    fclose(fp);
    if (!st) {
        buf[size] = '\0';
        st = mc_farm_parse(buf, path, model, f);
    }
    free(buf);
    return st;
}
