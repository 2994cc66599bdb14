/* node_task.c - configuring a node's task: loading and releasing it (node.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../models/weights.h"
#include "../ops/conv2d_winograd.h"
#include "node_int.h"

/* Process RSS besides tensors, measured on an idle node: shared libraries
 * (OpenBLAS, libcrypto, libcurl, Avro C, libmicrohttpd, libgomp) ~13 MB,
 * heap, thread stacks and OpenBLAS' per-thread buffers. */
#define NODE_BASE_BYTES (20.0 * NODE_MB)
/* Each compute thread beyond the first (OpenBLAS buffers, OpenMP stacks):
 * measured ~5.9 MiB on VGG16 block1 with 2 threads. */
#define NODE_THREAD_BYTES (6.0 * NODE_MB)
/* Winograd band of a bounded node: 1 Mi floats, the size of im2col's, so
 * the Winograd path needs no larger workspace. */
#define NODE_WINO_BAND_FLOATS ((size_t)1 << 20)

mc_status mc_node_split_layer(mc_model *m, const mc_farm_task *t, int k, uint64_t seed, const char *weights)
{
    mc_layer *l = &m->layers[t->first];
    const int bn = l->fold_bn; /* a folded batchnorm: the part holds its share of it (split.h) */
    mc_split_part p;
    mc_status st = mc_farm_task_part(m, t, k, &p);
    if (st) return st;
    if (weights) { /* read the whole layer (and its batchnorm), keep our slice */
        if (!(st = mc_weights_load(m, t->first, t->first + 1, weights))) st = mc_split_part_load_from(&p, l);
        if (!st && bn) st = mc_split_part_fold_bn(&p, &m->layers[bn]);
        mc_weights_release(m, t->first, t->first + 1);
    } else {
        st = mc_split_part_load_random(&p, l, seed);
        if (!st && bn && !(st = mc_weights_random(m, bn, bn + 1, seed))) {
            st = mc_split_part_fold_bn(&p, &m->layers[bn]);
            mc_weights_release(m, bn, bn + 1);
        }
    }
    if (st) {
        mc_split_part_free(&p);
        return st;
    }
    *l = p.layer; /* the model now owns the part's weights */
    if (bn && t->last == bn + 1) { /* the task holds the folded batchnorm: a view of the part's output */
        mc_layer *b = &m->layers[bn];
        b->in = b->ins[0] = l->out;
        if ((st = mc_layer_infer(b))) return st;
    }
    return MC_OK;
}

/* Tags the merge table may hold for merged inputs of `bytes` each: a merge
 * holds whole inputs, so the table is bounded in bytes (at least 2 tags,
 * so that one tag can complete while the next one's parts arrive). */
static int merge_cap(double bytes)
{
    double cap = bytes > 0 ? NODE_MERGE_BYTES / bytes : NODE_MERGE_TAGS;
    return cap < 2 ? 2 : cap > NODE_MERGE_TAGS ? NODE_MERGE_TAGS : (int)cap;
}

/* Memory bound: what the node holds besides the transformed Winograd
 * weights (weights, two activation buffers, workspace, frames in flight,
 * the process itself); the Winograd transforms get what is left. */
static void bound_memory(node *n, node_task *k, int prev_split)
{
    const mc_farm_task *t = &k->def;
    const mc_node_opts *o = n->o;
    double limit = o->mem_limit_mb < 0 ? -1 : o->mem_limit_mb * NODE_MB;
    k->wbytes = k->wino_all = 0;
    for (int i = t->first; i < t->last; i++) {
        mc_layer *l = &k->model.layers[i];
        k->wbytes += 4.0 * (double)(mc_tensor_count(&l->weight) + mc_tensor_count(&l->bias));
        k->wino_all += (double)mc_winograd_weight_bytes(l);
    }
    if (limit < 0) limit = k->wbytes + 64.0 * NODE_MB;
    k->limit_bytes = limit;
    if (limit <= 0) {
        mc_backend_cpu_set_winograd(n->be, 64u << 20, 0, 0); /* the backend's defaults */
        return;
    }
    /* bounded: transformed layers drop their plain weights and use bands
     * no larger than im2col's, so the transforms cost 7/16 of U each */
    double act = 0, ws = 0;
    for (int i = t->first; i < t->last; i++) {
        mc_layer *l = &k->model.layers[i];
        l->cpu_band_floats = NODE_WINO_BAND_FLOATS; /* as prepare will set it: workspace with our bands */
        double a = 4.0 * (double)mc_shape_count(&l->in), b = 4.0 * (double)mc_shape_count(&l->out);
        act = a > act ? a : act;
        act = b > act ? b : act;
        double w = (double)n->be->workspace_bytes(n->be, l);
        ws = w > ws ? w : ws;
    }
    /* tensors that wait inside the range beside the running layer (a
     * residual block's input): what a cut carries beyond the next layer's input */
    double live = 0;
    for (int i = t->first + 1; i < t->last; i++) {
        double x = 4.0 * ((double)mc_model_cut_floats(&k->model, i) - (double)mc_shape_count(&k->model.layers[i].in));
        live = x > live ? x : live;
    }
    /* a part holder may receive the whole input and cut its slice */
    double in_b = 4.0 * (double)k->in_n;
    double out_b = 4.0 * (double)k->out_n;
    long threads = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    double fixed = k->wbytes + 2 * act + live + ws + (NODE_INBOX + 2) * in_b + 3 * out_b + NODE_BASE_BYTES +
                   (double)(threads > 1 ? threads - 1 : 0) * NODE_THREAD_BYTES +
                   (prev_split ? merge_cap(in_b) * in_b : 0);
    /* on our backend, before mc_net_init prepares the layers */
    mc_backend_cpu_set_winograd(n->be, limit > fixed ? (size_t)(limit - fixed) : 0, 1, NODE_WINO_BAND_FLOATS);
}

mc_status node_task_prepare(node *n, const mc_farm *farm, int ti, int addr_index, node_task **out)
{
    static atomic_long next_id = 1;
    const mc_farm_task *t = &farm->tasks[ti];
    node_task *k = calloc(1, sizeof *k);
    if (!k) return mc_error_set(MC_ERR_NOMEM, "node: out of memory for a task");
    k->id = next_id++;
    k->def = *t;
    k->part = addr_index % t->parts;
    k->prev_split = 0;
    mc_status st = MC_OK;
    for (int i = 0; i < farm->n_tasks && !st; i++)
        if (farm->tasks[i].last == t->first && farm->tasks[i].method != MC_SPLIT_DATA) {
            k->prev_split = 1;
            st = mc_farm_task_io(&n->shapes, &farm->tasks[i], &k->prev_sp, &k->prev_io);
        }
    if (st || (st = mc_model_open(farm->model, &k->model))) goto fail;
    k->model_open = 1;
    k->own_split = t->method != MC_SPLIT_DATA;
    if (k->own_split) { /* the messages of our part: split.h's mc_split_io over the node's shapes */
        if ((st = mc_farm_task_io(&n->shapes, t, &k->own_sp, &k->own_io))) goto fail;
        k->part_in_n = mc_split_io_in_count(&k->own_io, k->part);
        k->out_n = mc_split_io_out_count(&k->own_io, k->part);
        k->in_n = k->own_io.in_total;
        k->through = k->part == 0 ? k->own_io.through : 0;
    } else { /* every tensor crossing the cuts before and after our layers */
        k->in_n = k->part_in_n = mc_model_cut_floats(&k->model, t->first);
        k->out_n = mc_model_cut_floats(&k->model, t->last);
    }
    mc_shape si = mc_model_range_in(&k->model, t->first);
    mc_shape_str(&si, k->in_shape, sizeof k->in_shape);
    k->in_bytes = k->in_n * sizeof(float);
    snprintf(k->tkey, sizeof k->tkey, "mc.t.%s", t->name);
    snprintf(k->rkey, sizeof k->rkey, "mc.r.%s", t->name);
    snprintf(k->model_ref, sizeof k->model_ref, "%s", farm->model);
    k->pool_slot = -1;
    *out = k;
    return MC_OK;
fail:;
    char msg[900];
    snprintf(msg, sizeof msg, "%s", mc_error_last());
    node_task_close(k);
    return mc_error_set(st, "task %s: %s", t->name, msg);
}

mc_status node_task_load(node *n, node_task *k)
{
    const mc_farm_task *t = &k->def;
    double t0 = mc_now();
    mc_status st;
    if (k->own_split) st = mc_node_split_layer(&k->model, t, k->part, n->o->seed, n->o->weights);
    else if (n->o->weights) st = mc_weights_load(&k->model, t->first, t->last, n->o->weights);
    else st = mc_weights_random(&k->model, t->first, t->last, n->o->seed);
    if (st) goto fail;
    bound_memory(n, k, k->prev_split);
    /* a split part runs its layer alone (tensors passing it by are copied beside the net) */
    if ((st = mc_net_init_ex(&k->net, &k->model, t->first, t->last, n->be, k->own_split ? MC_NET_OWN_TENSORS : 0)))
        goto fail;
    k->net_ready = 1;
    for (int i = t->first; i < t->last; i++) {
        k->wino_can += mc_winograd_applies(&k->model.layers[i]);
        if (k->model.layers[i].cpu_state) {
            k->wino_used += (double)mc_winograd_weight_bytes(&k->model.layers[i]);
            k->wino_layers++;
        }
    }
    if (mc_net_in_count(&k->net) + k->through != k->part_in_n || mc_net_out_count(&k->net) + k->through != k->out_n) {
        st = mc_error_set(MC_ERR_SHAPE, "task %s: the net takes %zu -> %zu values (%zu more pass by), the task %zu -> %zu",
                          t->name, mc_net_in_count(&k->net), mc_net_out_count(&k->net), k->through, k->part_in_n,
                          k->out_n);
        goto fail;
    }
    k->load_s = mc_now() - t0;
    k->ready = 1;
    return MC_OK;
fail:;
    char msg[900];
    snprintf(msg, sizeof msg, "%s", mc_error_last());
    return mc_error_set(st, "task %s: %s", t->name, msg);
}

mc_status node_task_open(node *n, const mc_farm *farm, int ti, int addr_index, node_task **out)
{
    node_task *k = NULL;
    mc_status st = node_task_prepare(n, farm, ti, addr_index, &k);
    if (!st && (st = node_task_load(n, k))) {
        node_task_close(k);
        k = NULL;
    }
    *out = k;
    return st;
}

void node_task_close(node_task *k)
{
    if (!k) return;
    node_pool_forget(k);
    if (k->net_ready) mc_net_free(&k->net);
    if (k->model_open) mc_model_free(&k->model);
    free(k->own_sp);
    free(k->prev_sp);
    free(k);
}

int node_task_same(const node_task *k, const mc_farm_task *d, int part)
{
    const mc_farm_task *t = &k->def;
    return t->first == d->first && t->last == d->last && t->method == d->method && t->parts == d->parts &&
           t->grid[0] == d->grid[0] && t->grid[1] == d->grid[1] && k->part == part;
}

void node_task_describe(node *n, const node_task *k, const node_view *v)
{
    if (n->quiet) return;
    const mc_farm_task *t = &k->def;
    char a[64], lim[48] = "none";
    (void)a;
    if (k->limit_bytes > 0) snprintf(lim, sizeof lim, "%.1f MiB", k->limit_bytes / NODE_MB);
    printf("node %s: layers %s..%s (%s -> %zu values), %s part %d of %d, weights %.1f MB, %s, listening on %s, "
           "next %s; memory bound %s, Winograd on %d of %d layers (%.1f of %.1f MiB)", t->name,
           k->model.layers[t->first].name, k->model.layers[t->last - 1].name, k->in_shape,
           k->out_n, mc_split_name(t->method), k->part, t->parts, k->wbytes / 1e6, n->be->name, n->me_str,
           v->next_ti >= 0 && v->next_ti < v->farm.n_tasks ? v->farm.tasks[v->next_ti].name : "initial", lim,
           k->wino_layers, k->wino_can, k->wino_used / NODE_MB, k->wino_all / NODE_MB);
    if (n->dynamic) printf("; epoch %ld, loaded in %.2f s", v->farm.epoch, k->load_s);
    printf("\n");
    fflush(stdout);
}
