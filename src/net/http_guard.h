/* http_guard.h - who may hold a server's connections (internal to src/net).
 *
 * The HTTP server (http_server.c) is event driven, so an open connection
 * costs a table entry, not a thread; this table decides which connections
 * it keeps when a host opens many of them and sends nothing, or half a
 * request, or a body byte by byte.  A connection is *known* once it has
 * shown it belongs to the farm: with a farm key, as soon as a request's
 * auth header verifies; without one, once a request on it was answered 200.
 * Every other connection is *unknown*, and unknown connections are the
 * ones that give way:
 *   - at most MC_GUARD_UNKNOWN_PER_HOST per IPv4 address and
 *     MC_GUARD_UNKNOWN_MAX in all: a new connection over either limit makes
 *     the oldest unknown one (of that host, or of all) close;
 *   - an unknown connection that has not become known MC_GUARD_DEADLINE_S
 *     after it opened is closed (the server's idle timeout closes a silent
 *     one sooner);
 *   - the request bodies of unknown connections share a budget of bytes;
 *     over it, a request's body is read and thrown away and it is answered
 *     503 (busy);
 *   - known connections are never closed for unknown ones; their number is
 *     bounded too (MC_GUARD_KNOWN_MAX: a farm without a key cannot tell
 *     peers from strangers), the least recently used idle one giving way.
 * A connection whose request is with a handler (busy) is never closed.  An
 * idle connection whose peer has closed its side is closed (the server
 * may have missed the end of stream; mc_guard_sweep).
 * Closing means shutdown(2) on its socket under the table's lock; the
 * server removes the entry (under the same lock) before its socket is
 * closed, so the descriptor cannot have been reused.
 */
#ifndef MC_HTTP_GUARD_H
#define MC_HTTP_GUARD_H

#include "ipaddr.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MC_GUARD_UNKNOWN_PER_HOST 32
#define MC_GUARD_UNKNOWN_MAX 256
#define MC_GUARD_KNOWN_MAX 256
#define MC_GUARD_DEADLINE_S 10.0
#define MC_GUARD_REAP_IDLE_S 0.2 /* a connection whose peer closed, idle this long, is closed */

typedef struct mc_guard_conn {
    struct mc_guard_conn *prev, *next; /* open order: oldest first */
    int fd;
    mc_ip ip;              /* the peer's host (IPv4 as IPv4-mapped) */
    double t_open, t_used; /* mc_guard_now() when it opened, when a request last started */
    int known, evicted, busy;
    size_t held;           /* body bytes of the current request counted against the unknown budget */
} mc_guard_conn;

typedef struct mc_guard {
    pthread_mutex_t m;
    mc_guard_conn *head, *tail;
    int n_unknown, n_known;
    size_t unknown_bytes, unknown_budget;
    long evicted, expired; /* closed to make room; closed at the deadline */
} mc_guard;

double mc_guard_now(void);
void mc_guard_init(mc_guard *g, size_t unknown_budget);
void mc_guard_fini(mc_guard *g);
void mc_guard_set_budget(mc_guard *g, size_t unknown_budget);
/* Before accepting a connection from ip: makes room under the limits. */
void mc_guard_admit(mc_guard *g, const mc_ip *ip);
/* A new connection (NULL when out of memory: then it is not tracked). */
mc_guard_conn *mc_guard_open(mc_guard *g, int fd, const mc_ip *ip);
void mc_guard_close(mc_guard *g, mc_guard_conn *c);
/* The connection belongs to the farm (idempotent). */
void mc_guard_promote(mc_guard *g, mc_guard_conn *c);
int mc_guard_known(mc_guard *g, const mc_guard_conn *c);
/* A request starts (t_used); busy: its request is with a handler. */
void mc_guard_touch(mc_guard *g, mc_guard_conn *c);
void mc_guard_busy(mc_guard *g, mc_guard_conn *c, int busy);
/* n more body bytes for an unknown connection: 0, or -1 over the budget
 * (nothing reserved).  Known connections always get 0. */
int mc_guard_reserve(mc_guard *g, mc_guard_conn *c, size_t n);
void mc_guard_release(mc_guard *g, mc_guard_conn *c);
/* Closes unknown connections past the deadline and idle ones whose peer closed. */
void mc_guard_sweep(mc_guard *g);
/* Connections now (may be NULL). */
void mc_guard_count(mc_guard *g, int *open, int *known);

#endif
