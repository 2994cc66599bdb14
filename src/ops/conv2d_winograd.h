/* conv2d_winograd.h - the Winograd F(2x2,3x3) path of conv2d (see the .c). */
#ifndef MC_CONV2D_WINOGRAD_H
#define MC_CONV2D_WINOGRAD_H

#include "op.h"

/* 1 if conv2d layer l takes the Winograd path (3x3, stride 1, large output). */
int mc_winograd_applies(const mc_layer *l);
/* Scratch floats of the Winograd path (0 if it does not apply). */
size_t mc_winograd_workspace(const mc_layer *l);
/* Bytes of the transformed weights of layer l (16/9 of its weights). */
size_t mc_winograd_weight_bytes(const mc_layer *l);
/* Builds the transformed weights into l->cpu_state if the layer applies and
 * they fit in *budget (which is reduced); otherwise leaves the im2col path. */
mc_status mc_winograd_prepare(mc_layer *l, size_t *budget);
void mc_winograd_release(mc_layer *l, size_t *budget);
/* Needs mc_winograd_prepare() first; ws holds mc_winograd_workspace() floats. */
mc_status mc_winograd_forward(const mc_layer *l, const float *in, float *out, float *ws);

#endif
