/* http_guard.c - the server's connection table and its limits (see http_guard.h). */
#define _GNU_SOURCE /* POLLRDHUP */
#include "http_guard.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

double mc_guard_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void mc_guard_init(mc_guard *g, size_t unknown_budget)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->m, NULL);
    g->unknown_budget = unknown_budget;
}

void mc_guard_fini(mc_guard *g)
{
    while (g->head) {
        mc_guard_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->m);
}

void mc_guard_set_budget(mc_guard *g, size_t unknown_budget)
{
    pthread_mutex_lock(&g->m);
    g->unknown_budget = unknown_budget;
    pthread_mutex_unlock(&g->m);
}

/* Under g->m: closes c (the server sees end of file and drops it). */
static void evict(mc_guard *g, mc_guard_conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->evicted = 1;
    if (c->known) g->n_known--;
    else g->n_unknown--;
}

/* Under g->m: the oldest unknown connection (of host ip, or of any host
 * when `any`) that may be closed, or NULL. */
static mc_guard_conn *oldest_unknown(mc_guard *g, const mc_ip *ip, int any)
{
    for (mc_guard_conn *c = g->head; c; c = c->next)
        if (!c->known && !c->evicted && !c->busy && (any || mc_ip_equal(&c->ip, ip))) return c;
    return NULL;
}

void mc_guard_admit(mc_guard *g, const mc_ip *ip)
{
    pthread_mutex_lock(&g->m);
    int of_host = 0;
    for (mc_guard_conn *c = g->head; c; c = c->next)
        if (!c->known && !c->evicted && mc_ip_equal(&c->ip, ip)) of_host++;
    mc_guard_conn *v;
    if (of_host >= MC_GUARD_UNKNOWN_PER_HOST && (v = oldest_unknown(g, ip, 0))) {
        evict(g, v);
        g->evicted++;
    }
    if (g->n_unknown >= MC_GUARD_UNKNOWN_MAX && (v = oldest_unknown(g, ip, 1))) {
        evict(g, v);
        g->evicted++;
    }
    pthread_mutex_unlock(&g->m);
}

mc_guard_conn *mc_guard_open(mc_guard *g, int fd, const mc_ip *ip)
{
    mc_guard_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->ip = *ip;
    c->t_open = c->t_used = mc_guard_now();
    pthread_mutex_lock(&g->m);
    c->prev = g->tail;
    if (g->tail) g->tail->next = c;
    else g->head = c;
    g->tail = c;
    g->n_unknown++;
    pthread_mutex_unlock(&g->m);
    return c;
}

void mc_guard_close(mc_guard *g, mc_guard_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->m);
    if (!c->evicted) {
        if (c->known) g->n_known--;
        else g->n_unknown--;
    }
    g->unknown_bytes -= c->held;
    if (c->prev) c->prev->next = c->next;
    else g->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else g->tail = c->prev;
    pthread_mutex_unlock(&g->m);
    free(c);
}

void mc_guard_promote(mc_guard *g, mc_guard_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->m);
    if (!c->known && !c->evicted) {
        if (g->n_known >= MC_GUARD_KNOWN_MAX) { /* the least recently used idle known one goes */
            mc_guard_conn *lru = NULL;
            for (mc_guard_conn *o = g->head; o; o = o->next)
                if (o->known && !o->evicted && !o->busy && (!lru || o->t_used < lru->t_used)) lru = o;
            if (lru) {
                evict(g, lru);
                g->evicted++;
            }
        }
        c->known = 1;
        g->n_unknown--;
        g->n_known++;
        g->unknown_bytes -= c->held; /* what it holds now counts as a known request's */
        c->held = 0;
    }
    pthread_mutex_unlock(&g->m);
}

int mc_guard_known(mc_guard *g, const mc_guard_conn *c)
{
    if (!c) return 0;
    pthread_mutex_lock(&g->m);
    int k = c->known;
    pthread_mutex_unlock(&g->m);
    return k;
}

void mc_guard_touch(mc_guard *g, mc_guard_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->m);
    c->t_used = mc_guard_now();
    pthread_mutex_unlock(&g->m);
}

void mc_guard_busy(mc_guard *g, mc_guard_conn *c, int busy)
{
    if (!c) return;
    pthread_mutex_lock(&g->m);
    c->busy = busy;
    pthread_mutex_unlock(&g->m);
}

int mc_guard_reserve(mc_guard *g, mc_guard_conn *c, size_t n)
{
    if (!c) return 0;
    int rc = 0;
    pthread_mutex_lock(&g->m);
    if (!c->known) {
        if (g->unknown_bytes > g->unknown_budget || n > g->unknown_budget - g->unknown_bytes) {
            rc = -1;
        } else {
            g->unknown_bytes += n;
            c->held += n;
        }
    }
    pthread_mutex_unlock(&g->m);
    return rc;
}

void mc_guard_release(mc_guard *g, mc_guard_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->m);
    g->unknown_bytes -= c->held;
    c->held = 0;
    pthread_mutex_unlock(&g->m);
}

/* Under g->m: closes idle connections whose peer has closed (or half
 * closed) and left nothing unread.  libmicrohttpd reads edge-triggered and
 * does not see a peer's end of stream that came while the connection was
 * suspended (its request with a handler); without this such a connection
 * would stay open until its idle timeout (120 s for a known one). */
static void reap_closed(mc_guard *g, double now)
{
    struct pollfd p[64];
    mc_guard_conn *who[64];
    mc_guard_conn *c = g->head;
    while (c) {
        int n = 0;
        for (; c && n < 64; c = c->next)
            if (!c->evicted && !c->busy && now - c->t_used > MC_GUARD_REAP_IDLE_S) {
                p[n] = (struct pollfd){.fd = c->fd, .events = POLLRDHUP};
                who[n++] = c;
            }
        if (n && poll(p, (nfds_t)n, 0) > 0)
            for (int i = 0; i < n; i++) {
                int unread = 0;
                if ((p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) && !ioctl(p[i].fd, FIONREAD, &unread) && !unread)
                    evict(g, who[i]);
            }
    }
}

void mc_guard_sweep(mc_guard *g)
{
    const double now = mc_guard_now();
    pthread_mutex_lock(&g->m);
    for (mc_guard_conn *c = g->head; c; c = c->next)
        if (!c->known && !c->evicted && !c->busy && now - c->t_open > MC_GUARD_DEADLINE_S) {
            evict(g, c);
            g->expired++;
        }
    reap_closed(g, now);
    pthread_mutex_unlock(&g->m);
}

void mc_guard_count(mc_guard *g, int *open, int *known)
{
    pthread_mutex_lock(&g->m);
    if (open) *open = g->n_known + g->n_unknown;
    if (known) *known = g->n_known;
    pthread_mutex_unlock(&g->m);
}
