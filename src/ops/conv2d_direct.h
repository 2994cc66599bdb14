/* conv2d_direct.h - the direct (implicit GEMM) path of conv2d (see the .c). */
#ifndef MC_CONV2D_DIRECT_H
#define MC_CONV2D_DIRECT_H

#include "op.h"

/* 1 if conv2d layer l can take the direct path (output rows at least
 * MC_GEMM_MR wide, not 1x1). */
int mc_conv_direct_applies(const mc_layer *l);
/* Scratch floats of the direct path (0 if it does not apply). */
size_t mc_conv_direct_workspace(const mc_layer *l);
/* Needs only the plain weights; ws holds mc_conv_direct_workspace() floats. */
mc_status mc_conv_direct_forward(const mc_layer *l, const float *in, float *out, float *ws);

#endif
