/* conv2d_winograd.h - the Winograd F(2x2,3x3) path of conv2d (see the .c). */
#ifndef MC_CONV2D_WINOGRAD_H
#define MC_CONV2D_WINOGRAD_H

#include "op.h"

/* 1 if conv2d layer l takes the Winograd path (3x3, stride 1, large output). */
int mc_winograd_applies(const mc_layer *l);
/* Scratch floats of the Winograd path (0 if it does not apply). */
size_t mc_winograd_workspace(const mc_layer *l);
/* Bytes of l's transformed weights (16/9 of its weights; 0 if it does not apply). */
size_t mc_winograd_weight_bytes(const mc_layer *l);
/* Process-wide memory settings, made before any layer is sized or prepared
 * (farm nodes use them to stay within their memory bound; the defaults are
 * no cap, keep the weights, MC_WINOGRAD_BAND_FLOATS):
 *   bytes: cap on the memory the transforms add, in all; a layer whose
 *     transform would pass it is not prepared and runs im2col (same results
 *     within float rounding, slower);
 *   drop_weights: free a layer's plain weights once transformed (it then
 *     costs 7/16 of U instead of U, and cannot be prepared again);
 *   band_floats: the workspace budget of one band of tiles (0: default). */
void mc_winograd_set_limit(size_t bytes, int drop_weights, size_t band_floats);
/* Builds the transformed weights into l->cpu_state (no-op if not applicable). */
mc_status mc_winograd_prepare(mc_layer *l);
void mc_winograd_release(mc_layer *l);
/* Needs mc_winograd_prepare() first; ws holds mc_winograd_workspace() floats. */
mc_status mc_winograd_forward(const mc_layer *l, const float *in, float *out, float *ws);

#endif
