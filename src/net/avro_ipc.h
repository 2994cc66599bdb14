/* avro_ipc.h - the artifact's Avro IPC protocol, encoded with Apache Avro C.
 *
 * Protocol (image.avpr): forward(input: bytes, next: string, tag: string) -> null.
 * Over HTTP every request body is framed (4-byte big-endian lengths, a
 * zero-length frame ends it) and holds
 *     HandshakeRequest, call metadata (map<bytes>), message name, parameters
 * and every response body holds
 *     HandshakeResponse [, response metadata, error flag, null | ["string"] error].
 * The handshake is the stateless one of the Avro spec: a server that does not
 * know the client's protocol hash (and got no protocol text) answers NONE with
 * its own protocol and hash, and the client sends again with its protocol.
 * The server keeps a small bounded cache of client hashes it has checked.
 *
 * Our extensions ride in the call metadata, which other implementations
 * ignore: "mc.part" ("k/P", the part of a split task's output),
 * "mc.t.<task>" (seconds the task took, decimal text) and "mc.error" (a frame
 * was lost; the message says where), "mc.dropped" (a frame was dropped on
 * purpose because a node was almost full), "mc.wire" (the input's encoding,
 * core/wire.h).  Responses carry metadata too: "mc.almost_full" (seconds the
 * sender should hold off sending to this node: its input buffer is almost
 * full) and "mc.wire" (the encodings the node decodes).  Metadata is bounded (MC_IPC_META_MAX
 * entries of short text); extra or longer entries from peers are dropped.
 */
#ifndef MC_AVRO_IPC_H
#define MC_AVRO_IPC_H

#include <stddef.h>

#include "../core/status.h"

#define MC_IPC_META_MAX 16
#define MC_IPC_META_LIMIT 64 /* a call with more metadata entries is refused as malformed */
#define MC_IPC_KEY_MAX 64
#define MC_IPC_VAL_MAX 256
#define MC_IPC_TAG_MAX 64
#define MC_IPC_NEXT_MAX 64

typedef struct mc_ipc_meta {
    int n;
    char key[MC_IPC_META_MAX][MC_IPC_KEY_MAX];
    char val[MC_IPC_META_MAX][MC_IPC_VAL_MAX];
} mc_ipc_meta;

/* Sets (or replaces) key; silently drops it when the table is full. */
void mc_ipc_meta_set(mc_ipc_meta *m, const char *key, const char *val);
const char *mc_ipc_meta_get(const mc_ipc_meta *m, const char *key);
/* Removes key (the others keep their order); nothing when absent. */
void mc_ipc_meta_del(mc_ipc_meta *m, const char *key);

/* One forward call.  On decode, `input` points into `owner_` storage that
 * mc_ipc_forward_release() frees. */
typedef struct mc_ipc_forward {
    const unsigned char *input;
    size_t input_len;
    char next[MC_IPC_NEXT_MAX];
    char tag[MC_IPC_TAG_MAX];
    mc_ipc_meta meta;
    mc_ipc_meta reply; /* server: metadata the handler puts in the response */
    void *owner_;
} mc_ipc_forward;

void mc_ipc_forward_release(mc_ipc_forward *f);

typedef enum mc_ipc_match { MC_IPC_BOTH, MC_IPC_CLIENT, MC_IPC_NONE } mc_ipc_match;

typedef struct mc_ipc mc_ipc;

/* Schemas, value classes, our protocol text and its MD5. Thread-safe after init. */
mc_status mc_ipc_new(mc_ipc **out);
void mc_ipc_free(mc_ipc *ipc);
/* The protocol JSON (image.avpr). */
const char *mc_ipc_protocol_text(void);

/* Client: frames a forward request; *body is malloc'ed. */
mc_status mc_ipc_request_encode(mc_ipc *ipc, int send_protocol, const mc_ipc_forward *f, unsigned char **body,
                                size_t *len);
/* Client: the same request (a body from mc_ipc_request_encode) with another
 * handshake (our protocol text or not); *out is malloc'ed.  Lets a sender
 * encode a large call once and free its tensor. */
mc_status mc_ipc_request_rehandshake(mc_ipc *ipc, int send_protocol, const unsigned char *body, size_t len,
                                     unsigned char **out, size_t *out_len);
/* Client: reads a framed response.  *match NONE means "send again with the
 * protocol".  A remote error returns MC_ERR_NETWORK with its text. */
mc_status mc_ipc_response_decode(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_match *match);
/* As mc_ipc_response_decode; *meta (may be NULL) gets the response metadata
 * (also when the response is a remote error; empty for NONE). */
mc_status mc_ipc_response_decode_meta(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_match *match,
                                      mc_ipc_meta *meta);

/* Server: the handler gets a decoded call and returns MC_OK or an error with
 * mc_error_set(); the error text goes back to the client, and f->reply (set
 * with mc_ipc_meta_set) goes back as response metadata either way. */
typedef mc_status (*mc_ipc_handler)(void *ctx, mc_ipc_forward *f);

/* Server: answers one framed request body.  Returns the HTTP status: 200 with
 * an Avro response (possibly an Avro error) in *resp, or 400 with a plain
 * text message when the body is not a framed Avro handshake. *resp is malloc'ed. */
int mc_ipc_serve(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_handler h, void *ctx,
                 unsigned char **resp, size_t *resp_len);

/* Frames `n` bytes of message into one data frame plus the terminator. */
mc_status mc_ipc_frame(const unsigned char *msg, size_t n, unsigned char **body, size_t *len);
/* Joins the frames of a body; *msg points into body when there is one frame,
 * else to *copy (malloc'ed, caller frees). */
mc_status mc_ipc_unframe(const unsigned char *body, size_t len, const unsigned char **msg, size_t *n,
                         unsigned char **copy);

#endif
