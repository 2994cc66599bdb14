/* rng.h - counter-based deterministic random numbers for weights and inputs.
 *
 * Value i of stream (seed, stream) is a pure function of (seed, stream, i),
 * so a farm node that holds only rows [r0, r1) of a dense layer generates
 * exactly the numbers the single-device run would, without generating the
 * rest.  The function is splitmix64 over a mixed key; it is documented in
 * docs/weights.md so other implementations (the Python reference) can
 * reproduce it bit for bit.
 */
#ifndef MC_RNG_H
#define MC_RNG_H

#include <stddef.h>
#include <stdint.h>

uint64_t mc_rng_u64(uint64_t seed, uint64_t stream, uint64_t i);
/* Uniform float in [-1, 1): top 24 bits of the u64 scaled. */
float mc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i);
/* Fills out[0..n) with scale * uniform(seed, stream, first + k). */
void mc_rng_fill(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first, float scale);

#endif
