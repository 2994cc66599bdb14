/* zeropad.cu - GPU twin of src/ops/zeropad.c: one thread per output
 * element, zero outside the copied input (2-D and 3-D alike). */
#include "kernels.h"

__global__ static void zeropad_kernel(const float *__restrict__ in, float *__restrict__ out, int t, int h, int w,
                                      int c, int ot, int oh, int ow, int pf, int pt, int pl)
{
    const size_t n = (size_t)ot * oh * ow * c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(i % c);
        size_t r = i / c;
        const int x = (int)(r % ow) - pl;
        r /= ow;
        const int y = (int)(r % oh) - pt, z = (int)(r / oh) - pf;
        out[i] = (z >= 0 && z < t && y >= 0 && y < h && x >= 0 && x < w) ? in[(((size_t)z * h + y) * w + x) * c + ch]
                                                                          : 0.0f;
    }
}

extern "C" cudaError_t mc_cuda_zeropad(const float *in, float *out, int t, int h, int w, int c, int ot, int oh,
                                       int ow, int pf, int pt, int pl, cudaStream_t stream)
{
    if (ot < t + pf || oh < h + pt || ow < w + pl || pf < 0 || pt < 0 || pl < 0) return cudaErrorInvalidValue;
    const unsigned block = 256;
    zeropad_kernel<<<mc_cuda_grid((size_t)ot * oh * ow * c, block), block, 0, stream>>>(in, out, t, h, w, c, ot, oh,
                                                                                         ow, pf, pt, pl);
    return cudaGetLastError();
}
