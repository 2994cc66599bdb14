/* profile.h - what the planner knows about a device and a link.
 *
 * A profile is measured once per device kind (mchair profile) and read by
 * the planner (mchair plan).  Per layer it holds the latency and the memory a
 * node needs for it (weights + activations + workspace, counted as
 * models/net.c allocates them), and per split variant (method, part count)
 * the same numbers for the largest part.  The link model is the Musical
 * Chair one: sending a message of d bytes costs t = a*d + b seconds.
 *
 * Models are graphs: per layer the profile also holds the bytes crossing the
 * cut before it (model.h: every tensor made before it and read at or after
 * it), which is what a task boundary there sends; in a chain that is the
 * layer's input.  Views (flatten, a batchnorm folded into its convolution)
 * run nothing and are profiled as 0 s; layers reading several inputs (add,
 * concat) are timed through the backend's forward_n.
 *
 * JSON (docs/planner.md):
 *   {"model": "alexnet", "device": "cpu", "threads": 2, "repeat": 3,
 *    "layers": [{"name": "conv1", "op": "conv2d", "latency_s": 0.01, "cut_bytes": ..,
 *                "weight_bytes": .., "in_bytes": .., "out_bytes": .., "workspace_bytes": ..,
 *                "memory_bytes": ..,
 *                "splits": [{"method": "conv_channel", "parts": 2, "grid": [1, 1],
 *                            "latency_s": .., "weight_bytes": .., "in_bytes": .., "out_bytes": ..,
 *                            "workspace_bytes": .., "memory_bytes": ..}, ...]}, ...],
 *    "link": {"a_s_per_byte": .., "b_s": ..}}          (link optional)
 */
#ifndef MC_PROFILE_H
#define MC_PROFILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "../models/model.h"
#include "../models/split.h"

#define MC_PROFILE_MAX_SPLITS 24

/* Cost of one layer or of the largest part of one of its splits. */
typedef struct mc_prof_cost {
    double latency;      /* seconds per inference */
    double weight_bytes; /* parameters held */
    double in_bytes, out_bytes, ws_bytes;
    double mem_bytes;    /* weights + 2 * max(in, out) + workspace (net.c's buffers) */
} mc_prof_cost;

typedef struct mc_prof_split {
    mc_split_method method;
    int parts, grid_h, grid_w;
    mc_prof_cost cost; /* of the largest part */
} mc_prof_split;

typedef struct mc_prof_layer {
    char name[MC_NAME_MAX];
    mc_op_type op;
    mc_prof_cost cost;
    double cut_bytes; /* bytes crossing the cut before this layer (when the profile has_cuts) */
    int view;         /* runs nothing (flatten, a folded batchnorm): its output is its input's buffer */
    int fold_of;      /* a batchnorm folded into a convolution: 1 + that layer's index; 0: none */
    double stream_ring_bytes; /* > 0: the layer streams from the one before it (models/net_stream.h),
                               * holding this much of its input (a ring of its window's frames) */
    int n_splits;
    mc_prof_split splits[MC_PROFILE_MAX_SPLITS];
} mc_prof_layer;

typedef struct mc_profile {
    char model[MC_NAME_MAX];
    int n_layers;
    mc_prof_layer *layers;
    int has_link;
    double link_a, link_b; /* seconds per byte, seconds per message */
    int has_cuts;          /* layers' cut_bytes are set (else a chain: cut k = layer k's input) */
} mc_profile;

typedef struct mc_profile_opts {
    int threads;       /* <= 0: library default */
    int repeat;        /* timed runs per layer / part (median taken) */
    int n_parts;       /* part counts to try */
    int parts[8];
    unsigned long long seed;
    int device;        /* mc_backend_kind: MC_BACKEND_CPU (0) or MC_BACKEND_CUDA */
} mc_profile_opts;

/* Measures every layer of `m` and its split variants on the backend o->device. */
mc_status mc_profile_measure(mc_model *m, const mc_profile_opts *o, mc_profile *out);
void mc_profile_free(mc_profile *p);
/* The same profile from a device model instead of a measurement
 * (profile_devmodel.c): latencies and memory of the emulated device. */
struct mc_devmodel;
mc_status mc_profile_model(const mc_model *m, const struct mc_devmodel *dm, const int *parts, int n_parts,
                           mc_profile *out);

/* Sets every layer's cut_bytes, view, fold_of and stream_ring_bytes from
 * model m (the profile's model). */
void mc_profile_fill_cuts(mc_profile *p, const mc_model *m);
/* The end of a split task of layer l: l + 1, or l + 2 when the batchnorm
 * folded into l follows it (the task then holds both, farm.h). */
int mc_profile_split_end(const mc_profile *p, int l);
/* Bytes crossing cut k of the profiled model (k = n_layers: the model's output). */
double mc_profile_cut_bytes(const mc_profile *p, int k);

/* Memory a node needs for a layer (or part) as net.c allocates it. */
double mc_prof_mem(double weight_bytes, double in_bytes, double out_bytes, double ws_bytes);

cJSON *mc_profile_to_json(const mc_profile *p);
/* `origin` names the file in messages. */
mc_status mc_profile_from_json(const cJSON *j, const char *origin, mc_profile *out);
mc_status mc_profile_load(const char *path, mc_profile *out);
/* MC_ERR_INVALID_ARG with a message if the profile was not made for `m`
 * (model name, layer count or a layer name differ). */
mc_status mc_profile_check_model(const mc_profile *p, const mc_model *m, const char *origin);

/* Least squares t = a*x + b over n >= 2 points (x not all equal). */
mc_status mc_fit_line(const double *x, const double *y, int n, double *a, double *b);

/* Times `repeat` HTTP POSTs of each size in sizes[] to http://host_port/
 * (any HTTP server answering POST); fills sec[i*repeat + r] and fits the line. */
mc_status mc_link_measure(const char *host_port, const size_t *sizes, int n_sizes, int repeat,
                          double *sec, double *a, double *b);

#endif
