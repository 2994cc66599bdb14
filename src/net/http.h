/* http.h - HTTP POST transport: a libmicrohttpd server and a libcurl client.
 *
 * Server: one thread per connection (MHD), so a handler may block briefly
 * (backpressure when a node's input buffer is full).  A body larger than
 * max_body is answered 413 without being stored; the number of connections
 * is limited, so the memory bodies take is bounded by
 * connections x max_body.  Anything but POST gets 405.
 *
 * Client: one libcurl easy handle per peer address, reused, so connections
 * stay alive between requests.  Not thread-safe: one client per thread.
 */
#ifndef MC_HTTP_H
#define MC_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "../core/status.h"

#define MC_HTTP_MAX_CONNECTIONS 16
#define MC_HTTP_MAX_RESPONSE (1u << 20)

/* Answers a complete request body: returns the HTTP status and a malloc'ed
 * response body (Avro for 200, text otherwise). */
typedef int (*mc_http_handler)(void *ctx, const unsigned char *body, size_t len, unsigned char **resp,
                               size_t *resp_len);

typedef struct mc_http_server mc_http_server;

/* Listens on host:port (host may be a name or address; "0.0.0.0" for all). */
mc_status mc_http_server_start(const char *host, int port, size_t max_body, mc_http_handler h, void *ctx,
                               mc_http_server **out);
void mc_http_server_stop(mc_http_server *s);
/* A new body limit for requests that start from now on. */
void mc_http_server_set_max_body(mc_http_server *s, size_t max_body);

typedef struct mc_http_client mc_http_client;

mc_status mc_http_client_new(mc_http_client **out);
void mc_http_client_free(mc_http_client *c);
/* While *flag is set, a transfer in progress (or starting) is given up
 * with an error: a sender whose table changed stops waiting for a peer that
 * may be gone.  NULL: never. */
void mc_http_client_set_abort(mc_http_client *c, volatile sig_atomic_t *flag);
/* Limit on a whole exchange in ms (control messages: short), 0 for the
 * defaults (10 s without a byte, as for tensors).  Before the first post. */
void mc_http_client_set_timeout(mc_http_client *c, long ms);
/* POSTs body to http://host:port/ (Content-Type avro/binary).  Returns
 * MC_ERR_NETWORK naming host:port when the peer cannot be reached; otherwise
 * MC_OK with *code and the malloc'ed response. */
mc_status mc_http_post(mc_http_client *c, const char *host, int port, const unsigned char *body, size_t len,
                       long *code, unsigned char **resp, size_t *resp_len);

#endif
