/* split.h - model parallelism as data: how one layer is cut into parts.
 *
 * A split request is (full layer, method, parts, k).  mc_split_make_part()
 * answers with an mc_split_part: an ordinary mc_layer (the sub-layer part k
 * runs, with its own shapes and, once loaded, its own weight slice), a
 * description of which piece of the full layer's input the part needs, and
 * where its output goes in the merged result.  Nothing here runs a network;
 * the farm runtime sends each part its input slice, runs the sub-layer on any
 * backend, and merges with mc_split_merge_*.
 *
 *   method        part k computes                     input of part k        merge
 *   fc_output     rows [o0,o1) of W, b; act applied    whole input            concat
 *   fc_input      W[:, i0:i1] x[i0:i1] (no act;        x[i0:i1]               sum, act
 *                 part 0 adds b)
 *   conv_channel  filters [o0,o1); act applied         whole input            depth concat
 *   conv_filter   in-channels [i0,i1), all filters,    channels [i0,i1)       sum, act
 *                 partial sums (no act; part 0 adds b)
 *   conv_spatial  output tile [y0,y1)x[x0,x1) of a     input tile + halo      spatial concat
 *                 grid gh x gw; all filters, act
 *
 * The conv methods apply to every convolution kind (op.h):
 *   conv2d, conv3d   as above; conv3d's tiles cut H x W and keep all frames
 *   sepconv2d        channel: the whole depthwise step, pointwise filters
 *                    [o0,o1); filter: depthwise on channels [i0,i1) and the
 *                    pointwise rows they feed, partial sums; spatial: tiles
 *   dwconv2d         channel: input channels [i0,i1) and their outputs
 *                    [i0*M, i1*M) (each output reads one input channel, so
 *                    the input is sliced and the merge is a depth concat);
 *                    spatial: tiles (no filter splitting: nothing to sum)
 *
 * A convolution with a batchnorm folded into it (op.h, models/fold.h) is
 * split as the folded layer: mc_split_part_fold_bn scales every part's
 * weights by the batchnorm's per-channel scale (a channel part by its slice
 * of it) and adds the shift to the bias a part holds: all of a channel or
 * spatial part's, only part 0's for the sum merges (conv_filter), whose
 * other parts carry no bias.  So every part, merged, equals the folded
 * layer, and whoever merges still needs no parameters.
 *
 * Sum merges: part 0 holds the full bias and the other parts none, so the
 * receiver of the parts holds no parameters: it sums and applies the
 * activation.
 *
 * Softmax is the one activation that cannot run on a part of the channels:
 * for fc_output/conv_channel parts of a softmax layer the part has no
 * activation and the merge applies it.
 *
 * Spatial parts: the output grid is cut as evenly as possible; output rows
 * [y0,y1) need input rows [y0*sh - pad_top, (y1-1)*sh + kh - pad_top) (for a
 * stride-1 "same" conv that is the tile grown by floor(k/2) each side).  The
 * sub-layer has VALID padding and its input tile includes the zero rows and
 * columns of the full layer's padding (mc_split_slice_input writes them), so
 * the sub-layer is an ordinary conv that mc_layer_infer() reproduces and any
 * backend runs unchanged.
 *
 * Weights: mc_split_part_load_from() copies the slice out of the full layer's
 * weights; mc_split_part_load_random() generates it directly from the seed
 * without the full tensor: weights.h defines element e of layer i's weight
 * as uniform(seed, 2i, e) * scale(full layer) and bias element e as
 * 0.01 * uniform(seed, 2i+1, e), and mc_split_weight_runs() maps every
 * element of the part to its full-tensor index e, so each run of
 * consecutive elements is one mc_rng_fill call.
 */
#ifndef MC_SPLIT_H
#define MC_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "../ops/op.h"
#include "model.h"

typedef enum mc_split_method {
    MC_SPLIT_DATA,         /* replicas; not a layer split (for farm files and the planner) */
    MC_SPLIT_FC_OUTPUT,
    MC_SPLIT_FC_INPUT,
    MC_SPLIT_CONV_CHANNEL,
    MC_SPLIT_CONV_FILTER,
    MC_SPLIT_CONV_SPATIAL,
    MC_SPLIT_METHOD_COUNT
} mc_split_method;

/* "data", "fc_output", ... (the farm file's names). */
const char *mc_split_method_name(mc_split_method m);
/* MC_SPLIT_METHOD_COUNT if unknown. */
mc_split_method mc_split_method_from_name(const char *name);
/* 1 if `m` can split layer `l` at all (kind of layer; not the part count). */
int mc_split_method_applies(mc_split_method m, const mc_layer *l);

/* Which piece of the full layer's input a part needs. */
typedef enum mc_split_input_kind {
    MC_SPLIT_IN_WHOLE,  /* the whole input */
    MC_SPLIT_IN_RANGE,  /* flat elements [lo, hi) (fc_input) */
    MC_SPLIT_IN_CHANNELS, /* channels [lo, hi) of every pixel (conv_filter) */
    MC_SPLIT_IN_TILE    /* rows [y0,y1) x cols [x0,x1), all channels; may reach outside (zeros) */
} mc_split_input_kind;

/* How the part's output goes into the merged output. */
typedef enum mc_split_merge_kind {
    MC_SPLIT_MERGE_CONCAT, /* channels [lo, hi) of every pixel (vector: elements) */
    MC_SPLIT_MERGE_SUM,    /* added to the others; then bias and activation */
    MC_SPLIT_MERGE_TILE    /* output rows [y0,y1) x cols [x0,x1), all channels */
} mc_split_merge_kind;

typedef struct mc_split_part {
    mc_split_method method;
    int parts, k;          /* part k of `parts` */
    int grid_h, grid_w;    /* conv_spatial grid (parts = grid_h * grid_w); 1x1 otherwise */
    mc_layer layer;        /* the sub-layer part k runs; weights empty until loaded */
    mc_shape full_in, full_out; /* the full layer's shapes */
    int full_index;        /* the full layer's index (random weight streams) */

    mc_split_input_kind in_kind;
    int in_lo, in_hi;              /* RANGE: flat elements; CHANNELS: channels */
    int in_y0, in_y1, in_x0, in_x1; /* TILE, in full-input coordinates */
    int in_t0, in_t1;              /* TILE: frames (all of them, with the T padding; 0, 1 for images) */

    mc_split_merge_kind merge_kind;
    int out_lo, out_hi;              /* CONCAT: channels of the full output */
    int out_y0, out_y1, out_x0, out_x1; /* TILE: rows/cols of the full output */
} mc_split_part;

/* Part k of `parts` of layer `full` (shapes inferred).  For conv_spatial,
 * grid_h x grid_w must equal parts (pass 0,0 to let it pick the most square
 * grid with grid_h >= grid_w).  Errors name the layer and the constraint
 * (more parts than filters, spatial split of a dense layer, ...).  The part
 * owns no memory until a load function fills its weights. */
mc_status mc_split_make_part(const mc_layer *full, mc_split_method method, int parts, int grid_h,
                             int grid_w, int k, mc_split_part *out);
/* Frees the part's weights. */
void mc_split_part_free(mc_split_part *p);

/* Floats of the part's input / output. */
size_t mc_split_in_count(const mc_split_part *p);
size_t mc_split_out_count(const mc_split_part *p);

/* One run of part weight elements [dst, dst+len) = full elements [src, src+len). */
typedef struct mc_split_run {
    size_t dst, src, len;
} mc_split_run;
/* Parameter tensors of a part, as mc_split_weight_runs numbers them. */
enum { MC_SPLIT_WEIGHT = 0, MC_SPLIT_BIAS = 1, MC_SPLIT_AUX0 = 2 };
/* Calls fn for each run of the part's parameter tensor `which` (weight,
 * bias or aux k as MC_SPLIT_AUX0 + k: sepconv2d's pointwise kernel); a part
 * whose bias is zero (fc_input, conv_filter parts other than 0, layers
 * with bias=no) has no bias runs. */
void mc_split_weight_runs(const mc_split_part *p, int which,
                          void (*fn)(const mc_split_run *r, void *ctx), void *ctx);

/* Allocates the part's weights and copies them from the full layer's (loaded) weights. */
mc_status mc_split_part_load_from(mc_split_part *p, const mc_layer *full);
/* Allocates and generates the part's weights as mc_weights_random would for
 * the full layer (same numbers), without the full tensor.  `full` gives the
 * scale and the layer index. */
mc_status mc_split_part_load_random(mc_split_part *p, const mc_layer *full, uint64_t seed);

/* Folds batchnorm `bn` (its parameters loaded) into a part of the
 * convolution it follows, whose weights are loaded and not yet folded (see
 * the top of this file); marks the part's layer bn_folded. */
mc_status mc_split_part_fold_bn(mc_split_part *p, const mc_layer *bn);

/* Writes the part's input (mc_split_in_count floats) from the full layer's input. */
void mc_split_slice_input(const mc_split_part *p, const mc_layer *full, const float *in, float *out);

/* Merging, incrementally as parts arrive (any order):
 *   mc_split_merge_begin(full, method, out)   zeroes `out` for sum merges
 *   mc_split_merge_add(p, full, part_out, out) puts or adds part p's output
 *   mc_split_merge_end(full, method, out)     sum merges: activation (part 0
 *                                             brought the bias); softmax of concat merges
 * `out` has the full layer's output count; `full` needs only its shapes and
 * activation (no weights). */
void mc_split_merge_begin(const mc_layer *full, mc_split_method method, float *out);
void mc_split_merge_add(const mc_split_part *p, const mc_layer *full, const float *part_out,
                        float *out);
void mc_split_merge_end(const mc_layer *full, mc_split_method method, float *out);
/* All at once: outs[k] is part k's output. */
void mc_split_merge(const mc_split_part *parts, int n, const mc_layer *full,
                    const float *const *outs, float *out);

/* Weight floats part k holds (weight, bias, aux), without making it (for the planner). */
size_t mc_split_param_count(const mc_split_part *p);

/* ---- a split layer inside a graph: the messages of a split task ---------
 *
 * A split task runs layer l alone, i.e. the piece of the graph between cuts
 * l and l+1 (model.h), or l and l+2 when the batchnorm folded into l is layer
 * l+1 (it runs nothing: its output is l's; "l+1" below means the task's end).  Besides l's input x, cut l may carry tensors that
 * cross cut l+1 as well (a residual block's input while its branch is
 * split; x itself when a later layer reads it too): they pass through, and
 * they travel with part 0 only, so the other parts' messages stay as small
 * as the method makes them:
 *     part k's input  = [k == 0: the through tensors] ++ its piece of x
 *     part k's output = [k == 0: the through tensors] ++ its part of l's output
 * (the through tensors in producer order, each whole).  Merging gives cut
 * l+1's concatenation: the through tensors, then l's merged output, which
 * is the last tensor of cut l+1 (every other one was made before l).  In a
 * chain nothing passes through and these are the layer's piece and part. */
#define MC_SPLIT_MAX_THROUGH 16

typedef struct mc_split_io {
    const mc_split_part *parts; /* the n parts (not owned) */
    int n;
    const mc_layer *full;       /* the split layer (shapes, activation; not owned) */
    size_t in_total, out_total; /* floats of cut l's / cut l+1's concatenation */
    size_t x_off;               /* where x lies in cut l's concatenation */
    int n_through;
    size_t through;             /* floats passing through, all together */
    size_t th_off[MC_SPLIT_MAX_THROUGH], th_n[MC_SPLIT_MAX_THROUGH]; /* in cut l's concatenation */
} mc_split_io;

/* Where a split task of layer l ends: l + 1, or l + 2 when layer l + 1 is
 * the batchnorm folded into l (the task holds it: nothing to run). */
int mc_split_task_end(const mc_model *m, int l);
/* The messages of split task [l, mc_split_task_end) of model m, l = parts[0].full_index;
 * `parts` (n of them) and the model must outlive io. */
mc_status mc_split_io_init(mc_split_io *io, const mc_model *m, const mc_split_part *parts, int n);
/* Floats of part k's input and output messages. */
size_t mc_split_io_in_count(const mc_split_io *io, int k);
size_t mc_split_io_out_count(const mc_split_io *io, int k);
/* Part k's input message from cut l's concatenation `whole`. */
void mc_split_io_slice(const mc_split_io *io, int k, const float *whole, float *out);
/* Merging the parts' output messages into cut l+1's concatenation `out`
 * (io->out_total floats), in any order, as mc_split_merge_* do. */
void mc_split_io_merge_begin(const mc_split_io *io, float *out);
void mc_split_io_merge_add(const mc_split_io *io, int k, const float *part_out, float *out);
void mc_split_io_merge_end(const mc_split_io *io, float *out);

#endif
