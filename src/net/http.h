/* http.h - HTTP POST transport: a libmicrohttpd server and a libcurl client,
 * optionally authenticated with the farm's key (auth.h).
 *
 * Server (http_server.c): event driven.  A small pool of MHD threads reads
 * and writes every connection (epoll), so an idle or half-sent connection
 * costs a table entry, not a thread; a complete request is handed to a
 * handler thread (a pool that grows to MC_HTTP_HANDLERS) while its
 * connection is suspended, so a handler may block briefly (a node's
 * backpressure) without stalling any other connection.  Which connections
 * the server keeps when a host opens many is http_guard.h's policy:
 * connections that proved they belong to the farm (with a key: a verified
 * auth header) are never starved by others; unknown ones are limited per
 * host and in all, must finish a request within a deadline, and share a
 * budget of body bytes.  Requests of known connections are handled first.
 * A body larger than max_body is read, thrown away and answered 413.
 * Anything but POST gets 405.  With a key, a request whose auth header is
 * missing or does not verify (wrong key, replayed, stale, truncated) is
 * answered 401 with the reason, counted, and never reaches the handler;
 * its body is not stored.  Answers to authenticated requests are sealed.
 *
 * Client (http_client.c): one libcurl easy handle per peer address,
 * reused, so connections stay alive between requests.  Not thread-safe:
 * one client per thread.  With a key every request is sealed (a new
 * counter each time, so retries are not replays) and an answer that is not
 * sealed by a key holder for this request is an error.
 */
#ifndef MC_HTTP_H
#define MC_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "../core/flag.h"
#include "../core/status.h"
#include "auth.h"

#define MC_HTTP_MAX_CONNECTIONS 1024 /* open at once (the guard keeps far fewer unknown ones) */
#define MC_HTTP_IO_THREADS 2
#define MC_HTTP_HANDLERS 32          /* handler threads at most */
#define MC_HTTP_IDLE_S 5             /* an unknown connection silent this long is closed */
#define MC_HTTP_KNOWN_IDLE_S 120     /* a known one */
#define MC_HTTP_MAX_RESPONSE (1u << 20)

/* Answers a complete request body: returns the HTTP status and a malloc'ed
 * response body (Avro for 200, text otherwise). */
typedef int (*mc_http_handler)(void *ctx, const unsigned char *body, size_t len, unsigned char **resp,
                               size_t *resp_len);

typedef struct mc_http_server mc_http_server;

/* Listens on host:port (host may be a name or address; "0.0.0.0" for all).
 * `auth` (may be NULL: an open server) is not owned and must outlive it. */
mc_status mc_http_server_start(const char *host, int port, size_t max_body, mc_auth *auth, mc_http_handler h,
                               void *ctx, mc_http_server **out);
/* Stops: requests being handled are finished first. */
void mc_http_server_stop(mc_http_server *s);
/* A new body limit for requests that start from now on. */
void mc_http_server_set_max_body(mc_http_server *s, size_t max_body);
/* While quiet, refusals are counted but not logged (they are by default,
 * at most one line a second). */
void mc_http_server_set_quiet(mc_http_server *s, int quiet);

typedef struct mc_http_stats {
    long answered;                        /* requests answered (any status) */
    long refused[MC_AUTH_REFUSAL_COUNT];  /* 401s by reason (index MC_AUTH_OK unused) */
    long refused_total;
    long busy;                            /* 503: unknown connections' bodies over their budget */
    long too_big;                         /* 413 */
    long evicted, expired;                /* connections closed for room, at the deadline */
    int open, known;                      /* connections now */
} mc_http_stats;
void mc_http_server_stats(mc_http_server *s, mc_http_stats *out);
/* One line for logs ("refused 3 unauthenticated requests (replayed 2, ...); closed ..."),
 * empty when nothing was refused or closed. */
void mc_http_stats_describe(const mc_http_stats *st, char *buf, size_t n);
/* The port it listens on (the one the system chose when started with port 0). */
int mc_http_server_port(mc_http_server *s);

typedef struct mc_http_client mc_http_client;

mc_status mc_http_client_new(mc_http_client **out);
void mc_http_client_free(mc_http_client *c);
/* Seals requests with the farm key (NULL: none); not owned. */
void mc_http_client_set_auth(mc_http_client *c, mc_auth *auth);
/* While *flag is set, a transfer in progress (or starting) is given up
 * with an error: a sender whose table changed stops waiting for a peer that
 * may be gone.  NULL: never. */
void mc_http_client_set_abort(mc_http_client *c, mc_flag *flag);
/* Limit on a whole exchange in ms (control messages: short), 0 for the
 * defaults (10 s without a byte, as for tensors).  Before the first post. */
void mc_http_client_set_timeout(mc_http_client *c, long ms);
/* POSTs body to http://host:port/ (Content-Type avro/binary).  Returns
 * MC_ERR_NETWORK naming host:port when the peer cannot be reached (or, with
 * a key, when its answer does not verify); otherwise MC_OK with *code and
 * the malloc'ed response. */
mc_status mc_http_post(mc_http_client *c, const char *host, int port, const unsigned char *body, size_t len,
                       long *code, unsigned char **resp, size_t *resp_len);

#endif
