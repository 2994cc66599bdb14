/* send.h - sending a tag's tensor to the next task of the farm.
 *
 * The receiver is task `to` (or the initial node when to == n_tasks).  Its
 * replica is chosen from the tag (farm.h).  When the task is split, every
 * part holder of that replica gets a message: with `cut` (the receiving
 * task's split, the sender holding the whole input: every tensor crossing
 * the cut before it) each gets only the piece its part reads (split.h: the
 * whole input, an element range, channels or a tile with halo; part 0 also
 * the tensors that pass the split layer by, mc_split_io), marked with
 * metadata mc.slice = k/P; without `cut` (the sender holds a part of a
 * split task's output) each gets the same tensor.
 * Each call is retried with backoff (rpc.h); the error names the address
 * that failed.
 *
 * Failover: a task with several replicas keeps working when a device drops
 * out.  The routed replica (farm.h) is skipped while one of its part
 * holders is down (rpc.h: unreachable lately), and a replica one of whose
 * part holders turns out unreachable is abandoned: the tag goes whole to the
 * next replica, in the same order on every sender (so the parts of a tag
 * still meet in one merge; duplicate parts are ignored there).  Frames inside
 * the device that dropped out are lost and reported as such.
 *
 * Encodings (wire.h, docs/wire.md): a tensor goes as float32 unless the
 * sender asks for another encoding (the farm file's "wire" of its task, or
 * `mchair node --wire`) and the receivers announced they decode it
 * (rpc.h); then the call's input bytes are the encoded tensor and its
 * metadata mc.wire names the encoding.  initial and the artifact's nodes
 * never announce, so they only ever get float32.
 */
#ifndef MC_SEND_H
#define MC_SEND_H

#include <stdint.h>

#include "../core/flag.h"
#include "../net/rpc.h"
#include "farm.h"

/* What became of one tag's delivery to a task, kept across calls (a retry
 * after a refusal goes to the same replica and skips the part holders that
 * took it).  Start from MC_FARM_DELIVERY_INIT. */
typedef struct mc_farm_delivery {
    int replica;   /* replica chosen for the tag; -1 before the first call */
    uint64_t sent; /* its part holders that took it (bit k; bit 0 for initial) */
    int failovers; /* replicas abandoned as unreachable for this tag */
} mc_farm_delivery;
#define MC_FARM_DELIVERY_INIT ((mc_farm_delivery){-1, 0, 0})

/* The replica of task t a tag goes to now: the routed one, or the next one
 * none of whose part holders is down (the routed one if all are down). */
int mc_farm_pick_replica(mc_rpc *r, const mc_farm_task *t, const char *tag);

/* `next` names the receiving task ("initial" for the sink).  `cut` may be
 * NULL (send the tensor as is); `d` may be NULL (one call, no record). */
mc_status mc_farm_send(mc_rpc *r, const mc_farm *farm, int to, const mc_split_io *cut, const char *tag,
                       const float *data, size_t n, const mc_ipc_meta *meta, mc_rpc_policy pol,
                       mc_flag *stop, mc_farm_delivery *d);

/* As mc_farm_send, each part holder's message in encoding w where that
 * part holder announced it (float32 where not, and for an int8 message
 * holding NaN or inf). */
mc_status mc_farm_send_wire(mc_rpc *r, const mc_farm *farm, int to, const mc_split_io *cut, const char *tag,
                            const float *data, size_t n, const mc_ipc_meta *meta, mc_wire w, mc_rpc_policy pol,
                            mc_flag *stop, mc_farm_delivery *d);

/* The encoding a message to task `to` may use when the sender wants `want`:
 * `want` if every address of the task announced it, else f32 (always f32
 * towards initial, to == n_tasks). */
mc_wire mc_farm_link_wire(mc_rpc *r, const mc_farm *farm, int to, mc_wire want);

/* Sends the artifact's raw uint8 frame (n bytes, one per input element) to
 * the first task, which must not be split; its node scales it to [0, 1].
 * A quarter of the float32 frame's bytes on the first, often slowest, hop.
 * `meta` may be NULL (e.g. mc.droppable at a sampling rate). */
mc_status mc_farm_send_u8(mc_rpc *r, const mc_farm *farm, const char *tag, const uint8_t *frame, size_t n,
                          const mc_ipc_meta *meta, mc_rpc_policy pol, mc_flag *stop,
                          mc_farm_delivery *d);

/* Tells the initial node that `tag` was lost and why (mc.error metadata, empty input). */
mc_status mc_farm_report_lost(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                              mc_flag *stop);

/* The forward call of mc_farm_send, encoded once (without our protocol
 * text; rpc redoes the handshake when a peer needs it), so the sender can
 * free the tensor before the network round trips.  *body is malloc'ed. */
mc_status mc_farm_encode(mc_ipc *ipc, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                         const mc_ipc_meta *meta, unsigned char **body, size_t *len);
/* The same with the tensor in encoding *w (mc_farm_link_wire's choice) and
 * metadata mc.wire; an int8 tensor holding NaN or inf goes as float32
 * instead, and *w says so. */
mc_status mc_farm_encode_wire(mc_ipc *ipc, const mc_farm *farm, int to, const char *tag, const float *data, size_t n,
                              const mc_ipc_meta *meta, mc_wire *w, unsigned char **body, size_t *len);
/* Sends an encoded call to the receivers of `tag` at task `to` not yet
 * marked in d->sent and marks those that took it, so a retry after a
 * refusal sends no part twice (and goes to the same replica). */
mc_status mc_farm_send_encoded(mc_rpc *r, const mc_farm *farm, int to, const char *tag, const unsigned char *body,
                               size_t len, mc_rpc_policy pol, mc_flag *stop, mc_farm_delivery *d);

/* Backpressure: seconds that some receiver of `tag` at task `to` (every part
 * holder of the replica mc_farm_pick_replica chooses; the initial node when to == n_tasks) still asked us
 * to hold off (response metadata mc.almost_full); 0 when none did. */
double mc_farm_hold_s(mc_rpc *r, const mc_farm *farm, int to, const char *tag);

/* Tells the initial node that `tag` was dropped on purpose (backpressure):
 * metadata mc.dropped says where and why; initial counts it apart from lost tags. */
mc_status mc_farm_report_dropped(mc_rpc *r, const mc_farm *farm, const char *tag, const char *why,
                                 mc_flag *stop);

#endif
