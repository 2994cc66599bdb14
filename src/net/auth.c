/* auth.c - the farm key: HMAC-SHA256 and AES-256-GCM seals, counters and
 * the replay table (see auth.h; the choice is argued in docs/security.md).
 *
 * All cryptography is OpenSSL's (EVP_MAC for HMAC, EVP_CIPHER for GCM,
 * RAND_bytes for nonces, CRYPTO_memcmp for comparisons).  The key file's
 * bytes are never used directly: a mac key, an encryption key and the
 * fingerprint are HMACs of fixed labels under it.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

typedef struct sender_state {
    char id[MC_AUTH_ID_MAX];
    uint64_t low;                 /* counters at or below it are refused */
    uint64_t seen[MC_AUTH_SEEN];  /* counters accepted above low */
    int n;
    uint64_t used;                /* for least-recently-used eviction */
} sender_state;

struct mc_auth {
    unsigned char mac_key[32], enc_key[32];
    char fingerprint[17];
    char sender[MC_AUTH_ID_MAX];
    int encrypt;
    EVP_MAC *mac;
    const EVP_CIPHER *gcm;
    _Atomic uint64_t last_counter; /* ours, as a sender */
    pthread_mutex_t lock;          /* the replay table */
    uint64_t start;                /* counters before this are refused (we started then) */
    uint64_t floor;                /* and at or below this from senders we do not know (forgotten ones' highest) */
    uint64_t tick;
    sender_state *senders[MC_AUTH_SENDERS];
};

static const char *const refusal_names[MC_AUTH_REFUSAL_COUNT] = {
    [MC_AUTH_OK] = "ok",
    [MC_AUTH_MISSING] = "no auth header",
    [MC_AUTH_MALFORMED] = "malformed auth header",
    [MC_AUTH_BAD_KEY] = "header MAC does not verify (another key?)",
    [MC_AUTH_WRONG_PEER] = "meant for another address",
    [MC_AUTH_STALE] = "outside the time window",
    [MC_AUTH_REPLAY] = "replayed",
    [MC_AUTH_BAD_BODY] = "body does not match its seal (truncated or altered)",
    [MC_AUTH_PLAIN] = "clear body, encryption required",
};
_Static_assert(sizeof refusal_names / sizeof refusal_names[0] == MC_AUTH_REFUSAL_COUNT, "a name per refusal");

const char *mc_auth_refusal_name(mc_auth_refusal r)
{
    return r >= 0 && r < MC_AUTH_REFUSAL_COUNT ? refusal_names[r] : "?";
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* HMAC-SHA256 of up to three pieces. */
static int hmac3(EVP_MAC *mac, const unsigned char *key, size_t klen, const void *p1, size_t n1, const void *p2,
                 size_t n2, const void *p3, size_t n3, unsigned char out[32])
{
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t ol = 0;
    int ok = c && EVP_MAC_init(c, key, klen, params) && EVP_MAC_update(c, p1, n1) &&
             (!n2 || EVP_MAC_update(c, p2, n2)) && (!n3 || EVP_MAC_update(c, p3, n3)) &&
             EVP_MAC_final(c, out, &ol, 32) && ol == 32;
    EVP_MAC_CTX_free(c);
    return ok ? 0 : -1;
}

static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MC_AUTH_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:@/#-[]", c))) /* [] for IPv6 hosts */
            return 0;
    }
    return 1;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return s[2 * n] == '\0' ? 0 : -1;
}

mc_status mc_auth_new(const void *key, size_t len, const char *sender, int encrypt, mc_auth **out)
{
    if (len < MC_AUTH_KEY_MIN)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm key: %zu bytes, at least %d needed", len, MC_AUTH_KEY_MIN);
    if (!id_ok(sender) || strlen(sender) + 10 >= MC_AUTH_ID_MAX)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm key: sender name '%.100s' has characters outside [A-Za-z0-9._:@/#-] "
                                                "or is too long", sender);
    mc_auth *a = calloc(1, sizeof *a);
    if (!a) return mc_error_set(MC_ERR_NOMEM, "farm key: out of memory");
    pthread_mutex_init(&a->lock, NULL);
    a->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    a->gcm = EVP_aes_256_gcm();
    unsigned char fp[32], rnd[4];
    if (!a->mac || !a->gcm || RAND_bytes(rnd, sizeof rnd) != 1 ||
        hmac3(a->mac, key, len, "mchair mac key v1", 17, NULL, 0, NULL, 0, a->mac_key) ||
        hmac3(a->mac, key, len, "mchair enc key v1", 17, NULL, 0, NULL, 0, a->enc_key) ||
        hmac3(a->mac, key, len, "mchair fingerprint v1", 21, NULL, 0, NULL, 0, fp)) {
        mc_auth_free(a);
        return mc_error_set(MC_ERR_BACKEND, "farm key: OpenSSL has no HMAC-SHA256 or AES-256-GCM");
    }
    hex(fp, 8, a->fingerprint);
    char r[9];
    hex(rnd, 4, r);
    snprintf(a->sender, sizeof a->sender, "%s#%s", sender, r);
    a->encrypt = encrypt;
    a->start = now_us();
    *out = a;
    return MC_OK;
}

mc_status mc_auth_load(const char *path, const char *sender, int encrypt, mc_auth **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return mc_error_set(MC_ERR_IO, "%s: cannot open the key file: %s", path, strerror(errno));
    struct stat st;
    unsigned char buf[4096];
    ssize_t n = -1;
    mc_status s = MC_OK;
    if (fstat(fd, &st)) {
        s = mc_error_set(MC_ERR_IO, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        s = mc_error_set(MC_ERR_INVALID_ARG, "%s: the key file is not a regular file", path);
    } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        s = mc_error_set(MC_ERR_INVALID_ARG,
                         "%s: the key file may be read or written by others (mode %04o); it must be its owner's "
                         "only: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
    } else if ((n = read(fd, buf, sizeof buf)) < 0) {
        s = mc_error_set(MC_ERR_IO, "%s: %s", path, strerror(errno));
    }
    close(fd);
    if (!s) {
        size_t len = (size_t)n;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
            len--;
        if (len < MC_AUTH_KEY_MIN)
            s = mc_error_set(MC_ERR_INVALID_ARG,
                             "%s: the key is %zu bytes, at least %d are needed (make one: head -c 32 /dev/urandom | "
                             "base64 > FILE; chmod 600 FILE)", path, len, MC_AUTH_KEY_MIN);
        else
            s = mc_auth_new(buf, len, sender, encrypt, out);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return s;
}

void mc_auth_free(mc_auth *a)
{
    if (!a) return;
    for (int i = 0; i < MC_AUTH_SENDERS; i++) free(a->senders[i]);
    EVP_MAC_free(a->mac);
    pthread_mutex_destroy(&a->lock);
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

const char *mc_auth_fingerprint(const mc_auth *a) { return a->fingerprint; }
const char *mc_auth_sender(const mc_auth *a) { return a->sender; }
int mc_auth_encrypts(const mc_auth *a) { return a->encrypt; }

/* ---- seals ---- */

static int header_mac(mc_auth *a, char mode, const char *sender, const char *recipient, uint64_t ctr, size_t len,
                      unsigned char out[32])
{
    char t[3 * MC_AUTH_ID_MAX];
    int n = snprintf(t, sizeof t, "mchair-auth-v1\nq\n%c\n%s\n%s\n%" PRIu64 "\n%zu", mode, sender, recipient, ctr, len);
    return n > 0 && (size_t)n < sizeof t ? hmac3(a->mac, a->mac_key, 32, t, (size_t)n, NULL, 0, NULL, 0, out) : -1;
}

static int answer_mac(mc_auth *a, char mode, const unsigned char req[32], long code, size_t len, unsigned char out[32])
{
    char t[160], h[65];
    hex(req, 32, h);
    int n = snprintf(t, sizeof t, "mchair-auth-v1\nr\n%c\n%s\n%ld\n%zu", mode, h, code, len);
    return n > 0 && (size_t)n < sizeof t ? hmac3(a->mac, a->mac_key, 32, t, (size_t)n, NULL, 0, NULL, 0, out) : -1;
}

/* Mode m: seal = HMAC(mac key, hmac || body).  Mode e: seal = nonce || tag,
 * body encrypted from `in` into `out` (may be the same buffer). */
static int seal_body(mc_auth *a, char mode, const unsigned char hmac[32], const unsigned char *in, unsigned char *out,
                     size_t len, unsigned char seal[32])
{
    if (mode == 'm') return hmac3(a->mac, a->mac_key, 32, hmac, 32, in, len, NULL, 0, seal);
    if (RAND_bytes(seal, 12) != 1) return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok = c && EVP_EncryptInit_ex(c, a->gcm, NULL, a->enc_key, seal) &&
                    EVP_EncryptUpdate(c, NULL, &l, hmac, 32);
    for (size_t done = 0; ok && done < len;) { /* EVP takes int lengths */
        int step = len - done > (1u << 30) ? 1 << 30 : (int)(len - done);
        ok = EVP_EncryptUpdate(c, out + done, &l, in + done, step);
        done += (size_t)step;
    }
    unsigned char fin[16]; /* GCM writes nothing here */
    ok = ok && EVP_EncryptFinal_ex(c, fin, &l) && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, seal + 12);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* Verifies a seal; mode e decrypts in place.  0 when it verifies. */
static int open_body(mc_auth *a, char mode, const unsigned char hmac[32], const unsigned char seal[32],
                     unsigned char *body, size_t len)
{
    if (mode == 'm') {
        unsigned char want[32];
        return hmac3(a->mac, a->mac_key, 32, hmac, 32, body, len, NULL, 0, want) || CRYPTO_memcmp(want, seal, 32) ? -1
                                                                                                                  : 0;
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok = c && EVP_DecryptInit_ex(c, a->gcm, NULL, a->enc_key, seal) &&
                    EVP_DecryptUpdate(c, NULL, &l, hmac, 32);
    for (size_t done = 0; ok && done < len;) {
        int step = len - done > (1u << 30) ? 1 << 30 : (int)(len - done);
        ok = EVP_DecryptUpdate(c, body + done, &l, body + done, step);
        done += (size_t)step;
    }
    unsigned char fin[16]; /* GCM writes nothing here */
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(seal + 12)) &&
         EVP_DecryptFinal_ex(c, fin, &l) > 0;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

static size_t seal_hex_len(char mode) { return mode == 'm' ? 32 : 28; }

/* ---- sender ---- */

static uint64_t next_counter(mc_auth *a)
{
    uint64_t last = atomic_load(&a->last_counter), next;
    do {
        uint64_t now = now_us();
        next = now > last ? now : last + 1;
    } while (!atomic_compare_exchange_weak(&a->last_counter, &last, next));
    return next;
}

mc_status mc_auth_seal_request(mc_auth *a, const char *recipient, const unsigned char *body, size_t len,
                               mc_auth_ticket *t, const unsigned char **wire, unsigned char **owned)
{
    *owned = NULL;
    *wire = body;
    if (!id_ok(recipient)) return mc_error_set(MC_ERR_INVALID_ARG, "farm key: bad recipient '%.100s'", recipient);
    const char mode = a->encrypt ? 'e' : 'm';
    const uint64_t ctr = next_counter(a);
    unsigned char seal[32];
    if (mode == 'e' && !(*owned = malloc(len + 16)))
        return mc_error_set(MC_ERR_NOMEM, "farm key: out of memory encrypting %zu bytes", len);
    if (header_mac(a, mode, a->sender, recipient, ctr, len, t->hmac) ||
        seal_body(a, mode, t->hmac, body, *owned, len, seal)) {
        free(*owned);
        *owned = NULL;
        return mc_error_set(MC_ERR_BACKEND, "farm key: sealing a %zu-byte request failed", len);
    }
    char hm[65], sh[65];
    hex(t->hmac, 32, hm);
    hex(seal, seal_hex_len(mode), sh);
    snprintf(t->header, sizeof t->header, "v1 %c %s %s %" PRIu64 " %zu %s %s", mode, a->sender, recipient, ctr, len,
             hm, sh);
    t->mode = mode;
    if (*owned) *wire = *owned;
    return MC_OK;
}

mc_status mc_auth_open_response(mc_auth *a, const mc_auth_ticket *t, long code, const char *header,
                                unsigned char *body, size_t len)
{
    char mode = 0, hm[80], sh[80];
    size_t hlen = 0;
    int k = 0;
    unsigned char got[32], want[32], seal[32];
    if (!header)
        return mc_error_set(MC_ERR_NETWORK, "the answer carries no %s header (does the peer have the farm's key?)",
                            MC_AUTH_HEADER);
    if (strlen(header) >= MC_AUTH_HEADER_MAX ||
        sscanf(header, "v1 %c r %zu %70s %70s%n", &mode, &hlen, hm, sh, &k) != 4 || header[k] || mode != t->mode ||
        hlen != len || unhex(hm, 32, got) || unhex(sh, seal_hex_len(mode), seal))
        return mc_error_set(MC_ERR_NETWORK, "the answer's %s header is malformed or not for this request", MC_AUTH_HEADER);
    if (answer_mac(a, mode, t->hmac, code, len, want) || CRYPTO_memcmp(want, got, 32) ||
        open_body(a, mode, got, seal, body, len))
        return mc_error_set(MC_ERR_NETWORK, "the answer does not verify with the farm's key (another key, or altered)");
    return MC_OK;
}

/* ---- receiver ---- */

/* The table entry of a sender, or NULL. Under a->lock. */
static sender_state *find_sender(mc_auth *a, const char *id)
{
    for (int i = 0; i < MC_AUTH_SENDERS; i++)
        if (a->senders[i] && !strcmp(a->senders[i]->id, id)) return a->senders[i];
    return NULL;
}

/* A counter from a sender we do not know: from before we started, or at or
 * below what a forgotten sender sent.  Under a->lock. */
static int too_old(const mc_auth *a, uint64_t ctr) { return ctr < a->start || ctr <= a->floor; }

static int seen(const sender_state *s, uint64_t ctr)
{
    if (ctr <= s->low) return 1;
    for (int i = 0; i < s->n; i++)
        if (s->seen[i] == ctr) return 1;
    return 0;
}

mc_auth_refusal mc_auth_check_header(mc_auth *a, const char *header, mc_auth_check *c)
{
    memset(c, 0, sizeof *c);
    if (!header) return MC_AUTH_MISSING;
    char hm[80], sh[80];
    int k = 0;
    if (strlen(header) >= MC_AUTH_HEADER_MAX ||
        sscanf(header, "v1 %c %95s %95s %" SCNu64 " %zu %70s %70s%n", &c->mode, c->sender, c->recipient, &c->counter,
               &c->len, hm, sh, &k) != 7 ||
        header[k] || (c->mode != 'm' && c->mode != 'e') || !id_ok(c->sender) || !id_ok(c->recipient) ||
        unhex(hm, 32, c->hmac) || unhex(sh, seal_hex_len(c->mode), c->seal))
        return MC_AUTH_MALFORMED;
    unsigned char want[32];
    if (header_mac(a, c->mode, c->sender, c->recipient, c->counter, c->len, want) || CRYPTO_memcmp(want, c->hmac, 32))
        return MC_AUTH_BAD_KEY;
    if (a->encrypt && c->mode != 'e') return MC_AUTH_PLAIN;
    const double skew = ((double)c->counter - (double)now_us()) * 1e-6;
    if (skew > MC_AUTH_WINDOW_S || skew < -MC_AUTH_WINDOW_S) return MC_AUTH_STALE;
    pthread_mutex_lock(&a->lock);
    const sender_state *s = find_sender(a, c->sender);
    mc_auth_refusal r = !s && too_old(a, c->counter) ? MC_AUTH_STALE : s && seen(s, c->counter) ? MC_AUTH_REPLAY : MC_AUTH_OK;
    pthread_mutex_unlock(&a->lock);
    return r;
}

/* Records an accepted counter: MC_AUTH_REPLAY when it was there already. */
static mc_auth_refusal record(mc_auth *a, const mc_auth_check *c)
{
    mc_auth_refusal r = MC_AUTH_OK;
    pthread_mutex_lock(&a->lock);
    sender_state *s = find_sender(a, c->sender);
    if (!s) {
        if (too_old(a, c->counter)) {
            r = MC_AUTH_STALE;
            goto out;
        }
        int slot = -1;
        uint64_t oldest = UINT64_MAX;
        for (int i = 0; i < MC_AUTH_SENDERS && slot < 0; i++)
            if (!a->senders[i]) slot = i;
        if (slot < 0) { /* forget the least recently used sender, but not what it sent */
            for (int i = 0; i < MC_AUTH_SENDERS; i++)
                if (a->senders[i]->used < oldest) {
                    oldest = a->senders[i]->used;
                    slot = i;
                }
            sender_state *e = a->senders[slot];
            for (int i = 0; i < e->n; i++)
                if (e->seen[i] > a->floor) a->floor = e->seen[i];
            memset(e, 0, sizeof *e);
        } else if (!(a->senders[slot] = calloc(1, sizeof *s))) {
            r = MC_AUTH_STALE; /* out of memory: refuse rather than forget */
            goto out;
        }
        s = a->senders[slot];
        snprintf(s->id, sizeof s->id, "%s", c->sender);
        s->low = a->floor > a->start - 1 ? a->floor : a->start - 1;
    }
    if (seen(s, c->counter)) {
        r = MC_AUTH_REPLAY;
        goto out;
    }
    if (s->n == MC_AUTH_SEEN) { /* forget the smallest: from now on it is the floor */
        int m = 0;
        for (int i = 1; i < s->n; i++)
            if (s->seen[i] < s->seen[m]) m = i;
        s->low = s->seen[m];
        s->seen[m] = s->seen[--s->n];
    }
    s->seen[s->n++] = c->counter;
    s->used = ++a->tick;
out:
    pthread_mutex_unlock(&a->lock);
    return r;
}

mc_auth_refusal mc_auth_open_request(mc_auth *a, const mc_auth_check *c, unsigned char *body, size_t len)
{
    if (len != c->len || open_body(a, c->mode, c->hmac, c->seal, body, len)) return MC_AUTH_BAD_BODY;
    return record(a, c);
}

mc_status mc_auth_seal_response(mc_auth *a, const mc_auth_check *c, int code, unsigned char *body, size_t len,
                                char header[MC_AUTH_HEADER_MAX])
{
    unsigned char hm[32], seal[32];
    if (answer_mac(a, c->mode, c->hmac, code, len, hm) || seal_body(a, c->mode, hm, body, body, len, seal))
        return mc_error_set(MC_ERR_BACKEND, "farm key: sealing a %zu-byte answer failed", len);
    char h[65], s[65];
    hex(hm, 32, h);
    hex(seal, seal_hex_len(c->mode), s);
    snprintf(header, MC_AUTH_HEADER_MAX, "v1 %c r %zu %s %s", c->mode, len, h, s);
    return MC_OK;
}
