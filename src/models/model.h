/* model.h - models as data.
 *
 * A model is a named input shape plus a table of layers.  It is read from a
 * small line-oriented text format (docs/model-format.md), so the built-in
 * models are strings in zoo*.c and a user's model is a file:
 *
 *     model alexnet
 *     input 224 224 3                      # H W C
 *     conv2d conv1 filters=48 kernel=11 stride=4 padding=same act=relu
 *     maxpool2d pool1 pool=2 stride=2
 *     flatten flat
 *     dense fc1 units=4096 act=relu
 *
 * A layer reads the layer above it unless it names its inputs (in=a,b), so
 * a model is a graph (residual adds, concatenations, branches) written in a
 * topological order; a chain needs no in= at all.  Only the last layer's
 * output is the model's, and every other output must be read.
 *
 * Building a model infers every layer's shapes; it computes nothing and
 * allocates no weights (see weights.h).  Any contiguous layer range
 * [first, last) can run on its own (net.h): it is the piece of the graph
 * between two cuts, which is what farm tasks are.
 */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include "../ops/op.h"

/* The name by which in= refers to the model's input (no layer may take it). */
#define MC_MODEL_INPUT_NAME "input"

typedef struct mc_model {
    char name[MC_NAME_MAX];
    mc_shape input;  /* shape of the model's input */
    int n_layers;
    mc_layer *layers; /* n_layers entries, shapes inferred */
    int input_last_reader; /* index of the last layer reading the model's input */
} mc_model;

/* Parses `text`; `origin` names the file in error messages ("alexnet", a path). */
mc_status mc_model_parse(const char *text, const char *origin, mc_model *m);
mc_status mc_model_load_file(const char *path, mc_model *m);
/* Built-in models: "alexnet", "vgg16", "resnet50", "xception", "c3d". */
mc_status mc_model_builtin(const char *name, mc_model *m);
/* NULL-terminated list of built-in model names. */
const char *const *mc_model_builtin_names(void);
/* The text of a built-in model (NULL if unknown). */
const char *mc_model_builtin_text(const char *name);
/* Built-in name or, if it is not one, a path to a model file. */
mc_status mc_model_open(const char *name_or_path, mc_model *m);
void mc_model_free(mc_model *m);

/* Index of the layer called `name`, or -1. */
int mc_model_find_layer(const mc_model *m, const char *name);
/* Validates a layer range [first, last). */
mc_status mc_model_check_range(const mc_model *m, int first, int last);

/* Cuts (cut.c).  Cut k, 0 <= k <= n_layers, lies before layer k: layers
 * [0, k) on one side, [k, n) on the other.  The tensors crossing it are the
 * outputs made before it (by a layer < k, or the model's input) that a layer
 * at or after k reads; cut 0 carries the model's input and cut n_layers the
 * model's output (the last layer's).  In a chain every cut carries one
 * tensor; inside a residual block two (the block's input and the branch).
 *
 * Layer range [first, last) is the piece between cuts first and last: it
 * reads the tensors of cut `first` and gives those of cut `last` (a tensor
 * crossing both passes through unchanged).  Running consecutive pieces,
 * each fed the previous one's outputs, gives the whole model's numbers bit
 * for bit (tests/check_net.c).
 *
 * Where several tensors cross a cut they travel as one array of floats:
 * concatenated in producer order (the model's input first, then by layer
 * index), each in its own layout (tensor.h).  A batchnorm folded into its
 * convolution (op.h) is one layer with it for cuts: the convolution's
 * output already is the batchnorm's. */
typedef struct mc_cut_tensor {
    int producer;     /* layer index, or -1 for the model's input */
    const char *name; /* the producer's name, or MC_MODEL_INPUT_NAME */
    mc_shape shape;   /* as the producer makes it */
    size_t floats;    /* element count (bytes = 4 * floats) */
    size_t offset;    /* floats before it in the cut's concatenation */
} mc_cut_tensor;

/* Fills t[0 .. min(count, max)) with the tensors crossing cut k, in producer
 * order, and returns their count; -1 if k is not in [0, n_layers]. */
int mc_model_cut(const mc_model *m, int k, mc_cut_tensor *t, int max);
/* Floats crossing cut k, all tensors together (0 if k is out of range). */
size_t mc_model_cut_floats(const mc_model *m, int k);
/* The input of range [first, ...) and the output of range [..., last): for a
 * cut of one tensor its shape as the layer next to the cut sees it (a chain
 * layer's `in` / `out`, also for a farm's split part), for several the
 * vector {total floats, 1, 1, 1} of their concatenation. */
mc_shape mc_model_range_in(const mc_model *m, int first);
mc_shape mc_model_range_out(const mc_model *m, int last);
double mc_model_macs(const mc_model *m, int first, int last);
size_t mc_model_param_count(const mc_model *m, int first, int last);

#endif
