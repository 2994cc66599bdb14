/* auth.h - a farm's shared key: authenticated (and optionally encrypted)
 * HTTP requests and answers, with replay protection (docs/security.md).
 *
 * Every process of a keyed farm reads the same key file (--key-file, owner
 * only).  A request then carries one HTTP header, X-Mchair-Auth:
 *
 *     v1 MODE SENDER RECIPIENT COUNTER LENGTH HEADER-MAC BODY-SEAL
 *
 * MODE is m (the body travels in clear with an HMAC-SHA256) or e (the body
 * is encrypted with AES-256-GCM); SENDER names the sending process (role,
 * address and a random number drawn at start); RECIPIENT is the IPv4
 * address and port the request is meant for; COUNTER is the sender's clock
 * in microseconds, made strictly increasing; LENGTH is the body's length.
 * HEADER-MAC = HMAC-SHA256(mac key, all the fields before it), so a node
 * can refuse a request as soon as its headers arrive, before it stores or
 * decodes a byte of the body; BODY-SEAL is HMAC-SHA256(mac key, HEADER-MAC
 * || body) in mode m, or the GCM nonce and tag (additional data: HEADER-MAC)
 * in mode e.  The mac and encryption keys are derived from the key file's
 * bytes.  The answer carries the same header with SENDER "r", sealed over
 * the request's HEADER-MAC, the HTTP status and the answer's body, so a
 * sender knows the answer came from a key holder and belongs to its request.
 *
 * Replay: a receiver accepts a counter only once per sender and only while
 * it is within MC_AUTH_WINDOW_S of its own clock and after the receiver
 * started; it remembers the last MC_AUTH_SEEN counters of each of up to
 * MC_AUTH_SENDERS senders (requests of one sender may arrive out of order
 * from several threads).  Clocks of a farm's devices must agree within the
 * window (NTP).
 *
 * The Avro protocols above (image.avpr, control.avpr) are untouched: the
 * artifact's Python peers keep working with a farm that has no key.
 */
#ifndef MC_AUTH_H
#define MC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

#define MC_AUTH_HEADER "X-Mchair-Auth"
#define MC_AUTH_HEADER_MAX 400 /* the header's value, at most */
#define MC_AUTH_ID_MAX 96      /* SENDER and RECIPIENT, at most (bytes) */
#define MC_AUTH_WINDOW_S 30.0
#define MC_AUTH_SEEN 64
#define MC_AUTH_SENDERS 256
#define MC_AUTH_KEY_MIN 16     /* bytes of key material, at least */

/* Why a request was refused; MC_AUTH_OK when it was not. */
typedef enum mc_auth_refusal {
    MC_AUTH_OK = 0,
    MC_AUTH_MISSING,   /* no X-Mchair-Auth header */
    MC_AUTH_MALFORMED, /* a header that does not parse */
    MC_AUTH_BAD_KEY,   /* the header's MAC does not verify: another key, or forged */
    MC_AUTH_WRONG_PEER,/* meant for another address */
    MC_AUTH_STALE,     /* counter outside the window, or from before this process started */
    MC_AUTH_REPLAY,    /* counter already seen from this sender */
    MC_AUTH_BAD_BODY,  /* the body does not match its seal: truncated or altered */
    MC_AUTH_PLAIN,     /* a clear body where this process requires encryption */
    MC_AUTH_REFUSAL_COUNT
} mc_auth_refusal;

/* Short stable name ("no auth header", "replayed", ...). */
const char *mc_auth_refusal_name(mc_auth_refusal r);

typedef struct mc_auth mc_auth; /* thread-safe */

/* Reads the key file: a regular file that neither group nor others may
 * read or write (else refused: the message says chmod 600), holding at least
 * MC_AUTH_KEY_MIN bytes (trailing white space is not part of the key).
 * `sender` names this process in its requests (characters
 * [A-Za-z0-9._:@/#-] and [] around an IPv6 host; a random suffix is added).  `encrypt`: bodies this
 * process sends are encrypted, and clear ones it receives are refused. */
mc_status mc_auth_load(const char *path, const char *sender, int encrypt, mc_auth **out);
/* The same from key bytes (tests). */
mc_status mc_auth_new(const void *key, size_t len, const char *sender, int encrypt, mc_auth **out);
void mc_auth_free(mc_auth *a);
/* 16 hex digits that name the key (not secret), so farms can compare keys. */
const char *mc_auth_fingerprint(const mc_auth *a);
const char *mc_auth_sender(const mc_auth *a);
int mc_auth_encrypts(const mc_auth *a);

/* ---- sending a request ---- */

/* What a sender keeps of a request to check its answer. */
typedef struct mc_auth_ticket {
    char header[MC_AUTH_HEADER_MAX]; /* the X-Mchair-Auth value to send */
    unsigned char hmac[32];          /* the request's HEADER-MAC */
    char mode;
} mc_auth_ticket;

/* Seals a request for `recipient` ("a.b.c.d:port").  *wire is `body` itself
 * (mode m) or a malloc'ed ciphertext (mode e; the caller frees *owned). */
mc_status mc_auth_seal_request(mc_auth *a, const char *recipient, const unsigned char *body, size_t len,
                               mc_auth_ticket *t, const unsigned char **wire, unsigned char **owned);
/* Checks an answer (`header` NULL when it had none) and decrypts it in
 * place.  MC_ERR_NETWORK with a message when it is not a key holder's
 * answer to this request. */
mc_status mc_auth_open_response(mc_auth *a, const mc_auth_ticket *t, long code, const char *header,
                                unsigned char *body, size_t len);

/* ---- receiving a request ---- */

typedef struct mc_auth_check {
    char mode;
    char sender[MC_AUTH_ID_MAX], recipient[MC_AUTH_ID_MAX];
    uint64_t counter;
    size_t len;
    unsigned char hmac[32], seal[32]; /* seal: body MAC, or nonce (12) + tag (16) */
} mc_auth_check;

/* Step 1, when the headers have arrived: parses the header (NULL: none),
 * verifies its MAC, the window and that the counter is new.  The caller
 * checks c->recipient is itself. */
mc_auth_refusal mc_auth_check_header(mc_auth *a, const char *header, mc_auth_check *c);
/* Step 2, with the whole body: verifies the seal (decrypting in place in
 * mode e) and records the counter (refused if another request with it got
 * there first). */
mc_auth_refusal mc_auth_open_request(mc_auth *a, const mc_auth_check *c, unsigned char *body, size_t len);
/* Seals the answer to an accepted request: fills header (the
 * X-Mchair-Auth value) and encrypts `body` in place in mode e. */
mc_status mc_auth_seal_response(mc_auth *a, const mc_auth_check *c, int code, unsigned char *body, size_t len,
                                char header[MC_AUTH_HEADER_MAX]);

#endif
