/* dense.c - fully connected layer y = act(W x + b) on a flat input.
 *
 * W is stored [out][in] so that the rows a farm device holds under fc output
 * splitting are one contiguous block.  At batch 1 this is a GEMV, bound by
 * memory bandwidth (VGG16's fc1 streams 411 MB of weights per inference), so
 * the kernel is ours rather than BLAS': four rows at a time, vectorised along
 * the input, rows split across threads.  It read memory ~15% faster than
 * OpenBLAS' sgemv on the 2-core machine (27-44 GB/s against 24-38 GB/s on
 * AlexNet's fc1; README).  Each row's sum is computed the same way whichever
 * rows a device holds, so a split layer's parts equal the unsplit rows. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "op.h"

static mc_status dense_infer(mc_layer *l)
{
    if (l->units <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: dense needs units > 0 (got %d)",
                            l->name, l->units);
    size_t n = mc_shape_count(&l->in);
    if (n > 0x7fffffff)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: dense input of %zu features is too large",
                            l->name, n);
    l->out = mc_shape_make(l->units, 1, 1, 1);
    l->wshape = mc_shape_make((int)n, l->units, 1, 1);
    l->bshape = mc_shape_make(l->units, 1, 1, 1);
    l->has_params = 1;
    return MC_OK;
}

static double dense_macs(const mc_layer *l)
{
    return (double)mc_shape_count(&l->in) * l->units;
}

/* out[o] = b[o] + W[o] . x for rows o in [o0, o0 + 4). */
static void dense_rows4(const float *W, const float *x, const float *b, float *out, int n_in, int o0)
{
    const float *w0 = W + (size_t)o0 * n_in, *w1 = w0 + n_in, *w2 = w1 + n_in, *w3 = w2 + n_in;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int i = 0; i < n_in; i++) {
        const float xi = x[i];
        s0 += w0[i] * xi;
        s1 += w1[i] * xi;
        s2 += w2[i] * xi;
        s3 += w3[i] * xi;
    }
    out[o0] = s0 + b[o0];
    out[o0 + 1] = s1 + b[o0 + 1];
    out[o0 + 2] = s2 + b[o0 + 2];
    out[o0 + 3] = s3 + b[o0 + 3];
}

static mc_status dense_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    (void)ws;
    const int n_in = (int)mc_shape_count(&l->in), n_out = l->units, blocks = n_out / 4;
    const float *W = l->weight.data, *b = l->bias.data;
    const int threads = l->cpu_threads > 0 ? l->cpu_threads : 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int k = 0; k < blocks; k++) dense_rows4(W, in, b, out, n_in, 4 * k);
    for (int o = 4 * blocks; o < n_out; o++) { /* the last n_out % 4 rows */
        const float *w = W + (size_t)o * n_in;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < n_in; i++) s += w[i] * in[i];
        out[o] = s + b[o];
    }
    mc_act_apply(l->act, out, (size_t)n_out, (size_t)n_out);
    return MC_OK;
}

static mc_status dense_prepare(mc_layer *l, mc_cpu_derived *d)
{
    (void)d;
    l->cpu_threads = mc_op_max_threads();
    return MC_OK;
}

static void dense_release(mc_layer *l, mc_cpu_derived *d)
{
    (void)d;
    l->cpu_threads = 0;
}

const mc_op_def mc_op_dense = {
    .name = "dense",
    .infer = dense_infer,
    .macs = dense_macs,
    .forward_cpu = dense_forward,
    .prepare_cpu = dense_prepare,
    .release_cpu = dense_release,
};
