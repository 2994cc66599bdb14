/* model.c - the model text format parser and shape inference over the table. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"

#define MC_MAX_LAYERS 4096
#define MC_MAX_TOKENS 32

/* Parses a positive int; 0 on success. */
static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

/* Applies one key=value to a layer. */
static mc_status apply_kv(mc_layer *l, const char *key, const char *val, const char *origin, int line)
{
    int v = 0;
    int is_int = parse_int(val, &v) == 0;
#define NEED_INT                                                                              \
    if (!is_int)                                                                              \
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: %s=%s must be a positive integer", origin, \
                            line, key, val)
    if (!strcmp(key, "filters") || !strcmp(key, "units")) {
        NEED_INT;
        l->units = v;
    } else if (!strcmp(key, "kernel") || !strcmp(key, "pool")) {
        NEED_INT;
        l->kh = l->kw = v;
    } else if (!strcmp(key, "kernel_h")) {
        NEED_INT;
        l->kh = v;
    } else if (!strcmp(key, "kernel_w")) {
        NEED_INT;
        l->kw = v;
    } else if (!strcmp(key, "stride")) {
        NEED_INT;
        l->sh = l->sw = v;
    } else if (!strcmp(key, "stride_h")) {
        NEED_INT;
        l->sh = v;
    } else if (!strcmp(key, "stride_w")) {
        NEED_INT;
        l->sw = v;
    } else if (!strcmp(key, "padding")) {
        if (!strcmp(val, "same")) l->padding = MC_PAD_SAME;
        else if (!strcmp(val, "valid")) l->padding = MC_PAD_VALID;
        else
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: padding=%s (expected same or valid)", origin,
                                line, val);
    } else if (!strcmp(key, "act")) {
        mc_act a = mc_act_from_name(val);
        if (a == MC_ACT_COUNT)
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: act=%s (expected none, relu or softmax)",
                                origin, line, val);
        l->act = a;
    } else {
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: unknown parameter '%s'", origin, line, key);
    }
#undef NEED_INT
    return MC_OK;
}

/* Splits a line (modified in place) into tokens; strips '#' comments. */
static int tokenize(char *s, char **tok, int max)
{
    char *hash = strchr(s, '#');
    if (hash) *hash = '\0';
    int n = 0;
    while (*s) {
        while (*s && isspace((unsigned char)*s)) s++;
        if (!*s) break;
        if (n == max) return -1;
        tok[n++] = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        if (*s) *s++ = '\0';
    }
    return n;
}

static mc_status parse_layer(mc_model *m, char **tok, int nt, const char *origin, int line)
{
    mc_op_type op = mc_op_from_name(tok[0]);
    if (op == MC_OP_COUNT)
        return mc_error_set(MC_ERR_FORMAT,
                            "%s:%d: unknown layer kind '%s' (expected conv2d, maxpool2d, dense, "
                            "relu, softmax or flatten)",
                            origin, line, tok[0]);
    if (nt < 2 || strchr(tok[1], '='))
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: %s needs a name after the kind", origin, line,
                            tok[0]);
    if (m->n_layers == MC_MAX_LAYERS)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: more than %d layers", origin, line, MC_MAX_LAYERS);
    if (strlen(tok[1]) >= MC_NAME_MAX)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer name '%s' is longer than %d characters",
                            origin, line, tok[1], MC_NAME_MAX - 1);
    if (mc_model_find_layer(m, tok[1]) >= 0)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer name '%s' is used twice", origin, line,
                            tok[1]);
    mc_layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->op = op;
    l->index = m->n_layers;
    snprintf(l->name, sizeof l->name, "%s", tok[1]);
    l->sh = l->sw = 1;
    l->padding = MC_PAD_VALID;
    if (op == MC_OP_MAXPOOL2D) l->kh = l->kw = l->sh = l->sw = 2;
    int stride_given = 0;
    for (int i = 2; i < nt; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1])
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: expected key=value, got '%s'", origin, line,
                                tok[i]);
        *eq = '\0';
        if (!strncmp(tok[i], "stride", 6)) stride_given = 1;
        mc_status st = apply_kv(l, tok[i], eq + 1, origin, line);
        if (st) return st;
    }
    /* Pooling defaults its stride to its window, as Keras does. */
    if (op == MC_OP_MAXPOOL2D && !stride_given) {
        l->sh = l->kh;
        l->sw = l->kw;
    }
    l->in = m->n_layers ? m->layers[m->n_layers - 1].out : m->input;
    mc_status st = mc_layer_infer(l);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        return mc_error_set(st, "%s:%d: %s", origin, line, msg);
    }
    m->n_layers++;
    return MC_OK;
}

mc_status mc_model_parse(const char *text, const char *origin, mc_model *m)
{
    memset(m, 0, sizeof *m);
    m->layers = calloc(MC_MAX_LAYERS, sizeof *m->layers);
    char *copy = strdup(text ? text : "");
    if (!m->layers || !copy) {
        free(copy);
        mc_model_free(m);
        return mc_error_set(MC_ERR_NOMEM, "%s: out of memory parsing model", origin);
    }
    mc_status st = MC_OK;
    int line = 0, have_input = 0;
    char *save = NULL;
    for (char *s = copy; s; s = save) {
        save = strchr(s, '\n');
        if (save) *save++ = '\0';
        line++;
        char *tok[MC_MAX_TOKENS];
        int nt = tokenize(s, tok, MC_MAX_TOKENS);
        if (nt < 0) {
            st = mc_error_set(MC_ERR_FORMAT, "%s:%d: too many fields", origin, line);
            break;
        }
        if (nt == 0) continue;
        if (!strcmp(tok[0], "model")) {
            if (nt != 2 || strlen(tok[1]) >= MC_NAME_MAX) {
                st = mc_error_set(MC_ERR_FORMAT, "%s:%d: expected 'model NAME'", origin, line);
                break;
            }
            snprintf(m->name, sizeof m->name, "%s", tok[1]);
        } else if (!strcmp(tok[0], "input")) {
            int h, w, c, d = 1;
            if (have_input || m->n_layers || (nt != 4 && nt != 5) || parse_int(tok[1], &h) ||
                parse_int(tok[2], &w) || parse_int(tok[3], &c) || (nt == 5 && parse_int(tok[4], &d))) {
                st = mc_error_set(MC_ERR_FORMAT,
                                  "%s:%d: expected one 'input H W C [D]' of positive integers "
                                  "before the layers",
                                  origin, line);
                break;
            }
            m->input = mc_shape_make(c, w, h, d);
            have_input = 1;
        } else {
            if (!have_input) {
                st = mc_error_set(MC_ERR_FORMAT, "%s:%d: 'input H W C' must come before layers",
                                  origin, line);
                break;
            }
            st = parse_layer(m, tok, nt, origin, line);
            if (st) break;
        }
    }
    free(copy);
    if (!st && m->n_layers == 0)
        st = mc_error_set(MC_ERR_FORMAT, "%s: the model has no layers", origin);
    if (!st && !m->name[0]) snprintf(m->name, sizeof m->name, "%s", "model");
    if (st) mc_model_free(m);
    return st;
}

mc_status mc_model_load_file(const char *path, mc_model *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < (16 << 20) && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf) len = fread(buf, 1, (size_t)n, f);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return mc_error_set(MC_ERR_IO, "%s: cannot read model file (empty, over 16 MB or unreadable)",
                            path);
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return mc_error_set(MC_ERR_FORMAT, "%s: not a text model file", path);
    }
    mc_status st = mc_model_parse(buf, path, m);
    free(buf);
    return st;
}

mc_status mc_model_open(const char *name_or_path, mc_model *m)
{
    if (mc_model_builtin_text(name_or_path)) return mc_model_builtin(name_or_path, m);
    if (!strchr(name_or_path, '/') && !strchr(name_or_path, '.')) {
        char list[256] = "";
        for (const char *const *n = mc_model_builtin_names(); *n; n++) {
            strncat(list, " ", sizeof list - strlen(list) - 1);
            strncat(list, *n, sizeof list - strlen(list) - 1);
        }
        return mc_error_set(MC_ERR_NOT_FOUND, "unknown model '%s' (built-in:%s; or a path to a model file)",
                            name_or_path, list);
    }
    return mc_model_load_file(name_or_path, m);
}

void mc_model_free(mc_model *m)
{
    if (m->layers) {
        for (int i = 0; i < m->n_layers; i++) {
            mc_tensor_free(&m->layers[i].weight);
            mc_tensor_free(&m->layers[i].bias);
        }
        free(m->layers);
    }
    memset(m, 0, sizeof *m);
}

int mc_model_find_layer(const mc_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i].name, name)) return i;
    return -1;
}

mc_status mc_model_check_range(const mc_model *m, int first, int last)
{
    if (first < 0 || last > m->n_layers || first >= last)
        return mc_error_set(MC_ERR_INVALID_ARG, "model %s: layer range [%d, %d) is not within [0, %d)",
                            m->name, first, last, m->n_layers);
    return MC_OK;
}

mc_shape mc_model_range_in(const mc_model *m, int first) { return m->layers[first].in; }
mc_shape mc_model_range_out(const mc_model *m, int last) { return m->layers[last - 1].out; }

double mc_model_macs(const mc_model *m, int first, int last)
{
    double s = 0;
    for (int i = first; i < last; i++) s += mc_op_get(m->layers[i].op)->macs(&m->layers[i]);
    return s;
}

size_t mc_model_param_count(const mc_model *m, int first, int last)
{
    size_t n = 0;
    for (int i = first; i < last; i++)
        if (m->layers[i].has_params)
            n += mc_shape_count(&m->layers[i].wshape) + mc_shape_count(&m->layers[i].bshape);
    return n;
}
