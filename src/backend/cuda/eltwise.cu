/* eltwise.cu - GPU twin of src/ops/eltwise.c (relu, softmax; flatten is a
 * device copy in backend_cuda.c) plus the bias + activation epilogue that
 * conv2d and dense run after cuDNN / cuBLAS (src/ops/op.c mc_act_apply). */
#include <math.h>

#include "kernels.h"

static unsigned grid_for(size_t n, unsigned block)
{
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 16u) g = 65535u * 16u; /* grid-stride loops cover the rest */
    return (unsigned)(g ? g : 1);
}

/* x = act(x + bias) elementwise for act none/relu. */
__global__ static void bias_act_kernel(float *__restrict__ x, const float *__restrict__ bias,
                                       size_t n, int channels, int relu)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (bias) v += bias[i % channels];
        x[i] = relu ? fmaxf(v, 0.0f) : v;
    }
}

__device__ static float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ static float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* One warp per group: out = softmax(in + bias) over `channels` values.
 * Every lane of a warp runs the same number of loop trips around the
 * shuffles, so the full-mask shuffles are safe.  in may equal out (no
 * __restrict__): each value is read before its lane writes it. */
__global__ static void softmax_kernel(const float *in, float *out, const float *bias, size_t groups,
                                      int channels)
{
    const int lane = threadIdx.x & 31;
    const size_t warps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t g = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; g < groups; g += warps) {
        const float *x = in + g * channels;
        float *y = out + g * channels;
        float m = -INFINITY;
        for (int k = lane; k < channels; k += 32) m = fmaxf(m, x[k] + (bias ? bias[k] : 0.0f));
        m = warp_max(m);
        float s = 0.0f;
        for (int k = lane; k < channels; k += 32) s += expf(x[k] + (bias ? bias[k] : 0.0f) - m);
        s = warp_sum(s);
        const float inv = 1.0f / s;
        for (int k = lane; k < channels; k += 32)
            y[k] = expf(x[k] + (bias ? bias[k] : 0.0f) - m) * inv;
    }
}

static cudaError_t launch_softmax(const float *in, float *out, const float *bias, size_t groups,
                                  int channels, cudaStream_t stream)
{
    if (channels <= 0) return cudaErrorInvalidValue;
    const unsigned block = 256; /* 8 warps, 8 groups per block */
    softmax_kernel<<<grid_for(groups * 32, block), block, 0, stream>>>(in, out, bias, groups,
                                                                       channels);
    return cudaGetLastError();
}

extern "C" cudaError_t mc_cuda_bias_act(float *x, const float *bias, size_t groups, int channels,
                                        int act, cudaStream_t stream)
{
    if (channels <= 0) return cudaErrorInvalidValue;
    if (act == MC_CUDA_ACT_SOFTMAX) return launch_softmax(x, x, bias, groups, channels, stream);
    if (act != MC_CUDA_ACT_NONE && act != MC_CUDA_ACT_RELU) return cudaErrorInvalidValue;
    if (!bias && act == MC_CUDA_ACT_NONE) return cudaSuccess;
    const size_t n = groups * (size_t)channels;
    const unsigned block = 256;
    bias_act_kernel<<<grid_for(n, block), block, 0, stream>>>(x, bias, n, channels,
                                                              act == MC_CUDA_ACT_RELU);
    return cudaGetLastError();
}

__global__ static void relu_kernel(const float *in, float *out, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = fmaxf(in[i], 0.0f);
}

extern "C" cudaError_t mc_cuda_relu(const float *in, float *out, size_t n, cudaStream_t stream)
{
    const unsigned block = 256;
    relu_kernel<<<grid_for(n, block), block, 0, stream>>>(in, out, n);
    return cudaGetLastError();
}

extern "C" cudaError_t mc_cuda_softmax(const float *in, float *out, size_t groups, int channels,
                                       cudaStream_t stream)
{
    return launch_softmax(in, out, NULL, groups, channels, stream);
}
