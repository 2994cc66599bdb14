/* batchnorm.cu - GPU twin of src/ops/batchnorm.c for a batchnorm that did
 * not fold into a convolution: y = act(x * scale[c] + shift[c]), with scale
 * and shift computed once on the host at prepare (ops/batchnorm.h). */
#include "kernels.h"

/* in may equal out (no __restrict__): each element is read before it is written. */
__global__ static void scale_shift_kernel(const float *in, float *out, const float *scale, const float *shift,
                                          size_t n, int channels, int relu)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % channels);
        const float v = in[i] * scale[c] + shift[c];
        out[i] = relu ? fmaxf(v, 0.0f) : v;
    }
}

extern "C" cudaError_t mc_cuda_scale_shift(const float *in, float *out, const float *scale, const float *shift,
                                           size_t groups, int channels, int act, cudaStream_t stream)
{
    if (channels <= 0) return cudaErrorInvalidValue;
    const size_t n = groups * (size_t)channels;
    const unsigned block = 256;
    scale_shift_kernel<<<mc_cuda_grid(n, block), block, 0, stream>>>(in, out, scale, shift, n, channels,
                                                                     act == MC_CUDA_ACT_RELU);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && act == MC_CUDA_ACT_SOFTMAX)
        e = mc_cuda_bias_act(out, NULL, groups, channels, MC_CUDA_ACT_SOFTMAX, stream);
    return e;
}
