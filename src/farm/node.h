/* node.h - a farm task node and the initial (source/sink) node.
 *
 * Task node: three stages joined by bounded queues.
 *   HTTP threads (libmicrohttpd) decode forward() calls, check the tensor's
 *   size and the part index, and queue the frame (waiting up to a few
 *   seconds when the input buffer is full, then answering "busy");
 *   the compute thread merges the parts of a split predecessor by tag,
 *   runs the task's layer range (net.h) and queues the result;
 *   the sender thread forwards it to the next task (or to initial), with
 *   retries, and reports a tag it cannot deliver to the initial node.
 * A node that holds part k of an fc_output task computes only rows
 * [r0, r1) of the layer; its weights are those rows of the single-device
 * weights (the generator is counter-based, rng.h), so the merged output is
 * exactly the unsplit layer's.
 *
 * Memory and backpressure: the input buffer is bounded in bytes (two whole
 * inputs; parts of a split predecessor are charged by their size).  When a
 * frame leaves room for less than one more input, the response carries
 * metadata mc.almost_full = seconds to hold off (queued inputs x the mean
 * compute time), and our senders drop frames for that node meanwhile,
 * telling initial (mc.dropped) instead of queueing them.  Only frames the
 * source marked mc.droppable (initial at --rate) are dropped; others wait,
 * as does a node whose task is split (its parts must stay complete), which
 * so passes the pressure to its predecessor.  A full buffer waits 1 s, then
 * answers "busy:" with mc.almost_full.
 *
 * The initial node (source and sink) is src/cli/cmd_initial.c.
 */
#ifndef MC_NODE_H
#define MC_NODE_H

#include <signal.h>
#include <stdint.h>

#include "../models/model.h"

typedef struct mc_node_opts {
    const char *farm, *model, *task, *listen, *weights, *device;
    uint64_t seed;
    int threads;
    int quiet;
    /* Memory bound in MB (2^20 bytes): < 0 (default) the task's weights + 64 MB,
     * 0 none.  Within it the node sizes what it may choose: the transformed
     * weights of the Winograd path are built only as far as they fit. */
    double mem_limit_mb;
} mc_node_opts;

/* Turns dense layer `layer` of m into part k of P of its rows ([r0, r1) of
 * mc_split_range): units shrink and the weights are exactly those rows of
 * the single-device weights (random from `seed`, or read from `weights`). */
mc_status mc_node_part_weights(mc_model *m, int layer, int parts, int k, uint64_t seed, const char *weights);

/* Runs until *stop; returns MC_OK on a clean stop. */
mc_status mc_node_run(const mc_node_opts *o, volatile sig_atomic_t *stop);

#endif
