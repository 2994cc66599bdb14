/* weights.c - random weights from a seed and the MCHAIRW1 weight file.
 *
 * File layout (little-endian; docs/weights.md):
 *   "MCHAIRW1"                 8 bytes
 *   u32 tensor_count
 *   per tensor:
 *     u32 name_len, name bytes ("<layer>.weight", "<layer>.bias", "<layer>.<aux>")
 *     u32 ne[4]                element counts, innermost first (tensor.h)
 *     f32 data[ne0*ne1*ne2*ne3]
 * Tensors appear in layer order; within a layer weight, bias (absent with
 * bias=no), then the op's aux tensors (op.h aux_names: a batchnorm's mean
 * and var, a sepconv2d's pointwise kernel).
 *
 * A range [first, last) also holds the parameters of a batchnorm folded
 * into one of its convolutions (the convolution needs them to fold, models/
 * fold.c), wherever the batchnorm layer itself lies.
 */
#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/rng.h"

/* Random stream of aux tensor k of layer i (weight and bias use 2i, 2i+1). */
#define AUX_STREAM(i, k) ((1ull << 40) + 2 * (uint64_t)(i) + (uint64_t)(k))

/* A layer's parameter tensors, in file order. */
typedef struct param_ref {
    mc_tensor *t;
    mc_shape shape;
    const char *suffix;
    uint64_t stream;
    float offset, scale; /* random value = offset + scale * uniform */
} param_ref;

float mc_weights_random_scale(const mc_layer *l)
{
    double fan_in;
    if (l->op == MC_OP_BATCHNORM) return 0.1f; /* gamma = 1 + 0.1 u */
    if (l->op == MC_OP_SEPCONV2D) fan_in = (double)l->kh * l->kw; /* the depthwise kernel */
    else fan_in = (double)mc_shape_count(&l->wshape) / (l->units > 0 ? l->units : 1);
    return (float)sqrt(6.0 / (fan_in > 0 ? fan_in : 1));
}

void mc_weights_random_rule(const mc_layer *l, int which, uint64_t *stream, float *offset, float *scale)
{
    const uint64_t i = (uint64_t)l->index;
    *offset = 0.0f;
    if (which == 0) {
        *stream = 2 * i;
        *offset = l->op == MC_OP_BATCHNORM ? 1.0f : 0.0f;
        *scale = mc_weights_random_scale(l);
    } else if (which == 1) {
        *stream = 2 * i + 1;
        *scale = 0.01f;
    } else {
        const int k = which - 2;
        *stream = AUX_STREAM(i, k);
        *scale = 0.1f; /* batchnorm mean */
        if (l->op == MC_OP_BATCHNORM && k == 1) *offset = 1.0f, *scale = 0.5f; /* variance in [0.5, 1.5) */
        if (l->op == MC_OP_SEPCONV2D) *scale = (float)sqrt(6.0 / (l->in.ne[0] * (double)l->mult)); /* pointwise */
    }
}

/* Fills r[] with layer l's parameters; returns how many. */
static int layer_params(mc_layer *l, param_ref r[2 + MC_MAX_AUX])
{
    if (!l->has_params) return 0;
    int n = 0;
    r[n] = (param_ref){&l->weight, l->wshape, "weight", 0, 0, 0};
    mc_weights_random_rule(l, 0, &r[n].stream, &r[n].offset, &r[n].scale);
    n++;
    if (!l->no_bias) {
        r[n] = (param_ref){&l->bias, l->bshape, "bias", 0, 0, 0};
        mc_weights_random_rule(l, 1, &r[n].stream, &r[n].offset, &r[n].scale);
        n++;
    }
    for (int k = 0; k < MC_MAX_AUX; k++) {
        if (!mc_shape_count(&l->auxshape[k])) continue;
        r[n] = (param_ref){&l->aux[k], l->auxshape[k], mc_op_get(l->op)->aux_names[k], 0, 0, 0};
        mc_weights_random_rule(l, 2 + k, &r[n].stream, &r[n].offset, &r[n].scale);
        n++;
    }
    return n;
}

/* Whether a range [first, last) holds layer i's parameters. */
static int in_range(const mc_model *m, int i, int first, int last)
{
    if (i >= first && i < last) return 1;
    const mc_layer *l = &m->layers[i];
    if (l->op != MC_OP_BATCHNORM || !l->alias || l->inputs[0] < 0) return 0;
    return l->inputs[0] >= first && l->inputs[0] < last; /* folded into a convolution in range */
}

static void free_params(mc_layer *l)
{
    mc_tensor_free(&l->weight);
    mc_tensor_free(&l->bias);
    for (int k = 0; k < MC_MAX_AUX; k++) mc_tensor_free(&l->aux[k]);
    l->bn_folded = 0;
}

static mc_status alloc_params(mc_layer *l)
{
    char nm[MC_NAME_MAX + 16];
    free_params(l);
    mc_status st;
    snprintf(nm, sizeof nm, "%s.weight", l->name);
    if ((st = mc_tensor_alloc(&l->weight, l->wshape, nm))) return st;
    snprintf(nm, sizeof nm, "%s.bias", l->name);
    if ((st = mc_tensor_alloc(&l->bias, l->bshape, nm))) goto fail;
    if (l->no_bias) memset(l->bias.data, 0, mc_tensor_bytes(&l->bias));
    for (int k = 0; k < MC_MAX_AUX; k++) {
        if (!mc_shape_count(&l->auxshape[k])) continue;
        snprintf(nm, sizeof nm, "%s.%s", l->name, mc_op_get(l->op)->aux_names[k]);
        if ((st = mc_tensor_alloc(&l->aux[k], l->auxshape[k], nm))) goto fail;
    }
    return MC_OK;
fail:
    free_params(l);
    return st;
}

mc_status mc_weights_random(mc_model *m, int first, int last, uint64_t seed)
{
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    for (int i = 0; i < m->n_layers; i++) {
        mc_layer *l = &m->layers[i];
        if (!l->has_params || !in_range(m, i, first, last)) continue;
        if ((st = alloc_params(l))) {
            mc_weights_release(m, first, last);
            return st;
        }
        param_ref r[2 + MC_MAX_AUX];
        const int n = layer_params(l, r);
        for (int k = 0; k < n; k++) {
            float *x = r[k].t->data;
            const size_t cnt = mc_tensor_count(r[k].t);
            mc_rng_fill(x, cnt, seed, r[k].stream, 0, r[k].scale);
            if (r[k].offset != 0.0f)
                for (size_t e = 0; e < cnt; e++) x[e] += r[k].offset;
        }
    }
    return MC_OK;
}

void mc_weights_release(mc_model *m, int first, int last)
{
    if (first < 0) first = 0;
    if (last > m->n_layers) last = m->n_layers;
    if (first >= last) return;
    for (int i = 0; i < m->n_layers; i++)
        if (in_range(m, i, first, last)) free_params(&m->layers[i]);
}

void mc_input_random_u8(uint8_t *b, size_t n, uint64_t seed, uint64_t frame)
{
    /* Stream 2^32 + frame keeps inputs apart from every layer's streams. */
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(mc_rng_u64(seed, (1ull << 32) + frame, i) >> 56);
}

void mc_input_random(float *x, size_t n, uint64_t seed, uint64_t frame)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(mc_rng_u64(seed, (1ull << 32) + frame, i) >> 56) / 255.0f;
}

static int read_u32(FILE *f, uint32_t *v)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int write_u32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

/* Reads one tensor header; checks it is `want` with `shape`. */
static mc_status read_header(FILE *f, const char *path, const char *want, mc_shape shape)
{
    uint32_t len, ne[4];
    char name[256];
    if (read_u32(f, &len) || len == 0 || len >= sizeof name || fread(name, 1, len, f) != len)
        return mc_error_set(MC_ERR_FORMAT, "%s: truncated or bad tensor header where %s was expected",
                            path, want);
    name[len] = '\0';
    for (int k = 0; k < 4; k++)
        if (read_u32(f, &ne[k]))
            return mc_error_set(MC_ERR_FORMAT, "%s: truncated header of tensor %s", path, name);
    if (strcmp(name, want))
        return mc_error_set(MC_ERR_FORMAT, "%s: found tensor '%s' where '%s' was expected", path, name,
                            want);
    for (int k = 0; k < 4; k++)
        if ((int64_t)ne[k] != shape.ne[k]) {
            char a[64], b[64];
            mc_shape got = mc_shape_make((int)ne[0], (int)ne[1], (int)ne[2], (int)ne[3]);
            return mc_error_set(MC_ERR_SHAPE, "%s: tensor %s has shape %s (ne %u,%u,%u,%u), the model needs %s",
                                path, name, mc_shape_str(&got, a, sizeof a), ne[0], ne[1], ne[2],
                                ne[3], mc_shape_str(&shape, b, sizeof b));
        }
    return MC_OK;
}

/* Reads one tensor's data into t, or skips it (t NULL). */
static mc_status read_data(FILE *f, const char *path, const char *name, mc_tensor *t, size_t count)
{
    if (!t) {
        if (fseek(f, (long)(count * sizeof(float)), SEEK_CUR))
            return mc_error_set(MC_ERR_IO, "%s: cannot seek past %s", path, name);
        return MC_OK;
    }
    if (fread(t->data, sizeof(float), count, f) != count)
        return mc_error_set(MC_ERR_FORMAT, "%s: file ends inside tensor %s (%zu floats expected)", path,
                            name, count);
    return MC_OK;
}

static uint32_t tensor_count(mc_model *m)
{
    uint32_t n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        param_ref r[2 + MC_MAX_AUX];
        n += (uint32_t)layer_params(&m->layers[i], r);
    }
    return n;
}

mc_status mc_weights_load(mc_model *m, int first, int last, const char *path)
{
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open weight file: %s", path, strerror(errno));
    char magic[8];
    uint32_t count = 0, want = tensor_count(m);
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MC_WEIGHTS_MAGIC, 8)) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: not a weight file (magic is not %s)", path, MC_WEIGHTS_MAGIC);
    } else if (read_u32(f, &count) || count != want) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: holds %u tensors, model %s needs %u", path, count, m->name,
                          want);
    }
    for (int i = 0; !st && i < m->n_layers; i++) {
        mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        const int keep = in_range(m, i, first, last);
        if (keep && (st = alloc_params(l))) break;
        param_ref r[2 + MC_MAX_AUX];
        const int n = layer_params(l, r);
        for (int k = 0; !st && k < n; k++) {
            char nm[MC_NAME_MAX + 16];
            snprintf(nm, sizeof nm, "%s.%s", l->name, r[k].suffix);
            if (!(st = read_header(f, path, nm, r[k].shape)))
                st = read_data(f, path, nm, keep ? r[k].t : NULL, mc_shape_count(&r[k].shape));
        }
    }
    if (!st && fgetc(f) != EOF)
        st = mc_error_set(MC_ERR_FORMAT, "%s: unexpected data after the last tensor", path);
    fclose(f);
    if (st) mc_weights_release(m, first, last);
    return st;
}

mc_status mc_weights_save(const mc_model *m, const char *path)
{
    for (int i = 0; i < m->n_layers; i++) {
        const mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        if (!l->weight.data || !l->bias.data)
            return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded, cannot save", l->name);
        for (int k = 0; k < MC_MAX_AUX; k++)
            if (mc_shape_count(&l->auxshape[k]) && !l->aux[k].data)
                return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded, cannot save", l->name);
        if (l->bn_folded)
            return mc_error_set(MC_ERR_INVALID_ARG,
                                "layer %s: its weights hold batchnorm %s, folded in when a net was made; save the "
                                "weights before mc_net_init",
                                l->name, m->layers[l->fold_bn].name);
    }
    mc_model *mm = (mc_model *)m; /* layer_params takes non-const tensors; nothing is changed */
    const uint32_t count = tensor_count(mm);
    FILE *f = fopen(path, "wb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot create weight file: %s", path, strerror(errno));
    int bad = fwrite(MC_WEIGHTS_MAGIC, 1, 8, f) != 8 || write_u32(f, count);
    for (int i = 0; !bad && i < m->n_layers; i++) {
        param_ref r[2 + MC_MAX_AUX];
        const int n = layer_params(&mm->layers[i], r);
        for (int k = 0; k < n && !bad; k++) {
            char nm[MC_NAME_MAX + 16];
            snprintf(nm, sizeof nm, "%s.%s", m->layers[i].name, r[k].suffix);
            uint32_t len = (uint32_t)strlen(nm);
            bad = write_u32(f, len) || fwrite(nm, 1, len, f) != len;
            for (int d = 0; d < 4 && !bad; d++) bad = write_u32(f, (uint32_t)r[k].shape.ne[d]);
            size_t cnt = mc_shape_count(&r[k].shape);
            if (!bad) bad = fwrite(r[k].t->data, sizeof(float), cnt, f) != cnt;
        }
    }
    if (fclose(f)) bad = 1;
    if (bad) {
        remove(path);
        return mc_error_set(MC_ERR_IO, "%s: cannot write weight file: %s", path, strerror(errno));
    }
    return MC_OK;
}
