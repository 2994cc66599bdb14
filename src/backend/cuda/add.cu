/* add.cu - GPU twin of src/ops/add.c: the element-wise sum of n inputs in
 * input order, then the activation.  The input pointers travel by value in
 * a struct (kernel arguments), so nothing is copied to the device first. */
#include "kernels.h"

typedef struct add_inputs {
    const float *p[MC_CUDA_MAX_INPUTS];
} add_inputs;

/* out may equal ins.p[0]: each element is read before it is written. */
__global__ static void add_kernel(add_inputs ins, int n_in, float *out, size_t n, int relu)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float s = ins.p[0][i];
        for (int k = 1; k < n_in; k++) s += ins.p[k][i];
        out[i] = relu ? fmaxf(s, 0.0f) : s;
    }
}

extern "C" cudaError_t mc_cuda_add(const float *const *ins, int n_in, float *out, size_t groups, int channels,
                                   int act, cudaStream_t stream)
{
    if (n_in < 1 || n_in > MC_CUDA_MAX_INPUTS || channels <= 0) return cudaErrorInvalidValue;
    add_inputs a;
    for (int k = 0; k < MC_CUDA_MAX_INPUTS; k++) a.p[k] = k < n_in ? ins[k] : NULL;
    const size_t n = groups * (size_t)channels;
    const unsigned block = 256;
    add_kernel<<<mc_cuda_grid(n, block), block, 0, stream>>>(a, n_in, out, n, act == MC_CUDA_ACT_RELU);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && act == MC_CUDA_ACT_SOFTMAX)
        e = mc_cuda_bias_act(out, NULL, groups, channels, MC_CUDA_ACT_SOFTMAX, stream);
    return e;
}
