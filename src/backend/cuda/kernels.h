/* kernels.h - the CUDA kernels of the GPU backend, as plain C launchers.
 *
 * Each src/backend/cuda/<op>.cu is the GPU twin of src/ops/<op>.c for what
 * cuDNN and cuBLAS do not cover (backend_cuda.c calls cuDNN for convolution
 * and cuBLAS for dense layers).  All tensors are NHWC float32 device memory
 * with batch 1, as in tensor.h.  A launcher enqueues its kernel on `stream`
 * and returns the launch status (cudaSuccess or the error); it never
 * synchronises, so errors inside a kernel surface at the next synchronisation.
 * The .cu files depend on nothing else of the engine, so this header is the
 * whole interface between nvcc- and C-compiled code.
 */
#ifndef MC_CUDA_KERNELS_H
#define MC_CUDA_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation codes, equal to mc_act (ops/op.h); backend_cuda.c checks. */
enum { MC_CUDA_ACT_NONE = 0, MC_CUDA_ACT_RELU = 1, MC_CUDA_ACT_SOFTMAX = 2 };

/* conv2d.cu: copies an h x w x c image into the middle of an
 * oh x ow x c zero image, `pt` rows below its top and `pl` columns right of
 * its left edge (the asymmetric TensorFlow SAME padding that cuDNN's
 * symmetric padding cannot express).  oh >= h + pt, ow >= w + pl. */
cudaError_t mc_cuda_pad_nhwc(const float *in, float *out, int h, int w, int c, int oh, int ow,
                             int pt, int pl, cudaStream_t stream);

/* maxpool2d.cu: max pooling as in src/ops/maxpool2d.c; window cells outside
 * the input (SAME padding) are ignored.  pt/pl are the leading pads. */
cudaError_t mc_cuda_maxpool2d(const float *in, float *out, int h, int w, int c, int oh, int ow,
                              int kh, int kw, int sh, int sw, int pt, int pl, cudaStream_t stream);

/* eltwise.cu: x[p*channels + k] += bias[k] (bias may be NULL) for each of
 * `groups` groups, then the activation `act` (MC_CUDA_ACT_*) in place;
 * softmax runs over each group of `channels` values. */
cudaError_t mc_cuda_bias_act(float *x, const float *bias, size_t groups, int channels, int act,
                             cudaStream_t stream);
/* eltwise.cu: out = max(in, 0) over n floats (in may equal out). */
cudaError_t mc_cuda_relu(const float *in, float *out, size_t n, cudaStream_t stream);
/* eltwise.cu: softmax over each group of `channels` floats (in may equal out). */
cudaError_t mc_cuda_softmax(const float *in, float *out, size_t groups, int channels,
                            cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
