/* rpc.h - sending forward() calls: HTTP + Avro handshake + retries.
 *
 * A client remembers, per peer, whether the peer knows our protocol hash; it
 * sends the protocol text only after a NONE answer (then again until the
 * peer answers BOTH or CLIENT), as the Avro spec's stateless handshake does.
 * Unreachable peers are retried with exponential backoff; the error names
 * the address and says how many attempts were made.  Remote Avro errors are
 * not retried (the peer understood and refused), except "busy" answers.
 *
 * Backpressure: a peer whose input buffer is almost full answers with the
 * response metadata "mc.almost_full" = seconds to hold off.  The client
 * remembers it per peer (mc_rpc_hold_s), so a sender can drop frames for that
 * peer instead of queueing them; a "busy" answer that carries it is not
 * retried either: mc_rpc_forward returns MC_ERR_FULL at once.
 *
 * Encodings (wire.h): a peer that decodes more than float32 says so in the
 * response metadata "mc.wire" of every call; the client keeps the set of its
 * latest answer per peer (an answer without it, e.g. from the artifact's
 * Python node, means float32 only), so a sender never sends anything else to
 * a peer that has not answered it yet.
 */
#ifndef MC_RPC_H
#define MC_RPC_H

#include <signal.h>

#include "../core/flag.h"
#include "avro_ipc.h"
#include "http.h"

typedef struct mc_rpc_policy {
    int attempts;        /* tries in all (>= 1) */
    double backoff0_s;   /* first wait; doubles each time */
    double backoff_max_s;
    int unreachable_attempts; /* of those, at most this many when the peer does
                                 not answer at all (0: no other limit); a
                                 sender with another replica to go to fails
                                 over sooner */
} mc_rpc_policy;

#define MC_RPC_POLICY_DEFAULT ((mc_rpc_policy){.attempts = 6, .backoff0_s = 0.05, .backoff_max_s = 1.0})

typedef struct mc_rpc mc_rpc;

/* `ipc` is shared (thread-safe); the rpc client is per thread. */
mc_status mc_rpc_new(mc_ipc *ipc, mc_rpc **out);
void mc_rpc_free(mc_rpc *r);
/* While *flag is set, calls in progress give up with MC_ERR_ABORTED (which
 * says nothing about the peer's health) and retries stop. */
void mc_rpc_set_abort(mc_rpc *r, mc_flag *flag);
/* Seals every call with the farm key (NULL: none; not owned). */
void mc_rpc_set_auth(mc_rpc *r, mc_auth *auth);
/* As mc_rpc_forward, for a call already encoded with mc_ipc_request_encode
 * (send_protocol 0): the caller may free the tensor once it is encoded, and
 * the handshake is redone on the body when the peer needs our protocol. */
mc_status mc_rpc_forward_encoded(mc_rpc *r, const char *host, int port, const unsigned char *body, size_t len,
                                 mc_rpc_policy pol, mc_flag *stop, int *attempts_used);
/* The encodings host:port announced in its latest answer (bit mc_wire);
 * always has f32; f32 only for a peer that never answered. */
unsigned mc_rpc_wire_accepts(mc_rpc *r, const char *host, int port);
/* Seconds host:port still asked us to hold off (0 when it did not). */
double mc_rpc_hold_s(mc_rpc *r, const char *host, int port);
/* Peer health, for failing over to another replica: a call that got no
 * answer at all (connection refused, timed out) after all its attempts marks
 * the peer down for 1 s, doubling with each such call in a row up to 16 s;
 * any answer clears it.  mc_rpc_down_s: seconds it still counts as down (0:
 * up); mc_rpc_failures: unreachable calls in a row (0: it answered last). */
double mc_rpc_down_s(mc_rpc *r, const char *host, int port);
int mc_rpc_failures(mc_rpc *r, const char *host, int port);
/* Sends one forward call; *attempts_used (may be NULL) says how many tries.
 * `stop` (may be NULL) cuts the retry waits short. */
mc_status mc_rpc_forward(mc_rpc *r, const char *host, int port, const mc_ipc_forward *f, mc_rpc_policy pol,
                         mc_flag *stop, int *attempts_used);

#endif
