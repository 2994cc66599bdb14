/* model.c - the model text format parser and shape inference over the table. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
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

/* Parses a non-negative int (pads); 0 on success. */
static int parse_count(const char *s, int *out)
{
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return parse_int(s, out);
}

static int is_3d(mc_op_type op) { return op == MC_OP_CONV3D || op == MC_OP_MAXPOOL3D; }

static int is_pool(mc_op_type op)
{
    return op == MC_OP_MAXPOOL2D || op == MC_OP_AVGPOOL2D || op == MC_OP_MAXPOOL3D;
}

/* Which keys set a stride (pools default theirs to the window). */
enum { STRIDE_H = 1, STRIDE_W = 2, STRIDE_T = 4 };

/* Applies one key=value to a layer (all keys but in=). */
static mc_status apply_kv(mc_layer *l, const char *key, const char *val, const char *origin, int line,
                          int *strides)
{
    int v = 0;
    int is_int = parse_int(val, &v) == 0;
#define NEED_INT                                                                              \
    if (!is_int)                                                                              \
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: %s=%s must be a positive integer", origin, \
                            line, key, val)
#define NEED_COUNT                                                                                  \
    if (parse_count(val, &v))                                                                       \
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: %s=%s must be a non-negative integer", origin, \
                            line, key, val)
    if (!strcmp(key, "filters") || !strcmp(key, "units")) {
        NEED_INT;
        l->units = v;
    } else if (!strcmp(key, "kernel") || !strcmp(key, "pool")) {
        NEED_INT;
        l->kh = l->kw = v;
        if (is_3d(l->op)) l->kt = v;
    } else if (!strcmp(key, "kernel_h") || !strcmp(key, "pool_h")) {
        NEED_INT;
        l->kh = v;
    } else if (!strcmp(key, "kernel_w") || !strcmp(key, "pool_w")) {
        NEED_INT;
        l->kw = v;
    } else if (!strcmp(key, "kernel_t") || !strcmp(key, "pool_t")) {
        NEED_INT;
        l->kt = v;
    } else if (!strcmp(key, "stride")) {
        NEED_INT;
        l->sh = l->sw = v;
        *strides |= STRIDE_H | STRIDE_W;
        if (is_3d(l->op)) {
            l->st = v;
            *strides |= STRIDE_T;
        }
    } else if (!strcmp(key, "stride_h")) {
        NEED_INT;
        l->sh = v;
        *strides |= STRIDE_H;
    } else if (!strcmp(key, "stride_w")) {
        NEED_INT;
        l->sw = v;
        *strides |= STRIDE_W;
    } else if (!strcmp(key, "stride_t")) {
        NEED_INT;
        l->st = v;
        *strides |= STRIDE_T;
    } else if (!strcmp(key, "levels")) {
        NEED_INT;
        l->levels = v;
    } else if (!strcmp(key, "first")) {
        NEED_COUNT;
        l->first = v;
    } else if (!strcmp(key, "frames")) {
        NEED_COUNT;
        l->frames = v;
    } else if (!strcmp(key, "multiplier")) {
        NEED_INT;
        l->mult = v;
    } else if (!strcmp(key, "pad")) {
        NEED_COUNT;
        l->pads[0] = l->pads[1] = l->pads[2] = l->pads[3] = v;
    } else if (!strncmp(key, "pad_", 4)) {
        static const char *const sides[6] = {"top", "bottom", "left", "right", "front", "back"};
        int k = 0;
        while (k < 6 && strcmp(key + 4, sides[k])) k++;
        if (k == 6) return mc_error_set(MC_ERR_FORMAT, "%s:%d: unknown parameter '%s'", origin, line, key);
        NEED_COUNT;
        l->pads[k] = v;
    } else if (!strcmp(key, "eps")) {
        char *end;
        errno = 0;
        float e = strtof(val, &end);
        if (errno || end == val || *end || !(e > 0.0f) || !isfinite(e))
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: eps=%s must be a positive number", origin, line, val);
        l->eps = e;
    } else if (!strcmp(key, "bias")) {
        if (!strcmp(val, "yes")) l->no_bias = 0;
        else if (!strcmp(val, "no")) l->no_bias = 1;
        else return mc_error_set(MC_ERR_FORMAT, "%s:%d: bias=%s (expected yes or no)", origin, line, val);
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
#undef NEED_COUNT
    return MC_OK;
}

/* Resolves in=NAME,NAME,... (modified in place) into l->inputs. */
static mc_status parse_inputs(const mc_model *m, mc_layer *l, char *val, const char *origin, int line)
{
    l->n_in = 0;
    for (char *s = val, *next; s; s = next) {
        next = strchr(s, ',');
        if (next) *next++ = '\0';
        if (l->n_in == MC_MAX_INPUTS)
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer %s reads more than %d inputs", origin, line, l->name,
                                MC_MAX_INPUTS);
        int k = !strcmp(s, MC_MODEL_INPUT_NAME) ? -1 : mc_model_find_layer(m, s);
        if (k < -1 || (k == -1 && strcmp(s, MC_MODEL_INPUT_NAME)))
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer %s reads '%s', which is not an earlier layer (layers "
                                "read only layers above them, or '%s')",
                                origin, line, l->name, s, MC_MODEL_INPUT_NAME);
        l->inputs[l->n_in++] = k;
    }
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

/* "conv2d, maxpool2d, ..." for messages. */
static const char *kind_list(char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; i < MC_OP_COUNT; i++) {
        if (i) strncat(buf, i + 1 == MC_OP_COUNT ? " or " : ", ", n - strlen(buf) - 1);
        strncat(buf, mc_op_get((mc_op_type)i)->name, n - strlen(buf) - 1);
    }
    return buf;
}

static mc_status parse_layer(mc_model *m, char **tok, int nt, const char *origin, int line)
{
    mc_op_type op = mc_op_from_name(tok[0]);
    if (op == MC_OP_COUNT) {
        char kinds[400];
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: unknown layer kind '%s' (expected %s)", origin, line, tok[0],
                            kind_list(kinds, sizeof kinds));
    }
    if (nt < 2 || strchr(tok[1], '='))
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: %s needs a name after the kind", origin, line,
                            tok[0]);
    if (m->n_layers == MC_MAX_LAYERS)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: more than %d layers", origin, line, MC_MAX_LAYERS);
    if (strlen(tok[1]) >= MC_NAME_MAX)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer name '%s' is longer than %d characters",
                            origin, line, tok[1], MC_NAME_MAX - 1);
    if (!strcmp(tok[1], MC_MODEL_INPUT_NAME) || strchr(tok[1], ','))
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: a layer cannot be called '%s'", origin, line, tok[1]);
    if (mc_model_find_layer(m, tok[1]) >= 0)
        return mc_error_set(MC_ERR_FORMAT, "%s:%d: layer name '%s' is used twice", origin, line,
                            tok[1]);
    mc_layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->op = op;
    l->index = m->n_layers;
    snprintf(l->name, sizeof l->name, "%s", tok[1]);
    l->sh = l->sw = l->st = l->kt = l->mult = 1;
    l->eps = 1e-3f; /* Keras' BatchNormalization default */
    l->padding = MC_PAD_VALID;
    if (is_pool(op)) l->kh = l->kw = 2;
    if (op == MC_OP_MAXPOOL3D) l->kt = 2;
    if (op == MC_OP_TPYRAMID) l->levels = 4;
    l->n_in = 1;
    l->inputs[0] = m->n_layers - 1; /* the layer above, or the model input */
    int strides = 0;
    for (int i = 2; i < nt; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1])
            return mc_error_set(MC_ERR_FORMAT, "%s:%d: expected key=value, got '%s'", origin, line,
                                tok[i]);
        *eq = '\0';
        mc_status st = !strcmp(tok[i], "in") ? parse_inputs(m, l, eq + 1, origin, line)
                                             : apply_kv(l, tok[i], eq + 1, origin, line, &strides);
        if (st) return st;
    }
    /* Pooling defaults its stride to its window, as Keras does. */
    if (is_pool(op)) {
        if (!(strides & STRIDE_H)) l->sh = l->kh;
        if (!(strides & STRIDE_W)) l->sw = l->kw;
        if (!(strides & STRIDE_T)) l->st = l->kt;
    }
    for (int k = 0; k < l->n_in; k++) l->ins[k] = l->inputs[k] < 0 ? m->input : m->layers[l->inputs[k]].out;
    l->in = l->ins[0];
    mc_status st = mc_layer_infer(l);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        return mc_error_set(st, "%s:%d: %s", origin, line, msg);
    }
    l->alias = op == MC_OP_FLATTEN; /* the same floats, seen flat */
    m->n_layers++;
    return MC_OK;
}

/* After the last layer: every output is read (only the last layer's is the
 * model's output), and batchnorms fold into the convolution before them
 * when nothing else reads it (op.h, models/fold.c). */
static mc_status finish_graph(mc_model *m, const char *origin)
{
    int *readers = calloc((size_t)m->n_layers + 1, sizeof *readers); /* [k + 1]: readers of layer k */
    if (!readers) return mc_error_set(MC_ERR_NOMEM, "%s: out of memory", origin);
    m->input_last_reader = -1;
    for (int j = 0; j < m->n_layers; j++) m->layers[j].last_reader = -1;
    for (int j = 0; j < m->n_layers; j++)
        for (int k = 0; k < m->layers[j].n_in; k++) {
            const int u = m->layers[j].inputs[k];
            readers[u + 1]++;
            *(u < 0 ? &m->input_last_reader : &m->layers[u].last_reader) = j;
        }
    mc_status st = MC_OK;
    if (!readers[0]) st = mc_error_set(MC_ERR_FORMAT, "%s: no layer reads the model's input", origin);
    for (int j = 0; !st && j + 1 < m->n_layers; j++)
        if (!readers[j + 1])
            st = mc_error_set(MC_ERR_FORMAT,
                              "%s: the output of layer %s is never read (only the last layer, %s, gives the "
                              "model's output)",
                              origin, m->layers[j].name, m->layers[m->n_layers - 1].name);
    for (int j = 0; !st && j < m->n_layers; j++) {
        mc_layer *bn = &m->layers[j];
        if (bn->op != MC_OP_BATCHNORM || bn->inputs[0] < 0) continue;
        mc_layer *conv = &m->layers[bn->inputs[0]];
        if (!mc_op_folds_bn(conv->op) || conv->act != MC_ACT_NONE || readers[conv->index + 1] != 1) continue;
        conv->fold_bn = j;
        conv->act = bn->act;
        bn->alias = 1;
    }
    free(readers);
    return st;
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
                                  "%s:%d: expected one 'input H W C [T]' of positive integers "
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
    if (!st) st = finish_graph(m, origin);
    if (!st) { /* give back the unused tail of the table */
        mc_layer *fit = realloc(m->layers, (size_t)m->n_layers * sizeof *fit);
        if (fit) m->layers = fit;
    }
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
            for (int k = 0; k < MC_MAX_AUX; k++) mc_tensor_free(&m->layers[i].aux[k]);
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

double mc_model_macs(const mc_model *m, int first, int last)
{
    double s = 0;
    for (int i = first; i < last; i++)
        if (!m->layers[i].alias) s += mc_op_get(m->layers[i].op)->macs(&m->layers[i]); /* views run nothing */
    return s;
}

size_t mc_model_param_count(const mc_model *m, int first, int last)
{
    size_t n = 0;
    for (int i = first; i < last; i++) {
        const mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        n += mc_shape_count(&l->wshape) + (l->no_bias ? 0 : mc_shape_count(&l->bshape));
        for (int k = 0; k < MC_MAX_AUX; k++) n += mc_shape_count(&l->auxshape[k]);
    }
    return n;
}
