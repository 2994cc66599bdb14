/* maxpool2d.cu - GPU twin of src/ops/maxpool2d.c: NHWC max pooling where
 * window cells outside the input are ignored (TensorFlow/ONNX SAME), which
 * cuDNN's pooling (symmetric padding only) cannot express for odd totals. */
#include <float.h>

#include "kernels.h"

/* One thread per output element, channel fastest: neighbouring threads read
 * neighbouring channels of the same input pixel (coalesced). */
__global__ static void maxpool2d_kernel(const float *__restrict__ in, float *__restrict__ out,
                                        int h, int w, int c, int oh, int ow, int kh, int kw,
                                        int sh, int sw, int pt, int pl)
{
    const size_t n = (size_t)oh * ow * c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(i % c);
        const size_t pix = i / c;
        const int ox = (int)(pix % ow), oy = (int)(pix / ow);
        const int y0 = oy * sh - pt, x0 = ox * sw - pl;
        float m = -FLT_MAX;
        for (int ky = 0; ky < kh; ky++) {
            const int iy = y0 + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < kw; kx++) {
                const int ix = x0 + kx;
                if (ix < 0 || ix >= w) continue;
                m = fmaxf(m, in[((size_t)iy * w + ix) * c + ch]);
            }
        }
        out[i] = m;
    }
}

extern "C" cudaError_t mc_cuda_maxpool2d(const float *in, float *out, int h, int w, int c, int oh,
                                         int ow, int kh, int kw, int sh, int sw, int pt, int pl,
                                         cudaStream_t stream)
{
    const size_t n = (size_t)oh * ow * c;
    const unsigned block = 256;
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 16u) g = 65535u * 16u;
    maxpool2d_kernel<<<(unsigned)(g ? g : 1), block, 0, stream>>>(in, out, h, w, c, oh, ow, kh, kw,
                                                                  sh, sw, pt, pl);
    return cudaGetLastError();
}
