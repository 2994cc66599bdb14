/* maxpool3d.cu - GPU twin of src/ops/maxpool3d.c: one thread per output
 * element, window cells outside the input ignored (SAME padding). */
#include <float.h>

#include "kernels.h"

__global__ static void maxpool3d_kernel(const float *__restrict__ in, float *__restrict__ out, int t, int h, int w,
                                        int c, int ot, int oh, int ow, int kt, int kh, int kw, int st, int sh, int sw,
                                        int pf, int pt, int pl)
{
    const size_t n = (size_t)ot * oh * ow * c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(i % c);
        size_t r = i / c;
        const int ox = (int)(r % ow);
        r /= ow;
        const int oy = (int)(r % oh), oz = (int)(r / oh);
        float m = -FLT_MAX;
        for (int dz = 0; dz < kt; dz++) {
            const int iz = oz * st - pf + dz;
            if (iz < 0 || iz >= t) continue;
            for (int dy = 0; dy < kh; dy++) {
                const int iy = oy * sh - pt + dy;
                if (iy < 0 || iy >= h) continue;
                for (int dx = 0; dx < kw; dx++) {
                    const int ix = ox * sw - pl + dx;
                    if (ix < 0 || ix >= w) continue;
                    m = fmaxf(m, in[(((size_t)iz * h + iy) * w + ix) * c + ch]);
                }
            }
        }
        out[i] = m;
    }
}

extern "C" cudaError_t mc_cuda_maxpool3d(const float *in, float *out, int t, int h, int w, int c, int ot, int oh,
                                         int ow, int kt, int kh, int kw, int st, int sh, int sw, int pf, int pt,
                                         int pl, cudaStream_t stream)
{
    const unsigned block = 256;
    maxpool3d_kernel<<<mc_cuda_grid((size_t)ot * oh * ow * c, block), block, 0, stream>>>(
        in, out, t, h, w, c, ot, oh, ow, kt, kh, kw, st, sh, sw, pf, pt, pl);
    return cudaGetLastError();
}
