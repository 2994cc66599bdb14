/* devmodel.c - per-layer costs of a small device from a preset (devmodel.h).
 *
 * Why a model and not a measurement: the emulated farm runs on a machine
 * 20-30 times faster than a Pi and shared with other jobs, so a device's
 * time cannot come from running the layers slower (a CPU quota slows every
 * operation by the same factor, and a loaded host by more).  The node
 * computes at the host's speed and then waits until the model's time for
 * its layers has passed: the model's time is a floor that host load cannot
 * lower, and only raise when the host is slower than the device.
 *
 * The preset is parsed strictly (unknown keys, unknown op names, missing or
 * non-positive rates, sources that `sources` does not define are errors
 * that name the file and the field): a typo in a rate would otherwise turn
 * into a silently wrong emulation.
 */
#include "devmodel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../models/net.h"
#include "devmodel_presets.h" /* generated from the src/devmodel JSON files (CMakeLists.txt) */

#define MIB 1048576.0

/* ---- presets ------------------------------------------------------------ */

const char *const *mc_devmodel_builtin_names(void)
{
    static const char *names[sizeof mc_devmodel_presets / sizeof mc_devmodel_presets[0] + 1];
    for (size_t i = 0; i < sizeof mc_devmodel_presets / sizeof mc_devmodel_presets[0]; i++)
        names[i] = mc_devmodel_presets[i].name;
    return names;
}

const char *mc_devmodel_builtin_text(const char *name)
{
    for (size_t i = 0; name && i < sizeof mc_devmodel_presets / sizeof mc_devmodel_presets[0]; i++)
        if (!strcmp(mc_devmodel_presets[i].name, name)) return mc_devmodel_presets[i].text;
    return NULL;
}

mc_status mc_devmodel_open(const char *name_or_path, mc_devmodel *dm)
{
    if (!name_or_path || !*name_or_path)
        return mc_error_set(MC_ERR_INVALID_ARG, "device model: no preset name or file given");
    const char *text = mc_devmodel_builtin_text(name_or_path);
    if (text) return mc_devmodel_parse(text, name_or_path, dm);
    FILE *f = fopen(name_or_path, "rb");
    if (!f)
        return mc_error_set(MC_ERR_IO, "device model %s: not a built-in preset (rpi3) and cannot open the file: %s",
                            name_or_path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    mc_status st = MC_OK;
    for (;;) {
        if (n + 4096 > cap) {
            if (cap > (1u << 20)) {
                st = mc_error_set(MC_ERR_FORMAT, "%s: a device model larger than 1 MB", name_or_path);
                break;
            }
            char *nb = realloc(buf, cap = cap * 2 + 4096 + 1);
            if (!nb) {
                st = mc_error_set(MC_ERR_NOMEM, "%s: no memory", name_or_path);
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (!r) break;
    }
    fclose(f);
    if (!st) {
        buf[n] = '\0';
        st = mc_devmodel_parse(buf, name_or_path, dm);
    }
    free(buf);
    return st;
}

/* ---- parsing -------------------------------------------------------------- */

static int key_in(const char *k, const char *const *keys)
{
    for (; *keys; keys++)
        if (!strcmp(k, *keys)) return 1;
    return 0;
}

/* Every member of object o is one of keys. */
static mc_status only_keys(const cJSON *o, const char *const *keys, const char *origin, const char *where)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        if (!c->string || !key_in(c->string, keys)) {
            char known[256] = "";
            for (const char *const *k = keys; *k; k++) {
                strncat(known, *k, sizeof known - strlen(known) - 3);
                if (k[1]) strncat(known, ", ", sizeof known - strlen(known) - 1);
            }
            return mc_error_set(MC_ERR_FORMAT, "%s: %s: unknown key \"%s\" (known: %s)", origin, where,
                                c->string ? c->string : "?", known);
        }
    }
    return MC_OK;
}

/* A parameter: a number, or {"value": number, "source": id, "note": text}
 * where id must be a key of the preset's "sources".  min_excl: value must
 * be > min (else >= min). */
static mc_status param(const cJSON *o, const char *key, const cJSON *sources, const char *origin,
                       const char *where, int required, double min, int min_excl, double *v)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!p) {
        if (required) return mc_error_set(MC_ERR_FORMAT, "%s: %s: missing \"%s\"", origin, where, key);
        return MC_OK;
    }
    const cJSON *x = p;
    if (cJSON_IsObject(p)) {
        static const char *const keys[] = {"value", "source", "note", NULL};
        char w[160];
        snprintf(w, sizeof w, "%s.%s", where, key);
        mc_status st = only_keys(p, keys, origin, w);
        if (st) return st;
        x = cJSON_GetObjectItemCaseSensitive(p, "value");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(p, "source");
        if (src && !cJSON_IsString(src))
            return mc_error_set(MC_ERR_FORMAT, "%s: %s.%s: \"source\" must be a string (a key of \"sources\")",
                                origin, where, key);
        if (src && !cJSON_GetObjectItemCaseSensitive(sources, src->valuestring))
            return mc_error_set(MC_ERR_FORMAT, "%s: %s.%s: source \"%s\" is not defined in \"sources\"", origin,
                                where, key, src->valuestring);
    }
    if (cJSON_IsBool(x)) {
        *v = cJSON_IsTrue(x) ? 1 : 0;
        return MC_OK;
    }
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return mc_error_set(MC_ERR_FORMAT, "%s: %s.%s: needs a number (or {\"value\": number, \"source\": ...})",
                            origin, where, key);
    if (min_excl ? !(x->valuedouble > min) : !(x->valuedouble >= min))
        return mc_error_set(MC_ERR_FORMAT, "%s: %s.%s: %g is out of range (must be %s %g)", origin, where, key,
                            x->valuedouble, min_excl ? ">" : ">=", min);
    if (x->valuedouble > 1e15)
        return mc_error_set(MC_ERR_FORMAT, "%s: %s.%s: %g is out of range (at most 1e15)", origin, where, key,
                            x->valuedouble);
    *v = x->valuedouble;
    return MC_OK;
}

static mc_status need_object(const cJSON *o, const char *key, const char *origin, int required, const cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!*out) {
        if (required) return mc_error_set(MC_ERR_FORMAT, "%s: missing object \"%s\"", origin, key);
        return MC_OK;
    }
    if (!cJSON_IsObject(*out)) return mc_error_set(MC_ERR_FORMAT, "%s: \"%s\" must be an object", origin, key);
    return MC_OK;
}

mc_status mc_devmodel_from_json(const cJSON *j, const char *origin, mc_devmodel *dm)
{
    memset(dm, 0, sizeof *dm);
    if (!cJSON_IsObject(j)) return mc_error_set(MC_ERR_FORMAT, "%s: a device model is a JSON object", origin);
    static const char *const top[] = {"name",   "device", "software", "sources", "compute_gflops",
                                      "weights_mb_s", "tensors_mb_s", "conv_patches", "layer_overhead_s", "memory",
                                      "swap",   "link",   "messages", "load", "calibration", "notes", NULL};
    mc_status st = only_keys(j, top, origin, "device model");
    if (st) return st;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) >= MC_DEVMODEL_NAME_MAX)
        return mc_error_set(MC_ERR_FORMAT, "%s: needs a \"name\" (a string of 1..%d characters)", origin,
                            MC_DEVMODEL_NAME_MAX - 1);
    snprintf(dm->name, sizeof dm->name, "%s", name->valuestring);
    const cJSON *sources, *compute, *memory, *swap, *link;
    if ((st = need_object(j, "sources", origin, 0, &sources))) return st;
    const cJSON *s;
    cJSON_ArrayForEach(s, sources) if (!cJSON_IsString(s)) return mc_error_set(
        MC_ERR_FORMAT, "%s: sources.%s: a source is a string saying where the number comes from", origin,
        s->string ? s->string : "?");

    /* compute rates: "default" and per op name */
    if ((st = need_object(j, "compute_gflops", origin, 1, &compute))) return st;
    double def = 0;
    if ((st = param(compute, "default", sources, origin, "compute_gflops", 1, 0, 1, &def))) return st;
    for (int op = 0; op < MC_OP_COUNT; op++) dm->gflops[op] = def;
    const cJSON *c;
    cJSON_ArrayForEach(c, compute)
    {
        if (!strcmp(c->string, "default")) continue;
        mc_op_type op = mc_op_from_name(c->string);
        if (op == MC_OP_COUNT)
            return mc_error_set(MC_ERR_FORMAT, "%s: compute_gflops: \"%s\" is not an op (conv2d, dense, conv3d, "
                                "sepconv2d, ... or default)", origin, c->string);
        if ((st = param(compute, c->string, sources, origin, "compute_gflops", 1, 0, 1, &dm->gflops[op]))) return st;
    }
    if ((st = param(j, "weights_mb_s", sources, origin, "device model", 1, 0, 1, &dm->weights_mb_s)) ||
        (st = param(j, "tensors_mb_s", sources, origin, "device model", 1, 0, 1, &dm->tensors_mb_s)))
        return st;
    double patches = 1;
    if ((st = param(j, "conv_patches", sources, origin, "device model", 0, 0, 0, &patches))) return st;
    dm->conv_patches = patches != 0;
    if ((st = param(j, "layer_overhead_s", sources, origin, "device model", 0, 0, 0, &dm->layer_overhead_s)))
        return st;

    /* memory and swap */
    static const char *const mkeys[] = {"device_mb", "available_mb", "runtime_mb", "weight_copies", NULL};
    if ((st = need_object(j, "memory", origin, 1, &memory)) || (st = only_keys(memory, mkeys, origin, "memory")) ||
        (st = param(memory, "device_mb", sources, origin, "memory", 1, 0, 1, &dm->device_mb)) ||
        (st = param(memory, "available_mb", sources, origin, "memory", 1, 0, 1, &dm->available_mb)) ||
        (st = param(memory, "runtime_mb", sources, origin, "memory", 1, 0, 0, &dm->runtime_mb)))
        return st;
    dm->weight_copies = 1;
    if ((st = param(memory, "weight_copies", sources, origin, "memory", 0, 1, 0, &dm->weight_copies))) return st;
    if (dm->available_mb > dm->device_mb)
        return mc_error_set(MC_ERR_FORMAT, "%s: memory.available_mb (%g) exceeds memory.device_mb (%g)", origin,
                            dm->available_mb, dm->device_mb);
    if (dm->runtime_mb >= dm->available_mb)
        return mc_error_set(MC_ERR_FORMAT, "%s: memory.runtime_mb (%g) leaves nothing of available_mb (%g)", origin,
                            dm->runtime_mb, dm->available_mb);
    static const char *const skeys[] = {"mb_s", "thrash", NULL};
    if ((st = need_object(j, "swap", origin, 1, &swap)) || (st = only_keys(swap, skeys, origin, "swap")) ||
        (st = param(swap, "mb_s", sources, origin, "swap", 1, 0, 1, &dm->swap_mb_s)))
        return st;
    dm->swap_thrash = 1;
    if ((st = param(swap, "thrash", sources, origin, "swap", 0, 0, 1, &dm->swap_thrash))) return st;

    /* link (what the farm's tbf gets; informational for the model itself) */
    static const char *const lkeys[] = {"mbit_s", "message_s", NULL};
    if ((st = need_object(j, "link", origin, 0, &link))) return st;
    if (link && ((st = only_keys(link, lkeys, origin, "link")) ||
                 (st = param(link, "mbit_s", sources, origin, "link", 0, 0, 1, &dm->link_mbit_s)) ||
                 (st = param(link, "message_s", sources, origin, "link", 0, 0, 0, &dm->link_message_s))))
        return st;
    /* moving a farm device's messages, serial with its compute (devmodel.h) */
    static const char *const mskeys[] = {"mb_s", NULL};
    const cJSON *msgs;
    if ((st = need_object(j, "messages", origin, 0, &msgs))) return st;
    if (msgs && ((st = only_keys(msgs, mskeys, origin, "messages")) ||
                 (st = param(msgs, "mb_s", sources, origin, "messages", 1, 0, 1, &dm->messages_mb_s))))
        return st;
    /* loading a task's weights (a device holding several tasks in turn) */
    static const char *const ldkeys[] = {"mb_s", NULL};
    const cJSON *load;
    if ((st = need_object(j, "load", origin, 0, &load))) return st;
    if (load && ((st = only_keys(load, ldkeys, origin, "load")) ||
                 (st = param(load, "mb_s", sources, origin, "load", 1, 0, 1, &dm->load_mb_s))))
        return st;
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(j, "calibration");
    if (cal && !cJSON_IsObject(cal)) return mc_error_set(MC_ERR_FORMAT, "%s: \"calibration\" must be an object", origin);
    return MC_OK;
}

mc_status mc_devmodel_parse(const char *text, const char *origin, mc_devmodel *dm)
{
    memset(dm, 0, sizeof *dm);
    if (!text) return mc_error_set(MC_ERR_INVALID_ARG, "%s: no text", origin);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    if (!j) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return mc_error_set(MC_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", origin, at);
    }
    mc_status st = mc_devmodel_from_json(j, origin, dm);
    cJSON_Delete(j);
    return st;
}

/* ---- costs ------------------------------------------------------------------ */

static double layer_weights(const mc_layer *l)
{
    if (!l->has_params) return 0;
    double n = (double)mc_shape_count(&l->wshape) + (l->no_bias ? 0 : (double)mc_shape_count(&l->bshape));
    for (int k = 0; k < MC_MAX_AUX; k++) n += (double)mc_shape_count(&l->auxshape[k]);
    return 4 * n;
}

/* Floats of the patch matrix a windowed convolution streams through. */
static double patch_floats(const mc_layer *l)
{
    const mc_shape *o = &l->out;
    double cin = (double)l->in.ne[0];
    if (l->op == MC_OP_CONV2D) {
        if (l->kh * l->kw == 1 && l->sh == 1 && l->sw == 1) return 0; /* 1x1: the input is the matrix */
        return (double)o->ne[1] * o->ne[2] * (o->ne[3] > 0 ? o->ne[3] : 1) * l->kh * l->kw * cin;
    }
    if (l->op == MC_OP_CONV3D) {
        double k = (double)l->kh * l->kw * (l->kt > 0 ? l->kt : 1);
        return (double)o->ne[1] * o->ne[2] * (o->ne[3] > 0 ? o->ne[3] : 1) * k * cin;
    }
    return 0;
}

void mc_devmodel_layer(const mc_devmodel *dm, const mc_layer *l, mc_devmodel_cost *c)
{
    memset(c, 0, sizeof *c);
    if (l->alias) return; /* a view: runs nothing */
    const mc_op_def *def = mc_op_get(l->op);
    c->flops = 2 * (def && def->macs ? def->macs(l) : 0);
    double act = 4.0 * (double)mc_shape_count(&l->out);
    if (l->n_in <= 1) act += 4.0 * (double)mc_shape_count(&l->in);
    else
        for (int k = 0; k < l->n_in && k < MC_MAX_INPUTS; k++) act += 4.0 * (double)mc_shape_count(&l->ins[k]);
    c->weight_bytes = layer_weights(l);
    c->tensor_bytes = act + (dm->conv_patches ? 4 * patch_floats(l) : 0);
    c->compute_s = c->flops / (dm->gflops[l->op] * 1e9);
    c->memory_s = c->weight_bytes / (dm->weights_mb_s * 1e6) + c->tensor_bytes / (dm->tensors_mb_s * 1e6);
    c->overhead_s = dm->layer_overhead_s;
    c->total_s = c->compute_s + c->memory_s + c->overhead_s;
}

double mc_devmodel_footprint(const mc_devmodel *dm, const mc_model *m, int first, int last)
{
    double w = 0, act = 0;
    for (int i = first; i < last; i++) {
        const mc_layer *l = &m->layers[i];
        w += layer_weights(l);
        double a = 4.0 * (double)mc_shape_count(&l->in), b = 4.0 * (double)mc_shape_count(&l->out);
        act = a > act ? a : act;
        act = b > act ? b : act;
    }
    return dm->runtime_mb * MIB + dm->weight_copies * w + 2 * act;
}

double mc_devmodel_swap_bytes(const mc_devmodel *dm, const mc_model *m, int first, int last)
{
    double over = mc_devmodel_footprint(dm, m, first, last) - dm->available_mb * MIB;
    if (over <= 0) return 0;
    double w = 0;
    for (int i = first; i < last; i++) w += layer_weights(&m->layers[i]);
    double paged = dm->swap_thrash * over;
    return paged < w ? paged : w;
}

mc_status mc_devmodel_range(const mc_devmodel *dm, const mc_model *m, int first, int last,
                            mc_devmodel_cost *total, mc_devmodel_cost *per_layer)
{
    if (!m || first < 0 || last > m->n_layers || first >= last)
        return mc_error_set(MC_ERR_INVALID_ARG, "device model %s: layer range [%d, %d) not in model %s (%d layers)",
                            dm->name, first, last, m ? m->name : "?", m ? m->n_layers : 0);
    memset(total, 0, sizeof *total);
    double w = 0;
    for (int i = first; i < last; i++) w += layer_weights(&m->layers[i]);
    double swap_s = mc_devmodel_swap_bytes(dm, m, first, last) / (dm->swap_mb_s * 1e6);
    for (int i = first; i < last; i++) {
        mc_devmodel_cost c;
        mc_devmodel_layer(dm, &m->layers[i], &c);
        if (swap_s > 0 && w > 0) {
            c.swap_s = swap_s * layer_weights(&m->layers[i]) / w;
            c.total_s += c.swap_s;
        }
        if (per_layer) per_layer[i - first] = c;
        total->flops += c.flops;
        total->weight_bytes += c.weight_bytes;
        total->tensor_bytes += c.tensor_bytes;
        total->compute_s += c.compute_s;
        total->memory_s += c.memory_s;
        total->overhead_s += c.overhead_s;
        total->swap_s += c.swap_s;
        total->total_s += c.total_s;
    }
    return MC_OK;
}

double mc_devmodel_budget_mb(const mc_devmodel *dm)
{
    return dm->available_mb - dm->runtime_mb;
}

double mc_devmodel_pad(double t_start, double modeled_s)
{
    double end = t_start + modeled_s, now = mc_now(), slept = 0;
    while (now < end) {
        double s = end - now;
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        nanosleep(&ts, NULL); /* EINTR: loop on the clock */
        double after = mc_now();
        slept += after - now;
        now = after;
    }
    return slept;
}

double mc_devmodel_pad_range(const mc_devmodel *dm, const mc_model *m, int first, int last, double t_start)
{
    mc_devmodel_cost c;
    if (mc_devmodel_range(dm, m, first, last, &c, NULL)) return 0;
    mc_devmodel_pad(t_start, c.total_s);
    return c.total_s;
}

double mc_devmodel_messages_s(const mc_devmodel *dm, double bytes, int count)
{
    if (!dm || dm->messages_mb_s <= 0 || count <= 0) return 0;
    return (bytes > 0 ? bytes / (dm->messages_mb_s * 1e6) : 0) + count * dm->link_message_s;
}

int mc_devmodel_plan_link(const mc_devmodel *dm, double *a, double *b)
{
    if (dm->messages_mb_s > 0) {
        *a = 1.0 / (dm->messages_mb_s * 1e6);
        *b = dm->link_message_s;
        return 1;
    }
    if (dm->link_mbit_s > 0) {
        *a = 8.0 / (dm->link_mbit_s * 1e6);
        *b = dm->link_message_s;
        return 1;
    }
    return 0;
}

double mc_devmodel_load_s(const mc_devmodel *dm, double bytes)
{
    return dm && dm->load_mb_s > 0 && bytes > 0 ? bytes / (dm->load_mb_s * 1e6) : 0;
}

cJSON *mc_devmodel_to_json(const mc_devmodel *dm)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", dm->name);
    cJSON *g = cJSON_AddObjectToObject(j, "compute_gflops");
    for (int op = 0; op < MC_OP_COUNT; op++) cJSON_AddNumberToObject(g, mc_op_get((mc_op_type)op)->name, dm->gflops[op]);
    cJSON_AddNumberToObject(j, "weights_mb_s", dm->weights_mb_s);
    cJSON_AddNumberToObject(j, "tensors_mb_s", dm->tensors_mb_s);
    cJSON_AddBoolToObject(j, "conv_patches", dm->conv_patches);
    cJSON_AddNumberToObject(j, "layer_overhead_s", dm->layer_overhead_s);
    cJSON *mem = cJSON_AddObjectToObject(j, "memory");
    cJSON_AddNumberToObject(mem, "device_mb", dm->device_mb);
    cJSON_AddNumberToObject(mem, "available_mb", dm->available_mb);
    cJSON_AddNumberToObject(mem, "runtime_mb", dm->runtime_mb);
    cJSON_AddNumberToObject(mem, "weight_copies", dm->weight_copies);
    cJSON *sw = cJSON_AddObjectToObject(j, "swap");
    cJSON_AddNumberToObject(sw, "mb_s", dm->swap_mb_s);
    cJSON_AddNumberToObject(sw, "thrash", dm->swap_thrash);
    cJSON *lk = cJSON_AddObjectToObject(j, "link");
    cJSON_AddNumberToObject(lk, "mbit_s", dm->link_mbit_s);
    cJSON_AddNumberToObject(lk, "message_s", dm->link_message_s);
    if (dm->messages_mb_s > 0)
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(j, "messages"), "mb_s", dm->messages_mb_s);
    if (dm->load_mb_s > 0) cJSON_AddNumberToObject(cJSON_AddObjectToObject(j, "load"), "mb_s", dm->load_mb_s);
    return j;
}
