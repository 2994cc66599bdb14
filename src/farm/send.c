/* send.c - routing a tensor to the next task (see send.h). */
#include "send.h"

#include <stdio.h>
#include <string.h>

mc_status mc_farm_send(mc_rpc *r, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                       const mc_ipc_meta *meta, mc_rpc_policy pol, volatile sig_atomic_t *stop)
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
    for (int k = 0; k < t->parts; k++) {
        const mc_addr *a = &t->addr[first + k];
        mc_status s = mc_rpc_forward(r, a->host, a->port, &f, pol, stop, NULL);
        if (s) {
            char msg[700];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            st = mc_error_set(s, "task %s: %s", t->name, msg);
            if (t->parts == 1) break;
        }
    }
    return st;
}

mc_status mc_farm_report_lost(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                              volatile sig_atomic_t *stop)
{
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)"";
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "initial");
    mc_ipc_meta_set(&f.meta, "mc.error", why);
    return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, (mc_rpc_policy){2, 0.05, 0.1}, stop, NULL);
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
    mc_ipc_forward f;
    memset(&f, 0, sizeof f);
    f.input = (const unsigned char *)"";
    snprintf(f.tag, sizeof f.tag, "%s", tag);
    snprintf(f.next, sizeof f.next, "initial");
    mc_ipc_meta_set(&f.meta, "mc.dropped", why);
    return mc_rpc_forward(r, farm->initial.host, farm->initial.port, &f, (mc_rpc_policy){2, 0.05, 0.1}, stop, NULL);
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



