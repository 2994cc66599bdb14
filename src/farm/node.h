/* node.h - a farm task node.
 *
 * A node runs one task of a farm (farm.h): a layer range of the model, or
 * one part of a split layer.  It is cut into pieces that can be
 * reconfigured while it runs (docs/farm.md):
 *   node.c          lifecycle, the HTTP side (forward calls are checked and
 *                   queued; control messages go to the membership side) and
 *                   applying a new table (epoch) without restarting;
 *   node_task.c     configure: loads a task (its weights from the seed or a
 *                   weight file, its split part, the memory bound) and
 *                   releases it;
 *   node_compute.c  the compute thread: merges the parts of a split
 *                   predecessor by tag and runs the task's layers;
 *   node_send.c     the sender thread: forwards each output to the task that
 *                   starts where ours ends in the current table (or to
 *                   initial), with failover and backpressure;
 *   node_member.c   with a master: join, heartbeats with the node's figures,
 *                   reports of unreachable peers, leave.
 * Stages are joined by bounded queues.  A static node (--farm) gets its
 * task once from the farm file; a dynamic node (--master) joins the master,
 * is assigned a task (or none), and switches task whenever a new table
 * moves it: frames queued for the old task are reported lost (initial sends
 * them again), the old weights are freed before the new ones load, and the
 * queues stay bounded throughout.
 *
 * A node that holds part k of a split task runs only that part of the
 * task's one layer; its weights are the part's slice of the single-device
 * weights (the generator is counter-based, rng.h), so the merged output is
 * the unsplit layer's.  A part holder takes its input slice as cut by the
 * sender (metadata mc.slice) or cuts it from the whole input itself.
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
 * The initial node (source and sink) is initial.h; the master is master.h.
 */
#ifndef MC_NODE_H
#define MC_NODE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/flag.h"
#include "../models/model.h"
#include "../net/auth.h"
#include "farm.h"

/* One device holding several tasks (of one or several farms), each served
 * by its own node (mc_node_run) in one process: they share the device's
 * memory budget and its compute (one task computes at a time).  A task
 * whose frame arrives while its weights are not held is loaded again (from
 * the seed or the weight file, as at start), evicting the least recently
 * used tasks until it fits; each reload is timed (padded, under a device
 * model with a load rate, to the model's time for reading the weights),
 * counted, and carried on the frame as metadata mc.r.<task> (seconds) next
 * to mc.t.<task>.  node_pool.c; docs/twostream.md, "The one-device system". */
typedef struct mc_node_pool mc_node_pool;
struct mc_devmodel;
struct cJSON;
/* budget_mb: MiB the tasks' weights may hold together (0: no bound, nothing
 * is evicted); counted as weight_copies x weights under a device model (its
 * memory accounting, devmodel.h), else as the weights' bytes.  dm may be NULL. */
mc_status mc_node_pool_new(double budget_mb, const struct mc_devmodel *dm, mc_node_pool **out);
void mc_node_pool_free(mc_node_pool *p);
/* The pool's figures: budget, and per task: farm, name, address, size,
 * loads, reloads, evictions, seconds loading and reloading, frames computed
 * and seconds computing.  Caller frees (cJSON_Delete). */
struct cJSON *mc_node_pool_json(mc_node_pool *p);
/* One line per task and a total, for logs. */
void mc_node_pool_print(mc_node_pool *p, FILE *f);

typedef struct mc_node_opts {
    const char *farm;     /* static: the farm file ... */
    const char *master;   /* ... or dynamic: the master's HOST:PORT */
    const char *model, *task, *listen, *advertise, *weights, *device;
    uint64_t seed;
    int threads;
    int quiet;
    /* Memory bound in MB (2^20 bytes): < 0 (default) the task's weights + 64 MB,
     * 0 none.  Within it the node sizes what it may choose: the transformed
     * weights of the Winograd path are built only as far as they fit. */
    double mem_limit_mb;
    /* Memory the device offers the farm, told to the master (MiB; 0: unknown,
     * the master's own budget applies). */
    double mem_mb;
    double heartbeat_s; /* seconds between heartbeats (default 0.5) */
    mc_auth *auth;      /* the farm key (NULL: an open farm); not owned */
    /* Tests: while *slow is set (SIGUSR1 in `mchair node`), every frame's
     * compute takes slow_ms longer: a device that got slower. */
    mc_flag *slow;
    double slow_ms;
    /* Tests: while *slow_link is set, every output takes slow_link_ms x (its
     * encoded bytes / its float32 bytes) longer to send (a slow link whose
     * time follows the bytes: docs/wire.md, run-time switching). */
    mc_flag *slow_link;
    double slow_link_ms;
    /* An emulated device (devmodel.h): every frame's compute is padded to
     * the model's time for the task's layers (NULL: the host's speed). */
    const struct mc_devmodel *devmodel;
    /* Encoding of our outputs to the next task ("f32", "f16", "int8"; NULL:
     * the farm file's "wire" of the task sending), used only towards nodes
     * that announce it (wire.h, send.h). */
    const char *wire;
    /* The device this node shares with other tasks' nodes (NULL: alone). */
    mc_node_pool *pool;
    const char *farm_label; /* names the farm in the pool's figures (default: farm) */
} mc_node_opts;

/* Turns layer t->first of m into part k of split task t (split.h; method,
 * parts and grid of the farm task): the layer's shapes become the part's and
 * its weights are exactly the part's slice of the single-device weights
 * (generated from `seed` without the full tensor, or read from the weight
 * file `weights`, which holds the full layer only while slicing). */
mc_status mc_node_split_layer(mc_model *m, const mc_farm_task *t, int k, uint64_t seed, const char *weights);

/* Runs until *stop; returns MC_OK on a clean stop. */
mc_status mc_node_run(const mc_node_opts *o, mc_flag *stop);

#endif
