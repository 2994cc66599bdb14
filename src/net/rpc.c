/* rpc.c - forward() with handshake and retries (see rpc.h). */
#include "rpc.h"
#include "../core/wire.h"

#include "../models/net.h" /* mc_now */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RPC_PEERS 64

typedef struct rpc_peer {
    char host[64];
    int port;
    int send_protocol;
    double hold_until; /* mc_now() before which the peer asked us not to send */
    double down_until; /* mc_now() before which the peer counts as unreachable */
    int failures;      /* unreachable calls in a row (0: it answered last time) */
    int unreached;     /* the last exchange failed in transport (no answer) */
    unsigned wire;     /* encodings announced in its latest answer (wire.h), besides f32 */
} rpc_peer;

/* A peer may ask for at most this hold-off (a bogus value cannot stall us). */
#define RPC_HOLD_MAX_S 5.0
/* An unreachable peer counts as down for 1 s, doubling with each further
 * unreachable call up to 16 s: long enough that senders stop paying the
 * retries for every frame, short enough that a restarted device gets frames
 * again soon. */
#define RPC_DOWN_MIN_S 1.0
#define RPC_DOWN_MAX_S 16.0

struct mc_rpc {
    mc_ipc *ipc;
    mc_http_client *http;
    rpc_peer peers[RPC_PEERS];
    int n, next;
};

mc_status mc_rpc_new(mc_ipc *ipc, mc_rpc **out)
{
    mc_rpc *r = calloc(1, sizeof *r);
    if (!r) return mc_error_set(MC_ERR_NOMEM, "rpc: out of memory");
    r->ipc = ipc;
    mc_status st = mc_http_client_new(&r->http);
    if (st) {
        free(r);
        return st;
    }
    *out = r;
    return MC_OK;
}

void mc_rpc_set_abort(mc_rpc *r, mc_flag *flag) { mc_http_client_set_abort(r->http, flag); }

void mc_rpc_set_auth(mc_rpc *r, mc_auth *auth) { mc_http_client_set_auth(r->http, auth); }

void mc_rpc_free(mc_rpc *r)
{
    if (!r) return;
    mc_http_client_free(r->http);
    free(r);
}

static const rpc_peer *known_peer(const mc_rpc *r, const char *host, int port)
{
    for (int i = 0; i < r->n; i++)
        if (r->peers[i].port == port && !strcmp(r->peers[i].host, host)) return &r->peers[i];
    return NULL;
}

static rpc_peer *find_peer(mc_rpc *r, const char *host, int port)
{
    const rpc_peer *known = known_peer(r, host, port);
    if (known) return (rpc_peer *)known;
    rpc_peer *p;
    if (r->n < RPC_PEERS) {
        p = &r->peers[r->n++];
    } else { /* bounded: reuse the oldest entry */
        p = &r->peers[r->next];
        r->next = (r->next + 1) % RPC_PEERS;
    }
    memset(p, 0, sizeof *p);
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    return p;
}

/* Reads mc.almost_full from a response's metadata into the peer. */
static int note_hold(rpc_peer *p, const mc_ipc_meta *m)
{
    const char *v = mc_ipc_meta_get(m, "mc.almost_full");
    if (!v) return 0;
    double s = atof(v);
    if (!(s > 0)) s = 0.001;
    if (s > RPC_HOLD_MAX_S) s = RPC_HOLD_MAX_S;
    p->hold_until = mc_now() + s;
    return 1;
}

unsigned mc_rpc_wire_accepts(mc_rpc *r, const char *host, int port)
{
    const rpc_peer *p = known_peer(r, host, port);
    return (p ? p->wire : 0) | (1u << MC_WIRE_F32);
}

double mc_rpc_hold_s(mc_rpc *r, const char *host, int port)
{
    const rpc_peer *p = known_peer(r, host, port);
    double left = p ? p->hold_until - mc_now() : 0;
    return left > 0 ? left : 0;
}

double mc_rpc_down_s(mc_rpc *r, const char *host, int port)
{
    const rpc_peer *p = known_peer(r, host, port);
    double left = p ? p->down_until - mc_now() : 0;
    return left > 0 ? left : 0;
}

int mc_rpc_failures(mc_rpc *r, const char *host, int port)
{
    const rpc_peer *p = known_peer(r, host, port);
    return p ? p->failures : 0;
}

/* After a call: an answer (even a refusal) clears the peer's down state; a
 * call that never got one marks the peer down for a while. */
static void note_reached(rpc_peer *p, int reached)
{
    if (reached) {
        p->failures = 0;
        p->down_until = 0;
        return;
    }
    double d = RPC_DOWN_MIN_S;
    for (int i = 0; i < p->failures && d < RPC_DOWN_MAX_S; i++) d *= 2;
    if (d > RPC_DOWN_MAX_S) d = RPC_DOWN_MAX_S;
    if (p->failures < 1000) p->failures++;
    p->down_until = mc_now() + d;
}

static void sleep_s(double s, mc_flag *stop)
{
    while (s > 0 && !(stop && *stop)) {
        double d = s > 0.05 ? 0.05 : s;
        struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        s -= d;
    }
}

/* One exchange of call f, or of the encoded request pre (made without our
 * protocol text): 0 done, 1 retryable failure, -1 permanent failure. */
static int exchange(mc_rpc *r, rpc_peer *p, const mc_ipc_forward *f, const unsigned char *pre, size_t pre_len,
                    mc_status *st)
{
    for (int round = 0; round < 2; round++) {
        unsigned char *body = NULL, *resp = NULL;
        size_t len = 0, rl = 0;
        long code = 0;
        if (f) *st = mc_ipc_request_encode(r->ipc, p->send_protocol, f, &body, &len);
        else if (p->send_protocol) *st = mc_ipc_request_rehandshake(r->ipc, 1, pre, pre_len, &body, &len);
        else *st = MC_OK;
        if (*st) return -1;
        *st = mc_http_post(r->http, p->host, p->port, body ? body : pre, body ? len : pre_len, &code, &resp, &rl);
        free(body);
        if (*st == MC_ERR_ABORTED) return -1; /* says nothing about the peer */
        p->unreached = *st != MC_OK;
        if (*st) return 1;
        if (code != 200) {
            *st = mc_error_set(MC_ERR_NETWORK, "%s:%d answered HTTP %ld: %.*s", p->host, p->port, code,
                               (int)(rl > 200 ? 200 : rl), resp ? (const char *)resp : "");
            free(resp);
            return code >= 500 || code == 503 ? 1 : -1;
        }
        mc_ipc_match m = MC_IPC_NONE;
        mc_ipc_meta rm;
        *st = mc_ipc_response_decode_meta(r->ipc, resp, rl, &m, &rm);
        free(resp);
        int held = note_hold(p, &rm);
        if (m != MC_IPC_NONE) p->wire = mc_wire_mask_parse(mc_ipc_meta_get(&rm, MC_WIRE_META)); /* its latest word */
        if (*st) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mc_error_last());
            int busy = strstr(msg, "busy:") != NULL;
            *st = mc_error_set(busy && held ? MC_ERR_FULL : *st, "%s:%d: %s", p->host, p->port, msg);
            return busy && !held ? 1 : -1;
        }
        if (m != MC_IPC_NONE) {
            p->send_protocol = 0;
            return 0;
        }
        if (p->send_protocol) break; /* NONE although we sent our protocol */
        p->send_protocol = 1;
    }
    *st = mc_error_set(MC_ERR_NETWORK, "%s:%d: Avro handshake failed (NONE after sending our protocol)", p->host,
                       p->port);
    return -1;
}

static mc_status forward_any(mc_rpc *r, const char *host, int port, const mc_ipc_forward *f,
                             const unsigned char *pre, size_t pre_len, mc_rpc_policy pol, mc_flag *stop,
                             int *attempts_used);

mc_status mc_rpc_forward(mc_rpc *r, const char *host, int port, const mc_ipc_forward *f, mc_rpc_policy pol,
                         mc_flag *stop, int *attempts_used)
{
    return forward_any(r, host, port, f, NULL, 0, pol, stop, attempts_used);
}

mc_status mc_rpc_forward_encoded(mc_rpc *r, const char *host, int port, const unsigned char *body, size_t len,
                                 mc_rpc_policy pol, mc_flag *stop, int *attempts_used)
{
    return forward_any(r, host, port, NULL, body, len, pol, stop, attempts_used);
}

static mc_status forward_any(mc_rpc *r, const char *host, int port, const mc_ipc_forward *f,
                             const unsigned char *pre, size_t pre_len, mc_rpc_policy pol, mc_flag *stop,
                             int *attempts_used)
{
    rpc_peer *p = find_peer(r, host, port);
    p->unreached = 0;
    double wait = pol.backoff0_s;
    mc_status st = MC_OK;
    int a, unreached = 0;
    for (a = 1; a <= pol.attempts; a++) {
        int rc = exchange(r, p, f, pre, pre_len, &st);
        if (rc <= 0) break;
        if (a == pol.attempts || (stop && *stop)) break;
        if (p->unreached && pol.unreachable_attempts > 0 && ++unreached >= pol.unreachable_attempts) break;
        sleep_s(wait, stop);
        wait *= 2;
        if (wait > pol.backoff_max_s) wait = pol.backoff_max_s;
    }
    if (attempts_used) *attempts_used = a > pol.attempts ? pol.attempts : a;
    if (st != MC_ERR_ABORTED) note_reached(p, !(st && p->unreached));
    if (st && a > 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", mc_error_last());
        st = mc_error_set(st, "%s (gave up after %d attempts with backoff)", msg, a > pol.attempts ? pol.attempts : a);
    }
    return st;
}
