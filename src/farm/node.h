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
 * The initial node (source and sink) is src/cli/cmd_initial.c.
 */
#ifndef MC_NODE_H
#define MC_NODE_H

#include <signal.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct mc_node_opts {
    const char *farm, *model, *task, *listen, *weights, *device;
    uint64_t seed;
    int threads;
    int quiet;
} mc_node_opts;

/* Runs until *stop; returns MC_OK on a clean stop. */
mc_status mc_node_run(const mc_node_opts *o, volatile sig_atomic_t *stop);

#endif
