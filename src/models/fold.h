/* fold.h - batch normalization folded into the convolution before it.
 *
 * The model parser decides which batchnorms fold (op.h: a batchnorm whose
 * input is a convolution with no activation that nothing else reads); this
 * does the arithmetic, once, when a net is made (net.c), so that every
 * backend simply runs a convolution with different weights:
 *     scale = gamma / sqrt(var + eps),  shift = beta - mean * scale
 *     W'[.., co] = W[.., co] * scale[co],  b'[co] = b[co] * scale[co] + shift[co]
 * (for sepconv2d the pointwise kernel takes the scale).  The batchnorm layer
 * then runs nothing: its output is the convolution's. */
#ifndef MC_FOLD_H
#define MC_FOLD_H

#include "model.h"

/* Folds layer conv->fold_bn into conv (both layers' parameters loaded);
 * does nothing if conv folds no batchnorm or has folded it already. */
mc_status mc_fold_bn(mc_model *m, mc_layer *conv);

#endif
