/* model.h - models as data.
 *
 * A model is a named input shape plus a table of layers.  It is read from a
 * small line-oriented text format (docs/model-format.md), so AlexNet and
 * VGG16 are two strings in zoo.c and a user's model is a file:
 *
 *     model alexnet
 *     input 224 224 3                      # H W C
 *     conv2d conv1 filters=48 kernel=11 stride=4 padding=same act=relu
 *     maxpool2d pool1 pool=2 stride=2
 *     flatten flat
 *     dense fc1 units=4096 act=relu
 *
 * Building a model infers every layer's shapes; it computes nothing and
 * allocates no weights (see weights.h).  Any contiguous layer range
 * [first, last) can run on its own (net.h), which is what farm tasks are.
 */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include "../ops/op.h"

typedef struct mc_model {
    char name[MC_NAME_MAX];
    mc_shape input;  /* shape of the model's input */
    int n_layers;
    mc_layer *layers; /* n_layers entries, shapes inferred */
} mc_model;

/* Parses `text`; `origin` names the file in error messages ("alexnet", a path). */
mc_status mc_model_parse(const char *text, const char *origin, mc_model *m);
mc_status mc_model_load_file(const char *path, mc_model *m);
/* Built-in models: "alexnet", "vgg16". */
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
/* Input shape of layer `first` / output shape of layer last-1. */
mc_shape mc_model_range_in(const mc_model *m, int first);
mc_shape mc_model_range_out(const mc_model *m, int last);
double mc_model_macs(const mc_model *m, int first, int last);
size_t mc_model_param_count(const mc_model *m, int first, int last);

#endif
