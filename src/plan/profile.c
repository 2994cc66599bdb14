/* profile.c - measuring layers and their split parts, the link fit, profile JSON.
 *
 * Layers are timed one at a time through the backend interface (the same
 * calls net.c makes), with random weights generated just for the layer or
 * the part being timed and released right after, so profiling VGG16 never
 * holds more than one layer's weights.  Each number is the median of
 * `repeat` runs after one warm-up run.  For a split variant only the part
 * with the most multiply-accumulates is timed: it is the one the others
 * wait for.
 */
#include "profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../backend/backend.h"
#include "../models/net.h"
#include "../models/weights.h"

double mc_prof_mem(double weight_bytes, double in_bytes, double out_bytes, double ws_bytes)
{
    return weight_bytes + 2 * (in_bytes > out_bytes ? in_bytes : out_bytes) + ws_bytes;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times layer l (weights loaded) on be; fills c.  A layer reading several
 * inputs gets one random buffer per input (forward_n); a view runs nothing. */
static mc_status time_layer(mc_backend *be, mc_layer *l, int repeat, unsigned long long seed,
                            mc_prof_cost *c)
{
    const int n_in = l->n_in > 1 ? l->n_in : 1;
    const size_t ni = mc_shape_count(&l->in), no = mc_shape_count(&l->out);
    c->weight_bytes = l->has_params && !l->alias
                          ? (double)(mc_shape_count(&l->wshape) + mc_shape_count(&l->bshape)) * 4 : 0;
    for (int k = 0; k < MC_MAX_AUX && l->has_params && !l->alias; k++)
        c->weight_bytes += 4.0 * (double)mc_shape_count(&l->auxshape[k]);
    c->in_bytes = (double)ni * 4;
    c->out_bytes = (double)no * 4;
    if (l->alias) { /* flatten, a folded batchnorm: the same floats, nothing runs */
        c->latency = c->ws_bytes = 0;
        c->mem_bytes = mc_prof_mem(0, c->in_bytes, c->out_bytes, 0);
        return MC_OK;
    }
    const size_t ws = be->workspace_bytes(be, l);
    void *bi[MC_MAX_INPUTS] = {0}, *bo = NULL, *bw = NULL;
    const void *argv[MC_MAX_INPUTS];
    float *x = NULL;
    double t[64];
    if (repeat > 64) repeat = 64;
    mc_status st = be->prepare_layer(be, l);
    if (st) return st;
    size_t most = 0;
    for (int k = 0; k < n_in; k++) most = mc_shape_count(&l->ins[k]) > most ? mc_shape_count(&l->ins[k]) : most;
    if (!(x = malloc(most * sizeof(float)))) {
        st = mc_error_set(MC_ERR_NOMEM, "layer %s: no memory for a profiling input", l->name);
        goto done;
    }
    for (int k = 0; k < n_in; k++) {
        const size_t nk = mc_shape_count(&l->ins[k]);
        if ((st = be->buffer_alloc(be, nk * sizeof(float), &bi[k]))) goto done;
        mc_input_random(x, nk, seed, (uint64_t)k);
        if ((st = be->upload(be, bi[k], x, nk))) goto done;
        argv[k] = bi[k];
    }
    if ((st = be->buffer_alloc(be, no * sizeof(float), &bo)) || (ws && (st = be->buffer_alloc(be, ws, &bw))))
        goto done;
    if (n_in > 1 && !be->forward_n) {
        st = mc_error_set(MC_ERR_UNSUPPORTED, "backend %s cannot run layer %s (%d inputs)", be->name, l->name, n_in);
        goto done;
    }
    for (int r = -1; r < repeat; r++) {
        double t0 = mc_now();
        st = n_in > 1 ? be->forward_n(be, l, argv, bo, bw) : be->forward(be, l, bi[0], bo, bw);
        if (st || (st = be->synchronize(be))) goto done;
        if (r >= 0) t[r] = mc_now() - t0;
    }
    qsort(t, (size_t)repeat, sizeof t[0], cmp_double);
    c->latency = repeat % 2 ? t[repeat / 2] : 0.5 * (t[repeat / 2 - 1] + t[repeat / 2]);
    c->ws_bytes = (double)ws;
    c->mem_bytes = mc_prof_mem(c->weight_bytes, c->in_bytes, c->out_bytes, c->ws_bytes);
done:
    free(x);
    if (bw) be->buffer_free(be, bw);
    if (bo) be->buffer_free(be, bo);
    for (int k = 0; k < n_in; k++)
        if (bi[k]) be->buffer_free(be, bi[k]);
    be->release_layer(be, l);
    return st;
}

void mc_profile_fill_cuts(mc_profile *p, const mc_model *m)
{
    for (int i = 0; i < p->n_layers && i < m->n_layers; i++) {
        const mc_layer *l = &m->layers[i];
        p->layers[i].cut_bytes = 4.0 * (double)mc_model_cut_floats(m, i);
        p->layers[i].view = l->alias;
        p->layers[i].fold_of = l->alias && l->op == MC_OP_BATCHNORM && l->inputs[0] >= 0 ? 1 + l->inputs[0] : 0;
        p->layers[i].stream_ring_bytes =
            mc_net_stream_links(m, i - 1) ? 4.0 * (double)l->kt * (double)mc_shape_frame_floats(&l->in) : 0;
    }
    p->has_cuts = 1;
}

int mc_profile_split_end(const mc_profile *p, int l)
{
    return l + 1 < p->n_layers && p->layers[l + 1].fold_of == l + 1 ? l + 2 : l + 1;
}

double mc_profile_cut_bytes(const mc_profile *p, int k)
{
    if (k >= p->n_layers) return p->layers[p->n_layers - 1].cost.out_bytes;
    return p->has_cuts ? p->layers[k].cut_bytes : p->layers[k].cost.in_bytes;
}

/* Times the largest part of one split variant; 1 if measured, 0 if the split does not exist. */
static mc_status time_split(mc_backend *be, const mc_layer *full, mc_split_method m, int parts,
                            const mc_profile_opts *o, mc_prof_split *out, int *made)
{
    mc_split_part best, p;
    double best_macs = -1;
    *made = 0;
    for (int k = 0; k < parts; k++) {
        if (mc_split_make_part(full, m, parts, 0, 0, k, &p)) {
            mc_error_clear();
            return MC_OK;
        }
        double macs = mc_op_get(p.layer.op)->macs(&p.layer) + (double)mc_split_in_count(&p) * 1e-9;
        if (macs > best_macs) {
            best_macs = macs;
            best = p;
        }
    }
    mc_status st = mc_split_part_load_random(&best, full, o->seed);
    if (st) return st;
    st = time_layer(be, &best.layer, o->repeat, o->seed, &out->cost);
    out->method = m;
    out->parts = parts;
    out->grid_h = best.grid_h;
    out->grid_w = best.grid_w;
    mc_split_part_free(&best);
    *made = !st;
    return st;
}

mc_status mc_profile_measure(mc_model *m, const mc_profile_opts *o, mc_profile *out)
{
    memset(out, 0, sizeof *out);
    if (o->repeat < 1) return mc_error_set(MC_ERR_INVALID_ARG, "profile: repeat must be >= 1");
    mc_backend *be;
    mc_status st = mc_backend_create((mc_backend_kind)o->device, o->threads, &be);
    if (st) return st;
    snprintf(out->model, sizeof out->model, "%s", m->name);
    out->n_layers = m->n_layers;
    out->layers = calloc((size_t)m->n_layers, sizeof *out->layers);
    if (!out->layers) {
        mc_backend_destroy(be);
        return mc_error_set(MC_ERR_NOMEM, "profile: no memory for %d layers", m->n_layers);
    }
    mc_profile_fill_cuts(out, m);
    for (int i = 0; i < m->n_layers && !st; i++) {
        mc_layer *l = &m->layers[i];
        mc_prof_layer *pl = &out->layers[i];
        snprintf(pl->name, sizeof pl->name, "%s", l->name);
        pl->op = l->op;
        if ((st = mc_weights_random(m, i, i + 1, o->seed))) break;
        st = time_layer(be, l, o->repeat, o->seed, &pl->cost);
        mc_weights_release(m, i, i + 1);
        for (int mi = MC_SPLIT_FC_OUTPUT; mi < MC_SPLIT_METHOD_COUNT && !st; mi++) {
            if (!mc_split_method_applies((mc_split_method)mi, l)) continue;
            for (int pi = 0; pi < o->n_parts && !st && pl->n_splits < MC_PROFILE_MAX_SPLITS; pi++) {
                int made;
                st = time_split(be, l, (mc_split_method)mi, o->parts[pi], o, &pl->splits[pl->n_splits], &made);
                pl->n_splits += made;
            }
        }
    }
    mc_backend_destroy(be);
    if (st) mc_profile_free(out);
    return st;
}

void mc_profile_free(mc_profile *p)
{
    free(p->layers);
    p->layers = NULL;
    p->n_layers = 0;
}

static void cost_to_json(cJSON *o, const mc_prof_cost *c)
{
    cJSON_AddNumberToObject(o, "latency_s", c->latency);
    cJSON_AddNumberToObject(o, "weight_bytes", c->weight_bytes);
    cJSON_AddNumberToObject(o, "in_bytes", c->in_bytes);
    cJSON_AddNumberToObject(o, "out_bytes", c->out_bytes);
    cJSON_AddNumberToObject(o, "workspace_bytes", c->ws_bytes);
    cJSON_AddNumberToObject(o, "memory_bytes", c->mem_bytes);
}

cJSON *mc_profile_to_json(const mc_profile *p)
{
    cJSON *j = cJSON_CreateObject(), *ls = cJSON_AddArrayToObject(j, "layers");
    cJSON_AddStringToObject(j, "model", p->model);
    for (int i = 0; i < p->n_layers; i++) {
        const mc_prof_layer *l = &p->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", l->name);
        cJSON_AddStringToObject(o, "op", mc_op_get(l->op)->name);
        cost_to_json(o, &l->cost);
        if (p->has_cuts) cJSON_AddNumberToObject(o, "cut_bytes", l->cut_bytes);
        if (l->view) cJSON_AddTrueToObject(o, "view");
        if (l->fold_of) cJSON_AddNumberToObject(o, "folds_into", l->fold_of - 1);
        cJSON *ss = cJSON_AddArrayToObject(o, "splits");
        for (int s = 0; s < l->n_splits; s++) {
            const mc_prof_split *sp = &l->splits[s];
            cJSON *so = cJSON_CreateObject();
            cJSON_AddStringToObject(so, "method", mc_split_method_name(sp->method));
            cJSON_AddNumberToObject(so, "parts", sp->parts);
            int g[2] = {sp->grid_h, sp->grid_w};
            cJSON_AddItemToObject(so, "grid", cJSON_CreateIntArray(g, 2));
            cost_to_json(so, &sp->cost);
            cJSON_AddItemToArray(ss, so);
        }
        cJSON_AddItemToArray(ls, o);
    }
    if (p->has_link) {
        cJSON *lk = cJSON_AddObjectToObject(j, "link");
        cJSON_AddNumberToObject(lk, "a_s_per_byte", p->link_a);
        cJSON_AddNumberToObject(lk, "b_s", p->link_b);
    }
    return j;
}

static mc_status num_field(const cJSON *o, const char *key, const char *origin, const char *where,
                           double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x) || x->valuedouble < 0 || !isfinite(x->valuedouble))
        return mc_error_set(MC_ERR_FORMAT, "%s: %s needs a non-negative number \"%s\"", origin, where, key);
    *v = x->valuedouble;
    return MC_OK;
}

static mc_status cost_from_json(const cJSON *o, const char *origin, const char *where, mc_prof_cost *c)
{
    mc_status st;
    if ((st = num_field(o, "latency_s", origin, where, &c->latency)) ||
        (st = num_field(o, "weight_bytes", origin, where, &c->weight_bytes)) ||
        (st = num_field(o, "in_bytes", origin, where, &c->in_bytes)) ||
        (st = num_field(o, "out_bytes", origin, where, &c->out_bytes)))
        return st;
    c->ws_bytes = 0;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "workspace_bytes");
    if (cJSON_IsNumber(w) && w->valuedouble > 0) c->ws_bytes = w->valuedouble;
    c->mem_bytes = mc_prof_mem(c->weight_bytes, c->in_bytes, c->out_bytes, c->ws_bytes);
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(o, "memory_bytes");
    if (cJSON_IsNumber(mb) && mb->valuedouble > c->mem_bytes) c->mem_bytes = mb->valuedouble;
    return MC_OK;
}

mc_status mc_profile_from_json(const cJSON *j, const char *origin, mc_profile *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "layers");
    if (!cJSON_IsString(model)) return mc_error_set(MC_ERR_FORMAT, "%s: needs a string \"model\"", origin);
    if (!cJSON_IsArray(ls) || cJSON_GetArraySize(ls) < 1)
        return mc_error_set(MC_ERR_FORMAT, "%s: needs a non-empty array \"layers\"", origin);
    snprintf(out->model, sizeof out->model, "%s", model->valuestring);
    out->n_layers = cJSON_GetArraySize(ls);
    out->layers = calloc((size_t)out->n_layers, sizeof *out->layers);
    if (!out->layers) return mc_error_set(MC_ERR_NOMEM, "%s: no memory", origin);
    mc_status st = MC_OK;
    int i = 0, cuts = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, ls)
    {
        mc_prof_layer *l = &out->layers[i];
        char where[96];
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
        if (!cJSON_IsString(nm) || !cJSON_IsString(op) ||
            (l->op = mc_op_from_name(op->valuestring)) == MC_OP_COUNT) {
            st = mc_error_set(MC_ERR_FORMAT, "%s: layers[%d] needs a \"name\" and a known \"op\"", origin, i);
            break;
        }
        snprintf(l->name, sizeof l->name, "%s", nm->valuestring);
        snprintf(where, sizeof where, "layer %s", l->name);
        if ((st = cost_from_json(o, origin, where, &l->cost))) break;
        const cJSON *fo = cJSON_GetObjectItemCaseSensitive(o, "folds_into");
        l->view = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "view"));
        l->fold_of = cJSON_IsNumber(fo) && fo->valueint >= 0 && fo->valueint < i ? fo->valueint + 1 : 0;
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(o, "cut_bytes");
        if (cJSON_IsNumber(cb) && cb->valuedouble >= 0) {
            l->cut_bytes = cb->valuedouble;
            cuts++;
        }
        const cJSON *ss = cJSON_GetObjectItemCaseSensitive(o, "splits"), *so;
        cJSON_ArrayForEach(so, ss)
        {
            if (l->n_splits >= MC_PROFILE_MAX_SPLITS) break;
            mc_prof_split *sp = &l->splits[l->n_splits];
            const cJSON *me = cJSON_GetObjectItemCaseSensitive(so, "method");
            const cJSON *pa = cJSON_GetObjectItemCaseSensitive(so, "parts");
            const cJSON *gr = cJSON_GetObjectItemCaseSensitive(so, "grid");
            if (!cJSON_IsString(me) || (sp->method = mc_split_method_from_name(me->valuestring)) >= MC_SPLIT_METHOD_COUNT ||
                sp->method == MC_SPLIT_DATA || !cJSON_IsNumber(pa) || pa->valueint < 1) {
                st = mc_error_set(MC_ERR_FORMAT, "%s: layer %s: split %d needs a known \"method\" and \"parts\" >= 1",
                                  origin, l->name, l->n_splits);
                break;
            }
            sp->parts = pa->valueint;
            sp->grid_h = sp->parts;
            sp->grid_w = 1;
            if (cJSON_IsArray(gr) && cJSON_GetArraySize(gr) == 2) {
                sp->grid_h = cJSON_GetArrayItem(gr, 0)->valueint;
                sp->grid_w = cJSON_GetArrayItem(gr, 1)->valueint;
            }
            if (sp->method != MC_SPLIT_CONV_SPATIAL) sp->grid_h = sp->grid_w = 1;
            snprintf(where, sizeof where, "layer %s split %s/%d", l->name, me->valuestring, sp->parts);
            if ((st = cost_from_json(so, origin, where, &sp->cost))) break;
            l->n_splits++;
        }
        if (st) break;
        i++;
    }
    out->has_cuts = !st && cuts == out->n_layers; /* all or nothing: else a chain */
    const cJSON *lk = cJSON_GetObjectItemCaseSensitive(j, "link");
    if (!st && lk) {
        if ((st = num_field(lk, "a_s_per_byte", origin, "link", &out->link_a)) ||
            (st = num_field(lk, "b_s", origin, "link", &out->link_b)))
            ;
        else
            out->has_link = 1;
    }
    if (st) mc_profile_free(out);
    return st;
}

mc_status mc_profile_load(const char *path, mc_profile *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open profile", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            if (cap > ((size_t)256 << 20)) {
                free(buf);
                fclose(f);
                return mc_error_set(MC_ERR_FORMAT, "%s: profile larger than 256 MB", path);
            }
            char *nb = realloc(buf, cap = cap * 2 + 65536 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return mc_error_set(MC_ERR_NOMEM, "%s: no memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) return mc_error_set(MC_ERR_FORMAT, "%s: not valid JSON", path);
    mc_status st = mc_profile_from_json(j, path, out);
    cJSON_Delete(j);
    return st;
}

mc_status mc_profile_check_model(const mc_profile *p, const mc_model *m, const char *origin)
{
    if (strcmp(p->model, m->name))
        return mc_error_set(MC_ERR_INVALID_ARG, "%s: profile is for model '%s', not '%s'", origin, p->model,
                            m->name);
    if (p->n_layers != m->n_layers)
        return mc_error_set(MC_ERR_INVALID_ARG, "%s: profile has %d layers, model %s has %d", origin,
                            p->n_layers, m->name, m->n_layers);
    for (int i = 0; i < p->n_layers; i++)
        if (strcmp(p->layers[i].name, m->layers[i].name) || p->layers[i].op != m->layers[i].op)
            return mc_error_set(MC_ERR_INVALID_ARG, "%s: profile layer %d is '%s', model %s has '%s' there",
                                origin, i, p->layers[i].name, m->name, m->layers[i].name);
    return MC_OK;
}

mc_status mc_fit_line(const double *x, const double *y, int n, double *a, double *b)
{
    if (n < 2) return mc_error_set(MC_ERR_INVALID_ARG, "line fit needs at least 2 points, got %d", n);
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    if (sxx <= 0) return mc_error_set(MC_ERR_INVALID_ARG, "line fit needs at least two different x values");
    *a = sxy / sxx;
    *b = my - *a * mx;
    return MC_OK;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

mc_status mc_link_measure(const char *host_port, const size_t *sizes, int n_sizes, int repeat,
                          double *sec, double *a, double *b)
{
    if (n_sizes < 2 || repeat < 1)
        return mc_error_set(MC_ERR_INVALID_ARG, "link %s: needs at least 2 sizes and 1 repeat", host_port);
    size_t maxs = 0;
    for (int i = 0; i < n_sizes; i++) maxs = sizes[i] > maxs ? sizes[i] : maxs;
    char url[512];
    snprintf(url, sizeof url, "http://%s/", host_port);
    char *body = malloc(maxs ? maxs : 1);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: avro/binary");
    hdr = curl_slist_append(hdr, "Expect:");
    double *x = malloc(sizeof(double) * (size_t)n_sizes * repeat);
    mc_status st = MC_OK;
    if (!body || !c || !hdr || !x) {
        st = mc_error_set(MC_ERR_NOMEM, "link %s: cannot set up the measurement", host_port);
        goto done;
    }
    for (size_t i = 0; i < maxs; i++) body[i] = (char)(i * 131u);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (int r = -1; r < repeat; r++)
        for (int i = 0; i < n_sizes; i++) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sizes[i]);
            double t0 = mc_now();
            CURLcode rc = curl_easy_perform(c);
            double t = mc_now() - t0;
            long code = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            if (rc != CURLE_OK) {
                st = mc_error_set(MC_ERR_NETWORK, "link %s: POST of %zu bytes failed: %s", url, sizes[i],
                                  curl_easy_strerror(rc));
                goto done;
            }
            if (code < 200 || code >= 300) {
                st = mc_error_set(MC_ERR_NETWORK, "link %s: POST of %zu bytes answered HTTP %ld", url,
                                  sizes[i], code);
                goto done;
            }
            if (r < 0) continue; /* warm-up round: connection set-up */
            sec[(size_t)i * repeat + r] = t;
            x[(size_t)i * repeat + r] = (double)sizes[i];
        }
    st = mc_fit_line(x, sec, n_sizes * repeat, a, b);
done:
    free(x);
    curl_slist_free_all(hdr);
    if (c) curl_easy_cleanup(c);
    free(body);
    return st;
}
