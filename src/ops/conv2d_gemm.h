/* conv2d_gemm.h - the small matrix product inside our convolutions.
 *
 * Why our own and not OpenBLAS' sgemm here: a batch-1 convolution is many
 * small products whose B operand (the weights, or their Winograd
 * transforms) never changes.  sgemm packs both operands into its own
 * layout on every call; on VGG16's Winograd layers that packing took a
 * fifth of the time (perf: sgemm_itcopy/oncopy), and the product per call
 * is too small to hide it.  Here A and B are read where they lie (row-major,
 * any leading dimension): the callers lay them out for it once (weights at
 * prepare, Winograd tiles as they are transformed).  OpenBLAS remains the
 * GEMM of dense layers and of the im2col fallback.
 *
 * The kernel keeps an MR x (nv*VL) block of C in vector registers and
 * streams A (one broadcast per row) and B (nv vector loads) along k.  It is
 * written with GCC vector extensions, so the same source becomes AVX-512,
 * AVX2 or NEON code, depending on the target (-march=native; arm64).
 */
#ifndef MC_CONV2D_GEMM_H
#define MC_CONV2D_GEMM_H

#include <stddef.h>

/* VL: floats per vector register; ACC: registers that hold C (of 32 or 16);
 * MR: rows of C per kernel call of the main kernel (2 vectors wide). */
#if defined(__AVX512F__)
#define MC_GEMM_VL 16
#define MC_GEMM_ACC 24
#elif defined(__AVX__)
#define MC_GEMM_VL 8
#define MC_GEMM_ACC 12
#elif defined(__aarch64__)
#define MC_GEMM_VL 4
#define MC_GEMM_ACC 24
#else
#define MC_GEMM_VL 4
#define MC_GEMM_ACC 12
#endif
#define MC_GEMM_MR (MC_GEMM_ACC / 2)
/* Columns of C per kernel call. */
#define MC_GEMM_NR (2 * MC_GEMM_VL)

/* One vector register of floats, for the loops around the products (the
 * Winograd transforms): written with it they vectorise even where the
 * compiler cannot prove that 16 input rows and 16 output rows do not
 * overlap (it left the transforms scalar: a third of VGG16's block 1). */
typedef float mc_vf __attribute__((vector_size(MC_GEMM_VL * sizeof(float))));
typedef int mc_vi __attribute__((vector_size(MC_GEMM_VL * sizeof(int)))); /* comparison masks */

static inline mc_vf mc_vload(const float *p)
{
    mc_vf v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline void mc_vstore(float *p, mc_vf v) { __builtin_memcpy(p, &v, sizeof v); }

/* Scratch floats mc_gemm needs for k = K (edge rows and columns). */
size_t mc_gemm_scratch(int K);

/* C[M x N] = A[M x K] B[K x N] (+ C if accumulate), all row-major with
 * leading dimensions lda, ldb, ldc (in floats); scratch holds
 * mc_gemm_scratch(K) floats.  Single-threaded: callers split the work. */
void mc_gemm(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C, size_t ldc,
             int accumulate, float *scratch);

/* The same with B packed by mc_gemm_pack_b: column panels of NR, each
 * K x NR contiguous (the last one zero-padded), so that streaming B from
 * memory is sequential (panels of a row-major B with a large N are strided,
 * and the prefetchers stop at every page: the Winograd products of VGG16
 * block 4 ran at 60% of the kernel's rate with U row-major). */
void mc_gemm_packed(int M, int N, int K, const float *A, size_t lda, const float *Bp, float *C, size_t ldc,
                    int accumulate, float *scratch);
/* C = A Bp (no accumulate) as mc_gemm_packed computes it, bit for bit, in
 * another order: column panel by panel, k inside, so that Bp is read once,
 * front to back, the next block prefetched while the current one meets
 * every row block.  For A that stays in L2 (the pointwise path's chunks):
 * at batch 1 streaming the weights is what limits small outputs (ResNet50's
 * conv5 3x3: 1.3 -> 1.15 ms on 2 threads, weights not in cache).  Then,
 * with bias (N floats; NULL: none), each panel's columns get the bias and,
 * if relu, max(0, .) while they are in cache. */
void mc_gemm_packed_by_panel(int M, int N, int K, const float *A, size_t lda, const float *Bp, float *C, size_t ldc,
                             const float *bias, int relu, float *scratch);
/* Floats of a packed B [K x N], and packing one: element (k, n) of the
 * row-major B is b[k*ldb + n]. */
size_t mc_gemm_packed_floats(int K, int N);
void mc_gemm_pack_b(int K, int N, const float *b, size_t ldb, float *Bp);

/* mc_gemm_rows(nv) rows of C [rows x N] = A B for a direct convolution,
 * computed nv vectors of columns at a time (1 to 4; the rows per call
 * shrink as nv grows, to fit the registers): k runs over nseg segments of
 * seglen (row i of A in segment s is A + i*lda + s*segstride), B is
 * [nseg*seglen x N] row-major.  scratch holds
 * mc_gemm_segments_scratch(nseg*seglen) floats. */
void mc_gemm_segments(int nv, int nseg, int seglen, size_t segstride, const float *A, size_t lda, const float *B,
                      int N, float *C, size_t ldc, float *scratch);
int mc_gemm_rows(int nv);
size_t mc_gemm_segments_scratch(int K);

#endif
