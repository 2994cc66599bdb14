/* op.h - the op table: what each layer kind is and how its shapes work.
 *
 * A layer is data (mc_layer): an op type plus parameters.  Everything an op
 * needs to be added is one file src/ops/<name>.c that defines its entry of
 * mc_op_table (shape inference, parameter shapes, workspace size, CPU
 * forward) and, for the GPU, a twin src/backend/cuda/<name>.cu.  Adding an op
 * = a new enum value + a new file + its line in op.c's table, which lists
 * the entries in enum order without indices, so that the static_assert there
 * makes a missing entry a compile error (as ggml does).
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
    MC_OP_BATCHNORM,
    MC_OP_ADD,
    MC_OP_CONCAT,
    MC_OP_GLOBALAVGPOOL,
    MC_OP_AVGPOOL2D,
    MC_OP_ZEROPAD,
    MC_OP_DWCONV2D,
    MC_OP_SEPCONV2D,
    MC_OP_CONV3D,
    MC_OP_MAXPOOL3D,
    MC_OP_TPYRAMID,
    MC_OP_COUNT
} mc_op_type;

/* Most inputs one layer reads (add, concat), and most extra parameter
 * tensors one layer holds besides weight and bias (mc_layer.aux). */
#define MC_MAX_INPUTS 8
#define MC_MAX_AUX 2

typedef enum mc_act { MC_ACT_NONE, MC_ACT_RELU, MC_ACT_SOFTMAX, MC_ACT_COUNT } mc_act;
typedef enum mc_padding { MC_PAD_VALID, MC_PAD_SAME } mc_padding;

typedef struct mc_layer {
    mc_op_type op;
    char name[MC_NAME_MAX]; /* unique within a model, e.g. "conv3" */
    int index;              /* position in the model */

    /* Graph (filled by the model parser): the layers whose outputs this one
     * reads, in order; -1 is the model's input.  Layers are stored in a
     * topological order (every input is an earlier layer), so a layer range
     * [first, last) is a piece of the graph between two cuts (model.h). */
    int n_in;
    int inputs[MC_MAX_INPUTS];
    int last_reader; /* index of the last layer reading this one's output (-1: none) */

    /* Parameters from the model description (meaning per op). */
    int units;          /* conv2d, sepconv2d, conv3d: filters; dense: output units;
                         * dwconv2d: C * mult, set by infer */
    int kh, kw;         /* conv2d kernel / maxpool window */
    int sh, sw;         /* strides */
    mc_padding padding; /* conv2d, maxpool2d */
    mc_act act;         /* activation fused after conv2d / dense */
    int kt, st;         /* conv3d, maxpool3d: kernel and stride along T (frames) */
    int mult;           /* dwconv2d: depth multiplier (outputs per input channel) */
    int pads[6];        /* zeropad: zeros added top, bottom, left, right, front, back */
    float eps;          /* batchnorm: added to the variance */
    int no_bias;        /* bias=no: the file holds no bias; it is zero in memory */
    int levels;         /* tpyramid: pyramid levels (4: 15 pools) */
    int first, frames;  /* tpyramid: the window, input frames [first, first + frames) (0: to the end) */

    /* Filled by mc_layer_infer(). */
    mc_shape in, out;
    int pad_top, pad_left;   /* zero rows/cols before the input (same padding) */
    mc_shape wshape, bshape; /* parameter shapes; count 0 when the op has none */
    int has_params;
    mc_shape ins[MC_MAX_INPUTS];      /* shape of every input; ins[0] == in */
    int pad_front;                    /* conv3d, maxpool3d: zero frames before the input */
    mc_shape auxshape[MC_MAX_AUX];    /* extra parameters (op's aux_names); count 0: none */

    /* Batch normalization folding, decided by the model parser: a batchnorm
     * whose input is a convolution read by nothing else becomes part of it.
     * The convolution takes over the batchnorm's activation, and its output
     * *is* the batchnorm's (also where a cut separates them); the batchnorm
     * layer runs nothing.  mc_net_init folds the parameters (models/fold.c). */
    int fold_bn;   /* convolution: index of the batchnorm folded into it (0: none) */
    int alias;     /* output is input 0's data unchanged (flatten, folded batchnorm) */
    int bn_folded; /* convolution: its weight and bias hold the batchnorm already */

    /* Parameters, owned by the layer once loaded (see models/weights.h).
     * conv2d weight: HWIO = {Cout, Cin, KW, KH} in ne order, so element
     *   (ky, kx, ci, co) is at ((ky*KW + kx)*Cin + ci)*Cout + co.
     * dense weight: {in, out} rows of W, so W[o][i] is at o*in + i (y = W x + b). */
    mc_tensor weight, bias;
    /* aux: batchnorm's moving mean and variance, sepconv2d's pointwise
     * kernel; see the op's aux_names. */
    mc_tensor aux[MC_MAX_AUX];
    /* Data the CPU backend derives from the weights in prepare (Winograd
     * transforms); device backends keep theirs in weight.extra, so one layer
     * can be prepared on both at once (GPU-vs-CPU tests, mixed farms). */
    void *cpu_state;
    /* The CPU backend's packed copy of a 1x1 (pointwise) kernel
     * (conv2d_pointwise.c), built in prepare like cpu_state. */
    void *cpu_packed;
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
    /* Ops that read several inputs (add, concat): ins[k] holds l->ins[k]
     * floats.  Such ops take 2..MC_MAX_INPUTS inputs, all others exactly
     * one; their forward_cpu only reports that it was called with one. */
    mc_status (*forward_cpu_n)(const mc_layer *l, const float *const *ins, float *out, float *ws);
    /* 1: forward may write the output over input 0 (out == in), so the net
     * runner can reuse a dying input's buffer; element-wise ops only. */
    int inplace;
    /* Names of the aux parameter tensors, "<layer>.<name>" in weight files. */
    const char *aux_names[MC_MAX_AUX];
    /* Optional, ops over clips (activations {C, W, H, T}: ne[3] frames of
     * H x W x C): output frame `ot` alone.  win[k] is input frame
     * mc_op_frame_first(l, ot) + k for k < l->kt (NULL where that frame is
     * padding, outside [0, T)); out is one output frame, ws the layer's
     * workspace.  forward_cpu of such an op runs exactly this, frame by
     * frame, so a net streaming a clip through a chain of them a few frames
     * at a time (models/net_stream.c) gets the whole-tensor numbers bit for
     * bit.  NULL: the op does not stream. */
    mc_status (*forward_frame_cpu)(const mc_layer *l, const float *const *win, int ot, float *out, float *ws);
} mc_op_def;

extern const mc_op_def mc_op_conv2d, mc_op_maxpool2d, mc_op_dense, mc_op_relu, mc_op_softmax,
    mc_op_flatten, mc_op_batchnorm, mc_op_add, mc_op_concat, mc_op_globalavgpool, mc_op_avgpool2d,
    mc_op_zeropad, mc_op_dwconv2d, mc_op_sepconv2d, mc_op_conv3d, mc_op_maxpool3d,
    mc_op_tpyramid;

/* Indexed by mc_op_type. */
const mc_op_def *mc_op_get(mc_op_type t);
/* The threads a layer's CPU kernels use, as their prepare_cpu records them
 * in l->cpu_threads: OpenMP's maximum (1 without OpenMP). */
int mc_op_max_threads(void);
/* Threads to size a layer's workspace for: those prepared, or all available. */
int mc_op_ws_threads(const mc_layer *l);
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
/* Shape inference of a 2-D pooling window (maxpool2d.c; avgpool2d too). */
mc_status mc_pool2d_infer(mc_layer *l);
/* Most frames one window of a clip op reads (conv3d's and maxpool3d's kt). */
#define MC_MAX_WINDOW 32
/* forward_cpu of an op with forward_frame_cpu: every output frame in turn,
 * its window pointing into `in`. */
mc_status mc_op_forward_by_frames(const mc_layer *l, const float *in, float *out, float *ws);
/* Frame streaming (forward_frame_cpu): the first input frame output frame
 * ot reads (may be < 0: padding); the window is l->kt frames. */
int mc_op_frame_first(const mc_layer *l, int ot);
/* Floats of one frame of a clip-shaped tensor (W * H * C of {C, W, H, T}). */
size_t mc_shape_frame_floats(const mc_shape *s);
/* For forward_cpu of multi-input ops: the error for a call with one input. */
mc_status mc_op_needs_inputs(const mc_layer *l);
/* Whether the op reads several inputs (has forward_cpu_n). */
int mc_op_multi_input(mc_op_type t);
/* Whether `op` is a convolution a following batchnorm can fold into. */
int mc_op_folds_bn(mc_op_type t);

#endif
