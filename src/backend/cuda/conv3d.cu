/* conv3d.cu - GPU twin of src/ops/conv3d.c: a direct kernel, one thread per
 * output element, output channel fastest (the weight's innermost axis, so
 * the threads of a warp read consecutive weights and share the input).
 * Simple and exact rather than fast: cuDNN's N-d convolution is the faster
 * path once a GPU is at hand to measure and validate it on. */
#include "kernels.h"

__global__ static void conv3d_kernel(const float *__restrict__ in, const float *__restrict__ wt,
                                     const float *__restrict__ bias, float *__restrict__ out, int t, int h, int w,
                                     int c, int ot, int oh, int ow, int co, int kt, int kh, int kw, int st, int sh,
                                     int sw, int pf, int pt, int pl, int relu)
{
    const size_t n = (size_t)ot * oh * ow * co;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int o = (int)(i % co);
        size_t r = i / co;
        const int ox = (int)(r % ow);
        r /= ow;
        const int oy = (int)(r % oh), oz = (int)(r / oh);
        float s = bias[o];
        for (int dz = 0; dz < kt; dz++) {
            const int iz = oz * st - pf + dz;
            if (iz < 0 || iz >= t) continue;
            for (int dy = 0; dy < kh; dy++) {
                const int iy = oy * sh - pt + dy;
                if (iy < 0 || iy >= h) continue;
                for (int dx = 0; dx < kw; dx++) {
                    const int ix = ox * sw - pl + dx;
                    if (ix < 0 || ix >= w) continue;
                    const float *x = in + (((size_t)iz * h + iy) * w + ix) * c;
                    const float *k = wt + ((((size_t)dz * kh + dy) * kw + dx) * c) * co + o;
                    for (int ci = 0; ci < c; ci++) s += x[ci] * k[(size_t)ci * co];
                }
            }
        }
        out[i] = relu ? fmaxf(s, 0.0f) : s;
    }
}

extern "C" cudaError_t mc_cuda_conv3d(const float *in, const float *wt, const float *bias, float *out, int t, int h,
                                      int w, int c, int ot, int oh, int ow, int co, int kt, int kh, int kw, int st,
                                      int sh, int sw, int pf, int pt, int pl, int act, cudaStream_t stream)
{
    if (c <= 0 || co <= 0 || (act != MC_CUDA_ACT_NONE && act != MC_CUDA_ACT_RELU)) return cudaErrorInvalidValue;
    const unsigned block = 256;
    conv3d_kernel<<<mc_cuda_grid((size_t)ot * oh * ow * co, block), block, 0, stream>>>(
        in, wt, bias, out, t, h, w, c, ot, oh, ow, co, kt, kh, kw, st, sh, sw, pf, pt, pl, act == MC_CUDA_ACT_RELU);
    return cudaGetLastError();
}
