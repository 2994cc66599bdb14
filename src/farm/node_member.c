/* node_member.c - a dynamic node's side of membership (see node.h): it
 * joins the master (again and again until the master answers), sends a
 * heartbeat with its figures about twice a second, tells the master at once
 * about peers its sender could not reach, takes the tables the answers carry,
 * and says leave when it stops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node_int.h"

static long rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static void figures(node *n, mc_ctl_figures *f)
{
    memset(f, 0, sizeof *f);
    pthread_rwlock_rdlock(&n->task_lock);
    if (n->task) snprintf(f->task, sizeof f->task, "%s", n->task->def.name);
    pthread_rwlock_unlock(&n->task_lock);
    f->frames = n->n_computed;
    f->compute_s = (double)n->t_frame_us * 1e-6;
    f->queue_bytes = (long)mc_queue_bytes(&n->inbox);
    f->queue_cap_bytes = (long)mc_queue_max_bytes(&n->inbox);
    f->dropped = n->n_dropped;
    f->link_s = (double)n->t_send_us * 1e-6;
    f->rss_bytes = rss_now();
    pthread_mutex_lock(&n->unreach_m);
    f->n_unreachable = n->n_unreach;
    memcpy(f->unreachable, n->unreach, sizeof f->unreachable);
    pthread_mutex_unlock(&n->unreach_m);
}

/* Reports the unreachable peers noted since the last time (at once: the
 * master need not wait for a heartbeat to miss). */
static void flush_reports(node *n, mc_ctl *ctl, mc_http_client *h, const mc_addr *m)
{
    char list[MC_CTL_UNREACH_MAX][MC_CTL_ADDR_MAX];
    pthread_mutex_lock(&n->unreach_m);
    int k = n->n_unreach;
    memcpy(list, n->unreach, sizeof list);
    n->n_unreach = 0;
    pthread_mutex_unlock(&n->unreach_m);
    for (int i = 0; i < k; i++)
        if (mc_ctl_report(ctl, h, m->host, m->port, n->me_str, list[i], "unreachable"))
            node_log(n, "could not report %s to the master: %s", list[i], mc_error_last());
}

static void take_table(node *n, mc_ctl_table *t)
{
    if (t->farm && *t->farm) node_offer_table(n, t->epoch, t->farm);
    mc_ctl_table_free(t);
}

void *node_member_main(void *arg)
{
    node *n = arg;
    const mc_node_opts *o = n->o;
    mc_http_client *h = NULL;
    mc_addr m;
    if (mc_addr_parse(o->master, MC_FARM_INITIAL_PORT, &m) || mc_http_client_new(&h)) {
        node_log(n, "cannot reach the master %s: %s", o->master, mc_error_last());
        return NULL;
    }
    mc_http_client_set_timeout(h, 5000); /* a stuck master must not stop the heartbeats for long */
    mc_http_client_set_auth(h, o->auth);
    const double hb_s = o->heartbeat_s > 0 ? o->heartbeat_s : 0.5;
    const double mem = o->mem_mb > 0 ? o->mem_mb : o->mem_limit_mb > 0 ? o->mem_limit_mb : 0;
    int joined = 0;
    long fails = 0, told = 0;
    double next = 0;
    while (!n->quit) {
        double now = mc_now();
        if (joined && atomic_load(&n->epoch) != told) next = 0; /* a new table: acknowledge it at once */
        if (joined) flush_reports(n, n->ctl, h, &m); /* nothing to do when no peer was unreachable */
        if (now >= next) {
            mc_ctl_table t;
            mc_status st;
            if (!joined) {
                st = mc_ctl_join(n->ctl, h, m.host, m.port, n->me_str, "node", mem, &t);
                if (!st) {
                    joined = 1;
                    if (!n->quiet) node_log(n, "joined the master %s (its epoch %ld)", o->master, t.epoch);
                    take_table(n, &t);
                }
            } else {
                mc_ctl_figures f;
                figures(n, &f);
                told = (long)atomic_load(&n->epoch);
                st = mc_ctl_heartbeat(n->ctl, h, m.host, m.port, n->me_str, told, &f, &t);
                if (!st) {
                    if (f.n_unreachable) { /* told: forget them */
                        pthread_mutex_lock(&n->unreach_m);
                        n->n_unreach = 0;
                        pthread_mutex_unlock(&n->unreach_m);
                    }
                    if (t.rejoin) {
                        joined = 0; /* the master lost us (we were out): join again */
                        if (!n->quiet) node_log(n, "the master does not know this node any more: joining again");
                        mc_ctl_table_free(&t);
                        continue;
                    }
                    take_table(n, &t);
                }
            }
            if (st) {
                if (fails == 0 || fails % 20 == 0)
                    node_log(n, "%s the master %s: %s (trying again)", joined ? "no heartbeat answer from" : "cannot join",
                             o->master, mc_error_last());
                fails++;
            } else {
                fails = 0;
            }
            next = now + (joined ? hb_s : 0.5);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (joined && mc_ctl_leave(n->ctl, h, m.host, m.port, n->me_str) && !n->quiet)
        node_log(n, "could not say leave to the master: %s", mc_error_last());
    mc_http_client_free(h);
    return NULL;
}
