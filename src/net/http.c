/* http.c - libmicrohttpd server and libcurl client (see http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <microhttpd.h>

struct mc_http_server {
    struct MHD_Daemon *d;
    _Atomic size_t max_body; /* a node that switches task takes bodies of another size */
    mc_http_handler h;
    void *ctx;
};

typedef struct conn_req {
    unsigned char *buf;
    size_t len, cap, expect; /* expect: Content-Length (0 if none) */
    int too_big;
} conn_req;

static enum MHD_Result reply(struct MHD_Connection *c, int code, unsigned char *body, size_t len, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? (void *)body : (void *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, int code, const char *text)
{
    size_t n = strlen(text);
    unsigned char *b = malloc(n + 1);
    if (b) memcpy(b, text, n + 1);
    return reply(c, code, b, b ? n : 0, "text/plain");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    mc_http_server *s = cls;
    conn_req *r = *con_cls;
    const size_t max_body = s->max_body;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        if (strcmp(method, "POST")) return reply_text(c, 405, "only POST (Avro IPC over HTTP)\n");
        /* A body over the limit is read and thrown away, then answered 413:
         * answering before the body is read would make MHD close the socket
         * with unread data, which resets it and loses the answer. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            unsigned long long v = strtoull(cl, NULL, 10);
            if (v > max_body) r->too_big = 1;
            else r->expect = (size_t)v;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len > max_body || n > max_body - r->len) {
            free(r->buf);
            r->buf = NULL;
            r->len = r->cap = 0;
            r->too_big = 1;
            return MHD_YES;
        }
        if (r->len + n > r->cap) {
            /* exactly the announced length (no doubling slack), else grow */
            size_t cap = r->cap ? r->cap : r->expect ? r->expect : 65536;
            while (cap < r->len + n) cap *= 2;
            if (cap > max_body) cap = max_body;
            unsigned char *nb = realloc(r->buf, cap);
            if (!nb) return MHD_NO;
            r->buf = nb;
            r->cap = cap;
        }
        memcpy(r->buf + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->too_big) {
        char t[160];
        snprintf(t, sizeof t, "body exceeds the limit of %zu bytes\n", max_body);
        return reply_text(c, 413, t);
    }
    unsigned char *resp = NULL;
    size_t rl = 0;
    int code = s->h(s->ctx, r->buf ? r->buf : (const unsigned char *)"", r->len, &resp, &rl);
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
    return reply(c, code, resp, rl, code == 200 ? "avro/binary" : "text/plain");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    conn_req *r = *con_cls;
    if (r) {
        free(r->buf);
        free(r);
    }
    *con_cls = NULL;
}

mc_status mc_http_server_start(const char *host, int port, size_t max_body, mc_http_handler h, void *ctx,
                               mc_http_server **out)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
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
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL,
                            NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)MC_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                            (unsigned int)1, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        free(s);
        return mc_error_set(MC_ERR_NETWORK, "%s:%d: cannot listen (address in use or not local?)", host, port);
    }
    *out = s;
    return MC_OK;
}

void mc_http_server_set_max_body(mc_http_server *s, size_t max_body) { s->max_body = max_body; }

void mc_http_server_stop(mc_http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}

/* ---- client ---- */

#define CLIENT_PEERS 64

typedef struct peer {
    char host[64];
    int port;
    CURL *h;
} peer;

struct mc_http_client {
    peer peers[CLIENT_PEERS];
    int n, next;
    struct curl_slist *hdr;
    volatile sig_atomic_t *abort; /* set: a transfer in progress gives up */
    long timeout_ms;              /* whole exchange (0: the defaults below) */
};

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    const mc_http_client *c = ud;
    return c->abort && *c->abort ? 1 : 0;
}

void mc_http_client_set_abort(mc_http_client *c, volatile sig_atomic_t *flag) { c->abort = flag; }

void mc_http_client_set_timeout(mc_http_client *c, long ms) { c->timeout_ms = ms; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

mc_status mc_http_client_new(mc_http_client **out)
{
    pthread_once(&curl_once, curl_init_once);
    mc_http_client *c = calloc(1, sizeof *c);
    if (!c) return mc_error_set(MC_ERR_NOMEM, "http client: out of memory");
    c->hdr = curl_slist_append(NULL, "Content-Type: avro/binary");
    c->hdr = curl_slist_append(c->hdr, "Expect:");
    *out = c;
    return MC_OK;
}

void mc_http_client_free(mc_http_client *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) curl_easy_cleanup(c->peers[i].h);
    curl_slist_free_all(c->hdr);
    free(c);
}

typedef struct sink {
    unsigned char *buf;
    size_t len, cap;
    int overflow;
} sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->overflow || n > MC_HTTP_MAX_RESPONSE - s->len) {
        s->overflow = 1;
        return 0;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + n) cap *= 2;
        unsigned char *nb = realloc(s->buf, cap);
        if (!nb) return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return n;
}

static CURL *peer_handle(mc_http_client *c, const char *host, int port)
{
    for (int i = 0; i < c->n; i++)
        if (c->peers[i].port == port && !strcmp(c->peers[i].host, host)) return c->peers[i].h;
    peer *p;
    if (c->n < CLIENT_PEERS) {
        p = &c->peers[c->n++];
    } else { /* bounded: reuse the oldest slot */
        p = &c->peers[c->next];
        c->next = (c->next + 1) % CLIENT_PEERS;
        curl_easy_cleanup(p->h);
    }
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    p->h = curl_easy_init();
    if (!p->h) return NULL;
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d/", host, port);
    curl_easy_setopt(p->h, CURLOPT_URL, url);
    curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    /* A peer that stops answering (a frozen device: the kernel still takes
     * the connection) is given up after 10 s without a byte either way; a
     * slow but steady link may take as long as a big tensor needs (a node
     * answers within about a second of receiving the body). */
    curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_TIME, 10L);
    curl_easy_setopt(p->h, CURLOPT_TIMEOUT_MS, c->timeout_ms > 0 ? c->timeout_ms : 600000L);
    if (c->timeout_ms > 0 && c->timeout_ms < 2000) curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(p->h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(p->h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(p->h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(p->h, CURLOPT_PROXY, "");
    return p->h;
}

mc_status mc_http_post(mc_http_client *c, const char *host, int port, const unsigned char *body, size_t len,
                       long *code, unsigned char **resp, size_t *resp_len)
{
    *resp = NULL;
    *resp_len = 0;
    CURL *h = peer_handle(c, host, port);
    if (!h) return mc_error_set(MC_ERR_NOMEM, "%s:%d: cannot create an HTTP handle", host, port);
    sink s = {0};
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        free(s.buf);
        if (s.overflow)
            return mc_error_set(MC_ERR_NETWORK, "%s:%d: response larger than %u bytes", host, port,
                                MC_HTTP_MAX_RESPONSE);
        if (rc == CURLE_ABORTED_BY_CALLBACK)
            return mc_error_set(MC_ERR_ABORTED, "%s:%d: sending given up (a new table, or stopping)", host, port);
        return mc_error_set(MC_ERR_NETWORK, "%s:%d: %s", host, port, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    *resp = s.buf;
    *resp_len = s.len;
    return MC_OK;
}
