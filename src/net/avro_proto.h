/* avro_proto.h - any Avro protocol over the artifact's transport.
 *
 * The artifact's image.avpr (avro_ipc.h) has one message with a fast path
 * for its large tensor.  Other protocols, such as the farm's control
 * protocol (control.h), go through this generic layer: the protocol's JSON
 * is parsed once (named types are resolved), each message's parameters are
 * one record value and its response one value, and requests and responses
 * travel in the same framing and stateless handshake over HTTP POST.  Both
 * protocols can be served by one HTTP server: a request belongs to the
 * protocol whose MD5 its handshake names (mc_proto_owns).
 *
 * Decoded values live only while the callback that reads them runs: every
 * allocation Avro C makes while decoding an untrusted message is bounded
 * and freed at the end of the exchange (avro_wire.h).
 */
#ifndef MC_AVRO_PROTO_H
#define MC_AVRO_PROTO_H

#include <avro.h>

#include "avro_ipc.h"
#include "http.h"

#define MC_PROTO_MAX_MESSAGES 16

typedef struct mc_proto mc_proto;

/* Parses protocol JSON text (messages with "request" and "response"). */
mc_status mc_proto_new(const char *text, mc_proto **out);
void mc_proto_free(mc_proto *p);
const char *mc_proto_text(const mc_proto *p);
const char *mc_proto_name(const mc_proto *p);
/* Index of message `name`, or -1. */
int mc_proto_message(const mc_proto *p, const char *name);
/* 1 when the body is a request whose handshake names this protocol's hash. */
int mc_proto_owns(const mc_proto *p, const unsigned char *body, size_t len);

/* Fills a fresh value (a message's parameters, or a handler's result). */
typedef mc_status (*mc_proto_put)(void *ctx, avro_value_t *v);
/* Reads a decoded value (valid only during the call). */
typedef mc_status (*mc_proto_get)(void *ctx, avro_value_t *v);

/* Client: calls message `msg` on http://host:port/ (one POST, again with the
 * protocol text if the server answers NONE).  `get` reads the response
 * (NULL, or ignored, for a null response).  A remote error comes back as
 * MC_ERR_NETWORK with its text. */
mc_status mc_proto_call(mc_proto *p, mc_http_client *c, const char *host, int port, int msg, mc_proto_put put,
                        void *put_ctx, mc_proto_get get, void *get_ctx);

/* Server: the handler reads `params` and fills `result` (NULL for a null
 * response); an error it returns goes back as an Avro error. */
typedef mc_status (*mc_proto_handler)(void *ctx, int msg, avro_value_t *params, avro_value_t *result);
/* Answers one request body (as mc_ipc_serve: HTTP 200 with an Avro
 * response or error, 400 for a body that is not an Avro IPC request). */
int mc_proto_serve(mc_proto *p, const unsigned char *body, size_t len, mc_proto_handler h, void *ctx,
                   unsigned char **resp, size_t *resp_len);

/* Field helpers for records of generic values (0, or -1 when the field is
 * missing or of another type; strings are copied, cut to cap - 1 bytes). */
int mc_proto_get_str(avro_value_t *rec, const char *field, char *dst, size_t cap);
/* A string field into a malloc'ed copy (*dst NULL on failure). */
int mc_proto_get_strdup(avro_value_t *rec, const char *field, char **dst);
int mc_proto_get_long(avro_value_t *rec, const char *field, long *dst);
int mc_proto_get_double(avro_value_t *rec, const char *field, double *dst);
int mc_proto_get_bool(avro_value_t *rec, const char *field, int *dst);
int mc_proto_set_str(avro_value_t *rec, const char *field, const char *s);
int mc_proto_set_long(avro_value_t *rec, const char *field, long v);
int mc_proto_set_double(avro_value_t *rec, const char *field, double v);
int mc_proto_set_bool(avro_value_t *rec, const char *field, int v);

#endif
