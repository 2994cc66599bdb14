/* globalavgpool.cu - GPU twin of src/ops/globalavgpool.c: one thread per
 * channel sums the positions in order (in double, as the CPU does);
 * neighbouring threads read neighbouring channels, so reads coalesce. */
#include "kernels.h"

__global__ static void gap_kernel(const float *__restrict__ in, float *__restrict__ out, size_t pixels, int c)
{
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
        double s = 0;
        for (size_t p = 0; p < pixels; p++) s += in[p * c + ch];
        out[ch] = (float)(s / (double)pixels);
    }
}

extern "C" cudaError_t mc_cuda_globalavgpool(const float *in, float *out, size_t pixels, int c, cudaStream_t stream)
{
    if (c <= 0 || pixels == 0) return cudaErrorInvalidValue;
    const unsigned block = 128;
    gap_kernel<<<mc_cuda_grid((size_t)c, block), block, 0, stream>>>(in, out, pixels, c);
    return cudaGetLastError();
}
