/* concat.cu - GPU twin of src/ops/concat.c: each input is written into its
 * channel slice of the output, one launch per input (backend_cuda.c). */
#include "kernels.h"

__global__ static void concat_part_kernel(const float *__restrict__ in, float *__restrict__ out, size_t pixels,
                                          int ck, int ctot, int off)
{
    const size_t n = pixels * (size_t)ck;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / ck;
        out[p * ctot + off + (int)(i % ck)] = in[i];
    }
}

extern "C" cudaError_t mc_cuda_concat_part(const float *in, float *out, size_t pixels, int ck, int ctot, int off,
                                           cudaStream_t stream)
{
    if (ck <= 0 || off < 0 || off + ck > ctot) return cudaErrorInvalidValue;
    const unsigned block = 256;
    concat_part_kernel<<<mc_cuda_grid(pixels * (size_t)ck, block), block, 0, stream>>>(in, out, pixels, ck, ctot,
                                                                                        off);
    return cudaGetLastError();
}
