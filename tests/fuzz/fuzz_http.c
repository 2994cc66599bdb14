/* fuzz_http.c - fuzz target for a node's HTTP layer: the input is what a
 * peer writes on a connection (request line, headers, body, maybe several
 * requests), fed through a socket to a running server (src/net/http.h) whose
 * handler answers both of a node's protocols (image.avpr forward calls and
 * control.avpr messages) as a node does.  The first byte picks the server:
 * even an open one, odd one with a farm key (auth header parsing, refusals).
 * The server must answer or close the connection after the input ends, and
 * keep serving.  Every input is followed by an empty line, so the headers
 * end (a half-sent request line waits for the 5 s idle timeout, which
 * tests/check_auth.c and tests/farm/security_test.py cover) and each input
 * ends quickly.  libmicrohttpd itself is not instrumented (a system
 * library): the coverage is our request assembly, connection guard, auth
 * checks and the Avro decoders behind them. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
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
    if (!srv[0]) {
        if (mc_ipc_new(&n.ipc) || mc_ctl_new(&n.ctl) || mc_auth_new(fuzz_key, strlen(fuzz_key), "fuzz", 0, &key) ||
            mc_http_server_start("127.0.0.1", 0, 1 << 16, NULL, on_body, &n, &srv[0]) ||
            mc_http_server_start("127.0.0.1", 0, 1 << 16, key, on_body, &n, &srv[1])) {
            fprintf(stderr, "fuzz_http: %s\n", mc_error_last());
            abort();
        }
        mc_http_server_set_quiet(srv[1], 1);
    }
    if (size < 1) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    if (mc_http_server_add_socket(srv[data[0] & 1], sv[1])) abort();
    uint8_t *in = malloc(size + 3);
    if (!in) return 0;
    memcpy(in, data + 1, size - 1);
    memcpy(in + size - 1, "\r\n\r\n", 4);
    const uint8_t *p = in;
    size_t left = size + 3;
    char buf[4096];
    /* write while reading, so a large answer cannot block the server */
    while (left) {
        struct pollfd pf = {sv[0], POLLOUT | POLLIN, 0};
        if (poll(&pf, 1, 5000) != 1) abort(); /* the server stopped reading and writing */
        if (pf.revents & POLLIN) {
            ssize_t r = read(sv[0], buf, sizeof buf);
            if (r <= 0) break; /* it closed the connection: fine */
        }
        if (pf.revents & POLLOUT) {
            ssize_t w = write(sv[0], p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        if (pf.revents & (POLLERR | POLLHUP)) break;
    }
    /* The end of stream must reach the server as an event of its own:
     * libmicrohttpd reads edge-triggered and would not see an end that came
     * with the last bytes before its idle timeout.  So wait (at most 0.2 s)
     * until it has read what was written. */
    for (int i = 0; i < 2000; i++) {
        int queued = 0;
        if (ioctl(sv[0], SIOCOUTQ, &queued) || queued == 0) break;
        usleep(100);
    }
    shutdown(sv[0], SHUT_WR);
    for (;;) { /* the server answers what it got and closes */
        struct pollfd pf = {sv[0], POLLIN, 0};
        if (poll(&pf, 1, 15000) != 1) abort(); /* neither answered nor closed: a stuck connection */
        if (read(sv[0], buf, sizeof buf) <= 0) break;
    }
    close(sv[0]);
    free(in);
    return 0;
}
