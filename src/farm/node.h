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
