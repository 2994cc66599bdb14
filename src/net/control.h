/* control.h - the dynamic farm's control messages (src/net/control.avpr).
 *
 * A second Avro protocol beside the artifact's image.avpr, served by the
 * same HTTP server (mc_ctl_owns tells the two apart by the handshake's
 * protocol hash), so static farms and the artifact's Python nodes never see
 * it.  Messages (docs/farm.md):
 *   join(address, role, mem_mb) -> Table        a device or initial registers
 *   heartbeat(address, epoch, figures) -> Table about once a second
 *   report(address, peer, what)                  a peer could not be reached
 *   assign(table)                                the master pushes a new table
 *   leave(address)                               a device stops on purpose
 * A Table is the master's farm (farm JSON, farmfile.h) with its epoch; a
 * heartbeat's answer holds the farm only when the sender's epoch is old, and
 * rejoin = 1 when the master does not know the sender.
 */
#ifndef MC_CONTROL_H
#define MC_CONTROL_H

#include <stddef.h>

#include "../core/status.h"
#include "http.h"

#define MC_CTL_UNREACH_MAX 8
#define MC_CTL_ADDR_MAX 80
#define MC_CTL_NAME_MAX 64

/* What a device reports in a heartbeat. */
typedef struct mc_ctl_figures {
    char task[MC_CTL_NAME_MAX]; /* the task it runs ("" for none) */
    long frames;                /* frames (or parts) computed since it started */
    double compute_s;           /* recent mean compute time per frame (0: none yet) */
    long queue_bytes, queue_cap_bytes; /* its input buffer now, and its bound */
    long dropped;               /* frames it dropped (backpressure) since it started */
    double link_s;              /* recent mean time to send a frame's output */
    long rss_bytes;             /* resident memory */
    int n_unreachable;          /* peers it could not reach since the last heartbeat */
    char unreachable[MC_CTL_UNREACH_MAX][MC_CTL_ADDR_MAX];
} mc_ctl_figures;

typedef struct mc_ctl_table {
    long epoch;
    char *farm; /* farm JSON, malloc'ed; "" or NULL: none sent */
    int rejoin;
} mc_ctl_table;

void mc_ctl_table_free(mc_ctl_table *t);

typedef struct mc_ctl mc_ctl; /* the parsed protocol; thread-safe */

mc_status mc_ctl_new(mc_ctl **out);
void mc_ctl_free(mc_ctl *c);
const char *mc_ctl_protocol_text(void);
/* 1 when a request body is a control message (else: image.avpr). */
int mc_ctl_owns(const mc_ctl *c, const unsigned char *body, size_t len);

/* Client calls; `h` is the calling thread's HTTP client. */
mc_status mc_ctl_join(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr, const char *role,
                      double mem_mb, mc_ctl_table *out);
mc_status mc_ctl_heartbeat(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr, long epoch,
                           const mc_ctl_figures *f, mc_ctl_table *out);
mc_status mc_ctl_report(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr,
                        const char *peer, const char *what);
mc_status mc_ctl_assign(mc_ctl *c, mc_http_client *h, const char *host, int port, long epoch, const char *farm);
mc_status mc_ctl_leave(mc_ctl *c, mc_http_client *h, const char *host, int port, const char *addr);

/* Server side: a NULL handler answers "not served here".  Handlers that
 * answer a Table fill out->farm with a malloc'ed string (or leave it NULL). */
typedef struct mc_ctl_handlers {
    void *ctx;
    mc_status (*join)(void *ctx, const char *addr, const char *role, double mem_mb, mc_ctl_table *out);
    mc_status (*heartbeat)(void *ctx, const char *addr, long epoch, const mc_ctl_figures *f, mc_ctl_table *out);
    mc_status (*report)(void *ctx, const char *addr, const char *peer, const char *what);
    mc_status (*assign)(void *ctx, long epoch, const char *farm);
    mc_status (*leave)(void *ctx, const char *addr);
} mc_ctl_handlers;

/* Answers one control request body (HTTP status; *resp malloc'ed). */
int mc_ctl_serve(mc_ctl *c, const mc_ctl_handlers *h, const unsigned char *body, size_t len, unsigned char **resp,
                 size_t *resp_len);

#endif
