/* dwconv2d.cu - GPU twin of src/ops/dwconv2d.c, and the depthwise half of
 * sepconv2d (whose 1x1 half is a cuBLAS SGEMM in backend_cuda.c).  A direct
 * kernel, one thread per output element, output channel fastest so that
 * neighbouring threads read neighbouring input channels and weights. */
#include "kernels.h"

__global__ static void dwconv2d_kernel(const float *__restrict__ in, const float *__restrict__ wt,
                                       const float *__restrict__ bias, float *__restrict__ out, int h, int w, int c,
                                       int m, int oh, int ow, int kh, int kw, int sh, int sw, int pt, int pl, int relu)
{
    const int cm = c * m;
    const size_t n = (size_t)oh * ow * cm;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int co = (int)(i % cm), ci = co / m;
        const size_t pix = i / cm;
        const int ox = (int)(pix % ow), oy = (int)(pix / ow);
        float s = bias ? bias[co] : 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            const int iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < kw; kx++) {
                const int ix = ox * sw - pl + kx;
                if (ix < 0 || ix >= w) continue;
                s += in[((size_t)iy * w + ix) * c + ci] * wt[((size_t)ky * kw + kx) * cm + co];
            }
        }
        out[i] = relu ? fmaxf(s, 0.0f) : s;
    }
}

extern "C" cudaError_t mc_cuda_dwconv2d(const float *in, const float *wt, const float *bias, float *out, int h, int w,
                                        int c, int m, int oh, int ow, int kh, int kw, int sh, int sw, int pt, int pl,
                                        int act, cudaStream_t stream)
{
    if (c <= 0 || m <= 0 || (act != MC_CUDA_ACT_NONE && act != MC_CUDA_ACT_RELU)) return cudaErrorInvalidValue;
    const unsigned block = 256;
    dwconv2d_kernel<<<mc_cuda_grid((size_t)oh * ow * c * m, block), block, 0, stream>>>(
        in, wt, bias, out, h, w, c, m, oh, ow, kh, kw, sh, sw, pt, pl, act == MC_CUDA_ACT_RELU);
    return cudaGetLastError();
}
