/* avgpool2d.cu - GPU twin of src/ops/avgpool2d.c: the mean over the window
 * cells inside the input (TensorFlow/ONNX count_include_pad=0). */
#include "kernels.h"

__global__ static void avgpool2d_kernel(const float *__restrict__ in, float *__restrict__ out, int h, int w, int c,
                                        int oh, int ow, int kh, int kw, int sh, int sw, int pt, int pl)
{
    const size_t n = (size_t)oh * ow * c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(i % c);
        const size_t pix = i / c;
        const int ox = (int)(pix % ow), oy = (int)(pix / ow);
        float s = 0.0f;
        int cells = 0;
        for (int ky = 0; ky < kh; ky++) {
            const int iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < kw; kx++) {
                const int ix = ox * sw - pl + kx;
                if (ix < 0 || ix >= w) continue;
                s += in[((size_t)iy * w + ix) * c + ch];
                cells++;
            }
        }
        out[i] = s * (1.0f / (float)(cells > 0 ? cells : 1));
    }
}

extern "C" cudaError_t mc_cuda_avgpool2d(const float *in, float *out, int h, int w, int c, int oh, int ow, int kh,
                                         int kw, int sh, int sw, int pt, int pl, cudaStream_t stream)
{
    const unsigned block = 256;
    avgpool2d_kernel<<<mc_cuda_grid((size_t)oh * ow * c, block), block, 0, stream>>>(in, out, h, w, c, oh, ow, kh,
                                                                                      kw, sh, sw, pt, pl);
    return cudaGetLastError();
}
