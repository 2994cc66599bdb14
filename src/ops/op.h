/* op.h - the op table: what each layer kind is and how its shapes work.
 *
 * A layer is data (mc_layer): an op type plus parameters.  Everything an op
 * needs to be added is one file src/ops/<name>.c that defines its entry of
 * mc_op_table (shape inference, parameter shapes, workspace size, CPU
 * forward) and, for the GPU, a twin src/backend/cuda/<name>.cu.  Adding an op
 * = a new enum value + a new file; the static_assert below makes a missing
 * table entry a compile error (as ggml does).
 *
 * Shape inference computes nothing heavy: mc_layer_infer() validates the
 * parameters against the input shape and fills out-shape, padding and weight
 * shapes.  Work happens only in forward().
 */
#ifndef MC_OP_H
#define MC_OP_H

#include "../core/status.h"
#include "../core/tensor.h"

typedef enum mc_op_type {
    MC_OP_CONV2D,
    MC_OP_MAXPOOL2D,
    MC_OP_DENSE,
    MC_OP_RELU,
    MC_OP_SOFTMAX,
    MC_OP_FLATTEN,
    MC_OP_COUNT
} mc_op_type;

typedef enum mc_act { MC_ACT_NONE, MC_ACT_RELU, MC_ACT_SOFTMAX, MC_ACT_COUNT } mc_act;
typedef enum mc_padding { MC_PAD_VALID, MC_PAD_SAME } mc_padding;

typedef struct mc_layer {
    mc_op_type op;
    char name[MC_NAME_MAX]; /* unique within a model, e.g. "conv3" */
    int index;              /* position in the model */

    /* Parameters from the model description (meaning per op). */
    int units;          /* conv2d: filters; dense: output units */
    int kh, kw;         /* conv2d kernel / maxpool window */
    int sh, sw;         /* strides */
    mc_padding padding; /* conv2d, maxpool2d */
    mc_act act;         /* activation fused after conv2d / dense */

    /* Filled by mc_layer_infer(). */
    mc_shape in, out;
    int pad_top, pad_left;   /* zero rows/cols before the input (same padding) */
    mc_shape wshape, bshape; /* parameter shapes; count 0 when the op has none */
    int has_params;

    /* Parameters, owned by the layer once loaded (see models/weights.h).
     * conv2d weight: HWIO = {Cout, Cin, KW, KH} in ne order, so element
     *   (ky, kx, ci, co) is at ((ky*KW + kx)*Cin + ci)*Cout + co.
     * dense weight: {in, out} rows of W, so W[o][i] is at o*in + i (y = W x + b). */
    mc_tensor weight, bias;
    /* Data the CPU backend derives from the weights in prepare (Winograd
     * transforms); device backends keep theirs in weight.extra, so one layer
     * can be prepared on both at once (GPU-vs-CPU tests, mixed farms). */
    void *cpu_state;
    /* Threads the CPU kernels were prepared for; they size per-thread
     * workspace (0: not prepared, the kernels then use one thread). */
    int cpu_threads;
    /* Workspace floats of one Winograd band, as the backend set it at
     * prepare (0: the default). */
    size_t cpu_band_floats;
} mc_layer;

/* What a CPU backend lets ops derive from the weights (prepare_cpu). */
typedef struct mc_cpu_derived {
    size_t budget;      /* bytes still allowed for derived data */
    int drop_weights;   /* free the plain weights once derived (no re-prepare) */
    size_t band_floats; /* Winograd band workspace in floats (0: default) */
} mc_cpu_derived;

typedef struct mc_op_def {
    const char *name; /* keyword in model files and tables */
    /* Validates parameters against l->in and fills the derived fields. */
    mc_status (*infer)(mc_layer *l);
    /* Scratch floats forward_cpu needs for this layer (NULL: none). */
    size_t (*workspace)(const mc_layer *l);
    /* Multiply-accumulates of one forward pass (for GFLOP/s reports). */
    double (*macs)(const mc_layer *l);
    /* in: l->in floats, out: l->out floats, ws: workspace floats. */
    mc_status (*forward_cpu)(const mc_layer *l, const float *in, float *out, float *ws);
    /* Optional: derive CPU-side data from the weights once (e.g. Winograd
     * transforms into cpu_state) and free it again.  d->budget is the bytes
     * the backend still allows for such data: prepare takes what it adds
     * (or skips the derived path when it does not fit), release gives it
     * back; d's other fields are the backend's settings for it.  NULL if
     * none. */
    mc_status (*prepare_cpu)(mc_layer *l, mc_cpu_derived *d);
    void (*release_cpu)(mc_layer *l, mc_cpu_derived *d);
} mc_op_def;

extern const mc_op_def mc_op_conv2d, mc_op_maxpool2d, mc_op_dense, mc_op_relu, mc_op_softmax,
    mc_op_flatten;

/* Indexed by mc_op_type. */
const mc_op_def *mc_op_get(mc_op_type t);
/* Lookup by keyword; returns MC_OP_COUNT if unknown. */
mc_op_type mc_op_from_name(const char *name);
const char *mc_act_name(mc_act a);
mc_act mc_act_from_name(const char *name); /* MC_ACT_COUNT if unknown */

mc_status mc_layer_infer(mc_layer *l);

/* Shared helpers for ops. */
/* Applies `a` in place to n floats; softmax runs over each group of `channels`. */
void mc_act_apply(mc_act a, float *x, size_t n, size_t channels);
/* SAME/VALID output size and leading pad for one axis (TensorFlow rules). */
mc_status mc_window_out(int in, int k, int s, mc_padding p, int *out, int *pad_before);

#endif
