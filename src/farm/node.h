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
 * A node that holds part k of a split task (any method of split.h) runs
 * only that part of the task's one layer; its weights are the part's slice
 * of the single-device weights (the generator is counter-based, rng.h), so
 * the merged output is the unsplit layer's.  A part holder takes its input
 * slice as cut by the sender (metadata mc.slice) or cuts it from the whole
 * input itself (e.g. after merging the parts of a split predecessor).  The
 * receiver of a split task's parts merges them (split.h) before running its
 * own layers.
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
#include "farm.h"

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

/* Turns layer t->first of m into part k of split task t (split.h; method,
 * parts and grid of the farm task): the layer's shapes become the part's and
 * its weights are exactly the part's slice of the single-device weights
 * (generated from `seed` without the full tensor, or read from the weight
 * file `weights`, which holds the full layer only while slicing). */
mc_status mc_node_split_layer(mc_model *m, const mc_farm_task *t, int k, uint64_t seed, const char *weights);

/* Runs until *stop; returns MC_OK on a clean stop. */
mc_status mc_node_run(const mc_node_opts *o, volatile sig_atomic_t *stop);

#endif
