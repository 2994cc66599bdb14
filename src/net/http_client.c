/* http_client.c - the libcurl client, sealing requests with the farm key
 * when there is one (see http.h, auth.h). */
#include "http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "ipaddr.h"

#define CLIENT_PEERS 64

typedef struct peer {
    char host[64];
    int port;
    char rcpt[MC_AUTH_ID_MAX]; /* "a.b.c.d:port": who a sealed request is for */
    CURL *h;
} peer;

struct mc_http_client {
    peer peers[CLIENT_PEERS];
    int n, next;
    struct curl_slist *hdr;
    mc_flag *abort; /* set: a transfer in progress gives up */
    long timeout_ms;              /* whole exchange (0: the defaults below) */
    mc_auth *auth;
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

void mc_http_client_set_abort(mc_http_client *c, mc_flag *flag) { c->abort = flag; }

void mc_http_client_set_timeout(mc_http_client *c, long ms) { c->timeout_ms = ms; }

void mc_http_client_set_auth(mc_http_client *c, mc_auth *auth) { c->auth = auth; }

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
    char auth[MC_AUTH_HEADER_MAX]; /* the answer's X-Mchair-Auth, "" if none */
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

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    const size_t kl = sizeof MC_AUTH_HEADER - 1;
    if (n > kl + 1 && !strncasecmp(p, MC_AUTH_HEADER, kl) && p[kl] == ':') {
        size_t i = kl + 1, e = n;
        while (i < e && (p[i] == ' ' || p[i] == '\t')) i++;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ')) e--;
        snprintf(s->auth, sizeof s->auth, "%.*s", (int)(e - i), p + i);
    } else if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
        s->auth[0] = '\0'; /* a new response (after a 100 Continue, say) */
    }
    return n;
}

/* The address a name resolves to, as "a.b.c.d:port" or "[v6]:port" (the
 * recipient a sealed request names; the server compares it with its own). */
static void resolve_rcpt(const char *host, int port, char *out, size_t n)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    mc_ip ip;
    if (!getaddrinfo(host, NULL, &hints, &ai) && ai && mc_ip_from_sockaddr(ai->ai_addr, &ip))
        mc_ip_hostport(&ip, port, out, n);
    else
        snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    if (ai) freeaddrinfo(ai);
}

static peer *peer_handle(mc_http_client *c, const char *host, int port)
{
    for (int i = 0; i < c->n; i++)
        if (c->peers[i].port == port && !strcmp(c->peers[i].host, host)) return &c->peers[i];
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
    p->rcpt[0] = '\0';
    p->h = curl_easy_init();
    if (!p->h) return NULL;
    char url[128];
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d/" : "http://%s:%d/", host, port); /* IPv6: [] */
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
    curl_easy_setopt(p->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(p->h, CURLOPT_PROXY, "");
    return p;
}

mc_status mc_http_post(mc_http_client *c, const char *host, int port, const unsigned char *body, size_t len,
                       long *code, unsigned char **resp, size_t *resp_len)
{
    *resp = NULL;
    *resp_len = 0;
    peer *p = peer_handle(c, host, port);
    if (!p) return mc_error_set(MC_ERR_NOMEM, "%s:%d: cannot create an HTTP handle", host, port);
    CURL *h = p->h;
    mc_auth_ticket t;
    const unsigned char *wire = body;
    unsigned char *sealed = NULL;
    struct curl_slist *hdr = NULL;
    if (c->auth) {
        if (!p->rcpt[0]) resolve_rcpt(host, port, p->rcpt, sizeof p->rcpt);
        char line[MC_AUTH_HEADER_MAX + 32];
        mc_status st = mc_auth_seal_request(c->auth, p->rcpt, body, len, &t, &wire, &sealed);
        if (st) return st;
        snprintf(line, sizeof line, "%s: %s", MC_AUTH_HEADER, t.header);
        hdr = curl_slist_append(NULL, "Content-Type: avro/binary");
        hdr = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
        struct curl_slist *full = hdr ? curl_slist_append(hdr, line) : NULL;
        if (!full) {
            curl_slist_free_all(hdr);
            free(sealed);
            return mc_error_set(MC_ERR_NOMEM, "%s:%d: out of memory", host, port);
        }
        hdr = full;
    }
    sink s = {0};
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr ? hdr : c->hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)wire);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdr);
    curl_slist_free_all(hdr);
    free(sealed);
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
    /* With a key, an answer must come from a key holder: a 200 always,
     * an error answer when it is sealed (a refusal, 401, cannot be). */
    if (c->auth && (*code == 200 || s.auth[0])) {
        mc_status st = mc_auth_open_response(c->auth, &t, *code, s.auth[0] ? s.auth : NULL, s.buf, s.len);
        if (st) {
            char m[300];
            snprintf(m, sizeof m, "%s", mc_error_last());
            free(s.buf);
            return mc_error_set(MC_ERR_NETWORK, "%s:%d: %s", host, port, m);
        }
    }
    *resp = s.buf;
    *resp_len = s.len;
    return MC_OK;
}
