/* batchnorm.h - what other modules use of batchnorm.c: the per-channel
 * scale gamma / sqrt(var + eps) and shift beta - mean * scale, computed in
 * double and rounded once, the same numbers for the CPU kernel, the CUDA
 * backend and folding into a convolution (models/fold.c). */
#ifndef MC_BATCHNORM_H
#define MC_BATCHNORM_H

#include "op.h"

/* l is a batchnorm with its four parameters loaded; scale and shift hold
 * l->in.ne[0] floats each. */
void mc_batchnorm_scale_shift(const mc_layer *l, float *scale, float *shift);

#endif
