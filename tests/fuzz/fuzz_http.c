/* fuzz_http.c - fuzz target for a node's HTTP layer: the input is what a
 * peer writes on a connection (request line, headers, body, maybe several
 * requests), fed through a socket to a running server (src/net/http.h) whose
 * handler answers both of a node's protocols (image.avpr forward calls and
 * control.avpr messages) as a node does.  The first byte picks the server:
 * even an open one, odd one with a farm key (auth header parsing, refusals).
 * The input goes over a new loopback TCP connection, as a peer's would, and
 * is followed by an empty line (so the headers end: half-sent requests are
 * the exhaustion tests' business, tests/check_auth.c and
 * tests/farm/security_test.py); the target reads what the server answers
 * until it closes the connection or 1 s passed.  Every 100 inputs (and
 * first) a proper request must be answered by each server within 20 s:
 * whatever the inputs did, the server keeps serving.  libmicrohttpd itself is not instrumented (a system
 * library): the coverage is our request assembly, connection guard, auth
 * checks and the Avro decoders behind them. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/avro_ipc.h"
#include "net/control.h"
#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct node_like {
    mc_ipc *ipc;
    mc_ctl *ctl;
} node_like;

static mc_status on_forward(void *ctx, mc_ipc_forward *f)
{
    (void)ctx;
    return f->tag[0] == 'x' ? mc_error_set(MC_ERR_FULL, "busy: %s", f->next) : MC_OK;
}

static mc_status on_assign(void *ctx, long epoch, const char *farm)
{
    (void)ctx;
    (void)farm;
    return epoch < 0 ? mc_error_set(MC_ERR_INVALID_ARG, "old epoch") : MC_OK;
}

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    node_like *n = ctx;
    if (mc_ctl_owns(n->ctl, body, len)) {
        mc_ctl_handlers h = {.ctx = n, .assign = on_assign};
        return mc_ctl_serve(n->ctl, &h, body, len, resp, resp_len);
    }
    return mc_ipc_serve(n->ipc, body, len, on_forward, n, resp, resp_len);
}

static const char fuzz_key[] = "the fuzz target's farm key, 32 b";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static node_like n;
    static mc_http_server *srv[2];
    static mc_auth *key;
    static mc_http_client *health[2];
    static unsigned long runs;
    if (!srv[0]) {
        if (mc_ipc_new(&n.ipc) || mc_ctl_new(&n.ctl) || mc_auth_new(fuzz_key, strlen(fuzz_key), "fuzz", 0, &key) ||
            mc_http_server_start("127.0.0.1", 0, 1 << 16, NULL, on_body, &n, &srv[0]) ||
            mc_http_server_start("127.0.0.1", 0, 1 << 16, key, on_body, &n, &srv[1]) ||
            mc_http_client_new(&health[0]) || mc_http_client_new(&health[1])) {
            fprintf(stderr, "fuzz_http: %s\n", mc_error_last());
            abort();
        }
        mc_http_server_set_quiet(srv[1], 1);
        mc_http_client_set_auth(health[1], key);
        mc_http_client_set_timeout(health[0], 20000);
        mc_http_client_set_timeout(health[1], 20000);
    }
    if (runs++ % 100 == 0) /* the servers still serve */
        for (int k = 0; k < 2; k++) {
            /* an image.avpr ping: handshake (an unknown client hash, no
             * protocol: the answer is NONE), empty metadata and message name */
            static const unsigned char ping[] = {0, 0, 0, 36, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0,
                                                 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0,
                                                 0, 0, 0, 0};
            long code = 0;
            unsigned char *resp = NULL;
            size_t rl = 0;
            if (mc_http_post(health[k], "127.0.0.1", mc_http_server_port(srv[k]), ping, sizeof ping, &code, &resp,
                             &rl) || code != 200) {
                fprintf(stderr, "fuzz_http: the %s server stopped serving: HTTP %ld, %s\n", k ? "keyed" : "open",
                        code, mc_error_last());
                abort();
            }
            free(resp);
        }
    if (size < 1) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mc_http_server_port(srv[data[0] & 1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) abort();
    uint8_t *in = malloc(size + 3);
    if (!in) abort();
    memcpy(in, data + 1, size - 1);
    memcpy(in + size - 1, "\r\n\r\n", 4);
    const uint8_t *p = in;
    size_t left = size + 3;
    char buf[4096];
    int closed = 0;
    /* write while reading, so a large answer cannot block the server */
    while (left && !closed) {
        struct pollfd pf = {fd, POLLOUT | POLLIN, 0};
        if (poll(&pf, 1, 1000) != 1) break; /* it stopped reading: it will close by itself */
        if (pf.revents & POLLIN) closed = read(fd, buf, sizeof buf) <= 0;
        if (!closed && (pf.revents & POLLOUT)) {
            ssize_t w = write(fd, p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        if (pf.revents & (POLLERR | POLLHUP)) break;
    }
    shutdown(fd, SHUT_WR);
    while (!closed) { /* what it answers, until it closes (or 1 s) */
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 1000) != 1 || read(fd, buf, sizeof buf) <= 0) break;
    }
    close(fd);
    free(in);
    return 0;
}
