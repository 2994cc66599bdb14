/* farmfile.c - reading and writing farm files (see farmfile.h). */
#include "farmfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/model.h"

/* Layer names come from the model (nodes, initial, the master) or from a
 * profile (the planner evaluating a farm file without loading the model). */
typedef struct layer_view {
    const char *name; /* the model's name, for presets and messages */
    int n_layers;
    const mc_model *model;   /* or NULL ... */
    const mc_profile *prof;  /* ... then the profile's layers */
} layer_view;

static const char *lv_name(const layer_view *v, int i)
{
    return v->model ? v->model->layers[i].name : v->prof->layers[i].name;
}

/* Where a split task of layer l ends: after l, or after the batchnorm folded into it right behind it. */
static int lv_split_end(const layer_view *v, int l)
{
    if (v->model) return mc_split_task_end(v->model, l);
    return mc_profile_split_end(v->prof, l);
}

static int lv_find(const layer_view *v, const char *name)
{
    for (int i = 0; i < v->n_layers; i++)
        if (!strcmp(lv_name(v, i), name)) return i;
    return -1;
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
    /* The two-stream systems of the paper (section 5.1, Figures 14b and 18;
     * docs/twostream.md): a farm per graph, devices counted with the farm's
     * initial.  A stream's CNN is one task; more addresses are replicas
     * (systems 10 and 12).  twostream_system.c assembles whole systems. */
    {"twostream-spatial", 2, "[{\"name\":\"spatial\",\"layers\":[\"conv1s\",\"fc1s\"]}]"},
    {"twostream-temporal", 2, "[{\"name\":\"temporal\",\"layers\":[\"conv1t\",\"fc1t\"]}]"},
    /* system 4: the pyramid, then the half-size dense layers on one device */
    {"twostream-half-head", 3,
     "[{\"name\":\"pyr\",\"layers\":[\"pyramid_s\",\"pyramid\"]},"
     "{\"name\":\"dense\",\"layers\":[\"fc1\",\"fc3\"]}]"},
    /* system 5: the pyramid, fc1, fc2 + fc3 */
    {"twostream-head", 4,
     "[{\"name\":\"pyr\",\"layers\":[\"pyramid_s\",\"pyramid\"]},"
     "{\"name\":\"fc1\",\"layers\":[\"fc1\",\"fc1\"]},"
     "{\"name\":\"fc23\",\"layers\":[\"fc2\",\"fc3\"]}]"},
    /* systems 8, 10, 12: fc1 and fc2 each split by outputs on two devices */
    {"twostream-head", 7,
     "[{\"name\":\"pyr\",\"layers\":[\"pyramid_s\",\"pyramid\"]},"
     "{\"name\":\"fc1\",\"layers\":[\"fc1\",\"fc1\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"fc2\",\"layers\":[\"fc2\",\"fc2\"],\"method\":\"fc_output\",\"parts\":2},"
     "{\"name\":\"fc3\",\"layers\":[\"fc3\",\"fc3\"]}]"},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

static const char *preset_tasks(int i)
{
    /* An entry without its own list shares the previous one of its model. */
    while (i > 0 && !presets[i].tasks) i--;
    return presets[i].tasks;
}

void mc_farm_preset_list(char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_PRESETS && k < size; i++) {
        int w = i > 0 && !strcmp(presets[i].model, presets[i - 1].model)
                    ? snprintf(buf + k, size - k, "/%d", presets[i].devices)
                    : snprintf(buf + k, size - k, "%s%s farm-%d", i ? ", " : "", presets[i].model, presets[i].devices);
        if (w < 0) break;
        k += (size_t)w;
    }
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

static mc_status resolve_layer(const layer_view *m, const char *origin, const char *task, const cJSON *v, int *idx)
{
    if (cJSON_IsString(v)) {
        int i = lv_find(m, v->valuestring);
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

static mc_status parse_tasks(const cJSON *arr, const char *origin, const layer_view *m, mc_farm *f)
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
        const cJSON *wire = cJSON_GetObjectItemCaseSensitive(it, "wire");
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
                                lv_name(m, a), lv_name(m, b));
        int expect = f->n_tasks ? f->tasks[f->n_tasks - 1].last : 0;
        if (a != expect)
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s' starts at layer %s but the %s is %s", origin,
                                t->name, lv_name(m, a), f->n_tasks ? "previous task ends before" : "model starts with",
                                expect < m->n_layers ? lv_name(m, expect) : "(none)");
        t->first = a;
        t->last = b + 1;
        snprintf(t->first_name, sizeof t->first_name, "%s", lv_name(m, a));
        snprintf(t->last_name, sizeof t->last_name, "%s", lv_name(m, b));
        t->method = MC_SPLIT_DATA;
        if (method) {
            if (!cJSON_IsString(method) || (t->method = mc_split_from_name(method->valuestring)) == MC_SPLIT_COUNT)
                return mc_error_set(MC_ERR_FORMAT,
                                    "%s: task '%s': unknown method (data, fc_output, fc_input, conv_channel, "
                                    "conv_filter, conv_spatial)", origin, t->name);
        }
        t->wire = MC_WIRE_F32;
        if (wire && (!cJSON_IsString(wire) || mc_wire_parse(wire->valuestring, &t->wire)))
            return mc_error_set(MC_ERR_FORMAT, "%s: task '%s': \"wire\" must be \"f32\", \"f16\" or \"int8\"", origin,
                                t->name);
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
            /* A split task is its split layer only, with the batchnorm folded
             * into it if that follows it (farm.h); split.h checks the rest
             * (layer kind, part counts, grid) for every part. */
            if (t->last != lv_split_end(m, t->first))
                return mc_error_set(MC_ERR_UNSUPPORTED,
                                    "%s: task '%s': a %s task is exactly one layer, the one it splits, and the "
                                    "batchnorm folded into it if that follows it (got %s..%s); put the layers after "
                                    "it in the next task", origin, t->name, mc_split_name(t->method), t->first_name,
                                    t->last_name);
            for (int k = 0; k < t->parts && m->model; k++) {
                mc_split_part p;
                mc_status ps = mc_farm_task_part(m->model, t, k, &p);
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
                            f->tasks[f->n_tasks - 1].last_name, lv_name(m, m->n_layers - 1));
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

/* The farm object of `root` over the layers of `lv` (f->model is set). */
static mc_status parse_root(const cJSON *root, const char *origin, const layer_view *lv, mc_farm *f)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(root, "node");
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(root, "epoch");
    mc_status st = MC_OK;
    if (ep && (!cJSON_IsNumber(ep) || ep->valuedouble < 0 || ep->valuedouble > 9e15))
        return mc_error_set(MC_ERR_FORMAT, "%s: \"epoch\" must be a number >= 0", origin);
    f->epoch = ep ? (long)ep->valuedouble : 0;

    /* initial */
    const cJSON *ini = cJSON_GetObjectItemCaseSensitive(node, "initial");
    mc_addr tmp[MC_FARM_MAX_ADDRS];
    int n;
    if (!ini) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: \"node\" has no \"initial\" address (the source/sink)", origin);
        goto out;
    }
    if ((st = parse_addr_list(ini, origin, "initial", MC_FARM_INITIAL_PORT, tmp, MC_FARM_MAX_ADDRS, &n))) goto out;
    if (n != 1) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: \"node\".\"initial\" must hold one address, has %d", origin, n);
        goto out;
    }
    f->initial = tmp[0];

    /* tasks: explicit, or the preset for (model, devices) */
    if (tasks) {
        if ((st = parse_tasks(tasks, origin, lv, f))) goto out;
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
            if (!strcmp(presets[i].model, lv->name) && presets[i].devices == devices) pick = i;
        for (int i = 0; i < N_PRESETS && pick < 0; i++) {
            /* Same task names as a preset of this model, other replica counts. */
            if (strcmp(presets[i].model, lv->name)) continue;
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
            char list[512];
            mc_farm_preset_list(list, sizeof list);
            st = mc_error_set(MC_ERR_NOT_FOUND,
                              "%s: no \"tasks\" and no built-in %s preset for %d devices (initial included) or for "
                              "its task names (presets: %s)", origin, lv->name, devices, list);
            goto out;
        }
        snprintf(f->preset, sizeof f->preset, "%s farm-%d", lv->name, presets[pick].devices);
        cJSON *pt = cJSON_Parse(preset_tasks(pick));
        if (!pt) {
            st = mc_error_set(MC_ERR_NOMEM, "preset: out of memory");
            goto out;
        }
        char porigin[sizeof f->preset + 16];
        snprintf(porigin, sizeof porigin, "preset %s", f->preset);
        st = parse_tasks(pt, porigin, lv, f);
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
        const cJSON *ws = tasks ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tasks, i), "weights") : NULL;
        if (ws) {
            int w[MC_FARM_MAX_ADDRS], nw = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, ws)
            {
                if (!cJSON_IsNumber(x) || nw >= MC_FARM_MAX_ADDRS) {
                    nw = -1;
                    break;
                }
                w[nw++] = x->valueint;
            }
            if (!cJSON_IsArray(ws) || nw < 0 || mc_farm_task_set_weights(t, w, nw)) {
                st = mc_error_set(MC_ERR_FORMAT, "%s: task '%s': \"weights\" must be one number 1..%d per replica (%d)",
                                  origin, t->name, MC_FARM_WEIGHT_MAX, mc_farm_replicas(t));
                goto out;
            }
        }
    }
out:
    return st;
}

/* Text to cJSON with the documented leniency and line:column errors. */
static mc_status parse_text(const char *text, const char *origin, cJSON **out)
{
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
        st = MC_OK;
        *out = root;
    }
    free(t);
    return st;
}

mc_status mc_farm_parse(const char *text, const char *origin, const char *model, mc_farm *f)
{
    memset(f, 0, sizeof *f);
    cJSON *root = NULL;
    mc_status st = parse_text(text, origin, &root);
    if (st) return st;
    st = mc_farm_from_json(root, origin, model, f);
    cJSON_Delete(root);
    return st;
}

mc_status mc_farm_read_text(const char *path, char **text)
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
    if (st) {
        free(buf);
        return st;
    }
    buf[size] = '\0';
    *text = buf;
    return MC_OK;
}

mc_status mc_farm_load(const char *path, const char *model, mc_farm *f)
{
    char *text = NULL;
    mc_status st = mc_farm_read_text(path, &text);
    if (!st) st = mc_farm_parse(text, path, model, f);
    free(text);
    return st;
}

static mc_status set_model_ref(const cJSON *root, const char *origin, const char *model, mc_farm *f)
{
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(root)) return mc_error_set(MC_ERR_FORMAT, "%s: a farm file is a JSON object", origin);
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "node")))
        return mc_error_set(MC_ERR_FORMAT, "%s: no \"node\" object (task -> addresses)", origin);
    if (!model && cJSON_IsString(jm)) model = jm->valuestring;
    if (!model)
        return mc_error_set(MC_ERR_INVALID_ARG, "%s: no \"model\" in the farm file; give --model alexnet|vgg16",
                            origin);
    if (strlen(model) >= sizeof f->model) return mc_error_set(MC_ERR_INVALID_ARG, "%s: model name too long", origin);
    strcpy(f->model, model);
    return MC_OK;
}

mc_status mc_farm_from_json(const cJSON *root, const char *origin, const char *model, mc_farm *f)
{
    memset(f, 0, sizeof *f);
    mc_status st = set_model_ref(root, origin, model, f);
    if (st) return st;
    mc_model m;
    if ((st = mc_model_open(f->model, &m))) return st;
    layer_view lv = {m.name, m.n_layers, &m, NULL};
    st = parse_root(root, origin, &lv, f);
    mc_model_free(&m);
    return st;
}

mc_status mc_farm_parse_for_profile(const cJSON *root, const char *origin, const mc_profile *p, mc_farm *f)
{
    memset(f, 0, sizeof *f);
    mc_status st = set_model_ref(root, origin, p->model, f);
    if (st) return st;
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(jm) && strlen(jm->valuestring) < sizeof f->model) strcpy(f->model, jm->valuestring);
    layer_view lv = {p->model, p->n_layers, NULL, p};
    return parse_root(root, origin, &lv, f);
}

/* ---- writing ---- */

static cJSON *task_json(const mc_farm_task *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON *ly = cJSON_AddArrayToObject(o, "layers");
    cJSON_AddItemToArray(ly, cJSON_CreateString(t->first_name));
    cJSON_AddItemToArray(ly, cJSON_CreateString(t->last_name));
    if (t->method != MC_SPLIT_DATA) {
        cJSON_AddStringToObject(o, "method", mc_split_name(t->method));
        cJSON_AddNumberToObject(o, "parts", t->parts);
        if (t->method == MC_SPLIT_CONV_SPATIAL) cJSON_AddItemToObject(o, "grid", cJSON_CreateIntArray(t->grid, 2));
    }
    if (t->wire != MC_WIRE_F32) cJSON_AddStringToObject(o, "wire", mc_wire_name(t->wire));
    if (t->wtotal > 0) {
        int w[MC_FARM_MAX_ADDRS], R = mc_farm_replicas(t);
        for (int r = 0; r < R; r++) w[r] = t->weight[r];
        cJSON_AddItemToObject(o, "weights", cJSON_CreateIntArray(w, R));
    }
    return o;
}

cJSON *mc_farm_to_json(const mc_farm *f)
{
    char a[MC_FARM_HOST_MAX + 16];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", f->model);
    if (f->epoch > 0) cJSON_AddNumberToObject(j, "epoch", (double)f->epoch);
    cJSON *ts = cJSON_AddArrayToObject(j, "tasks");
    cJSON *node = cJSON_AddObjectToObject(j, "node");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(node, "initial"), cJSON_CreateString(mc_addr_str(&f->initial, a, sizeof a)));
    for (int i = 0; i < f->n_tasks; i++) {
        const mc_farm_task *t = &f->tasks[i];
        cJSON_AddItemToArray(ts, task_json(t));
        cJSON *ad = cJSON_AddArrayToObject(node, t->name);
        for (int k = 0; k < t->n_addr; k++) cJSON_AddItemToArray(ad, cJSON_CreateString(mc_addr_str(&t->addr[k], a, sizeof a)));
    }
    return j;
}

char *mc_farm_to_text(const mc_farm *f)
{
    cJSON *j = mc_farm_to_json(f);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

void mc_farm_task_canonical_name(const mc_farm_task *t, char name[MC_NAME_MAX])
{
    char buf[3 * MC_NAME_MAX];
    if (t->method == MC_SPLIT_DATA)
        snprintf(buf, sizeof buf, "%s..%s", t->first_name, t->last_name);
    else if (t->method == MC_SPLIT_CONV_SPATIAL)
        snprintf(buf, sizeof buf, "%s/%s%dx%d", t->first_name, mc_split_name(t->method), t->grid[0], t->grid[1]);
    else
        snprintf(buf, sizeof buf, "%s/%s%d", t->first_name, mc_split_name(t->method), t->parts);
    if (strlen(buf) >= MC_NAME_MAX) /* long layer names: layer indices instead, still unique */
        snprintf(buf, sizeof buf, "L%d..L%d/%s%d", t->first, t->last - 1, mc_split_name(t->method), t->parts);
    size_t len = strnlen(buf, MC_NAME_MAX - 1); /* fits: checked above */
    memcpy(name, buf, len);
    name[len] = '\0';
}

/* ---- plans ---- */

mc_status mc_farm_from_plan(const mc_plan *pl, const mc_profile *p, const char *model, const mc_addr *dev,
                            int n_dev, const mc_addr *initial, mc_farm *f)
{
    memset(f, 0, sizeof *f);
    if (!pl->feasible) return mc_error_set(MC_ERR_INVALID_ARG, "no plan for %d devices: %s", pl->n, pl->why);
    if (pl->n_tasks > MC_FARM_MAX_TASKS)
        return mc_error_set(MC_ERR_UNSUPPORTED, "plan for %d devices has %d tasks; a farm holds at most %d", pl->n,
                            pl->n_tasks, MC_FARM_MAX_TASKS);
    if (strlen(model) >= sizeof f->model) return mc_error_set(MC_ERR_INVALID_ARG, "model name too long");
    strcpy(f->model, model);
    f->initial = *initial;
    for (int i = 0; i < pl->n_tasks; i++) {
        const mc_plan_task *k = &pl->tasks[i];
        mc_farm_task *t = &f->tasks[i];
        snprintf(t->name, sizeof t->name, "%s", k->name);
        t->first = k->first;
        t->last = k->last;
        snprintf(t->first_name, sizeof t->first_name, "%s", p->layers[k->first].name);
        snprintf(t->last_name, sizeof t->last_name, "%s", p->layers[k->last - 1].name);
        t->method = k->method;
        t->parts = k->parts;
        t->grid[0] = k->method == MC_SPLIT_CONV_SPATIAL ? k->grid_h : 1;
        t->grid[1] = k->method == MC_SPLIT_CONV_SPATIAL ? k->grid_w : 1;
        t->wire = k->wire;
        t->n_addr = k->parts * k->replicas;
        if (t->n_addr > MC_FARM_MAX_ADDRS)
            return mc_error_set(MC_ERR_UNSUPPORTED, "plan task %s has %d devices; a farm task holds at most %d",
                                k->name, t->n_addr, MC_FARM_MAX_ADDRS);
        for (int a = 0; a < t->n_addr; a++) {
            int d = k->devices[a];
            if (d < 0 || d >= n_dev)
                return mc_error_set(MC_ERR_INVALID_ARG, "plan task %s uses device %d; %d addresses given", k->name, d,
                                    n_dev);
            t->addr[a] = dev[d];
        }
    }
    f->n_tasks = pl->n_tasks;
    return MC_OK;
}

mc_status mc_farm_to_plan(const mc_farm *f, const mc_profile *p, const mc_plan_opts *o, mc_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    if (f->n_tasks > MC_PLAN_MAX_TASKS)
        return mc_error_set(MC_ERR_FORMAT, "farm of model %s: more than %d tasks", f->model, MC_PLAN_MAX_TASKS);
    for (int i = 0; i < f->n_tasks; i++) {
        const mc_farm_task *t = &f->tasks[i];
        mc_plan_task *k = &pl->tasks[i];
        if (p && t->last > p->n_layers)
            return mc_error_set(MC_ERR_INVALID_ARG, "task %s: layer %d is past the profile's %d layers", t->name,
                                t->last - 1, p->n_layers);
        snprintf(k->name, sizeof k->name, "%s", t->name);
        k->first = t->first;
        k->last = t->last;
        k->method = MC_SPLIT_DATA;
        k->variant = -1;
        k->parts = k->grid_h = k->grid_w = 1;
        if (t->method != MC_SPLIT_DATA && !p) { /* structure only */
            k->method = t->method;
            k->parts = t->parts;
            k->grid_h = t->grid[0];
            k->grid_w = t->grid[1];
        } else if (t->method != MC_SPLIT_DATA) {
            const mc_prof_layer *L = &p->layers[t->first];
            int v = -1;
            for (int s = 0; s < L->n_splits && v < 0; s++) {
                const mc_prof_split *S = &L->splits[s];
                if (S->method == t->method && S->parts == t->parts &&
                    (t->method != MC_SPLIT_CONV_SPATIAL || (S->grid_h == t->grid[0] && S->grid_w == t->grid[1])))
                    v = s;
            }
            if (v < 0)
                return mc_error_set(MC_ERR_NOT_FOUND, "task %s: the profile has no %s split of %s into %d parts",
                                    t->name, mc_split_name(t->method), L->name, t->parts);
            k->method = t->method;
            k->variant = v;
            k->parts = t->parts;
            k->grid_h = L->splits[v].grid_h;
            k->grid_w = L->splits[v].grid_w;
        }
        k->replicas = t->n_addr / t->parts;
        k->wire = t->wire;
        for (int a = 0; a < t->n_addr && pl->used < MC_PLAN_MAX_DEVICES; a++) k->devices[a] = pl->used++;
    }
    pl->n_tasks = f->n_tasks;
    pl->n = pl->used;
    pl->feasible = 1;
    if (p) mc_plan_evaluate(p, o, pl);
    return MC_OK;
}

cJSON *mc_farm_plan_json(const mc_plan *pl, const mc_profile *p, const char *model, const char *host, int base_port,
                         int initial_port)
{
    mc_addr dev[MC_PLAN_MAX_DEVICES], ini;
    char a[MC_FARM_HOST_MAX + 16];
    for (int d = 0; d < pl->n && d < MC_PLAN_MAX_DEVICES; d++) {
        snprintf(dev[d].host, sizeof dev[d].host, "%s", host);
        dev[d].port = base_port + d;
    }
    snprintf(ini.host, sizeof ini.host, "%s", host);
    ini.port = initial_port;
    mc_farm *f = malloc(sizeof *f);
    if (!f || mc_farm_from_plan(pl, p, model, dev, pl->n, &ini, f)) {
        free(f);
        return NULL;
    }
    cJSON *j = mc_farm_to_json(f);
    free(f);
    cJSON *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(info, "n_devices", pl->n);
    cJSON_AddNumberToObject(info, "devices_used", pl->used);
    cJSON_AddNumberToObject(info, "predicted_ips", pl->ips);
    cJSON_AddNumberToObject(info, "latency_s", pl->latency_s);
    cJSON_AddNumberToObject(info, "max_memory_bytes", pl->max_mem_bytes);
    cJSON_AddStringToObject(info, "bottleneck", pl->bottleneck >= 0 ? pl->tasks[pl->bottleneck].name : "initial");
    cJSON_AddNumberToObject(info, "changed_devices", pl->changed);
    cJSON_AddStringToObject(info, "why", pl->why);
    cJSON *its = cJSON_AddArrayToObject(info, "tasks");
    for (int t = 0; t < pl->n_tasks; t++) {
        const mc_plan_task *k = &pl->tasks[t];
        cJSON *io = cJSON_CreateObject();
        cJSON_AddStringToObject(io, "name", k->name);
        cJSON_AddNumberToObject(io, "replicas", k->replicas);
        cJSON_AddNumberToObject(io, "parts", k->parts);
        cJSON_AddStringToObject(io, "wire", mc_wire_name(k->wire));
        cJSON_AddNumberToObject(io, "compute_s", k->compute_s);
        cJSON_AddNumberToObject(io, "service_s", k->service_s);
        cJSON_AddNumberToObject(io, "ips", k->ips);
        cJSON_AddNumberToObject(io, "memory_bytes", k->mem_bytes);
        cJSON_AddStringToObject(io, "why", k->why);
        cJSON_AddItemToArray(its, io);
    }
    /* Per device, in device order. */
    cJSON *dv = cJSON_AddArrayToObject(info, "devices");
    for (int d = 0; d < pl->n; d++) {
        cJSON *o = cJSON_CreateObject();
        snprintf(a, sizeof a, "%s:%d", host, base_port + d);
        cJSON_AddStringToObject(o, "address", a);
        const mc_plan_task *held = NULL;
        int slot = -1;
        for (int t = 0; t < pl->n_tasks && !held; t++)
            for (int i = 0; i < pl->tasks[t].parts * pl->tasks[t].replicas; i++)
                if (pl->tasks[t].devices[i] == d) {
                    held = &pl->tasks[t];
                    slot = i;
                    break;
                }
        if (held) {
            cJSON_AddStringToObject(o, "task", held->name);
            cJSON_AddNumberToObject(o, "part", slot % held->parts);
            cJSON_AddNumberToObject(o, "replica", slot / held->parts);
            cJSON_AddNumberToObject(o, "memory_bytes", held->mem_bytes);
        } else {
            cJSON_AddNullToObject(o, "task"); /* idle: adding it would not raise the IPS */
            cJSON_AddNumberToObject(o, "memory_bytes", 0);
        }
        cJSON_AddItemToArray(dv, o);
    }
    cJSON_AddItemToObject(j, "plan", info);
    return j;
}
