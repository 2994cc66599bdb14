/* avro_wire.h - the parts of Avro IPC that every protocol shares (internal
 * to src/net): the handshake, call metadata and error schemas, framed
 * writing of values, the handshake request and the call response, and the
 * bounded decoding of untrusted messages.  avro_ipc.c serves the artifact's
 * image.avpr with them (its forward call has a zero-copy fast path);
 * avro_proto.c serves any other protocol (the farm's control.avpr).
 */
#ifndef MC_AVRO_WIRE_H
#define MC_AVRO_WIRE_H

#include <avro.h>

#include "avro_ipc.h"

enum { MC_AVRO_HREQ, MC_AVRO_HRESP, MC_AVRO_META, MC_AVRO_ERRORS, MC_AVRO_NCLS };

typedef struct mc_avro_ipc {
    avro_schema_t schema[MC_AVRO_NCLS];
    avro_value_iface_t *cls[MC_AVRO_NCLS];
    avro_value_iface_t *cls_string, *cls_boolean;
} mc_avro_ipc;

mc_status mc_avro_ipc_init(mc_avro_ipc *a);
void mc_avro_ipc_fini(mc_avro_ipc *a);

/* Values written one after the other into one framed body. */
typedef struct mc_avro_out {
    avro_value_t v[6];
    int n;
} mc_avro_out;
/* A new value of class cls appended to o (0, or -1 on failure). */
int mc_avro_out_new(avro_value_iface_t *cls, mc_avro_out *o, avro_value_t **v);
void mc_avro_out_free(mc_avro_out *o);
/* Frames o's values, then `extra` (may be NULL; not owned). */
mc_status mc_avro_out_write(mc_avro_out *o, avro_value_t *extra, unsigned char **body, size_t *len);

int mc_avro_set_str(avro_value_t *v, const char *s);
int mc_avro_set_meta(avro_value_t *map, const mc_ipc_meta *m);
/* Reads a metadata map; entries over the bounds of mc_ipc_meta are dropped. */
void mc_avro_read_meta(avro_value_t *mv, mc_ipc_meta *m);
/* A handshake request for the protocol with this hash (and text, when sent). */
int mc_avro_set_hreq(avro_value_t *hv, const unsigned char hash[16], const char *text, int send_protocol);
/* Handshake response + (unless match is NONE or !call) the call response:
 * metadata, error flag, then `result` (NULL for a null response) or the error. */
mc_status mc_avro_write_response(const mc_avro_ipc *a, const char *text, const unsigned char hash[16],
                                 mc_ipc_match match, int call, const char *err, const mc_ipc_meta *rmeta,
                                 avro_value_t *result, unsigned char **resp, size_t *len);
mc_status mc_avro_md5(const void *p, size_t n, unsigned char out[16]);

/* Decoding an untrusted message of n bytes: every Avro C allocation on this
 * thread is capped at about n and tracked until mc_avro_decode_end, which
 * frees what Avro C left behind (avro_ipc.c says why).  Uncap before
 * decoding a value whose size was already checked. */
void mc_avro_decode_begin(size_t n);
void mc_avro_decode_uncap(void);
void mc_avro_decode_end(void);

#endif
