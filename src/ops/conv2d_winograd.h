/* conv2d_winograd.h - the Winograd F(2x2,3x3) path of conv2d (see the .c). */
#ifndef MC_CONV2D_WINOGRAD_H
#define MC_CONV2D_WINOGRAD_H

#include "op.h"

/* 1 if conv2d layer l takes the Winograd path (3x3, stride 1, large output). */
int mc_winograd_applies(const mc_layer *l);
/* Scratch floats of the Winograd path (0 if it does not apply). */
size_t mc_winograd_workspace(const mc_layer *l);
/* Bytes of the transformed weights of layer l (16/9 of its weights; 0 if it
 * does not apply). */
size_t mc_winograd_weight_bytes(const mc_layer *l);
/* Builds the transformed weights into l->cpu_state if the layer applies and
 * they fit in d->budget (which is reduced by what they add); otherwise leaves
 * the im2col path.  With d->drop_weights the plain weights are freed once
 * transformed (the layer then adds 7/16 of U, U - W, and cannot be prepared
 * again); d->band_floats (0: default) is recorded in l->cpu_band_floats and
 * sizes the workspace of the layer's tile bands. */
mc_status mc_winograd_prepare(mc_layer *l, mc_cpu_derived *d);
/* Frees the transforms and gives their cost back to d->budget. */
void mc_winograd_release(mc_layer *l, mc_cpu_derived *d);
/* Needs mc_winograd_prepare() first; ws holds mc_winograd_workspace() floats. */
mc_status mc_winograd_forward(const mc_layer *l, const float *in, float *out, float *ws);

#endif
