/* control.c - the control protocol's messages as C structs (see control.h). */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_proto.h"
#include "control_avpr.h" /* generated from control.avpr */

enum { M_JOIN, M_HEARTBEAT, M_REPORT, M_ASSIGN, M_LEAVE, M_COUNT };
static const char *const msg_names[M_COUNT] = {"join", "heartbeat", "report", "assign", "leave"};

struct mc_ctl {
    mc_proto *p;
    int msg[M_COUNT]; /* index in the protocol */
};

const char *mc_ctl_protocol_text(void) { return control_avpr; }

void mc_ctl_table_free(mc_ctl_table *t)
{
    free(t->farm);
    t->farm = NULL;
}

mc_status mc_ctl_new(mc_ctl **out)
{
    mc_ctl *c = calloc(1, sizeof *c);
    if (!c) return mc_error_set(MC_ERR_NOMEM, "control: out of memory");
    mc_status st = mc_proto_new(control_avpr, &c->p);
    for (int i = 0; i < M_COUNT && !st; i++)
        if ((c->msg[i] = mc_proto_message(c->p, msg_names[i])) < 0)
            st = mc_error_set(MC_ERR_FORMAT, "control.avpr has no message %s", msg_names[i]);
    if (st) {
        mc_ctl_free(c);
        return st;
    }
    *out = c;
    return MC_OK;
}

void mc_ctl_free(mc_ctl *c)
{
    if (!c) return;
    mc_proto_free(c->p);
    free(c);
}

int mc_ctl_owns(const mc_ctl *c, const unsigned char *body, size_t len) { return mc_proto_owns(c->p, body, len); }

static mc_status bad(const char *what) { return mc_error_set(MC_ERR_FORMAT, "control: cannot %s", what); }

/* ---- values <-> structs ---- */

static mc_status put_table(avro_value_t *v, long epoch, const char *farm, int rejoin)
{
    return mc_proto_set_long(v, "epoch", epoch) || mc_proto_set_str(v, "farm", farm ? farm : "") ||
                   mc_proto_set_bool(v, "rejoin", rejoin)
               ? bad("write a table")
               : MC_OK;
}

static mc_status get_table(avro_value_t *v, mc_ctl_table *t)
{
    memset(t, 0, sizeof *t);
    return mc_proto_get_long(v, "epoch", &t->epoch) || mc_proto_get_strdup(v, "farm", &t->farm) ||
                   mc_proto_get_bool(v, "rejoin", &t->rejoin)
               ? bad("read a table")
               : MC_OK;
}

static mc_status put_figures(avro_value_t *rec, const mc_ctl_figures *f)
{
    avro_value_t v, arr, item;
    if (avro_value_get_by_name(rec, "figures", &v, NULL) || mc_proto_set_str(&v, "task", f->task) ||
        mc_proto_set_long(&v, "frames", f->frames) || mc_proto_set_double(&v, "compute_s", f->compute_s) ||
        mc_proto_set_long(&v, "queue_bytes", f->queue_bytes) ||
        mc_proto_set_long(&v, "queue_cap_bytes", f->queue_cap_bytes) || mc_proto_set_long(&v, "dropped", f->dropped) ||
        mc_proto_set_double(&v, "link_s", f->link_s) || mc_proto_set_long(&v, "rss_bytes", f->rss_bytes) ||
        avro_value_get_by_name(&v, "unreachable", &arr, NULL))
        return bad("write figures");
    for (int i = 0; i < f->n_unreachable && i < MC_CTL_UNREACH_MAX; i++)
        if (avro_value_append(&arr, &item, NULL) ||
            avro_value_set_string_len(&item, f->unreachable[i], strlen(f->unreachable[i]) + 1))
            return bad("write figures");
    return MC_OK;
}

static mc_status get_figures(avro_value_t *rec, mc_ctl_figures *f)
{
    avro_value_t v, arr;
    size_t n = 0;
    memset(f, 0, sizeof *f);
    if (avro_value_get_by_name(rec, "figures", &v, NULL) || mc_proto_get_str(&v, "task", f->task, sizeof f->task) ||
        mc_proto_get_long(&v, "frames", &f->frames) || mc_proto_get_double(&v, "compute_s", &f->compute_s) ||
        mc_proto_get_long(&v, "queue_bytes", &f->queue_bytes) ||
        mc_proto_get_long(&v, "queue_cap_bytes", &f->queue_cap_bytes) || mc_proto_get_long(&v, "dropped", &f->dropped) ||
        mc_proto_get_double(&v, "link_s", &f->link_s) || mc_proto_get_long(&v, "rss_bytes", &f->rss_bytes) ||
        avro_value_get_by_name(&v, "unreachable", &arr, NULL) || avro_value_get_size(&arr, &n))
        return bad("read figures");
    if (n > 64) return mc_error_set(MC_ERR_FORMAT, "control: figures list %zu unreachable peers (at most 64)", n);
    for (size_t i = 0; i < n && f->n_unreachable < MC_CTL_UNREACH_MAX; i++) {
        avro_value_t item;
        const char *s = NULL;
        size_t sl = 0;
        if (avro_value_get_by_index(&arr, i, &item, NULL) || avro_value_get_string(&item, &s, &sl)) continue;
        snprintf(f->unreachable[f->n_unreachable++], MC_CTL_ADDR_MAX, "%.*s", (int)(sl ? sl - 1 : 0), s ? s : "");
    }
    return MC_OK;
}

/* ---- client ---- */

typedef struct call_args {
    const char *addr, *role, *peer, *what, *farm;
    double mem_mb;
    long epoch;
    const mc_ctl_figures *fig;
} call_args;

static mc_status put_join(void *ctx, avro_value_t *v)
{
    const call_args *a = ctx;
    return mc_proto_set_str(v, "address", a->addr) || mc_proto_set_str(v, "role", a->role) ||
                   mc_proto_set_double(v, "mem_mb", a->mem_mb)
               ? bad("write join")
               : MC_OK;
}

static mc_status put_heartbeat(void *ctx, avro_value_t *v)
{
    const call_args *a = ctx;
    if (mc_proto_set_str(v, "address", a->addr) || mc_proto_set_long(v, "epoch", a->epoch)) return bad("write heartbeat");
    return put_figures(v, a->fig);
}

static mc_status put_report(void *ctx, avro_value_t *v)
{
    const call_args *a = ctx;
    return mc_proto_set_str(v, "address", a->addr) || mc_proto_set_str(v, "peer", a->peer) ||
                   mc_proto_set_str(v, "what", a->what)
               ? bad("write report")
               : MC_OK;
}

static mc_status put_assign(void *ctx, avro_value_t *v)
{
    const call_args *a = ctx;
    avro_value_t t;
    if (avro_value_get_by_name(v, "table", &t, NULL)) return bad("write assign");
    return put_table(&t, a->epoch, a->farm, 0);
}

static mc_status put_leave(void *ctx, avro_value_t *v)
{
    const call_args *a = ctx;
    return mc_proto_set_str(v, "address", a->addr) ? bad("write leave") : MC_OK;
}

static mc_status got_table(void *ctx, avro_value_t *v) { return get_table(v, ctx); }

mc_status mc_ctl_join(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr, const char *role,
                      double mem_mb, mc_ctl_table *out)
{
    call_args a = {.addr = addr, .role = role, .mem_mb = mem_mb};
    memset(out, 0, sizeof *out);
    return mc_proto_call(c->p, h, host, port, c->msg[M_JOIN], put_join, &a, got_table, out);
}

mc_status mc_ctl_heartbeat(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr, long epoch,
                           const mc_ctl_figures *f, mc_ctl_table *out)
{
    call_args a = {.addr = addr, .epoch = epoch, .fig = f};
    memset(out, 0, sizeof *out);
    return mc_proto_call(c->p, h, host, port, c->msg[M_HEARTBEAT], put_heartbeat, &a, got_table, out);
}

mc_status mc_ctl_report(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr,
                        const char *peer, const char *what)
{
    call_args a = {.addr = addr, .peer = peer, .what = what};
    return mc_proto_call(c->p, h, host, port, c->msg[M_REPORT], put_report, &a, NULL, NULL);
}

mc_status mc_ctl_assign(mc_ctl *c, mc_http_client *h, const char *host, int port, long epoch, const char *farm)
{
    call_args a = {.epoch = epoch, .farm = farm};
    return mc_proto_call(c->p, h, host, port, c->msg[M_ASSIGN], put_assign, &a, NULL, NULL);
}

mc_status mc_ctl_leave(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr)
{
    call_args a = {.addr = addr};
    return mc_proto_call(c->p, h, host, port, c->msg[M_LEAVE], put_leave, &a, NULL, NULL);
}

/* ---- server ---- */

typedef struct serve_ctx {
    const mc_ctl *c;
    const mc_ctl_handlers *h;
} serve_ctx;

static mc_status not_here(const char *m) { return mc_error_set(MC_ERR_UNSUPPORTED, "control message %s is not served here", m); }

static mc_status dispatch(void *ctx, int msg, avro_value_t *p, avro_value_t *result)
{
    const serve_ctx *s = ctx;
    const mc_ctl_handlers *h = s->h;
    char addr[MC_CTL_ADDR_MAX] = "", role[32] = "", peer[MC_CTL_ADDR_MAX] = "", what[256] = "";
    mc_ctl_table t = {0};
    mc_status st = MC_OK;
    int m = -1;
    for (int i = 0; i < M_COUNT; i++)
        if (s->c->msg[i] == msg) m = i;
    switch (m) {
    case M_JOIN: {
        double mem = 0;
        if (mc_proto_get_str(p, "address", addr, sizeof addr) || mc_proto_get_str(p, "role", role, sizeof role) ||
            mc_proto_get_double(p, "mem_mb", &mem))
            return bad("read join");
        if (!h->join) return not_here("join");
        st = h->join(h->ctx, addr, role, mem, &t);
        break;
    }
    case M_HEARTBEAT: {
        long epoch = 0;
        mc_ctl_figures f;
        if (mc_proto_get_str(p, "address", addr, sizeof addr) || mc_proto_get_long(p, "epoch", &epoch))
            return bad("read heartbeat");
        if ((st = get_figures(p, &f))) return st;
        if (!h->heartbeat) return not_here("heartbeat");
        st = h->heartbeat(h->ctx, addr, epoch, &f, &t);
        break;
    }
    case M_REPORT:
        if (mc_proto_get_str(p, "address", addr, sizeof addr) || mc_proto_get_str(p, "peer", peer, sizeof peer) ||
            mc_proto_get_str(p, "what", what, sizeof what))
            return bad("read report");
        return h->report ? h->report(h->ctx, addr, peer, what) : not_here("report");
    case M_ASSIGN: {
        avro_value_t tv;
        mc_ctl_table in;
        if (avro_value_get_by_name(p, "table", &tv, NULL) || (st = get_table(&tv, &in))) return st ? st : bad("read assign");
        st = h->assign ? h->assign(h->ctx, in.epoch, in.farm) : not_here("assign");
        mc_ctl_table_free(&in);
        return st;
    }
    case M_LEAVE:
        if (mc_proto_get_str(p, "address", addr, sizeof addr)) return bad("read leave");
        return h->leave ? h->leave(h->ctx, addr) : not_here("leave");
    default:
        return mc_error_set(MC_ERR_UNSUPPORTED, "control: message %d has no handler", msg);
    }
    if (!st && result) st = put_table(result, t.epoch, t.farm, t.rejoin);
    mc_ctl_table_free(&t);
    return st;
}

int mc_ctl_serve(mc_ctl *c, const mc_ctl_handlers *h, const unsigned char *body, size_t len, unsigned char **resp,
                 size_t *resp_len)
{
    serve_ctx s = {c, h};
    return mc_proto_serve(c->p, body, len, dispatch, &s, resp, resp_len);
}
