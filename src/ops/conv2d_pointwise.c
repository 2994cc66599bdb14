/* conv2d_pointwise.c - 1x1 convolutions, sepconv2d's pointwise step and
 * small-output convolutions no other path takes, as one product on our
 * kernel (conv2d_gemm.c) with the weights packed once at prepare.
 *
 * Why: a 1x1 convolution at batch 1 is one product [pixels x Cin] x
 * [Cin x Cout] whose B never changes.  OpenBLAS' sgemm packed B (up to
 * 4 MB in ResNet50's conv5) on every call and split small products badly
 * between threads: ResNet50's 1x1 layers ran at 60-190 GFLOP/s on 2 threads
 * where ONNX Runtime ran the same shapes in half the time, and the strided
 * ones went through im2col.  Here B is packed in column panels once
 * (mc_gemm_pack_b); a strided layer first gathers the pixels it reads (a
 * quarter of its input), a k x k one its im2col matrix (ResNet50's conv5
 * 3x3: 7x7 outputs, too small for Winograd's tiles).
 *
 * The product runs column panel by panel (mc_gemm_packed_by_panel), so B
 * streams from memory once, front to back, over a chunk of rows whose A
 * (up to CHUNK_FLOATS, and ROWS_MAX rows) stays in L2, and each panel gets
 * its bias and relu while it is in cache.  Threads: outputs of ROWS_SPLIT
 * pixels or more (56x56 to 10x10) split the pixels, each thread the same
 * number of chunks, so that a thread's rows stay in its cache for the next
 * layer (the residual add that follows ran twice as fast; splitting
 * 19x19's columns instead cost 12%); 7x7 outputs have too few rows for two
 * threads and many columns: each thread then takes a share of the column
 * panels (and reads only its share of B, larger than A for these layers).
 * Either way every output element is the same chain of multiply-adds (k in
 * blocks of KC), so the result does not depend on the split, the thread
 * count or the number of rows: a farm's spatial or channel part computes
 * the bits of the whole layer.
 */
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/alloc.h"
#include "conv2d_direct.h"
#include "conv2d_gemm.h"
#include "conv2d_pointwise.h"
#include "conv2d_winograd.h"

/* Floats of A per chunk (1 MB): a chunk stays in L2 while the kernel
 * sweeps every column panel over it. */
#define CHUNK_FLOATS ((size_t)1 << 18)
/* Rows per chunk at most: the chunk's output (rows x N) stays in cache for
 * the bias (ResNet50's 56x56 1x1 layers lost 15% with 1568-row chunks). */
#define ROWS_MAX 192
/* From this many rows on, threads split rows (else columns). */
#define ROWS_SPLIT 96

/* Largest im2col matrix of a k x k layer on this path (16 MB): small
 * outputs only; larger layers keep their band-wise paths. */
#define IM2COL_MAX ((size_t)1 << 22)

static size_t conv_k(const mc_layer *l) { return (size_t)l->kh * l->kw * l->in.ne[0]; }

int mc_pointwise_applies(const mc_layer *l)
{
    if (l->op != MC_OP_CONV2D) return 0;
    if (l->kh == 1 && l->kw == 1) return 1;
    return !mc_winograd_applies(l) && !mc_conv_direct_applies(l) &&
           (size_t)l->out.ne[2] * l->out.ne[1] * conv_k(l) <= IM2COL_MAX;
}

static size_t packed_bytes(int K, int N) { return mc_gemm_packed_floats(K, N) * sizeof(float); }

mc_status mc_pointwise_prepare(mc_layer *l, mc_tensor *wt, int K, int N, mc_cpu_derived *d)
{
    if (l->cpu_packed) return MC_OK;
    const size_t bytes = packed_bytes(K, N), plain = (size_t)K * N * sizeof(float);
    const size_t cost = d->drop_weights ? bytes - plain : bytes;
    if (cost > d->budget) return MC_OK; /* sgemm path */
    if (!wt->data)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded (dropped once packed?)", l->name);
    float *p = mc_alloc(bytes);
    if (!p) return mc_error_set(MC_ERR_NOMEM, "layer %s: no memory for packed weights (%zu bytes)", l->name, bytes);
    mc_gemm_pack_b(K, N, wt->data, (size_t)N, p);
    l->cpu_packed = p;
    d->budget -= cost;
    if (d->drop_weights) mc_tensor_free(wt); /* forward reads only the packed copy from now on */
    return MC_OK;
}

void mc_pointwise_release(mc_layer *l, mc_tensor *wt, int K, int N, mc_cpu_derived *d)
{
    if (!l->cpu_packed) return;
    mc_free(l->cpu_packed);
    l->cpu_packed = NULL;
    const size_t bytes = packed_bytes(K, N);
    d->budget += wt->data ? bytes : bytes - (size_t)K * N * sizeof(float);
}

size_t mc_pointwise_scratch(int K, int threads) { return (size_t)threads * mc_gemm_scratch(K); }

void mc_pointwise_run_made(const mc_layer *l, int M, int K, int N, mc_pointwise_rows_fn make_rows, const float *in,
                           float *A, size_t lda, const float *bias, int relu, float *out, float *ws, int threads)
{
    const float *Bp = l->cpu_packed;
    const int blocks = (M + MC_GEMM_MR - 1) / MC_GEMM_MR, panels = (N + MC_GEMM_NR - 1) / MC_GEMM_NR;
    size_t rows_max = CHUNK_FLOATS / (size_t)K;
    if (rows_max > ROWS_MAX) rows_max = ROWS_MAX;
    if (rows_max < MC_GEMM_MR) rows_max = MC_GEMM_MR;
    int chunks = (int)(((size_t)M + rows_max - 1) / rows_max), groups = 1;
    if (threads > 1) {
        if (M >= ROWS_SPLIT) { /* every thread the same number of chunks */
            if (chunks < threads) chunks = threads;
            chunks = (chunks + threads - 1) / threads * threads;
            if (chunks > blocks) chunks = blocks;
        } else {
            groups = threads < panels ? threads : panels;
        }
    }
    const size_t scr = mc_gemm_scratch(K);
    const int tasks = chunks * groups;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        if (make_rows && groups > 1) { /* every thread reads every row: all made first */
#pragma omp for schedule(static)
            for (int b = 0; b < blocks; b++) {
                const int r0 = b * MC_GEMM_MR, r1 = r0 + MC_GEMM_MR < M ? r0 + MC_GEMM_MR : M;
                make_rows(l, in, A, lda, r0, r1);
            }
        }
#pragma omp for schedule(static)
        for (int t = 0; t < tasks; t++) {
            /* group-major: a thread's tasks share its columns */
            const int g = t / chunks, c = t % chunks;
            const int m0 = (int)((long)blocks * c / chunks) * MC_GEMM_MR;
            int m1 = (int)((long)blocks * (c + 1) / chunks) * MC_GEMM_MR;
            if (m1 > M) m1 = M;
            const int n0 = panels * g / groups * MC_GEMM_NR;
            int n1 = panels * (g + 1) / groups * MC_GEMM_NR;
            if (n1 > N) n1 = N;
            if (m1 <= m0 || n1 <= n0) continue;
            if (make_rows && groups == 1) make_rows(l, in, A, lda, m0, m1); /* this thread's rows, into its cache */
            mc_gemm_packed_by_panel(m1 - m0, n1 - n0, K, A + (size_t)m0 * lda, lda, Bp + (size_t)n0 * K,
                                    out + (size_t)m0 * N + n0, (size_t)N, bias ? bias + n0 : NULL, relu,
                                    ws + (size_t)tid * scr);
        }
    }
}

void mc_pointwise_run(const mc_layer *l, int M, int K, int N, const float *A, size_t lda, const float *bias, int relu,
                      float *out, float *ws, int threads)
{
    mc_pointwise_run_made(l, M, K, N, NULL, NULL, (float *)(uintptr_t)A, lda, bias, relu, out, ws, threads);
}

/* Whether the layer reads its input other than as it lies: a k x k
 * kernel (im2col), or a 1x1 one with a stride or padding (a gather). */
static int needs_gather(const mc_layer *l)
{
    return l->kh != 1 || l->kw != 1 || l->sh != 1 || l->sw != 1 || l->pad_top || l->pad_left ||
           l->in.ne[1] != l->out.ne[1] || l->in.ne[2] != l->out.ne[2];
}

size_t mc_pointwise_conv_workspace(const mc_layer *l, int threads)
{
    const size_t gather = needs_gather(l) ? (size_t)l->out.ne[2] * l->out.ne[1] * conv_k(l) : 0;
    return gather + mc_pointwise_scratch((int)conv_k(l), threads);
}

/* im2col of the whole output: row (oy, ox) holds the KH x KW x C window
 * (zeros outside the input); for 1x1 kernels the pixels read. */
static void gather(const mc_layer *l, const float *in, float *g, int threads)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0], OH = l->out.ne[2], OW = l->out.ne[1];
    const size_t K = conv_k(l);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < OW; ox++) {
            float *dst = g + ((size_t)oy * OW + ox) * K;
            for (int ky = 0; ky < l->kh; ky++) {
                const int iy = oy * l->sh - l->pad_top + ky;
                for (int kx = 0; kx < l->kw; kx++, dst += C) {
                    const int ix = ox * l->sw - l->pad_left + kx;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) memset(dst, 0, (size_t)C * sizeof(float));
                    else memcpy(dst, in + ((size_t)iy * W + ix) * C, (size_t)C * sizeof(float));
                }
            }
        }
    }
}

mc_status mc_pointwise_conv_forward(const mc_layer *l, const float *in, float *out, float *ws, int threads)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], N = l->out.ne[0], K = (int)conv_k(l);
    const float *A = in;
    if (needs_gather(l)) {
        gather(l, in, ws, threads);
        A = ws;
        ws += (size_t)OH * OW * K;
    }
    const int relu = l->act == MC_ACT_RELU;
    mc_pointwise_run(l, OH * OW, K, N, A, (size_t)K, l->bias.data, relu, out, ws, threads);
    if (!relu) mc_act_apply(l->act, out, (size_t)OH * OW * N, (size_t)N);
    return MC_OK;
}
