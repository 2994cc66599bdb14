/* net.h - running a layer range [first, last) of a model on a backend.
 *
 * The whole model is the range [0, n_layers); a farm task is any other
 * range, i.e. the piece of the graph between cuts `first` and `last`
 * (model.h).  The piece reads the tensors crossing cut `first` and gives
 * those crossing cut `last`; in a chain that is one tensor each way.
 * Running consecutive pieces, each fed the previous one's outputs, gives
 * the same numbers as the whole model bit for bit: every layer runs the
 * same code on the same data in the same order.
 *
 * Memory is planned once, at init: every tensor the piece holds (an input,
 * or a layer's output) gets a buffer from a pool, and a buffer goes back to
 * the pool as soon as the last layer reading its tensor has run, so a chain
 * needs two (ping-pong) and a residual block one or two more.  An
 * element-wise layer (add, relu, batchnorm) whose first input dies with it
 * writes over that input.  Layers that are views (flatten, a batchnorm
 * folded into its convolution) share their input's buffer and run nothing.
 * One workspace serves the hungriest layer.  forward() allocates nothing,
 * so memory does not grow with the number of inferences.
 *
 * On a host backend (the CPU) the range's inputs are not copied: layers
 * read the caller's input arrays, which the net never writes, and the
 * layers making the range's outputs write straight into the caller's
 * output arrays (a tensor passing through is copied).  So a node holding a
 * frame does not hold it twice.  Inputs and outputs must not overlap.
 *
 * Chains of 3-D layers (conv3d, maxpool3d), each the only reader of the one
 * before, run a frame at a time on backends that can (net_stream.h): only
 * the chain's input and last output are whole tensors, and what lies
 * between is rings of a few frames, so a C3D range holds neither conv1's
 * 51 MB output nor conv2's 26 MB.  The numbers are the same bit for bit.
 */
#ifndef MC_NET_H
#define MC_NET_H

#include "../backend/backend.h"
#include "model.h"
#include "net_stream.h"

typedef struct mc_net {
    mc_model *model;
    int first, last;     /* layer range */
    mc_backend *be;
    int n_bufs;          /* activation buffers of the pool */
    void **bufs;         /* backend buffers */
    size_t *buf_bytes;   /* their sizes */
    void *ws;            /* backend workspace */
    size_t ws_bytes;
    int *val_buf;        /* [v + 1]: buffer of value v (layer v's output, -1 the model's input), -1 none */
    int n_in, n_out;     /* tensors crossing cut first / cut last */
    mc_cut_tensor *in_t, *out_t; /* their shapes as this range reads / makes them, offsets in the concatenation */
    void **io;                   /* the caller's arrays in this forward: inputs, then outputs (host backends) */
    const float **in_ptr;        /* scratch for mc_net_forward: the inputs inside its concatenation */
    float **out_ptr;
    const void *argv[MC_MAX_INPUTS]; /* scratch: buffers of one multi-input layer */
    int n_chains;        /* streamed chains of clip layers (net_stream.h) */
    mc_net_chain *chains;
    int *chain_of;       /* [i - first]: the chain layer i belongs to, -1 none (NULL: no chains) */
    int profile;         /* 1: time each layer (synchronises after each) */
    double *layer_sec;   /* seconds of the last forward, per layer in range (0 for views) */
} mc_net;

/* Weights of [first, last) must be loaded (mc_weights_*: they include the
 * batchnorms folded into convolutions of the range); folds those
 * batchnorms, plans the buffers and prepares each layer on the backend. */
mc_status mc_net_init(mc_net *n, mc_model *m, int first, int last, mc_backend *be);
/* Flags of mc_net_init_ex. */
enum {
    /* Only the tensors the range's layers read (inputs) and make (outputs):
     * tensors that merely pass through the range (cross both cuts) are left
     * out.  A farm's split part runs its layer so; part 0 carries the
     * through tensors beside the net (models/split.h, mc_split_io). */
    MC_NET_OWN_TENSORS = 1,
    /* Every layer on whole tensors: no chain streams frame by frame
     * (tests compare both; the numbers are the same). */
    MC_NET_WHOLE = 2
};
mc_status mc_net_init_ex(mc_net *n, mc_model *m, int first, int last, mc_backend *be, unsigned flags);
/* in: the floats of the range's inputs, out: of its outputs (host memory),
 * each the concatenation of the cut's tensors in producer order (model.h);
 * in a chain simply the input and output of the range. */
mc_status mc_net_forward(mc_net *n, const float *in, float *out);
/* The same with one host array per tensor: ins[k] holds mc_net_input(n, k)
 * floats, outs[k] receives mc_net_output(n, k)'s. */
mc_status mc_net_forward_n(mc_net *n, const float *const *ins, float *const *outs);
void mc_net_free(mc_net *n);

/* Floats of all inputs / outputs together. */
size_t mc_net_in_count(const mc_net *n);
size_t mc_net_out_count(const mc_net *n);
/* The tensors crossing cut first / cut last: count, then each (producer,
 * name, shape as this range reads or makes it, floats, offset). */
int mc_net_n_inputs(const mc_net *n);
int mc_net_n_outputs(const mc_net *n);
const mc_cut_tensor *mc_net_input(const mc_net *n, int k);
const mc_cut_tensor *mc_net_output(const mc_net *n, int k);
/* Bytes of activation buffers the net holds (the pool and the rings of
 * streamed chains, without workspace). */
size_t mc_net_activation_bytes(const mc_net *n);

/* Monotonic clock in seconds. */
double mc_now(void);

#endif
