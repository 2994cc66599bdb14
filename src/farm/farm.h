/* farm.h - a farm: which task runs which layers on which addresses.
 *
 * Read from and written to farm files by farmfile.h (the CK "avro" machine
 * JSON, {"node": {"<task>": [addr...]}}, optionally extended with "model",
 * "tasks" and "epoch").  A task is data: a contiguous layer range
 * [first, last) of the model, a distribution method and a part count.
 * Without "tasks" the built-in preset for (model, number of devices) is
 * used.  A dynamic farm's table (master.h) is an mc_farm with an epoch.
 *
 * A split task (method other than data) is exactly one conv/dense layer
 * (with the batchnorm folded into it, when that follows it: it runs
 * nothing, its output is the convolution's): its part holders run only
 * that layer's part (split.h); the receiver of
 * the parts (the next task or initial) merges them before its own layers.
 * Parameter-free layers after a split layer therefore belong to the next
 * task (as the planner writes them).
 *
 * In a graph a task is the piece between two cuts (model.h): its input is
 * every tensor crossing the cut before it, concatenated in producer order,
 * and so is its output; the first task still takes the model's input as a
 * uint8 frame.  A split task's part 0 also carries the tensors that pass
 * its layer by (split.h, mc_split_io).
 *
 * Addresses: task i's list has parts*R entries; entry k holds part (k % P)
 * of replica (k / P).  A frame with tag t goes to replica (t mod R) of a
 * task, chosen from the tag alone, so that every part holder of a split
 * task sends its part of tag t to the same replica of the next task.
 */
#ifndef MC_FARM_H
#define MC_FARM_H

#include <stdint.h>

#include "../core/status.h"
#include "../core/tensor.h"
#include "../models/model.h"
#include "../models/split.h"
#include "../core/wire.h"

#define MC_FARM_MAX_TASKS 32
#define MC_FARM_MAX_ADDRS 64 /* per task */
#define MC_FARM_HOST_MAX 64
#define MC_FARM_TASK_PORT 12345
#define MC_FARM_INITIAL_PORT 9999
#define MC_FARM_WEIGHT_MAX 8 /* replica weights are 1..8 */

/* Methods: split.h's mc_split_method (data, fc_output, fc_input,
 * conv_channel, conv_filter, conv_spatial); one set of names for farm files,
 * the planner and the runtime. */
typedef mc_split_method mc_split;
#define MC_SPLIT_COUNT MC_SPLIT_METHOD_COUNT

typedef struct mc_addr {
    char host[MC_FARM_HOST_MAX];
    int port;
} mc_addr;

typedef struct mc_farm_task {
    char name[MC_NAME_MAX];
    int first, last; /* layer range [first, last) */
    char first_name[MC_NAME_MAX], last_name[MC_NAME_MAX]; /* their layer names */
    mc_split method;
    int parts;       /* P >= 1 (1 for data) */
    int grid[2];     /* conv_spatial: [gh, gw]; else [1, 1] */
    int n_addr;      /* P * replicas */
    /* Encoding of this task's output on the link to the next task (farm file
     * "wire", default f32; the planner's choice per cut).  Senders use it
     * only towards receivers that announced it (wire.h), and never towards
     * initial: the last task's "wire" is not used. */
    mc_wire wire;
    mc_addr addr[MC_FARM_MAX_ADDRS];
    /* Replica weights (farm file "weights", the master's rebalancing): replica
     * r gets weight[r] of every wtotal tags, interleaved (smooth weighted
     * round-robin over tag mod wtotal, wpattern).  wtotal 0: unweighted, tag
     * mod R as the artifact routes. */
    unsigned char weight[MC_FARM_MAX_ADDRS];
    int wtotal;
    unsigned char wpattern[MC_FARM_MAX_ADDRS * MC_FARM_WEIGHT_MAX];
} mc_farm_task;

typedef struct mc_farm {
    char model[MC_NAME_MAX * 4]; /* built-in name or model file path */
    char preset[MC_NAME_MAX + 16]; /* e.g. "alexnet farm-5", "" for explicit tasks */
    long epoch;                    /* version of a dynamic farm's table (0: a static farm) */
    int n_tasks;
    mc_farm_task tasks[MC_FARM_MAX_TASKS]; /* pipeline order */
    mc_addr initial;
} mc_farm;

const char *mc_split_name(mc_split s);
mc_split mc_split_from_name(const char *s); /* MC_SPLIT_COUNT if unknown */

/* Index of the task called `name`, or -1. */
int mc_farm_find_task(const mc_farm *f, const char *name);
/* Index of the task that starts at layer `first` (the one a task ending
 * there sends to; n_tasks when first is past the model: initial), or -1. */
int mc_farm_task_at(const mc_farm *f, int first, int n_layers);
/* The addresses' entry of `a` in task t (k: its index) or -1. */
int mc_farm_task_addr_index(const mc_farm_task *t, const mc_addr *a);
/* Parses "host", "host:port", "[ipv6]" or "[ipv6]:port" (default port when
 * absent; a bare IPv6 address is a host without a port). */
mc_status mc_addr_parse(const char *s, int default_port, mc_addr *a);
int mc_addr_equal(const mc_addr *a, const mc_addr *b);
/* "host:port" ("[ipv6]:port") into buf; returns buf. */
const char *mc_addr_str(const mc_addr *a, char *buf, size_t n);

static inline int mc_farm_replicas(const mc_farm_task *t) { return t->n_addr / t->parts; }
/* Number used to pick a replica: a decimal tag is its value, else a hash. */
uint64_t mc_tag_number(const char *tag);
/* Sets the replicas' weights (w[r] in 1..MC_FARM_WEIGHT_MAX, one per
 * replica); all equal means unweighted. */
mc_status mc_farm_task_set_weights(mc_farm_task *t, const int *w, int n);
/* First address index of the replica of task `t` that gets tag `tag`;
 * the P part holders are at [*first, *first + parts). */
int mc_farm_route(const mc_farm_task *t, const char *tag);
/* The replica index that route picks (mc_farm_route / parts). */
static inline int mc_farm_route_replica(const mc_farm_task *t, const char *tag) { return mc_farm_route(t, tag) / t->parts; }

/* Part k of split task t of model m (shapes only, no weights): split.h's
 * description of layer t->first cut by t's method, parts and grid. */
mc_status mc_farm_task_part(const mc_model *m, const mc_farm_task *t, int k, mc_split_part *p);
/* All t->parts parts into a new array (free with free()); NULL for a data task. */
mc_status mc_farm_task_parts(const mc_model *m, const mc_farm_task *t, mc_split_part **parts);
/* The parts of split task t and its messages in the graph (split.h,
 * mc_split_io: part 0 also carries the tensors passing the layer by); io
 * refers to *parts (free with free()) and to m. */
mc_status mc_farm_task_io(const mc_model *m, const mc_farm_task *t, mc_split_part **parts, mc_split_io *io);

/* Number of devices (initial included), as the artifact counts farm-N. */
int mc_farm_devices(const mc_farm *f);

#endif
