/* op_cases.h - the op conformance table and its naive reference, shared by
 * tests/check_ops.c (every backend of the default suite against the
 * reference) and tests/gpu/check_gpu.c (the CUDA backend against the CPU
 * backend and the reference).
 *
 * One table of cases (op, input shape, parameters); the reference is
 * straightforward loops written here independently of src/ops (double
 * accumulation, no im2col, no BLAS).  A new op adds rows to the table and a
 * reference branch.  op_case_params() fills a case's weights, bias and input
 * with the same seeds in every suite, so all suites check the same numbers.
 */
#ifndef MC_OP_CASES_H
#define MC_OP_CASES_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "ops/op.h"
#include "testutil.h"

typedef struct op_case {
    const char *label;
    mc_op_type op;
    int h, w, c;      /* input */
    int units, kh, kw, sh, sw;
    mc_padding pad;
    mc_act act;
} op_case;

static const op_case cases[] = {
    {"conv 3x3 same relu", MC_OP_CONV2D, 9, 7, 5, 6, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"conv 3x3 valid", MC_OP_CONV2D, 9, 7, 5, 6, 3, 3, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"conv 11x11 stride 4 same (alexnet conv1 shape)", MC_OP_CONV2D, 35, 33, 3, 8, 11, 11, 4, 4, MC_PAD_SAME, MC_ACT_RELU},
    {"conv 5x5 stride 2 same odd", MC_OP_CONV2D, 13, 10, 4, 7, 5, 5, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"conv 2x4 kernel stride 3x1 valid", MC_OP_CONV2D, 11, 12, 2, 3, 2, 4, 3, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"conv 4x4 even kernel same", MC_OP_CONV2D, 8, 8, 3, 4, 4, 4, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"conv 1x1 pointwise", MC_OP_CONV2D, 6, 5, 16, 9, 1, 1, 1, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"conv 1x1 stride 2", MC_OP_CONV2D, 7, 7, 4, 5, 1, 1, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"conv kernel larger than input, same", MC_OP_CONV2D, 3, 2, 2, 3, 5, 5, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"conv softmax over channels", MC_OP_CONV2D, 4, 4, 3, 5, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_SOFTMAX},
    /* Direct path (conv2d_direct.c): output rows of at least 12 pixels (the
     * widest kernel block of any target), kernels Winograd does not take. */
    {"direct wide band (many rows)", MC_OP_CONV2D, 64, 64, 32, 8, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"direct 11x11 stride 4 same, 48 filters (alexnet conv1)", MC_OP_CONV2D, 47, 49, 3, 48, 11, 11, 4, 4, MC_PAD_SAME, MC_ACT_RELU},
    {"direct 5x5 same, 20 filters (partial panel)", MC_OP_CONV2D, 16, 14, 6, 20, 5, 5, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"direct 3x3 same, 3 channels (vgg16 block1_conv1)", MC_OP_CONV2D, 14, 15, 3, 16, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"direct 4x3 kernel stride 2x1 valid", MC_OP_CONV2D, 11, 30, 5, 7, 4, 3, 2, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"direct 7x7 stride 3 same, odd pads", MC_OP_CONV2D, 20, 40, 2, 33, 7, 7, 3, 3, MC_PAD_SAME, MC_ACT_NONE},
    {"direct softmax over channels", MC_OP_CONV2D, 5, 13, 4, 6, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_SOFTMAX},
    /* Winograd F(2x2,3x3) path: 3x3 stride 1, >= 64 input channels. */
    {"winograd 64 channels, 14x14 (shared bands)", MC_OP_CONV2D, 14, 14, 64, 48, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"winograd same, odd output edges", MC_OP_CONV2D, 29, 31, 128, 6, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"winograd valid", MC_OP_CONV2D, 32, 33, 130, 3, 3, 3, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"winograd several bands", MC_OP_CONV2D, 130, 66, 128, 64, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"winograd softmax", MC_OP_CONV2D, 28, 28, 128, 4, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_SOFTMAX},
    {"winograd more than a channel chunk", MC_OP_CONV2D, 28, 29, 1030, 3, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"maxpool 2x2/2", MC_OP_MAXPOOL2D, 8, 6, 3, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"maxpool 2x2/2 odd input valid", MC_OP_MAXPOOL2D, 7, 5, 2, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"maxpool 3x3/2 same", MC_OP_MAXPOOL2D, 7, 9, 4, 0, 3, 3, 2, 2, MC_PAD_SAME, MC_ACT_NONE},
    {"maxpool 3x2/1 valid", MC_OP_MAXPOOL2D, 5, 6, 1, 0, 3, 2, 1, 1, MC_PAD_VALID, MC_ACT_NONE},
    {"dense relu", MC_OP_DENSE, 1, 1, 37, 11, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_RELU},
    {"dense from HxWxC", MC_OP_DENSE, 3, 4, 5, 7, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"dense softmax", MC_OP_DENSE, 1, 1, 64, 10, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_SOFTMAX},
    {"relu", MC_OP_RELU, 3, 5, 7, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"softmax per pixel", MC_OP_SOFTMAX, 2, 3, 6, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
    {"flatten", MC_OP_FLATTEN, 3, 4, 5, 0, 0, 0, 0, 0, MC_PAD_VALID, MC_ACT_NONE},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static inline void make_layer(const op_case *c, mc_layer *l)
{
    memset(l, 0, sizeof *l);
    l->op = c->op;
    snprintf(l->name, sizeof l->name, "t");
    l->in = mc_shape_make(c->c, c->w, c->h, 1);
    l->units = c->units;
    l->kh = c->kh;
    l->kw = c->kw;
    l->sh = c->sh;
    l->sw = c->sw;
    l->padding = c->pad;
    l->act = c->act;
}

static inline void ref_act(mc_act a, double *x, size_t n, size_t ch)
{
    if (a == MC_ACT_RELU)
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
    if (a == MC_ACT_SOFTMAX)
        for (size_t p = 0; p < n; p += ch) {
            double m = -INFINITY, s = 0;
            for (size_t k = 0; k < ch; k++) m = fmax(m, x[p + k]);
            for (size_t k = 0; k < ch; k++) s += exp(x[p + k] - m);
            for (size_t k = 0; k < ch; k++) x[p + k] = exp(x[p + k] - m) / s;
        }
}

/* Reference padding for SAME, written from the definition: total padding
 * makes out = ceil(in/stride), the smaller half goes first. */
static inline int ref_pad_before(int in, int k, int s, mc_padding p, int *out)
{
    if (p == MC_PAD_VALID) {
        *out = (in - k) / s + 1;
        return 0;
    }
    *out = (in + s - 1) / s;
    int total = (*out - 1) * s + k - in;
    return total > 0 ? total / 2 : 0;
}

static inline void reference(const mc_layer *l, const float *in, double *out)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    size_t nin = (size_t)H * W * C;
    int OH, OW;
    switch (l->op) {
    case MC_OP_CONV2D: {
        int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &OH);
        int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &OW);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int co = 0; co < l->units; co++) {
                    double s = l->bias.data[co];
                    for (int ky = 0; ky < l->kh; ky++)
                        for (int kx = 0; kx < l->kw; kx++) {
                            int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int ci = 0; ci < C; ci++)
                                s += (double)in[(iy * W + ix) * C + ci] *
                                     l->weight.data[((ky * l->kw + kx) * C + ci) * l->units + co];
                        }
                    out[(oy * OW + ox) * l->units + co] = s;
                }
        ref_act(l->act, out, (size_t)OH * OW * l->units, (size_t)l->units);
        break;
    }
    case MC_OP_MAXPOOL2D: {
        int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &OH);
        int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &OW);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int c = 0; c < C; c++) {
                    double m = -INFINITY;
                    for (int ky = 0; ky < l->kh; ky++)
                        for (int kx = 0; kx < l->kw; kx++) {
                            int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = fmax(m, in[(iy * W + ix) * C + c]);
                        }
                    out[(oy * OW + ox) * C + c] = m;
                }
        break;
    }
    case MC_OP_DENSE:
        for (int o = 0; o < l->units; o++) {
            double s = l->bias.data[o];
            for (size_t i = 0; i < nin; i++) s += (double)l->weight.data[o * nin + i] * in[i];
            out[o] = s;
        }
        ref_act(l->act, out, (size_t)l->units, (size_t)l->units);
        break;
    case MC_OP_RELU:
    case MC_OP_SOFTMAX:
    case MC_OP_FLATTEN:
        for (size_t i = 0; i < nin; i++) out[i] = in[i];
        if (l->op == MC_OP_RELU) ref_act(MC_ACT_RELU, out, nin, 0);
        if (l->op == MC_OP_SOFTMAX) ref_act(MC_ACT_SOFTMAX, out, nin, (size_t)C);
        break;
    default: ck_abort_msg("no reference for op %d", l->op);
    }
}

/* Allocates and fills the layer's parameters (if any) and fills the input x
 * (mc_shape_count(&l->in) floats) with the suites' fixed seeds. */
static inline void op_case_params(mc_layer *l, float *x)
{
    if (l->has_params) {
        ck_assert_int_eq(mc_tensor_alloc(&l->weight, l->wshape, "w"), MC_OK);
        ck_assert_int_eq(mc_tensor_alloc(&l->bias, l->bshape, "b"), MC_OK);
        mc_rng_fill(l->weight.data, mc_tensor_count(&l->weight), 7, 1, 0, 0.5f);
        mc_rng_fill(l->bias.data, mc_tensor_count(&l->bias), 7, 2, 0, 0.5f);
    }
    mc_rng_fill(x, mc_shape_count(&l->in), 7, 3, 0, 1.0f);
}

#endif
