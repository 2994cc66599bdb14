/* net_stream.h - streaming a clip through a chain of 3-D layers (net.c).
 *
 * C3D's early tensors are large (conv1 makes 16x112x112x64 floats, 51 MB;
 * conv2 26 MB), but every frame of a 3-D convolution's or pool's output
 * depends only on the kt input frames of its window (op.h
 * forward_frame_cpu).  So a chain of such layers, each the only reader of
 * the one before, runs an output frame at a time: to make frame t of the
 * chain's last layer, each layer makes the frames of its input it still
 * lacks, pulled from the layer before (lazily, in order), and keeps only
 * the last kt frames of its input, those its reader's window still needs,
 * in a ring.  The chain's input and its last output stay whole tensors in
 * the net's buffer pool; what lies between is rings of a few frames
 * (conv1..pool2 of C3D: 1 frame of conv1, 3 of pool1, 2 of conv2, 9 MB
 * instead of 90 MB).  Every frame is computed once, by the same function
 * as a whole-tensor forward uses, so the numbers are the same bit for bit.
 *
 * A chain is at most MC_NET_CHAIN_MAX layers (a longer run is cut into
 * consecutive chains).  Only backends with forward_frame stream (the CPU
 * one); mc_net_init_ex(..., MC_NET_WHOLE) turns it off (tests compare).
 */
#ifndef MC_NET_STREAM_H
#define MC_NET_STREAM_H

#include <stddef.h>

#include "../core/status.h"

#define MC_NET_CHAIN_MAX 16

typedef struct mc_net_chain {
    int first, end;                       /* layers [first, end) of the model */
    void *ring[MC_NET_CHAIN_MAX];         /* output ring of layer first + j, j < end - first - 1 */
    int slots[MC_NET_CHAIN_MAX];          /* frames ring j holds: its reader's window (kt) */
    size_t frame_bytes[MC_NET_CHAIN_MAX]; /* one output frame of layer first + j */
    size_t in_frame_bytes;                /* one frame of the chain's input */
    int made[MC_NET_CHAIN_MAX];           /* frames of layer first + j made in this forward */
} mc_net_chain;

struct mc_net;
struct mc_model;

/* Whether layer a + 1 of m can read layer a's output frame by frame: both
 * are clip ops (forward_frame_cpu), a + 1 reads only a, and only a + 1
 * reads a.  A net streams such links inside its range (greedily from its
 * first layer, MC_NET_CHAIN_MAX layers a chain, and only a chain whose
 * rings take less than twice its largest inner tensor); the planner's
 * memory estimate applies the same rule (profile.h stream_ring_bytes). */
int mc_net_stream_links(const struct mc_model *m, int a);

/* Finds the chains of the net's range (n->chains, n->n_chains, n->chain_of)
 * before its buffer plan; nothing when the backend cannot stream. */
mc_status mc_net_stream_find(struct mc_net *n);
/* Bytes of the rings of chain c, or of all chains (c < 0). */
size_t mc_net_stream_ring_bytes(const struct mc_net *n, int c);
/* Allocates the rings on the backend. */
mc_status mc_net_stream_alloc(struct mc_net *n);
/* Runs chain c: its first layer reads `in` (the whole input tensor), its
 * last layer writes `out` (the whole output); ws is the net's workspace. */
mc_status mc_net_stream_run(struct mc_net *n, int c, const void *in, void *out);
void mc_net_stream_free(struct mc_net *n);

#endif
