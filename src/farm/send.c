/* send.c - routing a tensor to the next task (see send.h). */
#include "send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mc_status mc_farm_send(mc_rpc *r, const mc_farm *farm, int to, const mc_farm_cut *cut, const char *tag,
                       const float *data, size_t n, const mc_ipc_meta *meta, mc_rpc_policy pol,
                       volatile sig_atomic_t *stop)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)data;
    f.input_len = n * sizeof(float);
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    if (meta) f.meta = *meta;
    if (to >= farm->n_tasks) {
        snprintf(f.next, sizeof f.next, "initial");
        return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, pol, stop, NULL);
    }
    const mc_farm_task *t = &farm->tasks[to];
    snprintf(f.next, sizeof f.next, "%s", t->name);
    int first = mc_farm_route(t, tag);
    mc_status st = MC_OK;
    float *piece = NULL;
    if (cut && cut->parts && t->method != MC_SPLIT_DATA) {
        if (n != mc_shape_count(&cut->full->in))
            return mc_error_set(MC_ERR_SHAPE, "task %s: cannot cut %zu values for layer %s (it takes %zu)", t->name,
                                n, cut->full->name, mc_shape_count(&cut->full->in));
        size_t most = 0;
        for (int k = 0; k < t->parts; k++)
            if (mc_split_in_count(&cut->parts[k]) > most) most = mc_split_in_count(&cut->parts[k]);
        if (!(piece = malloc(most * sizeof(float))))
            return mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for an input slice", t->name);
    }
    for (int k = 0; k < t->parts; k++) {
        const mc_addr *a = &t->addr[first + k];
        if (piece) {
            const mc_split_part *p = &cut->parts[k];
            mc_split_slice_input(p, cut->full, data, piece);
            f.input = (const unsigned char *)piece;
            f.input_len = mc_split_in_count(p) * sizeof(float);
            char v[32];
            snprintf(v, sizeof v, "%d/%d", k, t->parts);
            mc_ipc_meta_set(&f.meta, "mc.slice", v);
        }
        mc_status s = mc_rpc_forward(r, a->host, a->port, &f, pol, stop, NULL);
        if (s) {
            char msg[700];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            st = mc_error_set(s, "task %s: %s", t->name, msg);
            if (t->parts == 1) break;
        }
    }
    free(piece);
    return st;
}

mc_status mc_farm_send_u8(mc_rpc *r, const mc_farm *farm, const char *tag, const uint8_t *frame, size_t n,
                          const mc_ipc_meta *meta, mc_rpc_policy pol, volatile sig_atomic_t *stop)
{
    const mc_farm_task *t = &farm->tasks[0];
    if (t->method != MC_SPLIT_DATA)
        return mc_error_set(MC_ERR_INVALID_ARG, "task %s is split (%d parts): it needs float32 slices, not a uint8 frame",
                            t->name, t->parts);
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = frame;
    f.input_len = n;
    if (meta) f.meta = *meta;
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "%s", t->name);
    const mc_addr *a = &t->addr[mc_farm_route(t, tag)];
    mc_status s = mc_rpc_forward(r, a->host, a->port, &f, pol, stop, NULL);
    if (s) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        return mc_error_set(s, "task %s: %s", t->name, msg);
    }
    return MC_OK;
}

/* An empty call to initial whose metadata `key` says what became of `tag`. */
static mc_status report_to_initial(mc_rpc *r, const mc_farm *farm, const char *tag, const char *key,
                                   const char *why, volatile sig_atomic_t *stop)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)"";
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "initial");
    mc_ipc_meta_set(&f.meta, key, why);
    return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, (mc_rpc_policy){2, 0.05, 0.1}, stop, NULL);
}

mc_status mc_farm_report_lost(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                              volatile sig_atomic_t *stop)
{
    return report_to_initial(r, farm, tag, "mc.error", why, stop);
}

double mc_farm_hold_s(mc_rpc *r, const mc_farm *farm, int to, const char *tag)
{
    if (to >= farm->n_tasks) return mc_rpc_hold_s(r, farm->initial.host, farm->initial.port);
    const mc_farm_task *t = &farm->tasks[to];
    int first = mc_farm_route(t, tag);
    double h = 0;
    for (int k = 0; k < t->parts; k++) {
        double s = mc_rpc_hold_s(r, t->addr[first + k].host, t->addr[first + k].port);
        if (s > h) h = s;
    }
    return h;
}

mc_status mc_farm_report_dropped(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                                 volatile sig_atomic_t *stop)
{
    return report_to_initial(r, farm, tag, "mc.dropped", why, stop);
}

mc_status mc_farm_encode(mc_ipc *ipc, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                         const mc_ipc_meta *meta, unsigned char **body, size_t *len)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)data;
    f.input_len = n * sizeof(float);
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "%s", to >= farm->n_tasks ? "initial" : farm->tasks[to].name);
    if (meta) f.meta = *meta;
    return mc_ipc_request_encode(ipc, 0, &f, body, len);
}

mc_status mc_farm_send_encoded(mc_rpc *r, const mc_farm *farm, int to, const char *tag, const unsigned char *body,
                               size_t len, mc_rpc_policy pol, volatile sig_atomic_t *stop, uint64_t *sent)
{
    if (to >= farm->n_tasks) {
        if (*sent & 1) return MC_OK;
        mc_status st = mc_rpc_forward_encoded(r, farm->initial.host, farm->initial.port, body, len, pol, stop, NULL);
        if (!st) *sent |= 1;
        return st;
    }
    const mc_farm_task *t = &farm->tasks[to];
    int first = mc_farm_route(t, tag);
    mc_status st = MC_OK;
    for (int k = 0; k < t->parts && k < 64; k++) {
        if (*sent & ((uint64_t)1 << k)) continue;
        const mc_addr *a = &t->addr[first + k];
        mc_status s = mc_rpc_forward_encoded(r, a->host, a->port, body, len, pol, stop, NULL);
        if (s) {
            char msg[700];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            st = mc_error_set(s, "task %s: %s", t->name, msg);
        } else {
            *sent |= (uint64_t)1 << k;
        }
    }
    return st;
}



