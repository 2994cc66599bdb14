/* http_server.c - the event-driven HTTP server (see http.h).
 *
 * Why this shape: with a thread per connection (as before), 16 connections
 * that sent half a request line stopped a node from taking any frame for two
 * minutes.  Here MC_HTTP_IO_THREADS libmicrohttpd threads own every socket
 * (epoll); a request travels
 *   headers  -> on_request, first call: method, size, and with a key the
 *               auth header is checked (auth.h) before any body byte is kept;
 *   body     -> on_request, upload calls: stored within max_body (and, for a
 *               connection the guard does not know, within the unknown
 *               budget), or thrown away when the request is refused already;
 *   complete -> the connection is suspended and the request queued for a
 *               handler thread (known connections' requests first), which
 *               verifies the body's seal, runs the handler (that may block:
 *               a node waits up to a second for room in its input buffer),
 *               seals the answer and resumes the connection;
 *   resumed  -> on_request again, on the I/O thread, queues the answer.
 * The guard (http_guard.h) decides which connections stay open; a sweeper
 * thread closes unknown ones past their deadline.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_guard.h"

#define LOCAL_ADDRS 16
#define SWEEP_S 0.25

enum { REQ_RECEIVING, REQ_QUEUED, REQ_READY, REQ_ANSWERED };

typedef struct conn_req {
    struct conn_req *next;   /* in a handler queue */
    struct MHD_Connection *c;
    mc_guard_conn *gc;       /* the connection's entry in the guard (may be NULL) */
    int state;
    unsigned char *buf;      /* the body */
    size_t len, cap, expect; /* expect: Content-Length (0 if none) */
    int refuse;              /* body thrown away; answered `code` */
    int code;
    mc_auth_refusal why;     /* 401: why */
    int authed;              /* its auth header verified */
    int long_timeout;        /* the connection became known: give it the known idle timeout */
    mc_auth_check chk;
    int rcode;               /* the answer (REQ_READY) */
    unsigned char *resp;
    size_t rlen;
    char rhdr[MC_AUTH_HEADER_MAX]; /* its auth header, "" for none */
    int close;               /* close the connection after the answer */
} conn_req;

struct mc_http_server {
    struct MHD_Daemon *d;
    _Atomic size_t max_body;
    mc_http_handler h;
    void *ctx;
    mc_auth *auth;
    char name[80];
    mc_ip ip;                /* listen address (any: all of this machine's) */
    int port;
    mc_ip local[LOCAL_ADDRS];
    int n_local;
    mc_guard g;

    pthread_mutex_t qm;
    pthread_cond_t qc;
    conn_req *qhead[2], *qtail[2]; /* 0: known connections' requests, 1: the others */
    int queued, idle, n_handlers, stopping;
    pthread_t handlers[MC_HTTP_HANDLERS];

    pthread_t sweeper;
    int have_sweeper, sweep_stop;
    pthread_mutex_t sm;
    pthread_cond_t sc;

    _Atomic long answered, busy, too_big, refused[MC_AUTH_REFUSAL_COUNT];
    _Atomic int quiet;
    pthread_mutex_t logm;
    double log_t;
    long log_skipped;
};

/* ---- answers ---- */

static enum MHD_Result queue_answer(mc_http_server *s, struct MHD_Connection *c, conn_req *r, int code,
                                    unsigned char *body, size_t len, const char *auth_header, int close)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? (void *)body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", code == 200 ? "avro/binary" : "text/plain");
    if (auth_header && *auth_header) MHD_add_response_header(resp, MC_AUTH_HEADER, auth_header);
    if (close) MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)code, resp);
    MHD_destroy_response(resp);
    if (r) {
        r->state = REQ_ANSWERED;
        if (r->long_timeout) MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)MC_HTTP_KNOWN_IDLE_S);
    }
    s->answered++;
    return ret;
}

static unsigned char *text_dup(const char *t, size_t *len)
{
    size_t n = strlen(t);
    unsigned char *b = malloc(n + 1);
    if (b) memcpy(b, t, n + 1);
    *len = b ? n : 0;
    return b;
}

static enum MHD_Result answer_text(mc_http_server *s, struct MHD_Connection *c, conn_req *r, int code, const char *t,
                                   int close)
{
    size_t n;
    unsigned char *b = text_dup(t, &n);
    return queue_answer(s, c, r, code, b, n, NULL, close);
}


/* Counts a refusal and logs it (at most one line a second). */
static long note_refusal(mc_http_server *s, const conn_req *r)
{
    long k = ++s->refused[r->why];
    long total = 0;
    for (int i = 1; i < MC_AUTH_REFUSAL_COUNT; i++) total += s->refused[i];
    if (s->quiet) return total;
    pthread_mutex_lock(&s->logm);
    double now = mc_guard_now();
    if (now - s->log_t >= 1.0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (r->gc) mc_ip_str(&r->gc->ip, ip, sizeof ip);
        fprintf(stderr, "mchair http %s: refused a request from %s%s%s: %s (%ld so far, %ld of this kind%s)\n",
                s->name, ip, r->chk.sender[0] ? ", sender " : "", r->chk.sender, mc_auth_refusal_name(r->why), total,
                k, s->log_skipped ? "; earlier ones not logged" : "");
        s->log_t = now;
        s->log_skipped = 0;
    } else {
        s->log_skipped++;
    }
    pthread_mutex_unlock(&s->logm);
    return total;
}

static enum MHD_Result answer_refusal(mc_http_server *s, struct MHD_Connection *c, conn_req *r)
{
    char t[320];
    size_t mb = s->max_body;
    if (r->code == 401) {
        long n = note_refusal(s, r);
        snprintf(t, sizeof t, "unauthenticated: %s (this server takes only requests sealed with the farm's key; "
                 "refusal %ld)\n", mc_auth_refusal_name(r->why), n);
        return answer_text(s, c, r, 401, t, 1);
    }
    if (r->code == 413) {
        s->too_big++;
        snprintf(t, sizeof t, "body exceeds the limit of %zu bytes\n", mb);
        return answer_text(s, c, r, 413, t, 0);
    }
    s->busy++;
    return answer_text(s, c, r, 503, "busy: too many uploads from unknown connections; try again\n", 1);
}

/* ---- who the request is for ---- */

/* rcpt: "a.b.c.d:port" or "[v6]:port" (mc_ip_hostport), our port and our
 * listen address, or any address of this machine when listening on all. */
static int recipient_is_me(const mc_http_server *s, const char *rcpt)
{
    mc_ip a;
    int port = 0;
    if (!mc_ip_parse_hostport(rcpt, &a, &port) || port != s->port) return 0;
    if (!mc_ip_is_any(&s->ip)) return mc_ip_equal(&a, &s->ip);
    for (int i = 0; i < s->n_local; i++)
        if (mc_ip_equal(&a, &s->local[i])) return 1;
    return mc_ip_is_loopback(&a);
}

/* ---- handler threads ---- */

static void *handler_main(void *arg);

/* Under s->qm: one more handler thread when every one is taken. */
static void maybe_grow(mc_http_server *s)
{
    if (s->queued > s->idle && s->n_handlers < MC_HTTP_HANDLERS &&
        !pthread_create(&s->handlers[s->n_handlers], NULL, handler_main, s))
        s->n_handlers++;
}

static void handle(mc_http_server *s, conn_req *r)
{
    unsigned char *resp = NULL;
    size_t rl = 0;
    int code;
    r->rhdr[0] = '\0';
    if (s->auth && (r->why = mc_auth_open_request(s->auth, &r->chk, r->buf ? r->buf : (unsigned char *)"", r->len))) {
        char t[320];
        long n = note_refusal(s, r);
        snprintf(t, sizeof t, "unauthenticated: %s (refusal %ld)\n", mc_auth_refusal_name(r->why), n);
        resp = text_dup(t, &rl);
        code = 401;
        r->close = 1;
    } else {
        code = s->h(s->ctx, r->buf ? r->buf : (const unsigned char *)"", r->len, &resp, &rl);
        if (s->auth && mc_auth_seal_response(s->auth, &r->chk, code, resp, rl, r->rhdr)) {
            free(resp);
            resp = text_dup("server error: cannot seal the answer\n", &rl);
            code = 500;
            r->rhdr[0] = '\0';
        }
        if (!s->auth && code == 200 && !mc_guard_known(&s->g, r->gc)) {
            mc_guard_promote(&s->g, r->gc);
            r->long_timeout = 1;
        }
    }
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
    mc_guard_release(&s->g, r->gc);
    r->rcode = code;
    r->resp = resp;
    r->rlen = rl;
    r->state = REQ_READY;
    mc_guard_busy(&s->g, r->gc, 0);
    MHD_resume_connection(r->c);
}

static void *handler_main(void *arg)
{
    mc_http_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qm);
        while (!s->qhead[0] && !s->qhead[1] && !s->stopping) {
            s->idle++;
            pthread_cond_wait(&s->qc, &s->qm);
            s->idle--;
        }
        int q = s->qhead[0] ? 0 : 1;
        conn_req *r = s->qhead[q];
        if (r) {
            s->qhead[q] = r->next;
            if (!r->next) s->qtail[q] = NULL;
            s->queued--;
        }
        pthread_mutex_unlock(&s->qm);
        if (!r) return NULL; /* stopping, and nothing left */
        handle(s, r);
    }
}

/* ---- libmicrohttpd callbacks ---- */

static void refuse(conn_req *r, int code)
{
    r->refuse = 1;
    r->code = code;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

/* First call: the headers are complete. */
static enum MHD_Result on_headers(mc_http_server *s, struct MHD_Connection *c, conn_req *r, const char *method)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->gc = ci ? ci->socket_context : NULL;
    mc_guard_touch(&s->g, r->gc);
    if (strcmp(method, "POST")) return answer_text(s, c, r, 405, "only POST (Avro IPC over HTTP)\n", 0);
    /* A refused body is read and thrown away, then answered: answering
     * before the body is read would make MHD close the socket with unread
     * data, which resets it and loses the answer. */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        unsigned long long v = strtoull(cl, NULL, 10);
        if (v > s->max_body) refuse(r, 413);
        else r->expect = (size_t)v;
    }
    if (s->auth && !r->refuse) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MC_AUTH_HEADER);
        mc_auth_refusal why = mc_auth_check_header(s->auth, h, &r->chk);
        if (!why && !recipient_is_me(s, r->chk.recipient)) why = MC_AUTH_WRONG_PEER;
        if (!why && cl && r->chk.len != r->expect) why = MC_AUTH_BAD_BODY;
        if (why) {
            refuse(r, 401);
            r->why = why;
        } else {
            r->authed = 1;
            if (!mc_guard_known(&s->g, r->gc)) {
                mc_guard_promote(&s->g, r->gc);
                MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)MC_HTTP_KNOWN_IDLE_S);
            }
        }
    }
    return MHD_YES;
}

static void on_body_bytes(mc_http_server *s, conn_req *r, const char *data, size_t n)
{
    const size_t max_body = s->max_body;
    if (r->refuse) return;
    if (r->len > max_body || n > max_body - r->len) {
        mc_guard_release(&s->g, r->gc);
        refuse(r, 413);
        return;
    }
    if (mc_guard_reserve(&s->g, r->gc, n)) {
        mc_guard_release(&s->g, r->gc);
        refuse(r, 503);
        return;
    }
    if (r->len + n > r->cap) {
        /* a known connection's buffer is the announced length at once (no
         * doubling slack); an unknown one's grows with what arrives */
        int known = mc_guard_known(&s->g, r->gc) || !r->gc;
        size_t cap = r->cap ? r->cap * 2 : known && r->expect ? r->expect : 65536;
        while (cap < r->len + n) cap *= 2;
        if (cap > max_body) cap = max_body;
        unsigned char *nb = realloc(r->buf, cap);
        if (!nb) {
            mc_guard_release(&s->g, r->gc);
            refuse(r, 503);
            return;
        }
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    mc_http_server *s = cls;
    conn_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        r->c = c;
        return on_headers(s, c, r, method);
    }
    if (*upload_size) {
        on_body_bytes(s, r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    switch (r->state) {
    case REQ_ANSWERED:
    case REQ_QUEUED: return MHD_YES;
    case REQ_READY: {
        unsigned char *b = r->resp;
        r->resp = NULL;
        return queue_answer(s, c, r, r->rcode, b, r->rlen, r->rhdr, r->close);
    }
    default: break;
    }
    if (r->refuse) return answer_refusal(s, c, r);
    /* complete: to a handler thread, the connection suspended meanwhile */
    pthread_mutex_lock(&s->qm);
    if (s->stopping) {
        pthread_mutex_unlock(&s->qm);
        return answer_text(s, c, r, 503, "busy: the server is stopping\n", 1);
    }
    const int q = mc_guard_known(&s->g, r->gc) || !r->gc ? 0 : 1;
    MHD_suspend_connection(c);
    mc_guard_busy(&s->g, r->gc, 1);
    r->state = REQ_QUEUED;
    r->next = NULL;
    if (s->qtail[q]) s->qtail[q]->next = r;
    else s->qhead[q] = r;
    s->qtail[q] = r;
    s->queued++;
    maybe_grow(s);
    pthread_cond_signal(&s->qc);
    pthread_mutex_unlock(&s->qm);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)c;
    (void)t;
    mc_http_server *s = cls;
    conn_req *r = *con_cls;
    if (r) {
        mc_guard_release(&s->g, r->gc);
        free(r->buf);
        free(r->resp);
        free(r);
    }
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    mc_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        mc_ip ip;
        mc_ip_from_sockaddr(ad ? ad->client_addr : NULL, &ip);
        *socket_context = fd ? mc_guard_open(&s->g, fd->connect_fd, &ip) : NULL;
    } else {
        mc_guard_close(&s->g, *socket_context);
        *socket_context = NULL;
    }
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    mc_http_server *s = cls;
    mc_ip ip;
    mc_ip_from_sockaddr(addr && len >= sizeof(struct sockaddr_in) ? addr : NULL, &ip);
    mc_guard_admit(&s->g, &ip);
    return MHD_YES;
}

static void *sweeper_main(void *arg)
{
    mc_http_server *s = arg;
    pthread_mutex_lock(&s->sm);
    while (!s->sweep_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(SWEEP_S * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->sc, &s->sm, &ts);
        if (!s->sweep_stop) mc_guard_sweep(&s->g);
    }
    pthread_mutex_unlock(&s->sm);
    return NULL;
}

/* ---- start and stop ---- */

static void local_addresses(mc_http_server *s)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa)) return;
    for (struct ifaddrs *i = ifa; i && s->n_local < LOCAL_ADDRS; i = i->ifa_next)
        if (i->ifa_addr && mc_ip_from_sockaddr(i->ifa_addr, &s->local[s->n_local])) s->n_local++;
    freeifaddrs(ifa);
}

static size_t unknown_budget(size_t max_body) { return 2 * max_body + (1u << 20); }

mc_status mc_http_server_start(const char *host, int port, size_t max_body, mc_auth *auth, mc_http_handler h,
                               void *ctx, mc_http_server **out)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC; /* IPv4 or IPv6, as the host is written */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai) return mc_error_set(MC_ERR_NETWORK, "%s:%d: cannot resolve: %s", host, port, gai_strerror(gai));
    mc_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return mc_error_set(MC_ERR_NOMEM, "http server: out of memory");
    }
    s->max_body = max_body;
    s->h = h;
    s->ctx = ctx;
    s->auth = auth;
    s->port = port;
    mc_ip_from_sockaddr(ai->ai_addr, &s->ip);
    snprintf(s->name, sizeof s->name, "%s:%d", host, port);
    local_addresses(s);
    mc_guard_init(&s->g, unknown_budget(max_body));
    pthread_mutex_init(&s->qm, NULL);
    pthread_cond_init(&s->qc, NULL);
    pthread_mutex_init(&s->sm, NULL);
    pthread_cond_init(&s->sc, NULL);
    pthread_mutex_init(&s->logm, NULL);
    s->log_t = -1e9;
    mc_status st = MC_OK;
    pthread_mutex_lock(&s->qm);
    for (int i = 0; i < 2; i++)
        if (!pthread_create(&s->handlers[s->n_handlers], NULL, handler_main, s)) s->n_handlers++;
    pthread_mutex_unlock(&s->qm);
    if (!s->n_handlers || pthread_create(&s->sweeper, NULL, sweeper_main, s))
        st = mc_error_set(MC_ERR_NOMEM, "%s:%d: cannot start the server's threads", host, port);
    else
        s->have_sweeper = 1;
    if (!st) {
        unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        s->d = MHD_start_daemon(flags, (uint16_t)port, on_accept, s,
                                on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
                                (unsigned int)MC_HTTP_IO_THREADS, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)MC_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                (unsigned int)MC_HTTP_IDLE_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
        if (!s->d) st = mc_error_set(MC_ERR_NETWORK, "%s:%d: cannot listen (address in use or not local?)", host, port);
        else s->port = mc_http_server_port(s); /* port 0: the one the system chose */
    }
    freeaddrinfo(ai);
    if (st) {
        mc_http_server_stop(s);
        return st;
    }
    *out = s;
    return MC_OK;
}

void mc_http_server_set_max_body(mc_http_server *s, size_t max_body)
{
    s->max_body = max_body;
    mc_guard_set_budget(&s->g, unknown_budget(max_body));
}

void mc_http_server_set_quiet(mc_http_server *s, int quiet) { s->quiet = quiet; }

void mc_http_server_stats(mc_http_server *s, mc_http_stats *o)
{
    memset(o, 0, sizeof *o);
    o->answered = s->answered;
    for (int i = 1; i < MC_AUTH_REFUSAL_COUNT; i++) {
        o->refused[i] = s->refused[i];
        o->refused_total += o->refused[i];
    }
    o->busy = s->busy;
    o->too_big = s->too_big;
    pthread_mutex_lock(&s->g.m);
    o->evicted = s->g.evicted;
    o->expired = s->g.expired;
    pthread_mutex_unlock(&s->g.m);
    mc_guard_count(&s->g, &o->open, &o->known);
}

void mc_http_stats_describe(const mc_http_stats *st, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    if (st->refused_total) {
        k += (size_t)snprintf(buf + k, n - k, "refused %ld unauthenticated requests (", st->refused_total);
        const char *sep = "";
        for (int i = 1; i < MC_AUTH_REFUSAL_COUNT && k < n; i++)
            if (st->refused[i]) {
                k += (size_t)snprintf(buf + k, n - k, "%s%s: %ld", sep, mc_auth_refusal_name(i), st->refused[i]);
                sep = ", ";
            }
        if (k < n) k += (size_t)snprintf(buf + k, n - k, ")");
    }
    if ((st->evicted || st->expired || st->busy) && k < n)
        snprintf(buf + k, n - k, "%sclosed %ld unknown connections to make room and %ld that did not finish a request "
                 "in %.0f s; answered busy to %ld uploads", k ? "; " : "", st->evicted, st->expired, MC_GUARD_DEADLINE_S, st->busy);
}

int mc_http_server_port(mc_http_server *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : s->port;
}

void mc_http_server_stop(mc_http_server *s)
{
    if (!s) return;
    /* requests queued or being handled are answered (and their connections
     * resumed) before libmicrohttpd stops: it must not find one suspended */
    pthread_mutex_lock(&s->qm);
    s->stopping = 1;
    pthread_cond_broadcast(&s->qc);
    pthread_mutex_unlock(&s->qm);
    for (int i = 0; i < s->n_handlers; i++) pthread_join(s->handlers[i], NULL);
    if (s->have_sweeper) {
        pthread_mutex_lock(&s->sm);
        s->sweep_stop = 1;
        pthread_cond_signal(&s->sc);
        pthread_mutex_unlock(&s->sm);
        pthread_join(s->sweeper, NULL);
    }
    if (s->d) MHD_stop_daemon(s->d);
    mc_guard_fini(&s->g);
    pthread_mutex_destroy(&s->qm);
    pthread_cond_destroy(&s->qc);
    pthread_mutex_destroy(&s->sm);
    pthread_cond_destroy(&s->sc);
    pthread_mutex_destroy(&s->logm);
    free(s);
}
