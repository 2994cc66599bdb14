/* conv2d_gemm.c - register-blocked matrix product for convolutions (see
 * conv2d_gemm.h for why it is ours).
 *
 * Loop order: k in blocks of KC (the B block, KC x NR floats, stays in L1),
 * then column panels of NR, then row blocks of MR; the kernel runs the whole
 * KC for one MR x NR block of C held in registers.  Edge rows and columns
 * go through small zero-padded copies in scratch, so the kernel itself has
 * no conditions.
 */
#include "conv2d_gemm.h"

#include <string.h>

#define VL MC_GEMM_VL
#define MR MC_GEMM_MR
#define NR MC_GEMM_NR
/* k per kernel call: KC x NR floats of B (32 KB with AVX-512) fit L1. */
#define KC 256
/* mc_gemm_packed_by_panel prefetches B for products of at most this many
 * row blocks (beyond, a slice per block would be a few lines). */
#define PREFETCH_BLOCKS 32

typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* C[MR x NV*VL] (+)= A[MR x K] B[K x NV*VL], k running over nseg segments
 * of seglen: in segment s, row i of A is A + i*lda + s*segstride (one
 * segment for a plain product; a kernel row of the input image for a
 * direct convolution, conv2d_direct.c), B is contiguous over segments. */
#define MC_GEMM_KERNEL(NAME, NV, MR)                                                                          \
    static void NAME(int nseg, int seglen, size_t segstride, const float *restrict A, size_t lda,      \
                           const float *restrict B, size_t ldb, float *restrict C, size_t ldc, int acc)       \
    {                                                                                                         \
        vf c[MR][NV];                                                                                         \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) c[i][v] =                                    \
                acc ? vload(C + i * ldc + v * VL) : (vf){0};                                                  \
        for (int sg = 0; sg < nseg; sg++, A += segstride, B += (size_t)seglen * ldb) {                        \
            for (int p = 0; p < seglen; p++) {                                                                \
                vf b[NV];                                                                                     \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) b[v] = vload(B + (size_t)p * ldb + v * VL); \
                _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                         \
                {                                                                                             \
                    const float a = A[i * lda + p]; /* scalar op vector: broadcast */                         \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) c[i][v] += a * b[v];                 \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) vstore(C + i * ldc + v * VL, c[i][v]);       \
    }

MC_GEMM_KERNEL(kernel1, 1, MC_GEMM_MR)
MC_GEMM_KERNEL(kernel2, 2, MC_GEMM_MR)
/* The two-vector kernel for the last, partial row block (ResNet50's 7x7
 * outputs: 49 rows are 4 blocks and 1 row, which computed 12 through a
 * zero-padded copy).  Each element is the same chain of multiply-adds as in
 * kernel2, so the result does not depend on which one ran. */
#define MC_GEMM_KERNEL_ROWS(R) MC_GEMM_KERNEL(kernel2_r##R, 2, R)
MC_GEMM_KERNEL_ROWS(1)
MC_GEMM_KERNEL_ROWS(2)
MC_GEMM_KERNEL_ROWS(3)
MC_GEMM_KERNEL_ROWS(4)
MC_GEMM_KERNEL_ROWS(5)
#if MC_GEMM_MR > 6
MC_GEMM_KERNEL_ROWS(6)
MC_GEMM_KERNEL_ROWS(7)
MC_GEMM_KERNEL_ROWS(8)
MC_GEMM_KERNEL_ROWS(9)
MC_GEMM_KERNEL_ROWS(10)
MC_GEMM_KERNEL_ROWS(11)
#endif
typedef void (*kernel_fn)(int, int, size_t, const float *restrict, size_t, const float *restrict, size_t,
                          float *restrict, size_t, int);
static const kernel_fn kernel2_rows[] = {NULL, kernel2_r1, kernel2_r2, kernel2_r3, kernel2_r4, kernel2_r5,
#if MC_GEMM_MR > 6
                                         kernel2_r6, kernel2_r7, kernel2_r8, kernel2_r9, kernel2_r10, kernel2_r11
#endif
};
_Static_assert(sizeof kernel2_rows / sizeof kernel2_rows[0] == MC_GEMM_MR, "a kernel for every partial row count");
/* Kernels of other widths for the direct convolution: as many rows as fit
 * the accumulator registers (at most 12, for the row addresses). */
#define MR_OF(nv) (MC_GEMM_ACC / (nv) < 12 ? MC_GEMM_ACC / (nv) : 12)
MC_GEMM_KERNEL(dkernel1, 1, MR_OF(1))
MC_GEMM_KERNEL(dkernel3, 3, MR_OF(3))
MC_GEMM_KERNEL(dkernel4, 4, MR_OF(4))

size_t mc_gemm_scratch(int K)
{
    size_t kc = K < KC ? (size_t)K : KC;
    return (size_t)MR * kc + kc * NR + (size_t)MR * NR;
}

/* One MR x w block (w <= NR columns, mr <= MR rows) of C for k in [0, kc). */
static void block(int mr, int w, int kc, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                  size_t ldc, int acc, float *scratch)
{
    const int nv = w > VL ? 2 : 1;
    const int full_cols = w == nv * VL;
    if (mr == MR && full_cols) {
        if (nv == 2) kernel2(1, kc, 0, A, lda, B, ldb, C, ldc, acc);
        else kernel1(1, kc, 0, A, lda, B, ldb, C, ldc, acc);
        return;
    }
    if (full_cols && nv == 2) { /* partial row block, in place */
        kernel2_rows[mr](1, kc, 0, A, lda, B, ldb, C, ldc, acc);
        return;
    }
    float *a = scratch, *b = a + (size_t)MR * kc, *c = b + (size_t)kc * NR;
    if (mr < MR) { /* rows padded with zeros */
        for (int i = 0; i < mr; i++) memcpy(a + (size_t)i * kc, A + i * lda, (size_t)kc * sizeof(float));
        memset(a + (size_t)mr * kc, 0, (size_t)(MR - mr) * kc * sizeof(float));
        A = a;
        lda = (size_t)kc;
    }
    if (!full_cols) { /* columns padded with zeros */
        for (int p = 0; p < kc; p++) {
            memcpy(b + (size_t)p * NR, B + (size_t)p * ldb, (size_t)w * sizeof(float));
            memset(b + (size_t)p * NR + w, 0, (size_t)(NR - w) * sizeof(float));
        }
        B = b;
        ldb = NR;
    }
    for (int i = 0; i < MR; i++) {
        if (acc && i < mr) memcpy(c + i * NR, C + i * ldc, (size_t)w * sizeof(float));
        else memset(c + i * NR, 0, NR * sizeof(float));
    }
    if (nv == 2) kernel2(1, kc, 0, A, lda, B, ldb, c, NR, 1);
    else kernel1(1, kc, 0, A, lda, B, ldb, c, NR, 1);
    for (int i = 0; i < mr; i++) memcpy(C + i * ldc, c + i * NR, (size_t)w * sizeof(float));
}

void mc_gemm(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C, size_t ldc,
             int accumulate, float *scratch)
{
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, acc = accumulate || k0 > 0;
        for (int j0 = 0; j0 < N; j0 += NR) {
            const int w = N - j0 < NR ? N - j0 : NR;
            for (int i0 = 0; i0 < M; i0 += MR)
                block(M - i0 < MR ? M - i0 : MR, w, kc, A + (size_t)i0 * lda + k0, lda, B + (size_t)k0 * ldb + j0,
                      ldb, C + (size_t)i0 * ldc + j0, ldc, acc, scratch);
        }
    }
}

size_t mc_gemm_packed_floats(int K, int N) { return (size_t)K * ((N + NR - 1) / NR * NR); }

void mc_gemm_pack_b(int K, int N, const float *b, size_t ldb, float *Bp)
{
    for (int j0 = 0; j0 < N; j0 += NR) {
        const int w = N - j0 < NR ? N - j0 : NR;
        float *panel = Bp + (size_t)j0 * K;
        for (int k = 0; k < K; k++) {
            memcpy(panel + (size_t)k * NR, b + (size_t)k * ldb + j0, (size_t)w * sizeof(float));
            memset(panel + (size_t)k * NR + w, 0, (size_t)(NR - w) * sizeof(float));
        }
    }
}

void mc_gemm_packed(int M, int N, int K, const float *A, size_t lda, const float *Bp, float *C, size_t ldc,
                    int accumulate, float *scratch)
{
    if (K <= 0) {
        mc_gemm(M, N, K, A, lda, Bp, NR, C, ldc, accumulate, scratch);
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, acc = accumulate || k0 > 0;
        for (int j0 = 0; j0 < N; j0 += NR) {
            const int w = N - j0 < NR ? N - j0 : NR;
            /* a padded last panel is full width in Bp: only C is clipped */
            const float *bp = Bp + (size_t)j0 * K + (size_t)k0 * NR;
            for (int i0 = 0; i0 < M; i0 += MR)
                block(M - i0 < MR ? M - i0 : MR, w, kc, A + (size_t)i0 * lda + k0, lda, bp, NR,
                      C + (size_t)i0 * ldc + j0, ldc, acc, scratch);
        }
    }
}

void mc_gemm_packed_by_panel(int M, int N, int K, const float *A, size_t lda, const float *Bp, float *C, size_t ldc,
                             const float *bias, int relu, float *scratch)
{
    const char *end = (const char *)(Bp + (size_t)((N + NR - 1) / NR) * NR * K);
    const size_t nblocks = (size_t)(M + MR - 1) / MR;
    for (int j0 = 0; j0 < N; j0 += NR) {
        const int w = N - j0 < NR ? N - j0 : NR;
        if (K <= 0) mc_gemm(M, w, K, A, lda, Bp, NR, C + j0, ldc, 0, scratch);
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            const float *bp = Bp + (size_t)j0 * K + (size_t)k0 * NR;
            /* The kernel consumes B faster than memory delivers it: the
             * next block of B (it follows this one) is asked for, a slice
             * per row block.  Spread, not in one burst before the sweep
             * (512 prefetches at once stalled: 8% of Xception in perf);
             * on every chunk of the pointwise path (<= 16 row blocks):
             * Xception 1 thread 124 -> 114 ms with it on 31-block sweeps
             * too, against only on products of <= 8 row blocks. */
            const char *nx = (const char *)(bp + (size_t)kc * NR);
            const size_t lines = nx < end ? (size_t)KC * NR * sizeof(float) / 64 : 0;
            const size_t per = nblocks <= PREFETCH_BLOCKS ? (lines + nblocks - 1) / nblocks : 0;
            size_t line = 0;
            for (int i0 = 0; i0 < M; i0 += MR) {
                for (size_t e = line + per; line < e && line < lines && nx + line * 64 < end; line++)
                    __builtin_prefetch(nx + line * 64, 0, 2);
                block(M - i0 < MR ? M - i0 : MR, w, kc, A + (size_t)i0 * lda + k0, lda, bp, NR,
                      C + (size_t)i0 * ldc + j0, ldc, k0 > 0, scratch);
            }
        }
        if (!bias) continue;
        for (int i = 0; i < M; i++) { /* the panel's columns are final and in cache */
            float *c = C + (size_t)i * ldc + j0;
            const float *b = bias + j0;
            if (relu)
                for (int n = 0; n < w; n++) {
                    const float v = c[n] + b[n];
                    c[n] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int n = 0; n < w; n++) c[n] += b[n];
        }
    }
}

int mc_gemm_rows(int nv) { return nv == 2 ? MC_GEMM_MR : MR_OF(nv); }

void mc_gemm_segments(int nv, int nseg, int seglen, size_t segstride, const float *A, size_t lda, const float *B,
                      int N, float *C, size_t ldc, float *scratch)
{
    const int w_full = nv * VL, mr = mc_gemm_rows(nv);
    for (int j0 = 0; j0 < N; j0 += w_full) {
        const int w = N - j0 < w_full ? N - j0 : w_full;
        const float *b = B + j0;
        size_t ldb = (size_t)N;
        float *c = C + j0;
        size_t ldcc = ldc;
        if (w < w_full) { /* columns padded with zeros, result through scratch */
            const size_t K = (size_t)nseg * seglen;
            float *bp = scratch;
            c = scratch + K * w_full;
            for (size_t p = 0; p < K; p++) {
                memcpy(bp + p * w_full, B + p * N + j0, (size_t)w * sizeof(float));
                memset(bp + p * w_full + w, 0, (size_t)(w_full - w) * sizeof(float));
            }
            b = bp;
            ldb = (size_t)w_full;
            ldcc = (size_t)w_full;
        }
        switch (nv) {
        case 1: dkernel1(nseg, seglen, segstride, A, lda, b, ldb, c, ldcc, 0); break;
        case 2: kernel2(nseg, seglen, segstride, A, lda, b, ldb, c, ldcc, 0); break;
        case 3: dkernel3(nseg, seglen, segstride, A, lda, b, ldb, c, ldcc, 0); break;
        default: dkernel4(nseg, seglen, segstride, A, lda, b, ldb, c, ldcc, 0); break;
        }
        if (w < w_full)
            for (int i = 0; i < mr; i++) memcpy(C + i * ldc + j0, c + i * w_full, (size_t)w * sizeof(float));
    }
}

size_t mc_gemm_segments_scratch(int K) { return (size_t)K * 4 * VL + (size_t)12 * 4 * VL; }
