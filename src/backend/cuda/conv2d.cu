/* conv2d.cu - GPU twin of src/ops/conv2d.c for what cuDNN does not do.
 *
 * The convolution itself is cuDNN's (backend_cuda.c).  cuDNN pads
 * symmetrically, while TensorFlow's SAME padding puts the odd pixel at the
 * bottom/right (AlexNet's conv1: 11x11 stride 4 on 224 pads 3 before and 4
 * after), so such layers first copy the input into a zero-padded image here
 * and convolve that without padding.  Bias and activation run in
 * eltwise.cu's mc_cuda_bias_act right after the convolution. */
#include "kernels.h"

/* One thread per element of the padded image (channel fastest, so reads and
 * writes are coalesced). */
__global__ static void pad_nhwc_kernel(const float *__restrict__ in, float *__restrict__ out, int h,
                                       int w, int c, int oh, int ow, int pt, int pl)
{
    const size_t n = (size_t)oh * ow * c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(i % c);
        const size_t pix = i / c;
        const int x = (int)(pix % ow) - pl, y = (int)(pix / ow) - pt;
        out[i] = (y >= 0 && y < h && x >= 0 && x < w) ? in[((size_t)y * w + x) * c + ch] : 0.0f;
    }
}

static unsigned grid_for(size_t n, unsigned block)
{
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 16u) g = 65535u * 16u; /* grid-stride loops cover the rest */
    return (unsigned)(g ? g : 1);
}

extern "C" cudaError_t mc_cuda_pad_nhwc(const float *in, float *out, int h, int w, int c, int oh,
                                        int ow, int pt, int pl, cudaStream_t stream)
{
    if (oh < h + pt || ow < w + pl || pt < 0 || pl < 0) return cudaErrorInvalidValue;
    const size_t n = (size_t)oh * ow * c;
    const unsigned block = 256;
    pad_nhwc_kernel<<<grid_for(n, block), block, 0, stream>>>(in, out, h, w, c, oh, ow, pt, pl);
    return cudaGetLastError();
}
