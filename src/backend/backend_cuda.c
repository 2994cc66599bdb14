/* backend_cuda.c - the CUDA backend: cuDNN convolutions, cuBLAS dense
 * layers, small kernels (the .cu files in src/backend/cuda/) for the rest.
 *
 * Memory: activations (buffer_alloc) live in GPU memory and stay there
 * between layers; only upload() (the input) and download() (the output)
 * cross the bus.  prepare_layer() uploads a layer's weights once, converting
 * conv weights from our HWIO to cuDNN's KRSC (= NHWC filter layout: output
 * channel, kernel row, kernel column, input channel), and keeps them with
 * the cuDNN descriptors and the chosen algorithm in the layer's
 * weight.extra (struct cuda_layer); release_layer() frees them.
 *
 * Convolution: NHWC float32 tensors, cross-correlation, algorithm chosen once
 * per layer with cudnnFindConvolutionForwardAlgorithm (the fastest that
 * succeeds within the workspace limit and the math mode), heuristics as a
 * fallback.  cuDNN pads symmetrically; a TensorFlow SAME layer whose total
 * padding is odd is convolved from an explicitly zero-padded copy of its
 * input made in the net's workspace (workspace_bytes reports its size).
 * cuDNN's own scratch is one backend-owned buffer sized to the largest
 * chosen algorithm, grown only in prepare_layer, so forward() never
 * allocates.  Bias and the fused activation follow in one kernel.
 *
 * Dense: our weight is row-major [out][in], i.e. the column-major matrix
 * A (in x out, lda = in); y = W x = A^T x is cublasSgemv with CUBLAS_OP_T.
 *
 * The graph models' ops: batchnorm (scale and shift computed on the host at
 * prepare; most batchnorms never get here, being folded into their
 * convolution by the net), add and concat (forward_n), pools, zero padding,
 * depthwise and 3-D convolutions run the small kernels of the .cu files on our
 * own weight layouts; a separable convolution is the depthwise kernel into
 * the workspace, then one cuBLAS SGEMM for its 1x1 half, then bias and
 * activation.
 *
 * Precision: by default convolutions run in strict float32 (CUDNN_FMA_MATH),
 * so GPU and CPU agree to ~1e-6 relative.  MC_CUDA_MATH=tf32 allows tensor
 * core TF32 (faster on Ampere/Hopper, ~1e-3 relative).  Other environment
 * settings: MC_CUDA_DEVICE (device index, default 0),
 * MC_CUDA_WORKSPACE_MB (cuDNN workspace limit per layer, default 256) and
 * MC_CUDA_VERBOSE (set: print each layer's chosen algorithm and math type).
 *
 * All work runs on one stream; download() synchronises it, so errors raised
 * inside kernels surface there at the latest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "../core/alloc.h"
#include "../ops/batchnorm.h"
#include "backend.h"
#include "cuda/kernels.h"

_Static_assert((int)MC_ACT_NONE == MC_CUDA_ACT_NONE && (int)MC_ACT_RELU == MC_CUDA_ACT_RELU &&
                   (int)MC_ACT_SOFTMAX == MC_CUDA_ACT_SOFTMAX,
               "kernels.h activation codes must equal mc_act");
_Static_assert(MC_CUDA_MAX_INPUTS == MC_MAX_INPUTS, "kernels.h input limit must equal MC_MAX_INPUTS");

#define MC_CUDA_DEFAULT_WS_MB 256

typedef struct cuda_ctx {
    int device;
    char device_name[256];
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    int tf32;             /* MC_CUDA_MATH=tf32 */
    size_t ws_limit;      /* largest cuDNN workspace an algorithm may use */
    void *scratch;        /* cuDNN workspace shared by all layers */
    size_t scratch_bytes;
} cuda_ctx;

/* Device state of one layer with parameters (layer->weight.extra). */
typedef struct cuda_layer {
    mc_backend *owner;
    float *w, *b; /* batchnorm: its scale and shift */
    float *pwk;   /* sepconv2d: the pointwise kernel */
    /* conv2d only */
    cudnnTensorDescriptor_t xdesc, ydesc;
    cudnnFilterDescriptor_t wdesc;
    cudnnConvolutionDescriptor_t cdesc;
    cudnnConvolutionFwdAlgo_t algo;
    size_t algo_ws;
    int pad_explicit; /* 1: convolve a zero-padded copy of the input */
    int ph, pw;       /* its height and width */
} cuda_layer;

static cuda_ctx *ctx_of(mc_backend *be) { return (cuda_ctx *)be->ctx; }

/* The current device is per host thread, and a farm node runs inference on
 * another thread than the one that made the backend: every entry point
 * selects the backend's device first (cheap when it is already current). */
static cuda_ctx *enter(mc_backend *be)
{
    cuda_ctx *c = ctx_of(be);
    cudaSetDevice(c->device);
    return c;
}

static mc_status cuda_err(cudaError_t e, const char *what, const char *layer)
{
    return mc_error_set(MC_ERR_BACKEND, "cuda%s%s: %s failed: %s (%s)", layer ? " layer " : "",
                        layer ? layer : "", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

static mc_status dnn_err(cudnnStatus_t s, const char *what, const char *layer)
{
    return mc_error_set(MC_ERR_BACKEND, "cuda layer %s: cuDNN %s failed: %s", layer, what,
                        cudnnGetErrorString(s));
}

static mc_status blas_err(cublasStatus_t s, const char *what, const char *layer)
{
    return mc_error_set(MC_ERR_BACKEND, "cuda layer %s: cuBLAS %s failed: %s", layer, what,
                        cublasGetStatusString(s));
}

#define CU(call, what, layer)                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return cuda_err(e_, what, layer);                                   \
    } while (0)

#define DNN(call, what, layer)                                                                     \
    do {                                                                                           \
        cudnnStatus_t s_ = (call);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) return dnn_err(s_, what, layer);                           \
    } while (0)

/* ---- buffers and transfers ------------------------------------------- */

static mc_status cuda_buffer_alloc(mc_backend *be, size_t bytes, void **buf)
{
    enter(be);
    *buf = NULL;
    cudaError_t e = cudaMalloc(buf, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        *buf = NULL;
        return mc_error_set(e == cudaErrorMemoryAllocation ? MC_ERR_NOMEM : MC_ERR_BACKEND,
                            "cuda: cannot allocate %zu bytes of GPU memory: %s", bytes,
                            cudaGetErrorString(e));
    }
    return MC_OK;
}

static void cuda_buffer_free(mc_backend *be, void *buf)
{
    if (!buf) return;
    /* Queued kernels may still use it. */
    cudaStreamSynchronize(enter(be)->stream);
    cudaFree(buf);
}

static mc_status cuda_upload(mc_backend *be, void *dst, const float *src, size_t n)
{
    /* From pageable memory this returns once src has been staged, so the
     * caller may reuse src immediately. */
    CU(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, enter(be)->stream),
       "upload of the input", NULL);
    return MC_OK;
}

static mc_status cuda_download(mc_backend *be, float *dst, const void *src, size_t n)
{
    cuda_ctx *c = enter(be);
    CU(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream),
       "download of the output", NULL);
    CU(cudaStreamSynchronize(c->stream), "inference (download of the output)", NULL);
    return MC_OK;
}

static mc_status cuda_synchronize(mc_backend *be)
{
    CU(cudaStreamSynchronize(enter(be)->stream), "synchronize", NULL);
    return MC_OK;
}

/* ---- layers ------------------------------------------------------------ */

static int cuda_supports_layer(mc_backend *be, const mc_layer *l)
{
    (void)be;
    if (l->act < 0 || l->act >= MC_ACT_COUNT) return 0;
    switch (l->op) {
    case MC_OP_CONV2D:
    case MC_OP_MAXPOOL2D:
    case MC_OP_AVGPOOL2D:
    case MC_OP_SEPCONV2D: return l->in.ne[3] == 1;
    case MC_OP_DWCONV2D: return l->in.ne[3] == 1;
    case MC_OP_CONV3D:
    case MC_OP_DENSE:
    case MC_OP_RELU:
    case MC_OP_SOFTMAX:
    case MC_OP_FLATTEN:
    case MC_OP_BATCHNORM:
    case MC_OP_ADD:
    case MC_OP_CONCAT:
    case MC_OP_GLOBALAVGPOOL:
    case MC_OP_ZEROPAD:
    case MC_OP_MAXPOOL3D:
    case MC_OP_TPYRAMID: return 1;
    default: return 0;
    }
}

/* Total SAME padding of one axis (0 for VALID). */
static int pad_total(int in, int out, int k, int s, mc_padding p)
{
    if (p != MC_PAD_SAME) return 0;
    int t = (out - 1) * s + k - in;
    return t > 0 ? t : 0;
}

/* Whether conv layer l needs the explicit zero-padded input copy, and its size. */
static int conv_pad_explicit(const mc_layer *l, int *ph, int *pw)
{
    const int th = pad_total(l->in.ne[2], l->out.ne[2], l->kh, l->sh, l->padding);
    const int tw = pad_total(l->in.ne[1], l->out.ne[1], l->kw, l->sw, l->padding);
    *ph = l->in.ne[2] + th;
    *pw = l->in.ne[1] + tw;
    return th != 2 * l->pad_top || tw != 2 * l->pad_left;
}

static size_t cuda_workspace_bytes(mc_backend *be, const mc_layer *l)
{
    (void)be;
    int ph, pw;
    if (l->op == MC_OP_CONV2D && conv_pad_explicit(l, &ph, &pw))
        return (size_t)ph * pw * l->in.ne[0] * sizeof(float);
    if (l->op == MC_OP_SEPCONV2D) /* the depthwise result */
        return (size_t)l->out.ne[2] * l->out.ne[1] * l->in.ne[0] * l->mult * sizeof(float);
    return 0;
}

static void layer_state_free(cuda_layer *s)
{
    if (!s) return;
    if (s->xdesc) cudnnDestroyTensorDescriptor(s->xdesc);
    if (s->ydesc) cudnnDestroyTensorDescriptor(s->ydesc);
    if (s->wdesc) cudnnDestroyFilterDescriptor(s->wdesc);
    if (s->cdesc) cudnnDestroyConvolutionDescriptor(s->cdesc);
    cudaFree(s->w);
    cudaFree(s->b);
    cudaFree(s->pwk);
    free(s);
}

static void cuda_release_layer(mc_backend *be, mc_layer *l)
{
    cuda_layer *s = l->weight.extra;
    if (!s || s->owner != be) return;
    cudaStreamSynchronize(enter(be)->stream);
    layer_state_free(s);
    l->weight.extra = NULL;
}

/* Makes the shared cuDNN workspace at least `bytes` large. */
static mc_status scratch_reserve(cuda_ctx *c, size_t bytes, const char *layer)
{
    if (bytes <= c->scratch_bytes) return MC_OK;
    CU(cudaStreamSynchronize(c->stream), "synchronize before growing the workspace", layer);
    /* the new block first: if it cannot be had, the layers prepared so far
     * keep the old one */
    void *grown = NULL;
    cudaError_t e = cudaMalloc(&grown, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return mc_error_set(MC_ERR_NOMEM, "cuda layer %s: cannot allocate %zu bytes of cuDNN workspace: %s",
                            layer, bytes, cudaGetErrorString(e));
    }
    cudaFree(c->scratch);
    c->scratch = grown;
    c->scratch_bytes = bytes;
    return MC_OK;
}

static int algo_allowed(const cuda_ctx *c, cudnnStatus_t st, size_t memory, cudnnMathType_t math)
{
    if (st != CUDNN_STATUS_SUCCESS || memory > c->ws_limit) return 0;
    if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return 0; /* would round inputs to fp16 */
    return c->tf32 || math != CUDNN_TENSOR_OP_MATH;
}

/* Picks the convolution algorithm: measured (Find) first, heuristics if
 * measuring fails. */
static mc_status conv_choose_algo(cuda_ctx *c, const mc_layer *l, cuda_layer *s)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0, chosen = -1;
    cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithm(
        c->dnn, s->xdesc, s->wdesc, s->cdesc, s->ydesc, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf);
    if (st == CUDNN_STATUS_SUCCESS)
        for (int i = 0; i < got && chosen < 0; i++)
            if (algo_allowed(c, perf[i].status, perf[i].memory, perf[i].mathType)) chosen = i;
    if (chosen < 0) {
        /* Find allocates and runs; heuristics need neither. */
        got = 0;
        DNN(cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, s->xdesc, s->wdesc, s->cdesc, s->ydesc,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf),
            "algorithm heuristics", l->name);
        for (int i = 0; i < got && chosen < 0; i++)
            if (algo_allowed(c, perf[i].status, perf[i].memory, perf[i].mathType)) chosen = i;
    }
    if (chosen < 0)
        return mc_error_set(MC_ERR_BACKEND,
                            "cuda layer %s: cuDNN has no %s convolution algorithm within the %zu MB "
                            "workspace limit (MC_CUDA_WORKSPACE_MB)",
                            l->name, c->tf32 ? "TF32/float32" : "float32", c->ws_limit >> 20);
    s->algo = perf[chosen].algo;
    if (c->tf32) DNN(cudnnSetConvolutionMathType(s->cdesc, perf[chosen].mathType), "set math type", l->name);
    DNN(cudnnGetConvolutionForwardWorkspaceSize(c->dnn, s->xdesc, s->wdesc, s->cdesc, s->ydesc, s->algo,
                                                &s->algo_ws),
        "workspace size", l->name);
    if (getenv("MC_CUDA_VERBOSE"))
        fprintf(stderr, "cuda layer %s: cuDNN forward algorithm %d, math type %d, %.3f ms measured, workspace %zu bytes\n",
                l->name, (int)s->algo, (int)perf[chosen].mathType, (double)perf[chosen].time, s->algo_ws);
    return scratch_reserve(c, s->algo_ws, l->name);
}

/* HWIO (ky, kx, ci, co) -> KRSC (co, ky, kx, ci) on the host, then up. */
static mc_status conv_upload_weights(cuda_ctx *c, const mc_layer *l, cuda_layer *s)
{
    const int KH = l->kh, KW = l->kw, CI = l->in.ne[0], CO = l->units;
    const size_t n = (size_t)KH * KW * CI * CO;
    float *t = mc_alloc(n * sizeof *t);
    if (!t) return mc_error_set(MC_ERR_NOMEM, "cuda layer %s: cannot allocate %zu bytes to transpose weights",
                                l->name, n * sizeof *t);
    const float *w = l->weight.data;
    for (int ky = 0; ky < KH; ky++)
        for (int kx = 0; kx < KW; kx++)
            for (int ci = 0; ci < CI; ci++) {
                const float *src = w + (((size_t)ky * KW + kx) * CI + ci) * CO;
                for (int co = 0; co < CO; co++) t[(((size_t)co * KH + ky) * KW + kx) * CI + ci] = src[co];
            }
    cudaError_t e = cudaMemcpyAsync(s->w, t, n * sizeof *t, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    mc_free(t);
    if (e != cudaSuccess) return cuda_err(e, "weight upload", l->name);
    return MC_OK;
}

static mc_status conv_prepare(cuda_ctx *c, const mc_layer *l, cuda_layer *s)
{
    const int C = l->in.ne[0], H = l->in.ne[2], W = l->in.ne[1];
    const int OH = l->out.ne[2], OW = l->out.ne[1], CO = l->units;
    mc_status st = conv_upload_weights(c, l, s);
    if (st) return st;
    s->pad_explicit = conv_pad_explicit(l, &s->ph, &s->pw);
    const int xh = s->pad_explicit ? s->ph : H, xw = s->pad_explicit ? s->pw : W;
    const int padh = s->pad_explicit ? 0 : l->pad_top, padw = s->pad_explicit ? 0 : l->pad_left;
    DNN(cudnnCreateTensorDescriptor(&s->xdesc), "create tensor descriptor", l->name);
    DNN(cudnnCreateTensorDescriptor(&s->ydesc), "create tensor descriptor", l->name);
    DNN(cudnnCreateFilterDescriptor(&s->wdesc), "create filter descriptor", l->name);
    DNN(cudnnCreateConvolutionDescriptor(&s->cdesc), "create convolution descriptor", l->name);
    DNN(cudnnSetTensor4dDescriptor(s->xdesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, C, xh, xw),
        "input descriptor", l->name);
    DNN(cudnnSetFilter4dDescriptor(s->wdesc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, CO, C, l->kh, l->kw),
        "filter descriptor", l->name);
    DNN(cudnnSetConvolution2dDescriptor(s->cdesc, padh, padw, l->sh, l->sw, 1, 1,
                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        "convolution descriptor", l->name);
    DNN(cudnnSetConvolutionMathType(s->cdesc, c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
        "set math type", l->name);
    int n, oc, oh, ow;
    DNN(cudnnGetConvolution2dForwardOutputDim(s->cdesc, s->xdesc, s->wdesc, &n, &oc, &oh, &ow),
        "output size", l->name);
    if (n != 1 || oc != CO || oh != OH || ow != OW)
        return mc_error_set(MC_ERR_SHAPE, "cuda layer %s: cuDNN computes output %dx%dx%d, the model %dx%dx%d",
                            l->name, oh, ow, oc, OH, OW, CO);
    DNN(cudnnSetTensor4dDescriptor(s->ydesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, CO, OH, OW),
        "output descriptor", l->name);
    return conv_choose_algo(c, l, s);
}

static mc_status cuda_prepare_layer(mc_backend *be, mc_layer *l)
{
    cuda_ctx *c = enter(be);
    if (!cuda_supports_layer(be, l))
        return mc_error_set(MC_ERR_UNSUPPORTED, "cuda: layer %s (%s) is not supported", l->name,
                            mc_op_get(l->op) ? mc_op_get(l->op)->name : "?");
    if (!l->has_params) return MC_OK;
    if (!l->weight.data || !l->bias.data)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded", l->name);
    cuda_layer *old = l->weight.extra;
    if (old && old->owner != be)
        return mc_error_set(MC_ERR_INVALID_ARG, "cuda layer %s: already prepared on another CUDA backend",
                            l->name);
    /* Preparing again re-uploads (the host weights may have changed). */
    cuda_release_layer(be, l);

    cuda_layer *s = calloc(1, sizeof *s);
    if (!s) return mc_error_set(MC_ERR_NOMEM, "cuda layer %s: out of memory", l->name);
    s->owner = be;
    const size_t wn = mc_tensor_count(&l->weight), bn = mc_tensor_count(&l->bias);
    const size_t pn = l->op == MC_OP_SEPCONV2D ? mc_tensor_count(&l->aux[0]) : 0;
    mc_status st = MC_OK;
    cudaError_t e;
    /* What goes up: the weights as they are, except a batchnorm's, which
     * become its per-channel scale (in w) and shift (in b). */
    const float *wsrc = l->weight.data, *bsrc = l->bias.data;
    float *host = NULL;
    if (l->op == MC_OP_BATCHNORM) {
        if (!l->aux[0].data || !l->aux[1].data)
            return free(s), mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded", l->name);
        if (!(host = mc_alloc(2 * bn * sizeof *host)))
            return free(s), mc_error_set(MC_ERR_NOMEM, "cuda layer %s: out of memory", l->name);
        mc_batchnorm_scale_shift(l, host, host + bn);
        wsrc = host;
        bsrc = host + bn;
    }
    if ((e = cudaMalloc((void **)&s->w, wn * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&s->b, bn * sizeof(float))) != cudaSuccess ||
        (pn && (e = cudaMalloc((void **)&s->pwk, pn * sizeof(float))) != cudaSuccess)) {
        st = mc_error_set(MC_ERR_NOMEM, "cuda layer %s: cannot allocate %zu bytes of GPU memory for weights: %s",
                          l->name, (wn + bn + pn) * sizeof(float), cudaGetErrorString(e));
        goto fail;
    }
    /* Copies go on the backend's stream: it does not synchronise with the
     * legacy default stream, and a pageable cudaMemcpy may return before
     * its DMA has landed. */
    if ((e = cudaMemcpyAsync(s->b, bsrc, bn * sizeof(float), cudaMemcpyHostToDevice, c->stream)) != cudaSuccess ||
        (pn && (e = cudaMemcpyAsync(s->pwk, l->aux[0].data, pn * sizeof(float), cudaMemcpyHostToDevice, c->stream)) !=
                   cudaSuccess)) {
        st = cuda_err(e, "bias upload", l->name);
        goto fail;
    }
    if (l->op == MC_OP_CONV2D) {
        st = conv_prepare(c, l, s);
    } else if ((e = cudaMemcpyAsync(s->w, wsrc, wn * sizeof(float), cudaMemcpyHostToDevice, c->stream)) !=
                   cudaSuccess ||
               (e = cudaStreamSynchronize(c->stream)) != cudaSuccess) {
        st = cuda_err(e, "weight upload", l->name);
    }
    if (st) goto fail;
    mc_free(host);
    l->weight.extra = s;
    return MC_OK;
fail:
    cudaStreamSynchronize(c->stream); /* before the host copy goes */
    mc_free(host);
    layer_state_free(s);
    return st;
}

static mc_status launched(cudaError_t e, const char *what, const mc_layer *l)
{
    return e == cudaSuccess ? MC_OK : cuda_err(e, what, l->name);
}

static mc_status conv_forward(cuda_ctx *c, const mc_layer *l, const cuda_layer *s, const void *in,
                              void *out, void *ws)
{
    const float one = 1.0f, zero = 0.0f;
    const void *x = in;
    if (s->pad_explicit) {
        if (!ws)
            return mc_error_set(MC_ERR_INVALID_ARG, "cuda layer %s: needs a workspace of %zu bytes",
                                l->name, (size_t)s->ph * s->pw * l->in.ne[0] * sizeof(float));
        mc_status st = launched(mc_cuda_pad_nhwc(in, ws, l->in.ne[2], l->in.ne[1], l->in.ne[0], s->ph,
                                                 s->pw, l->pad_top, l->pad_left, c->stream),
                                "padding kernel", l);
        if (st) return st;
        x = ws;
    }
    DNN(cudnnConvolutionForward(c->dnn, &one, s->xdesc, x, s->wdesc, s->w, s->cdesc, s->algo, c->scratch,
                                s->algo_ws, &zero, s->ydesc, out),
        "convolution", l->name);
    return launched(mc_cuda_bias_act(out, s->b, (size_t)l->out.ne[2] * l->out.ne[1], l->units, (int)l->act,
                                     c->stream),
                    "bias/activation kernel", l);
}

static mc_status dense_forward(cuda_ctx *c, const mc_layer *l, const cuda_layer *s, const void *in,
                               void *out)
{
    const float one = 1.0f, zero = 0.0f;
    const int n_in = (int)mc_shape_count(&l->in), n_out = l->units;
    cublasStatus_t bs = cublasSgemv(c->blas, CUBLAS_OP_T, n_in, n_out, &one, s->w, n_in, in, 1, &zero,
                                    out, 1);
    if (bs != CUBLAS_STATUS_SUCCESS) return blas_err(bs, "sgemv", l->name);
    return launched(mc_cuda_bias_act(out, s->b, 1, n_out, (int)l->act, c->stream),
                    "bias/activation kernel", l);
}

/* Separable convolution: depthwise kernel into ws, then the pointwise SGEMM
 * out[P x N] = dw[P x CM] * Wp[CM x N], row-major, which column-major
 * cuBLAS computes as out^T = Wp^T dw^T (m = N, n = P, k = CM). */
static mc_status sepconv_forward(cuda_ctx *c, const mc_layer *l, const cuda_layer *s, const void *in, void *out,
                                 void *ws)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->units, CM = l->in.ne[0] * l->mult;
    if (!ws) return mc_error_set(MC_ERR_INVALID_ARG, "cuda layer %s: needs a workspace", l->name);
    mc_status st = launched(mc_cuda_dwconv2d(in, s->w, NULL, ws, l->in.ne[2], l->in.ne[1], l->in.ne[0], l->mult, OH,
                                             OW, l->kh, l->kw, l->sh, l->sw, l->pad_top, l->pad_left, MC_CUDA_ACT_NONE,
                                             c->stream),
                            "depthwise kernel", l);
    if (st) return st;
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t bs =
        cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, N, OH * OW, CM, &one, s->pwk, N, ws, CM, &zero, out, N);
    if (bs != CUBLAS_STATUS_SUCCESS) return blas_err(bs, "sgemm", l->name);
    return launched(mc_cuda_bias_act(out, s->b, (size_t)OH * OW, N, (int)l->act, c->stream), "bias/activation kernel",
                    l);
}

/* The graph models' one-input ops (the kernels of their .cu twins). */
static mc_status graph_forward(cuda_ctx *c, const mc_layer *l, const cuda_layer *s, const void *in, void *out,
                               void *ws)
{
    const mc_shape *i = &l->in, *o = &l->out;
    const size_t groups = mc_shape_count(o) / (size_t)o->ne[0];
    switch (l->op) {
    case MC_OP_BATCHNORM:
        return launched(mc_cuda_scale_shift(in, out, s->w, s->b, groups, o->ne[0], (int)l->act, c->stream),
                        "batchnorm kernel", l);
    case MC_OP_GLOBALAVGPOOL: {
        mc_status st = launched(mc_cuda_globalavgpool(in, out, mc_shape_count(i) / (size_t)i->ne[0], i->ne[0], c->stream),
                                "globalavgpool kernel", l);
        if (st || l->act == MC_ACT_NONE) return st;
        return launched(mc_cuda_bias_act(out, NULL, 1, o->ne[0], (int)l->act, c->stream), "activation kernel", l);
    }
    case MC_OP_AVGPOOL2D: {
        mc_status st = launched(mc_cuda_avgpool2d(in, out, i->ne[2], i->ne[1], i->ne[0], o->ne[2], o->ne[1], l->kh,
                                                  l->kw, l->sh, l->sw, l->pad_top, l->pad_left, c->stream),
                                "avgpool kernel", l);
        if (st || l->act == MC_ACT_NONE) return st;
        return launched(mc_cuda_bias_act(out, NULL, groups, o->ne[0], (int)l->act, c->stream), "activation kernel", l);
    }
    case MC_OP_ZEROPAD:
        return launched(mc_cuda_zeropad(in, out, i->ne[3], i->ne[2], i->ne[1], i->ne[0], o->ne[3], o->ne[2], o->ne[1],
                                        l->pads[4], l->pads[0], l->pads[2], c->stream),
                        "zeropad kernel", l);
    case MC_OP_DWCONV2D:
    case MC_OP_CONV3D: { /* relu fused in the kernel, softmax after it */
        const int act = l->act == MC_ACT_RELU ? MC_CUDA_ACT_RELU : MC_CUDA_ACT_NONE;
        mc_status st =
            l->op == MC_OP_DWCONV2D
                ? launched(mc_cuda_dwconv2d(in, s->w, s->b, out, i->ne[2], i->ne[1], i->ne[0], l->mult, o->ne[2],
                                            o->ne[1], l->kh, l->kw, l->sh, l->sw, l->pad_top, l->pad_left, act,
                                            c->stream),
                           "depthwise kernel", l)
                : launched(mc_cuda_conv3d(in, s->w, s->b, out, i->ne[3], i->ne[2], i->ne[1], i->ne[0], o->ne[3],
                                          o->ne[2], o->ne[1], o->ne[0], l->kt, l->kh, l->kw, l->st, l->sh, l->sw,
                                          l->pad_front, l->pad_top, l->pad_left, act, c->stream),
                           "conv3d kernel", l);
        if (st || l->act != MC_ACT_SOFTMAX) return st;
        return launched(mc_cuda_bias_act(out, NULL, groups, o->ne[0], (int)l->act, c->stream), "softmax kernel", l);
    }
    case MC_OP_SEPCONV2D: return sepconv_forward(c, l, s, in, out, ws);
    case MC_OP_MAXPOOL3D:
        return launched(mc_cuda_maxpool3d(in, out, i->ne[3], i->ne[2], i->ne[1], i->ne[0], o->ne[3], o->ne[2], o->ne[1],
                                          l->kt, l->kh, l->kw, l->st, l->sh, l->sw, l->pad_front, l->pad_top,
                                          l->pad_left, c->stream),
                        "maxpool3d kernel", l);
    case MC_OP_TPYRAMID:
        return launched(mc_cuda_tpyramid(in, out, mc_shape_count(i) / (size_t)i->ne[3], l->first,
                                         l->frames ? l->frames : i->ne[3] - l->first, l->levels, c->stream),
                        "tpyramid kernel", l);
    case MC_OP_ADD:
    case MC_OP_CONCAT: return mc_op_needs_inputs(l);
    default: return mc_error_set(MC_ERR_UNSUPPORTED, "cuda: layer %s (op %d) is not supported", l->name, (int)l->op);
    }
}

static mc_status cuda_forward_n(mc_backend *be, const mc_layer *l, const void *const *ins, void *out, void *ws)
{
    (void)ws;
    cuda_ctx *c = enter(be);
    const size_t groups = mc_shape_count(&l->out) / (size_t)l->out.ne[0];
    if (l->op == MC_OP_ADD)
        return launched(mc_cuda_add((const float *const *)ins, l->n_in, out, groups, l->out.ne[0], (int)l->act,
                                    c->stream),
                        "add kernel", l);
    if (l->op != MC_OP_CONCAT)
        return mc_error_set(MC_ERR_UNSUPPORTED, "cuda: layer %s reads one input", l->name);
    int off = 0;
    for (int k = 0; k < l->n_in; k++) {
        mc_status st = launched(mc_cuda_concat_part(ins[k], out, groups, l->ins[k].ne[0], l->out.ne[0], off, c->stream),
                                "concat kernel", l);
        if (st) return st;
        off += l->ins[k].ne[0];
    }
    if (l->act == MC_ACT_NONE) return MC_OK;
    return launched(mc_cuda_bias_act(out, NULL, groups, l->out.ne[0], (int)l->act, c->stream), "activation kernel", l);
}

static mc_status cuda_forward(mc_backend *be, const mc_layer *l, const void *in, void *out, void *ws)
{
    cuda_ctx *c = enter(be);
    const cuda_layer *s = l->weight.extra;
    if (l->has_params && (!s || s->owner != be))
        return mc_error_set(MC_ERR_INVALID_ARG, "cuda layer %s: forward before prepare_layer", l->name);
    switch (l->op) {
    case MC_OP_CONV2D: return conv_forward(c, l, s, in, out, ws);
    case MC_OP_DENSE: return dense_forward(c, l, s, in, out);
    case MC_OP_MAXPOOL2D:
        return launched(mc_cuda_maxpool2d(in, out, l->in.ne[2], l->in.ne[1], l->in.ne[0], l->out.ne[2],
                                          l->out.ne[1], l->kh, l->kw, l->sh, l->sw, l->pad_top,
                                          l->pad_left, c->stream),
                        "maxpool kernel", l);
    case MC_OP_RELU: return launched(mc_cuda_relu(in, out, mc_shape_count(&l->in), c->stream), "relu kernel", l);
    case MC_OP_SOFTMAX:
        return launched(mc_cuda_softmax(in, out, mc_shape_count(&l->in) / (size_t)l->in.ne[0], l->in.ne[0],
                                        c->stream),
                        "softmax kernel", l);
    case MC_OP_FLATTEN:
        if (in == out) return MC_OK;
        return launched(cudaMemcpyAsync(out, in, mc_shape_count(&l->in) * sizeof(float),
                                        cudaMemcpyDeviceToDevice, c->stream),
                        "flatten copy", l);
    default: return graph_forward(c, l, s, in, out, ws);
    }
}

/* ---- the backend --------------------------------------------------------- */

static void ctx_free(cuda_ctx *c)
{
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    cudaFree(c->scratch);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static void cuda_destroy(mc_backend *be)
{
    ctx_free(enter(be));
    free(be);
}

static const mc_backend cuda_template = {
    /* .name            = */ "cuda",
    /* .ctx             = */ NULL,
    /* .buffer_alloc    = */ cuda_buffer_alloc,
    /* .buffer_free     = */ cuda_buffer_free,
    /* .upload          = */ cuda_upload,
    /* .download        = */ cuda_download,
    /* .supports_layer  = */ cuda_supports_layer,
    /* .prepare_layer   = */ cuda_prepare_layer,
    /* .release_layer   = */ cuda_release_layer,
    /* .workspace_bytes = */ cuda_workspace_bytes,
    /* .forward         = */ cuda_forward,
    /* .synchronize     = */ cuda_synchronize,
    /* .destroy         = */ cuda_destroy,
    /* .forward_n       = */ cuda_forward_n,
    /* .forward_frame   = */ NULL, /* clips run whole on the GPU */
    /* .host_memory     = */ 0,
};

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    return (*end || x < lo || x > hi) ? -1 : x;
}

static mc_status ctx_init(cuda_ctx *c)
{
    CU(cudaSetDevice(c->device), "cudaSetDevice", NULL);
    struct cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, c->device), "cudaGetDeviceProperties", NULL);
    snprintf(c->device_name, sizeof c->device_name, "%.200s (sm_%d%d)", prop.name, prop.major, prop.minor);
    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate", NULL);
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        c->blas = NULL;
        return mc_error_set(MC_ERR_BACKEND, "cuda: cublasCreate failed on %s: %s", c->device_name,
                            cublasGetStatusString(bs));
    }
    if ((bs = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS)
        return mc_error_set(MC_ERR_BACKEND, "cuda: cublasSetStream failed: %s", cublasGetStatusString(bs));
    if (c->tf32 && (bs = cublasSetMathMode(c->blas, CUBLAS_TF32_TENSOR_OP_MATH)) != CUBLAS_STATUS_SUCCESS)
        return mc_error_set(MC_ERR_BACKEND, "cuda: cublasSetMathMode failed: %s", cublasGetStatusString(bs));
    size_t v = cudnnGetVersion();
    if (v / 10000 != CUDNN_MAJOR && v / 1000 != CUDNN_MAJOR)
        return mc_error_set(MC_ERR_BACKEND, "cuda: built with cuDNN %d but libcudnn is version %zu",
                            CUDNN_MAJOR, v);
    cudnnStatus_t ds = cudnnCreate(&c->dnn);
    if (ds != CUDNN_STATUS_SUCCESS) {
        c->dnn = NULL;
        return mc_error_set(MC_ERR_BACKEND, "cuda: cudnnCreate failed on %s: %s", c->device_name,
                            cudnnGetErrorString(ds));
    }
    if ((ds = cudnnSetStream(c->dnn, c->stream)) != CUDNN_STATUS_SUCCESS)
        return mc_error_set(MC_ERR_BACKEND, "cuda: cudnnSetStream failed: %s", cudnnGetErrorString(ds));
    return MC_OK;
}

/* The plugin's entry point, found with dlsym by backend_cuda_loader.c. */
mc_status mc_backend_cuda_plugin_create(mc_backend **out);

mc_status mc_backend_cuda_plugin_create(mc_backend **out)
{
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count <= 0) {
        cudaGetLastError(); /* clear the runtime's last error */
        if (e != cudaSuccess)
            return mc_error_set(MC_ERR_UNSUPPORTED,
                                "no CUDA GPU is available on this machine (cudaGetDeviceCount: %s, %s); "
                                "--device gpu needs an NVIDIA GPU with its driver",
                                cudaGetErrorString(e), cudaGetErrorName(e));
        return mc_error_set(MC_ERR_UNSUPPORTED, "no CUDA GPU is available on this machine "
                                                "(cudaGetDeviceCount found 0 devices)");
    }
    long dev = env_long("MC_CUDA_DEVICE", 0, 0, count - 1);
    if (dev < 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "MC_CUDA_DEVICE=%s: expected a device index 0..%d",
                            getenv("MC_CUDA_DEVICE"), count - 1);
    long ws_mb = env_long("MC_CUDA_WORKSPACE_MB", MC_CUDA_DEFAULT_WS_MB, 0, 1L << 20);
    if (ws_mb < 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "MC_CUDA_WORKSPACE_MB=%s: expected megabytes 0..%ld",
                            getenv("MC_CUDA_WORKSPACE_MB"), 1L << 20);
    const char *math = getenv("MC_CUDA_MATH");
    if (math && *math && strcmp(math, "fp32") && strcmp(math, "tf32"))
        return mc_error_set(MC_ERR_INVALID_ARG, "MC_CUDA_MATH=%s: expected fp32 or tf32", math);

    mc_backend *be = malloc(sizeof *be);
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return mc_error_set(MC_ERR_NOMEM, "cuda backend: out of memory");
    }
    c->device = (int)dev;
    c->tf32 = math && !strcmp(math, "tf32");
    c->ws_limit = (size_t)ws_mb << 20;
    mc_status st = ctx_init(c);
    if (st) {
        ctx_free(c);
        free(be);
        return st;
    }
    *be = cuda_template;
    be->ctx = c;
    *out = be;
    return MC_OK;
}
