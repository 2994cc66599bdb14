/* conv2d_pointwise.h - 1x1 convolutions (any stride), small-output
 * convolutions that neither Winograd nor the direct path takes, and
 * sepconv2d's pointwise step, as one product on weights packed once (see
 * the .c). */
#ifndef MC_CONV2D_POINTWISE_H
#define MC_CONV2D_POINTWISE_H

#include "op.h"

/* 1 if conv2d layer l takes this path: a 1x1 kernel (any stride), or a
 * kernel no other path takes whose im2col matrix is small (<= 16 MB). */
int mc_pointwise_applies(const mc_layer *l);
/* Packs the K x N row-major weights w (conv2d's 1x1 kernel or sepconv2d's
 * pointwise kernel, *wt) into l->cpu_packed if they fit d->budget (reduced
 * by what they add); otherwise the layer keeps OpenBLAS' sgemm.  With
 * d->drop_weights *wt is freed once packed (the layer then cannot be
 * prepared again). */
mc_status mc_pointwise_prepare(mc_layer *l, mc_tensor *wt, int K, int N, mc_cpu_derived *d);
/* Frees the packed weights and gives their cost back to d->budget. */
void mc_pointwise_release(mc_layer *l, mc_tensor *wt, int K, int N, mc_cpu_derived *d);
/* Workspace floats of mc_pointwise_run for K inputs on `threads` threads. */
size_t mc_pointwise_scratch(int K, int threads);
/* out[M x N] = A[M x K] W + bias, then max(0, .) if relu; rows of A lda
 * floats apart, W packed by mc_pointwise_prepare (l->cpu_packed).  The
 * threads split rows or columns; every output element is computed the same
 * way whatever the split, the thread count or M.  ws: mc_pointwise_scratch. */
void mc_pointwise_run(const mc_layer *l, int M, int K, int N, const float *A, size_t lda, const float *bias, int relu,
                      float *out, float *ws, int threads);
/* Makes rows [m0, m1) of A (row i at a + i*lda) from the layer's input. */
typedef void (*mc_pointwise_rows_fn)(const mc_layer *l, const float *in, float *a, size_t lda, int m0, int m1);
/* mc_pointwise_run where A is made by make_rows from `in` as the product
 * goes: each thread makes the rows of its chunk just before multiplying
 * them (when threads split rows), or all threads make all rows first
 * (when they split columns).  A has M x lda floats. */
void mc_pointwise_run_made(const mc_layer *l, int M, int K, int N, mc_pointwise_rows_fn make_rows, const float *in,
                           float *A, size_t lda, const float *bias, int relu, float *out, float *ws, int threads);
/* conv2d forward on the packed weights: a layer that does not read its
 * input as it lies (k x k kernel, stride, padding) first gathers its
 * im2col matrix into ws (OH*OW*KH*KW*Cin floats), then the product. */
size_t mc_pointwise_conv_workspace(const mc_layer *l, int threads);
mc_status mc_pointwise_conv_forward(const mc_layer *l, const float *in, float *out, float *ws, int threads);

#endif
