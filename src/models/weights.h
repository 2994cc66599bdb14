/* weights.h - where a model's parameters come from.
 *
 * Two sources, both able to fill only a layer range so that a farm node
 * holds just its task's weights:
 *  - deterministic random weights from a seed (the artifact used random
 *    weights; see rng.h for why the generator is counter-based), and
 *  - the weight file format of docs/weights.md ("MCHAIRW1"), which can carry
 *    real trained weights.
 *
 * Random init: layer i's weight element k is
 *     uniform(seed, 2*i, k) * sqrt(6 / fan_in)     (He-uniform, so activations
 * keep their scale through deep stacks) and bias element k is
 *     0.01 * uniform(seed, 2*i + 1, k),
 * where uniform is mc_rng_uniform and fan_in = weights / units (KH*KW for
 * the depthwise kernels).  Aux tensor j uses stream 2^40 + 2*i + j.  A
 * batchnorm draws gamma = 1 + 0.1 u, beta = 0.01 u, mean = 0.1 u and
 * variance = 1 + 0.5 u (docs/weights.md has every rule).
 *
 * A range's parameters include those of a batchnorm folded into one of its
 * convolutions (op.h): the convolution needs them to fold.
 */
#ifndef MC_WEIGHTS_H
#define MC_WEIGHTS_H

#include <stdint.h>

#include "model.h"

#define MC_WEIGHTS_MAGIC "MCHAIRW1"

/* Allocates and fills weights of layers [first, last). */
mc_status mc_weights_random(mc_model *m, int first, int last, uint64_t seed);
/* Reads weights of layers [first, last) from a weight file; the file must
 * hold every parameterised layer of the model with matching names and shapes. */
mc_status mc_weights_load(mc_model *m, int first, int last, const char *path);
/* Writes all layers' weights (all must be loaded, and not yet folded with a
 * batchnorm by mc_net_init). */
mc_status mc_weights_save(const mc_model *m, const char *path);
/* Frees weights of layers [first, last). */
void mc_weights_release(mc_model *m, int first, int last);
/* Scale used for a layer's random weights (for the Python reference). */
float mc_weights_random_scale(const mc_layer *l);
/* How mc_weights_random draws parameter tensor `which` of layer l (0: the
 * weight, 1: the bias, 2 + k: aux k): element e is offset + scale *
 * uniform(seed, stream, e).  Split parts (split.h) draw their slices so. */
void mc_weights_random_rule(const mc_layer *l, int which, uint64_t *stream, float *offset, float *scale);

/* Random frames are uint8 images, as the artifact's initial.py sends them:
 * byte k of frame f is the top 8 bits of mc_rng_u64(seed, 2^32 + f, k).
 * mc_input_random gives the model's input for it (byte / 255, the scaling a
 * node applies to a uint8 frame), so a farm fed the bytes and a single
 * device fed the floats compute on identical numbers. */
void mc_input_random_u8(uint8_t *b, size_t n, uint64_t seed, uint64_t frame);
void mc_input_random(float *x, size_t n, uint64_t seed, uint64_t frame);

#endif
