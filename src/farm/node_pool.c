/* node_pool.c - one device holding several tasks in turn (node.h,
 * mc_node_pool): the one-device system of Musical Chair (section 4.2,
 * Figure 14a), whose model does not fit its memory, so that it loads a
 * task, computes, and loads the next; the reloading time is measured.
 *
 * Every task is served by its own node (mc_node_run, a thread of one
 * process); the pool is what they share: the memory budget, the table of
 * which task's weights are held, and the device itself (a mutex held while a
 * task loads or computes: one device does one thing at a time).  Loading is
 * the node's own (node_task_load: the seed or the weight file, split parts
 * sliced as at start); an eviction frees the task's net and model and
 * reopens the model's shapes, so a reload is a load from scratch. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../devmodel/devmodel.h"
#include "node_int.h"

#define POOL_MAX 64 /* tasks one device may hold in turn */

typedef struct pool_member {
    node_task *k;        /* NULL once its node closed it */
    char farm[256], task[MC_NAME_MAX], addr[MC_FARM_HOST_MAX + 16];
    double bytes;        /* what it holds when loaded (budget units) */
    int loaded;
    long last_use;
    long loads, reloads, evictions, computed;
    double load_s, reload_s, compute_s; /* load_s: the load at start */
} pool_member;

struct mc_node_pool {
    pthread_mutex_t device; /* held while a task loads or computes */
    pthread_mutex_t m;      /* the table below, for readers outside the device lock */
    double budget;          /* bytes; 0: no bound */
    double copies;          /* weight copies a task holds (the device model's; 1 without one) */
    const mc_devmodel *dm;
    long clock;
    int n;
    pool_member mem[POOL_MAX];
};

mc_status mc_node_pool_new(double budget_mb, const mc_devmodel *dm, mc_node_pool **out)
{
    *out = NULL;
    if (!(budget_mb >= 0)) return mc_error_set(MC_ERR_INVALID_ARG, "node pool: budget %g MiB must be >= 0", budget_mb);
    mc_node_pool *p = calloc(1, sizeof *p);
    if (!p) return mc_error_set(MC_ERR_NOMEM, "node pool: out of memory");
    pthread_mutex_init(&p->device, NULL);
    pthread_mutex_init(&p->m, NULL);
    p->budget = budget_mb * NODE_MB;
    p->dm = dm;
    p->copies = dm && dm->weight_copies > 0 ? dm->weight_copies : 1;
    *out = p;
    return MC_OK;
}

void mc_node_pool_free(mc_node_pool *p)
{
    if (!p) return;
    pthread_mutex_destroy(&p->device);
    pthread_mutex_destroy(&p->m);
    free(p);
}

/* Bytes of weights task k holds, from its model's shapes (no weights need be
 * loaded): a split part holds its share of the layer. */
static double task_weight_bytes(const node_task *k)
{
    double b = 4.0 * (double)mc_model_param_count(&k->model, k->def.first, k->def.last);
    return k->own_split && k->def.parts > 0 ? b / k->def.parts : b;
}

/* Under p->device and p->m. */
static double used_bytes(const mc_node_pool *p)
{
    double u = 0;
    for (int i = 0; i < p->n; i++)
        if (p->mem[i].k && p->mem[i].loaded) u += p->mem[i].bytes;
    return u;
}

/* Frees what task k holds and reopens its model's shapes (under p->device). */
static void unload(node *n, node_task *k)
{
    atomic_store(&k->ready, 0);
    if (k->net_ready) mc_net_free(&k->net);
    k->net_ready = 0;
    if (k->model_open) mc_model_free(&k->model);
    k->model_open = 0;
    k->wino_used = 0;
    k->wino_layers = k->wino_can = 0;
    if (mc_model_open(k->model_ref, &k->model)) {
        node_log(n, "task %s: cannot reopen model %s after its eviction: %s", k->def.name, k->model_ref, mc_error_last());
        return;
    }
    k->model_open = 1;
}

/* Evicts the least recently used tasks other than slot `me` until `need`
 * more bytes fit (under p->device); tasks without weights (a pyramid) free
 * nothing and stay. */
static void make_room(node *n, mc_node_pool *p, int me, double need)
{
    if (p->budget <= 0) return;
    for (;;) {
        pthread_mutex_lock(&p->m);
        double used = used_bytes(p);
        int lru = -1;
        for (int i = 0; i < p->n; i++)
            if (i != me && p->mem[i].k && p->mem[i].loaded && p->mem[i].bytes > 0 && (lru < 0 || p->mem[i].last_use < p->mem[lru].last_use))
                lru = i;
        if (used + need <= p->budget || lru < 0) {
            pthread_mutex_unlock(&p->m);
            if (used + need > p->budget && !n->quiet)
                node_log(n, "task needs %.1f MiB alone, over the device's budget of %.1f MiB: loaded anyway",
                         need / NODE_MB, p->budget / NODE_MB);
            return;
        }
        pool_member *e = &p->mem[lru];
        e->loaded = 0;
        e->evictions++;
        node_task *victim = e->k;
        pthread_mutex_unlock(&p->m);
        unload(n, victim);
    }
}

/* Loads k (its weights, its net) in its slot, timed and padded to the
 * device model's load time; under p->device. */
static mc_status load_in_slot(node *n, mc_node_pool *p, node_task *k, double *secs)
{
    pool_member *e = &p->mem[k->pool_slot];
    make_room(n, p, k->pool_slot, e->bytes);
    double t0 = mc_now();
    mc_status st = k->model_open ? MC_OK : mc_model_open(k->model_ref, &k->model);
    if (!st) k->model_open = 1;
    if (!st) st = node_task_load(n, k);
    if (!st && p->dm) mc_devmodel_pad(t0, mc_devmodel_load_s(p->dm, e->bytes / p->copies));
    *secs = mc_now() - t0;
    if (st) {
        unload(n, k); /* what a failed load left */
        return st;
    }
    pthread_mutex_lock(&p->m);
    e->loaded = 1;
    e->last_use = ++p->clock;
    pthread_mutex_unlock(&p->m);
    return MC_OK;
}

mc_status node_pool_load(node *n, node_task *k)
{
    mc_node_pool *p = n->o->pool;
    if (!p) return node_task_load(n, k);
    pthread_mutex_lock(&p->device);
    pthread_mutex_lock(&p->m);
    if (p->n >= POOL_MAX) {
        pthread_mutex_unlock(&p->m);
        pthread_mutex_unlock(&p->device);
        return mc_error_set(MC_ERR_INVALID_ARG, "task %s: a device holds at most %d tasks", k->def.name, POOL_MAX);
    }
    pool_member *e = &p->mem[p->n];
    memset(e, 0, sizeof *e);
    e->k = k;
    snprintf(e->farm, sizeof e->farm, "%s", n->o->farm_label ? n->o->farm_label : n->o->farm ? n->o->farm : "-");
    snprintf(e->task, sizeof e->task, "%s", k->def.name);
    snprintf(e->addr, sizeof e->addr, "%s", n->me_str);
    e->bytes = p->copies * task_weight_bytes(k);
    k->pool = p;
    k->pool_slot = p->n++;
    pthread_mutex_unlock(&p->m);
    double secs;
    mc_status st = load_in_slot(n, p, k, &secs);
    if (!st) {
        pthread_mutex_lock(&p->m);
        e->loads++;
        e->load_s += secs;
        pthread_mutex_unlock(&p->m);
    }
    pthread_mutex_unlock(&p->device);
    return st;
}

mc_status node_pool_enter(node *n, node_task *k, double *reload_s)
{
    *reload_s = 0;
    mc_node_pool *p = k->pool;
    if (!p) return MC_OK;
    pthread_mutex_lock(&p->device);
    pool_member *e = &p->mem[k->pool_slot];
    if (!atomic_load(&k->ready)) {
        mc_status st = load_in_slot(n, p, k, reload_s);
        pthread_mutex_lock(&p->m);
        e->loads++;
        e->reloads++;
        e->reload_s += *reload_s;
        pthread_mutex_unlock(&p->m);
        if (st) {
            pthread_mutex_unlock(&p->device);
            char msg[600];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            return mc_error_set(st, "task %s: reloading its weights: %s", k->def.name, msg);
        }
        if (!n->quiet)
            node_log(n, "reloaded task %s (%.1f MiB) in %.3f s", k->def.name, e->bytes / NODE_MB, *reload_s);
    }
    pthread_mutex_lock(&p->m);
    e->last_use = ++p->clock;
    pthread_mutex_unlock(&p->m);
    return MC_OK;
}

void node_pool_leave(node *n, node_task *k, double compute_s)
{
    (void)n;
    mc_node_pool *p = k->pool;
    if (!p) return;
    pthread_mutex_lock(&p->m);
    p->mem[k->pool_slot].computed++;
    p->mem[k->pool_slot].compute_s += compute_s;
    pthread_mutex_unlock(&p->m);
    pthread_mutex_unlock(&p->device);
}

void node_pool_hold(node_task *k)
{
    if (k && k->pool) pthread_mutex_lock(&k->pool->device);
}

void node_pool_release(node_task *k)
{
    if (k && k->pool) pthread_mutex_unlock(&k->pool->device);
}

void node_pool_forget(node_task *k)
{
    mc_node_pool *p = k ? k->pool : NULL;
    if (!p) return;
    pthread_mutex_lock(&p->device); /* no eviction is touching it */
    pthread_mutex_lock(&p->m);
    p->mem[k->pool_slot].k = NULL;
    p->mem[k->pool_slot].loaded = 0;
    pthread_mutex_unlock(&p->m);
    pthread_mutex_unlock(&p->device);
    k->pool = NULL;
}

cJSON *mc_node_pool_json(mc_node_pool *p)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    pthread_mutex_lock(&p->m);
    cJSON_AddNumberToObject(j, "budget_mib", p->budget / NODE_MB);
    cJSON_AddNumberToObject(j, "weight_copies", p->copies);
    if (p->dm) cJSON_AddNumberToObject(j, "load_mb_s", p->dm->load_mb_s);
    cJSON *a = cJSON_AddArrayToObject(j, "tasks");
    long reloads = 0, computed = 0;
    double reload_s = 0, compute_s = 0, load_s = 0;
    for (int i = 0; i < p->n; i++) {
        const pool_member *e = &p->mem[i];
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "farm", e->farm);
        cJSON_AddStringToObject(t, "task", e->task);
        cJSON_AddStringToObject(t, "address", e->addr);
        cJSON_AddNumberToObject(t, "mib", e->bytes / NODE_MB);
        cJSON_AddNumberToObject(t, "loads", (double)e->loads);
        cJSON_AddNumberToObject(t, "reloads", (double)e->reloads);
        cJSON_AddNumberToObject(t, "evictions", (double)e->evictions);
        cJSON_AddNumberToObject(t, "load_s", e->load_s); /* the load at start ("loads" counts it too) */
        cJSON_AddNumberToObject(t, "reload_s", e->reload_s);
        cJSON_AddNumberToObject(t, "computed", (double)e->computed);
        cJSON_AddNumberToObject(t, "compute_s", e->compute_s);
        cJSON_AddItemToArray(a, t);
        reloads += e->reloads;
        computed += e->computed;
        reload_s += e->reload_s;
        compute_s += e->compute_s;
        load_s += e->load_s;
    }
    cJSON_AddNumberToObject(j, "reloads", (double)reloads);
    cJSON_AddNumberToObject(j, "reload_s", reload_s);
    cJSON_AddNumberToObject(j, "load_s", load_s);
    cJSON_AddNumberToObject(j, "computed", (double)computed);
    cJSON_AddNumberToObject(j, "compute_s", compute_s);
    pthread_mutex_unlock(&p->m);
    return j;
}

void mc_node_pool_print(mc_node_pool *p, FILE *f)
{
    pthread_mutex_lock(&p->m);
    long reloads = 0;
    double reload_s = 0;
    for (int i = 0; i < p->n; i++) {
        const pool_member *e = &p->mem[i];
        fprintf(f, "device: task %s (%s, %s, %.1f MiB): computed %ld frames in %.3f s; loaded %ld times, %ld of them "
                   "reloads (%.3f s), evicted %ld times\n",
                e->task, e->farm, e->addr, e->bytes / NODE_MB, e->computed, e->compute_s, e->loads, e->reloads,
                e->reload_s, e->evictions);
        reloads += e->reloads;
        reload_s += e->reload_s;
    }
    fprintf(f, "device: %d tasks, budget %s%.1f MiB: %ld reloads, %.3f s reloading\n", p->n,
            p->budget > 0 ? "" : "none, ", p->budget / NODE_MB, reloads, reload_s);
    pthread_mutex_unlock(&p->m);
}
