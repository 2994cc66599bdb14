/* tpyramid.cu - GPU twin of src/ops/tpyramid.c: one thread per (pool,
 * element); the pool's level and segment come from its index as on the CPU,
 * and the max runs over the same frames in the same order. */
#include <float.h>

#include "kernels.h"

__global__ static void tpyramid_kernel(const float *__restrict__ in, float *__restrict__ out, size_t d, int first,
                                       int frames, int pools)
{
    const size_t n = (size_t)pools * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int p = (int)(i / d);
        const size_t e = i % d;
        int lev = 0;
        while ((2 << lev) - 1 <= p) lev++;
        const int k = p - ((1 << lev) - 1);
        const int lo = first + (int)(((long)k * frames) >> lev), hi = first + (int)(((long)(k + 1) * frames) >> lev);
        float m = -FLT_MAX;
        for (int t = lo; t < hi; t++) m = fmaxf(m, in[(size_t)t * d + e]);
        out[i] = m;
    }
}

extern "C" cudaError_t mc_cuda_tpyramid(const float *in, float *out, size_t d, int first, int frames, int levels,
                                        cudaStream_t stream)
{
    if (d == 0 || frames < 1 || levels < 1 || levels > 8) return cudaErrorInvalidValue;
    const int pools = (1 << levels) - 1;
    const unsigned block = 256;
    tpyramid_kernel<<<mc_cuda_grid((size_t)pools * d, block), block, 0, stream>>>(in, out, d, first, frames, pools);
    return cudaGetLastError();
}
