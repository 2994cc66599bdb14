/* weights.c - random weights from a seed and the MCHAIRW1 weight file.
 *
 * File layout (little-endian; docs/weights.md):
 *   "MCHAIRW1"                 8 bytes
 *   u32 tensor_count
 *   per tensor:
 *     u32 name_len, name bytes ("<layer>.weight" or "<layer>.bias")
 *     u32 ne[4]                element counts, innermost first (tensor.h)
 *     f32 data[ne0*ne1*ne2*ne3]
 * Tensors appear in layer order, weight before bias.
 */
#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/rng.h"

float mc_weights_random_scale(const mc_layer *l)
{
    double fan_in = (double)mc_shape_count(&l->wshape) / (l->units > 0 ? l->units : 1);
    return (float)sqrt(6.0 / (fan_in > 0 ? fan_in : 1));
}

static mc_status alloc_params(mc_layer *l)
{
    char nm[MC_NAME_MAX + 8];
    mc_tensor_free(&l->weight);
    mc_tensor_free(&l->bias);
    snprintf(nm, sizeof nm, "%s.weight", l->name);
    mc_status st = mc_tensor_alloc(&l->weight, l->wshape, nm);
    if (st) return st;
    snprintf(nm, sizeof nm, "%s.bias", l->name);
    st = mc_tensor_alloc(&l->bias, l->bshape, nm);
    if (st) mc_tensor_free(&l->weight);
    return st;
}

mc_status mc_weights_random(mc_model *m, int first, int last, uint64_t seed)
{
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    for (int i = first; i < last; i++) {
        mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        if ((st = alloc_params(l))) {
            mc_weights_release(m, first, i);
            return st;
        }
        mc_rng_fill(l->weight.data, mc_tensor_count(&l->weight), seed, 2 * (uint64_t)i, 0,
                    mc_weights_random_scale(l));
        mc_rng_fill(l->bias.data, mc_tensor_count(&l->bias), seed, 2 * (uint64_t)i + 1, 0, 0.01f);
    }
    return MC_OK;
}

void mc_weights_release(mc_model *m, int first, int last)
{
    for (int i = first; i < last && i < m->n_layers; i++) {
        mc_tensor_free(&m->layers[i].weight);
        mc_tensor_free(&m->layers[i].bias);
    }
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

/* Reads one tensor header; checks it names `t` with t's shape. */
static mc_status read_header(FILE *f, const char *path, const mc_tensor *want, mc_shape shape)
{
    uint32_t len, ne[4];
    char name[256];
    if (read_u32(f, &len) || len == 0 || len >= sizeof name || fread(name, 1, len, f) != len)
        return mc_error_set(MC_ERR_FORMAT, "%s: truncated or bad tensor header where %s was expected",
                            path, want->name);
    name[len] = '\0';
    for (int k = 0; k < 4; k++)
        if (read_u32(f, &ne[k]))
            return mc_error_set(MC_ERR_FORMAT, "%s: truncated header of tensor %s", path, name);
    if (strcmp(name, want->name))
        return mc_error_set(MC_ERR_FORMAT, "%s: found tensor '%s' where '%s' was expected", path, name,
                            want->name);
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

/* Reads or skips one tensor's data. */
static mc_status read_data(FILE *f, const char *path, mc_tensor *t, size_t count, int keep)
{
    if (!keep) {
        if (fseek(f, (long)(count * sizeof(float)), SEEK_CUR))
            return mc_error_set(MC_ERR_IO, "%s: cannot seek past %s", path, t->name);
        return MC_OK;
    }
    if (fread(t->data, sizeof(float), count, f) != count)
        return mc_error_set(MC_ERR_FORMAT, "%s: file ends inside tensor %s (%zu floats expected)", path,
                            t->name, count);
    return MC_OK;
}

mc_status mc_weights_load(mc_model *m, int first, int last, const char *path)
{
    mc_status st = mc_model_check_range(m, first, last);
    if (st) return st;
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open weight file: %s", path, strerror(errno));
    char magic[8];
    uint32_t count = 0, want = 0;
    for (int i = 0; i < m->n_layers; i++) want += m->layers[i].has_params ? 2 : 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MC_WEIGHTS_MAGIC, 8)) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: not a weight file (magic is not %s)", path, MC_WEIGHTS_MAGIC);
    } else if (read_u32(f, &count) || count != want) {
        st = mc_error_set(MC_ERR_FORMAT, "%s: holds %u tensors, model %s needs %u", path, count, m->name,
                          want);
    }
    for (int i = 0; !st && i < m->n_layers; i++) {
        mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        int keep = i >= first && i < last;
        mc_tensor wv, bv;
        char nm[MC_NAME_MAX + 8];
        if (keep) {
            if ((st = alloc_params(l))) break;
        }
        snprintf(nm, sizeof nm, "%s.weight", l->name);
        mc_tensor_view(&wv, l->wshape, NULL, nm);
        snprintf(nm, sizeof nm, "%s.bias", l->name);
        mc_tensor_view(&bv, l->bshape, NULL, nm);
        if (!(st = read_header(f, path, &wv, l->wshape)))
            st = read_data(f, path, keep ? &l->weight : &wv, mc_shape_count(&l->wshape), keep);
        if (!st && !(st = read_header(f, path, &bv, l->bshape)))
            st = read_data(f, path, keep ? &l->bias : &bv, mc_shape_count(&l->bshape), keep);
    }
    if (!st && fgetc(f) != EOF)
        st = mc_error_set(MC_ERR_FORMAT, "%s: unexpected data after the last tensor", path);
    fclose(f);
    if (st) mc_weights_release(m, first, last);
    return st;
}

mc_status mc_weights_save(const mc_model *m, const char *path)
{
    uint32_t count = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        if (!l->weight.data || !l->bias.data)
            return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded, cannot save", l->name);
        count += 2;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot create weight file: %s", path, strerror(errno));
    int bad = fwrite(MC_WEIGHTS_MAGIC, 1, 8, f) != 8 || write_u32(f, count);
    for (int i = 0; !bad && i < m->n_layers; i++) {
        const mc_layer *l = &m->layers[i];
        if (!l->has_params) continue;
        const mc_tensor *ts[2] = {&l->weight, &l->bias};
        for (int k = 0; k < 2 && !bad; k++) {
            uint32_t len = (uint32_t)strlen(ts[k]->name);
            bad = write_u32(f, len) || fwrite(ts[k]->name, 1, len, f) != len;
            for (int d = 0; d < 4 && !bad; d++) bad = write_u32(f, (uint32_t)ts[k]->shape.ne[d]);
            size_t n = mc_tensor_count(ts[k]);
            if (!bad) bad = fwrite(ts[k]->data, sizeof(float), n, f) != n;
        }
    }
    if (fclose(f)) bad = 1;
    if (bad) {
        remove(path);
        return mc_error_set(MC_ERR_IO, "%s: cannot write weight file: %s", path, strerror(errno));
    }
    return MC_OK;
}
