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
/* Most inputs of one add (= MC_MAX_INPUTS of ops/op.h; backend_cuda.c checks). */
enum { MC_CUDA_MAX_INPUTS = 8 };

#ifdef __CUDACC__
/* Blocks for a grid-stride loop over n elements (capped: the loop covers the rest). */
static inline unsigned mc_cuda_grid(size_t n, unsigned block)
{
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 16u) g = 65535u * 16u;
    return (unsigned)(g ? g : 1);
}
#endif

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

/* The graph models' ops.  A fused activation `act` is MC_CUDA_ACT_*; where
 * an op's output may be its input (in place) the launcher says so. */

/* batchnorm.cu: out = act(in * scale[c] + shift[c]) over `groups` groups of
 * `channels` (scale and shift precomputed from gamma, beta, mean, var; in
 * may equal out). */
cudaError_t mc_cuda_scale_shift(const float *in, float *out, const float *scale, const float *shift, size_t groups,
                                int channels, int act, cudaStream_t stream);
/* add.cu: out = act(ins[0] + ins[1] + ...), n_in inputs of groups x channels
 * floats (out may equal ins[0]). */
cudaError_t mc_cuda_add(const float *const *ins, int n_in, float *out, size_t groups, int channels, int act,
                        cudaStream_t stream);
/* concat.cu: writes an input of `pixels` x ck floats into channels
 * [off, off + ck) of an output of pixels x ctot. */
cudaError_t mc_cuda_concat_part(const float *in, float *out, size_t pixels, int ck, int ctot, int off,
                                cudaStream_t stream);
/* globalavgpool.cu: out[c] = mean over `pixels` of in[p*c + c]. */
cudaError_t mc_cuda_globalavgpool(const float *in, float *out, size_t pixels, int c, cudaStream_t stream);
/* avgpool2d.cu: average pooling as src/ops/avgpool2d.c (cells outside the
 * input are not counted). */
cudaError_t mc_cuda_avgpool2d(const float *in, float *out, int h, int w, int c, int oh, int ow, int kh, int kw,
                              int sh, int sw, int pt, int pl, cudaStream_t stream);
/* zeropad.cu: a t x h x w x c tensor into the middle of an ot x oh x ow x c
 * zero tensor, pf frames, pt rows and pl columns from its start. */
cudaError_t mc_cuda_zeropad(const float *in, float *out, int t, int h, int w, int c, int ot, int oh, int ow,
                            int pf, int pt, int pl, cudaStream_t stream);
/* dwconv2d.cu: depthwise convolution as src/ops/dwconv2d.c: weight element
 * (ky, kx, channel ci, multiple j) at ((ky*kw + kx)*c + ci)*m + j gives
 * output channel ci*m + j; plus bias (may be NULL) and act (none or relu). */
cudaError_t mc_cuda_dwconv2d(const float *in, const float *wt, const float *bias, float *out, int h, int w, int c,
                             int m, int oh, int ow, int kh, int kw, int sh, int sw, int pt, int pl, int act,
                             cudaStream_t stream);
/* conv3d.cu: 3-D convolution as src/ops/conv3d.c (weight (kt, ky, kx, ci,
 * co) innermost co), plus bias and act (none or relu). */
cudaError_t mc_cuda_conv3d(const float *in, const float *wt, const float *bias, float *out, int t, int h, int w,
                           int c, int ot, int oh, int ow, int co, int kt, int kh, int kw, int st, int sh, int sw,
                           int pf, int pt, int pl, int act, cudaStream_t stream);
/* maxpool3d.cu: 3-D max pooling as src/ops/maxpool3d.c. */
cudaError_t mc_cuda_maxpool3d(const float *in, float *out, int t, int h, int w, int c, int ot, int oh, int ow,
                              int kt, int kh, int kw, int st, int sh, int sw, int pf, int pt, int pl,
                              cudaStream_t stream);
/* tpyramid.cu: the temporal pyramid as src/ops/tpyramid.c: d elements a
 * frame, the window frames [first, first + frames), 2^levels - 1 pools. */
cudaError_t mc_cuda_tpyramid(const float *in, float *out, size_t d, int first, int frames, int levels,
                             cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
