/* rng.c - splitmix64-based counter RNG (see rng.h for why counter-based). */
#include "rng.h"

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t mc_rng_u64(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t key = splitmix64(seed ^ splitmix64(stream + 0x632BE59BD9B4E019ull));
    return splitmix64(key + i * 0x9E3779B97F4A7C15ull);
}

float mc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    /* 24 bits -> exactly representable in float32, so Python gets the same value. */
    uint32_t m = (uint32_t)(mc_rng_u64(seed, stream, i) >> 40);
    return (float)m * (1.0f / 8388608.0f) - 1.0f;
}

void mc_rng_fill(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first, float scale)
{
    for (size_t k = 0; k < n; k++) out[k] = scale * mc_rng_uniform(seed, stream, first + k);
}
