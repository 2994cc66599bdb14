/* check_auth.c - the farm key (src/net/auth.h) and what the HTTP server
 * (src/net/http.h) does with it and with connections it does not know:
 * key files that others may read are refused; seals verify in both modes
 * and every kind of forgery (no header, another key, replayed, altered,
 * truncated, for another address, from before the server started) is
 * refused, counted, and never reaches the handler, while valid requests
 * keep being served; answers are checked by the client; a server keeps
 * serving a keyed (and an open) client while one host holds 1,000
 * half-sent connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/auth.h"
#include "net/http.h"
#include "net/http_guard.h"
#include "testutil.h"

static const char key1[] = "0123456789abcdef0123456789abcdef";
static const char key2[] = "another farm's key, 32 bytes ...";

/* ---------------------------------------------------------------- key files */

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(a_key_file_others_may_read_is_refused_and_an_owner_only_one_is_taken)
{
    char path[] = "/tmp/mchair-key-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    static const struct {
        mode_t mode;
        const char *text;
        mc_status want;
        const char *says;
    } cases[] = {
        {0600, "0123456789abcdef0123456789abcdef\n", MC_OK, NULL},
        {0400, "0123456789abcdef0123456789abcdef", MC_OK, NULL},
        {0644, "0123456789abcdef0123456789abcdef\n", MC_ERR_INVALID_ARG, "chmod 600"},
        {0640, "0123456789abcdef0123456789abcdef\n", MC_ERR_INVALID_ARG, "chmod 600"},
        {0602, "0123456789abcdef0123456789abcdef\n", MC_ERR_INVALID_ARG, "chmod 600"},
        {0600, "short key\n", MC_ERR_INVALID_ARG, "at least 16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].text, cases[i].mode);
        mc_auth *a = NULL;
        mc_status st = mc_auth_load(path, "test@x", 0, &a);
        ck_assert_msg(st == cases[i].want, "case %zu: %s", i, mc_error_last());
        if (cases[i].says) ck_assert_msg(strstr(mc_error_last(), cases[i].says), "case %zu: %s", i, mc_error_last());
        if (!st) {
            /* trailing white space is not part of the key: same fingerprint as the bytes */
            mc_auth *b;
            ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "b", 0, &b), MC_OK);
            ck_assert_str_eq(mc_auth_fingerprint(a), mc_auth_fingerprint(b));
            mc_auth_free(b);
        }
        mc_auth_free(a);
    }
    unlink(path);
    mc_auth *a = NULL;
    ck_assert_int_eq(mc_auth_load(path, "test", 0, &a), MC_ERR_IO);
}
END_TEST

/* ---------------------------------------------------------------- seals */

typedef struct req {
    mc_auth_ticket t;
    unsigned char body[64];
    size_t len;
} req;

static void seal(mc_auth *a, const char *rcpt, const char *text, req *r)
{
    const unsigned char *wire;
    unsigned char *owned;
    r->len = strlen(text);
    ck_assert_int_eq(mc_auth_seal_request(a, rcpt, (const unsigned char *)text, r->len, &r->t, &wire, &owned), MC_OK);
    memcpy(r->body, wire, r->len);
    free(owned);
}

/* The server's two steps on a copy of the request; returns the refusal. */
static mc_auth_refusal receive(mc_auth *srv, const req *r, const char *header, size_t len, char *plain)
{
    mc_auth_check c;
    unsigned char b[64];
    memcpy(b, r->body, sizeof b);
    mc_auth_refusal why = mc_auth_check_header(srv, header, &c);
    if (!why) why = mc_auth_open_request(srv, &c, b, len);
    if (!why && plain) {
        memcpy(plain, b, len);
        plain[len] = '\0';
    }
    return why;
}

START_TEST(every_forgery_is_refused_for_its_reason_in_both_modes)
{
    for (int enc = 0; enc < 2; enc++) {
        mc_auth *cli, *srv, *other;
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "node@127.0.0.1:1", enc, &cli), MC_OK);
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "node@127.0.0.1:2", enc, &srv), MC_OK);
        ck_assert_int_eq(mc_auth_new(key2, strlen(key2), "node@127.0.0.1:3", enc, &other), MC_OK);
        req r;
        char plain[80];
        seal(cli, "127.0.0.1:2", "a forward call's bytes", &r);
        ck_assert_int_eq(enc ? memcmp(r.body, "a forward", 9) != 0 : memcmp(r.body, "a forward", 9) == 0, 1);
        ck_assert_int_eq(receive(srv, &r, r.t.header, r.len, plain), MC_AUTH_OK);
        ck_assert_str_eq(plain, "a forward call's bytes");
        /* the same request again */
        ck_assert_int_eq(receive(srv, &r, r.t.header, r.len, NULL), MC_AUTH_REPLAY);
        /* none, garbage, another key */
        ck_assert_int_eq(receive(srv, &r, NULL, r.len, NULL), MC_AUTH_MISSING);
        ck_assert_int_eq(receive(srv, &r, "v1 m x", r.len, NULL), MC_AUTH_MALFORMED);
        req o;
        seal(other, "127.0.0.1:2", "a forward call's bytes", &o);
        ck_assert_int_eq(receive(srv, &o, o.t.header, o.len, NULL), MC_AUTH_BAD_KEY);
        /* one changed byte of the header (its counter) */
        seal(cli, "127.0.0.1:2", "a forward call's bytes", &r);
        char h[MC_AUTH_HEADER_MAX];
        snprintf(h, sizeof h, "%s", r.t.header);
        char *ctr = strstr(h, " 127.0.0.1:2 ") + 13;
        *ctr = *ctr == '9' ? '8' : (char)(*ctr + 1);
        ck_assert_int_eq(receive(srv, &r, h, r.len, NULL), MC_AUTH_BAD_KEY);
        /* altered and truncated bodies */
        req alt = r;
        alt.body[3] ^= 1;
        ck_assert_int_eq(receive(srv, &alt, alt.t.header, alt.len, NULL), MC_AUTH_BAD_BODY);
        ck_assert_int_eq(receive(srv, &r, r.t.header, r.len - 1, NULL), MC_AUTH_BAD_BODY);
        /* the original still passes once (the refusals recorded nothing) */
        ck_assert_int_eq(receive(srv, &r, r.t.header, r.len, NULL), MC_AUTH_OK);
        /* a request sealed before the server started: from before its time */
        req early;
        seal(cli, "127.0.0.1:2", "early", &early);
        usleep(2000); /* the server starts later */
        mc_auth *late;
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "node@late", enc, &late), MC_OK);
        ck_assert_int_eq(receive(late, &early, early.t.header, early.len, NULL), MC_AUTH_STALE);
        mc_auth_free(late);
        mc_auth_free(cli);
        mc_auth_free(srv);
        mc_auth_free(other);
    }
}
END_TEST

START_TEST(an_encrypting_receiver_refuses_clear_bodies)
{
    mc_auth *clear, *srv;
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "a", 0, &clear), MC_OK);
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "b", 1, &srv), MC_OK);
    req r;
    seal(clear, "127.0.0.1:2", "tensor", &r);
    ck_assert_int_eq(receive(srv, &r, r.t.header, r.len, NULL), MC_AUTH_PLAIN);
    mc_auth_free(clear);
    mc_auth_free(srv);
}
END_TEST

START_TEST(counters_may_arrive_out_of_order_but_never_twice_and_old_ones_stay_refused)
{
    mc_auth *cli, *srv;
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "c", 0, &cli), MC_OK);
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "s", 0, &srv), MC_OK);
    enum { N = MC_AUTH_SEEN + 8 };
    static req r[N];
    for (int i = 0; i < N; i++) seal(cli, "127.0.0.1:2", "x", &r[i]);
    /* 2, 1, 0, then the rest in order */
    ck_assert_int_eq(receive(srv, &r[2], r[2].t.header, 1, NULL), MC_AUTH_OK);
    ck_assert_int_eq(receive(srv, &r[1], r[1].t.header, 1, NULL), MC_AUTH_OK);
    ck_assert_int_eq(receive(srv, &r[0], r[0].t.header, 1, NULL), MC_AUTH_OK);
    for (int i = 3; i < N; i++) ck_assert_int_eq(receive(srv, &r[i], r[i].t.header, 1, NULL), MC_AUTH_OK);
    /* every one again: refused, the oldest ones below the remembered window too */
    for (int i = 0; i < N; i++) ck_assert_int_eq(receive(srv, &r[i], r[i].t.header, 1, NULL), MC_AUTH_REPLAY);
    mc_auth_free(cli);
    mc_auth_free(srv);
}
END_TEST

START_TEST(an_answer_verifies_only_for_its_own_request)
{
    for (int enc = 0; enc < 2; enc++) {
        mc_auth *cli, *srv;
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "c", enc, &cli), MC_OK);
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "s", enc, &srv), MC_OK);
        req a, b;
        seal(cli, "127.0.0.1:2", "first", &a);
        seal(cli, "127.0.0.1:2", "second", &b);
        mc_auth_check c;
        ck_assert_int_eq(mc_auth_check_header(srv, a.t.header, &c), MC_AUTH_OK);
        ck_assert_int_eq(mc_auth_open_request(srv, &c, a.body, a.len), MC_AUTH_OK);
        unsigned char ans[16] = "the answer";
        char h[MC_AUTH_HEADER_MAX];
        ck_assert_int_eq(mc_auth_seal_response(srv, &c, 200, ans, 10, h), MC_OK);
        unsigned char copy[16];
        memcpy(copy, ans, sizeof copy);
        ck_assert_int_ne(mc_auth_open_response(cli, &b.t, 200, h, copy, 10), MC_OK); /* another request's */
        memcpy(copy, ans, sizeof copy);
        ck_assert_int_ne(mc_auth_open_response(cli, &a.t, 500, h, copy, 10), MC_OK); /* another status */
        ck_assert_int_ne(mc_auth_open_response(cli, &a.t, 200, NULL, copy, 10), MC_OK); /* none */
        ck_assert_int_eq(mc_auth_open_response(cli, &a.t, 200, h, ans, 10), MC_OK);
        ck_assert_int_eq(memcmp(ans, "the answer", 10), 0);
        mc_auth_free(cli);
        mc_auth_free(srv);
    }
}
END_TEST

/* ---------------------------------------------------------------- over HTTP */

typedef struct echo {
    int calls;
} echo;

static int echo_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    echo *e = ctx;
    __atomic_add_fetch(&e->calls, 1, __ATOMIC_SEQ_CST);
    *resp = malloc(len + 1);
    memcpy(*resp, body, len);
    *resp_len = len;
    return 200;
}

/* Sends raw bytes on a new connection to the loopback address of `family`
 * and returns the status of the answer (0: none). */
static int raw_exchange_at(int family, int port, const char *head, const unsigned char *body, size_t len)
{
    int s = socket(family, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_loopback};
    if (family == AF_INET6) ck_assert_int_eq(connect(s, (struct sockaddr *)&a6, sizeof a6), 0);
    else ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert(write(s, head, strlen(head)) == (ssize_t)strlen(head));
    if (len) ck_assert(write(s, body, len) == (ssize_t)len);
    char buf[512] = "";
    struct pollfd p = {s, POLLIN, 0};
    int code = 0;
    if (poll(&p, 1, 10000) == 1 && read(s, buf, sizeof buf - 1) > 0) sscanf(buf, "HTTP/1.%*d %d", &code);
    close(s);
    return code;
}

static int raw_exchange(int port, const char *head, const unsigned char *body, size_t len)
{
    return raw_exchange_at(AF_INET, port, head, body, len);
}

static int raw_post(int port, const char *auth_header, const unsigned char *body, size_t len, size_t claimed)
{
    char head[1024];
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n%s%s%s\r\n", claimed,
             auth_header ? MC_AUTH_HEADER ": " : "", auth_header ? auth_header : "", auth_header ? "\r\n" : "");
    return raw_exchange(port, head, body, len);
}

START_TEST(a_keyed_server_refuses_and_counts_forgeries_and_keeps_serving_its_farm)
{
    for (int enc = 0; enc < 2; enc++) {
        mc_auth *ks, *kc, *other;
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "server", enc, &ks), MC_OK);
        ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "client", enc, &kc), MC_OK);
        ck_assert_int_eq(mc_auth_new(key2, strlen(key2), "stranger", enc, &other), MC_OK);
        int port = mc_test_free_port();
        echo e = {0};
        mc_http_server *srv;
        ck_assert_int_eq(mc_http_server_start("127.0.0.1", port, 1 << 20, ks, echo_body, &e, &srv), MC_OK);
        mc_http_server_set_quiet(srv, 1);
        mc_http_client *good, *none, *wrong;
        ck_assert_int_eq(mc_http_client_new(&good), MC_OK);
        ck_assert_int_eq(mc_http_client_new(&none), MC_OK);
        ck_assert_int_eq(mc_http_client_new(&wrong), MC_OK);
        mc_http_client_set_auth(good, kc);
        mc_http_client_set_auth(wrong, other);
        long code;
        unsigned char *resp;
        size_t rl;
        const unsigned char msg[] = "frame";
        ck_assert_int_eq(mc_http_post(good, "127.0.0.1", port, msg, 5, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, 200);
        ck_assert(rl == 5 && !memcmp(resp, "frame", 5)); /* decrypted and verified */
        free(resp);
        /* no key, another key: 401 with the reason, never at the handler */
        ck_assert_int_eq(mc_http_post(none, "127.0.0.1", port, msg, 5, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, 401);
        ck_assert_msg(strstr((char *)resp, "no auth header"), "%.*s", (int)rl, resp);
        free(resp);
        ck_assert_int_eq(mc_http_post(wrong, "127.0.0.1", port, msg, 5, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, 401);
        free(resp);
        /* replayed, truncated (length and body cut), for another port */
        const unsigned char *wire;
        unsigned char *owned;
        mc_auth_ticket t;
        char rcpt[32];
        snprintf(rcpt, sizeof rcpt, "127.0.0.1:%d", port);
        ck_assert_int_eq(mc_auth_seal_request(kc, rcpt, msg, 5, &t, &wire, &owned), MC_OK);
        ck_assert_int_eq(raw_post(port, t.header, wire, 5, 5), 200);
        ck_assert_int_eq(raw_post(port, t.header, wire, 5, 5), 401);
        free(owned);
        ck_assert_int_eq(mc_auth_seal_request(kc, rcpt, msg, 5, &t, &wire, &owned), MC_OK);
        ck_assert_int_eq(raw_post(port, t.header, wire, 4, 4), 401);
        free(owned);
        snprintf(rcpt, sizeof rcpt, "127.0.0.1:%d", port + 1);
        ck_assert_int_eq(mc_auth_seal_request(kc, rcpt, msg, 5, &t, &wire, &owned), MC_OK);
        ck_assert_int_eq(raw_post(port, t.header, wire, 5, 5), 401);
        free(owned);
        /* still serving */
        ck_assert_int_eq(mc_http_post(good, "127.0.0.1", port, msg, 5, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, 200);
        free(resp);
        mc_http_stats st;
        mc_http_server_stats(srv, &st);
        ck_assert_int_eq(e.calls, 3); /* the two keyed posts and the raw one that passed */
        ck_assert_int_eq(st.refused[MC_AUTH_MISSING], 1);
        ck_assert_int_eq(st.refused[MC_AUTH_BAD_KEY], 1);
        ck_assert_int_eq(st.refused[MC_AUTH_REPLAY], 1);
        ck_assert_int_eq(st.refused[MC_AUTH_BAD_BODY], 1);
        ck_assert_int_eq(st.refused[MC_AUTH_WRONG_PEER], 1);
        ck_assert_int_eq(st.refused_total, 5);
        /* a keyed client does not take an open server's (unsealed) answer */
        int port2 = mc_test_free_port();
        mc_http_server *open_srv;
        ck_assert_int_eq(mc_http_server_start("127.0.0.1", port2, 1 << 20, NULL, echo_body, &e, &open_srv), MC_OK);
        ck_assert_int_eq(mc_http_post(good, "127.0.0.1", port2, msg, 5, &code, &resp, &rl), MC_ERR_NETWORK);
        ck_assert_msg(strstr(mc_error_last(), "farm's key"), "%s", mc_error_last());
        mc_http_server_stop(open_srv);
        mc_http_client_free(good);
        mc_http_client_free(none);
        mc_http_client_free(wrong);
        mc_http_server_stop(srv);
        mc_auth_free(ks);
        mc_auth_free(kc);
        mc_auth_free(other);
    }
}
END_TEST

/* ---------------------------------------------------------------- exhaustion */

#define HOLD 1000

static int connect_half_sent(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    struct pollfd p = {s, POLLOUT, 0};
    if (poll(&p, 1, 5000) != 1 || write(s, "POST / HT", 9) != 9) { /* half a request line */
        close(s);
        return -1;
    }
    return s;
}

START_TEST(a_server_keeps_serving_while_one_host_holds_1000_half_sent_connections)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < HOLD + 200 && rl.rlim_max >= HOLD + 200) {
        rl.rlim_cur = HOLD + 200;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ck_assert_msg(rl.rlim_cur >= HOLD + 200, "needs %d file descriptors (ulimit -n is %ld)", HOLD + 200,
                  (long)rl.rlim_cur);
    for (int keyed = 0; keyed < 2; keyed++) {
        mc_auth *ks = NULL, *kc = NULL;
        if (keyed) {
            ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "server", 0, &ks), MC_OK);
            ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "client", 0, &kc), MC_OK);
        }
        int port = mc_test_free_port();
        echo e = {0};
        mc_http_server *srv;
        ck_assert_int_eq(mc_http_server_start("127.0.0.1", port, 1 << 20, ks, echo_body, &e, &srv), MC_OK);
        static int fds[HOLD];
        int held = 0;
        for (int i = 0; i < HOLD; i++)
            if ((fds[i] = connect_half_sent(port)) >= 0) held++;
        ck_assert_int_eq(held, HOLD);
        mc_http_client *c;
        ck_assert_int_eq(mc_http_client_new(&c), MC_OK);
        mc_http_client_set_auth(c, kc);
        const unsigned char msg[] = "frame";
        for (int i = 0; i < 20; i++) {
            long code;
            unsigned char *resp;
            size_t len;
            /* a new connection each time (a new client), and the same one */
            mc_http_client *fresh;
            ck_assert_int_eq(mc_http_client_new(&fresh), MC_OK);
            mc_http_client_set_auth(fresh, kc);
            ck_assert_msg(mc_http_post(fresh, "127.0.0.1", port, msg, 5, &code, &resp, &len) == MC_OK, "post %d: %s", i,
                          mc_error_last());
            ck_assert_int_eq(code, 200);
            free(resp);
            mc_http_client_free(fresh);
            ck_assert_msg(mc_http_post(c, "127.0.0.1", port, msg, 5, &code, &resp, &len) == MC_OK, "post %d: %s", i,
                          mc_error_last());
            ck_assert_int_eq(code, 200);
            free(resp);
        }
        mc_http_stats st;
        /* the server takes connections as fast as it can; wait until it has
         * seen them all (it closes all but the newest unknown ones) */
        for (int i = 0; i < 200; i++) {
            mc_http_server_stats(srv, &st);
            if (st.evicted >= HOLD - MC_GUARD_UNKNOWN_PER_HOST) break;
            usleep(50000);
        }
        ck_assert_int_eq(e.calls, 40);
        ck_assert_int_ge(st.evicted, HOLD - MC_GUARD_UNKNOWN_PER_HOST);
        ck_assert_int_le(st.open, MC_GUARD_UNKNOWN_PER_HOST + 22);
        mc_http_client_free(c);
        for (int i = 0; i < HOLD; i++)
            if (fds[i] >= 0) close(fds[i]);
        mc_http_server_stop(srv);
        mc_auth_free(ks);
        mc_auth_free(kc);
    }
}
END_TEST

/* Connections the server does not know that send large bodies slowly fill
 * their shared budget (an open server) or have their bodies thrown away
 * (a keyed one: their headers do not verify); either way the farm's
 * requests get through, while another unknown upload is answered busy (open)
 * or refused (keyed) at once. */
START_TEST(unknown_uploads_never_block_the_farms_requests)
{
    static unsigned char chunk[1000000], big[500000];
    for (int keyed = 0; keyed < 2; keyed++) {
        mc_auth *ks = NULL, *kc = NULL;
        if (keyed) {
            ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "server", 0, &ks), MC_OK);
            ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "client", 0, &kc), MC_OK);
        }
        int port = mc_test_free_port();
        echo e = {0};
        mc_http_server *srv;
        const size_t max_body = 1 << 20; /* unknown budget: 2 x 1 MiB + 1 MiB */
        ck_assert_int_eq(mc_http_server_start("127.0.0.1", port, max_body, ks, echo_body, &e, &srv), MC_OK);
        mc_http_server_set_quiet(srv, 1);
        long code;
        unsigned char *resp;
        size_t rl;
        mc_http_client *farm, *stranger;
        ck_assert_int_eq(mc_http_client_new(&farm), MC_OK);
        ck_assert_int_eq(mc_http_client_new(&stranger), MC_OK);
        mc_http_client_set_auth(farm, kc);
        if (!keyed) { /* an open farm's peer is known once it was answered */
            ck_assert_int_eq(mc_http_post(farm, "127.0.0.1", port, big, 10, &code, &resp, &rl), MC_OK);
            ck_assert_int_eq(code, 200);
            free(resp);
        }
        int hog[3];
        for (int i = 0; i < 3; i++) { /* each announces 1 MiB and sends 1,000,000 bytes of it */
            hog[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            ck_assert_int_eq(connect(hog[i], (struct sockaddr *)&a, sizeof a), 0);
            char head[200];
            snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", max_body);
            ck_assert(write(hog[i], head, strlen(head)) == (ssize_t)strlen(head));
            for (size_t off = 0; off < sizeof chunk;) {
                ssize_t w = write(hog[i], chunk + off, sizeof chunk - off);
                ck_assert(w > 0);
                off += (size_t)w;
            }
        }
        usleep(300000); /* the server reads what they sent */
        ck_assert_int_eq(mc_http_post(farm, "127.0.0.1", port, big, sizeof big, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, 200);
        ck_assert_uint_eq(rl, sizeof big);
        free(resp);
        ck_assert_int_eq(mc_http_post(stranger, "127.0.0.1", port, big, sizeof big, &code, &resp, &rl), MC_OK);
        ck_assert_int_eq(code, keyed ? 401 : 503);
        free(resp);
        mc_http_stats st;
        mc_http_server_stats(srv, &st);
        ck_assert_int_eq(st.busy, keyed ? 0 : 1);
        ck_assert_int_eq(e.calls, keyed ? 1 : 2);
        for (int i = 0; i < 3; i++) close(hog[i]);
        mc_http_client_free(farm);
        mc_http_client_free(stranger);
        mc_http_server_stop(srv);
        mc_auth_free(ks);
        mc_auth_free(kc);
    }
}
END_TEST

/* A peer of the farm (a known connection) that sends part of a request and
 * closes at once: libmicrohttpd does not see that end of stream (it came
 * with the bytes) and would keep the connection for its 120 s idle timeout;
 * the server's sweeper closes it.  The 5 s wait only bounds a hang. */
START_TEST(a_known_connection_whose_peer_closed_in_the_middle_of_a_request_is_closed)
{
    int port = mc_test_free_port();
    echo e = {0};
    mc_http_server *srv;
    ck_assert_int_eq(mc_http_server_start("127.0.0.1", port, 1 << 20, NULL, echo_body, &e, &srv), MC_OK);
    static const char *const partial[] = {"POST / HT", "POST / HTTP/1.1\r\nHost: x\r\n",
                                          "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab"};
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
        const char *req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        ck_assert(write(s, req, strlen(req)) == (ssize_t)strlen(req));
        char buf[512];
        struct pollfd p = {s, POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        ck_assert(read(s, buf, sizeof buf) > 0); /* answered 200: the connection is known */
        ck_assert(send(s, partial[i], strlen(partial[i]), 0) == (ssize_t)strlen(partial[i]));
        shutdown(s, SHUT_WR);
        ck_assert_msg(poll(&p, 1, 5000) == 1 && read(s, buf, sizeof buf) == 0,
                      "case %zu: the server kept the connection of a peer that closed", i);
        close(s);
    }
    mc_http_server_stop(srv);
}
END_TEST

/* IPv6: a keyed server on [::1] takes sealed requests a client addresses to
 * "::1" (the recipient they name is "[::1]:port"), refuses one sealed for
 * 127.0.0.1 on the same port, and logs the peer's IPv6 address. */
START_TEST(a_keyed_server_on_ipv6_loopback_takes_requests_sealed_for_it)
{
    mc_auth *ks, *kc;
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "server", 0, &ks), MC_OK);
    ck_assert_int_eq(mc_auth_new(key1, strlen(key1), "client", 0, &kc), MC_OK);
    echo e = {0};
    mc_http_server *srv;
    ck_assert_msg(mc_http_server_start("::1", 0, 1 << 20, ks, echo_body, &e, &srv) == MC_OK, "%s", mc_error_last());
    mc_http_server_set_quiet(srv, 1);
    int port = mc_http_server_port(srv);
    ck_assert_int_gt(port, 0);
    mc_http_client *cl;
    ck_assert_int_eq(mc_http_client_new(&cl), MC_OK);
    mc_http_client_set_auth(cl, kc);
    long code;
    unsigned char *resp;
    size_t rl;
    ck_assert_msg(mc_http_post(cl, "::1", port, (const unsigned char *)"frame", 5, &code, &resp, &rl) == MC_OK, "%s",
                  mc_error_last());
    ck_assert_int_eq(code, 200);
    ck_assert(rl == 5 && !memcmp(resp, "frame", 5));
    free(resp);
    /* sealed for 127.0.0.1:port, sent to [::1]:port: not for this server */
    const unsigned char *wire;
    unsigned char *owned;
    mc_auth_ticket t;
    char rcpt[48];
    snprintf(rcpt, sizeof rcpt, "127.0.0.1:%d", port);
    ck_assert_int_eq(mc_auth_seal_request(kc, rcpt, (const unsigned char *)"frame", 5, &t, &wire, &owned), MC_OK);
    char head[1024];
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 5\r\n" MC_AUTH_HEADER ": %s\r\n\r\n",
             t.header);
    ck_assert_int_eq(raw_exchange_at(AF_INET6, port, head, wire, 5), 401);
    free(owned);
    mc_http_stats st;
    mc_http_server_stats(srv, &st);
    ck_assert_int_eq(st.refused[MC_AUTH_WRONG_PEER], 1);
    ck_assert_int_eq(e.calls, 1);
    mc_http_client_free(cl);
    mc_http_server_stop(srv);
    mc_auth_free(kc);
    mc_auth_free(ks);
}
END_TEST

static int have_ipv6_loopback(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    return ok;
}

/* Without arguments: everything but IPv6.  --ipv6 (ctest check_auth_ipv6):
 * the IPv6 case alone, exit 77 (skipped) where this machine has no ::1. */
int main(int argc, char **argv)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 120);
    if (argc > 1 && !strcmp(argv[1], "--ipv6")) {
        if (!have_ipv6_loopback()) {
            printf("skipped: no IPv6 loopback (::1) on this machine\n");
            return 77;
        }
        tcase_add_test(tc, a_keyed_server_on_ipv6_loopback_takes_requests_sealed_for_it);
        suite_add_tcase(s, tc);
        return mc_test_run(s);
    }
    tcase_add_test(tc, a_key_file_others_may_read_is_refused_and_an_owner_only_one_is_taken);
    tcase_add_test(tc, every_forgery_is_refused_for_its_reason_in_both_modes);
    tcase_add_test(tc, an_encrypting_receiver_refuses_clear_bodies);
    tcase_add_test(tc, counters_may_arrive_out_of_order_but_never_twice_and_old_ones_stay_refused);
    tcase_add_test(tc, an_answer_verifies_only_for_its_own_request);
    tcase_add_test(tc, a_keyed_server_refuses_and_counts_forgeries_and_keeps_serving_its_farm);
    tcase_add_test(tc, a_server_keeps_serving_while_one_host_holds_1000_half_sent_connections);
    tcase_add_test(tc, a_known_connection_whose_peer_closed_in_the_middle_of_a_request_is_closed);
    tcase_add_test(tc, unknown_uploads_never_block_the_farms_requests);
    suite_add_tcase(s, tc);
    return mc_test_run(s);
}
