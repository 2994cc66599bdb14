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

#include <stdlib.h>

#include "backend/backend.h"
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
    /* Graph and 3-D ops; 0 means the default. */
    int t;                 /* frames of the input (default 1) */
    int kt, st;            /* 3-D kernel and stride along T (default 1) */
    int mult;              /* depthwise multiplier (default 1) */
    int n_in;              /* inputs, for add and concat (default 1) */
    int cs[MC_MAX_INPUTS]; /* concat: channels of input k (default c) */
    int pads[6];           /* zeropad: top, bottom, left, right, front, back */
    float eps;             /* batchnorm (default 1e-3; negative: an impossible one) */
    int no_bias;           /* bias=no */
    int levels;            /* tpyramid (default 4) */
    int first, frames;     /* tpyramid window (default 0: every frame) */
} op_case;

/* Rows from before the graph fields are positional and leave those fields
 * 0, which is their default: no warning for that in this table. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
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
    /* 1x1 convolutions and sepconv2d's pointwise step on packed weights
     * (conv2d_pointwise.c): rows split in chunks, columns split, partial
     * row blocks and panels, strides gathered first */
    {"pointwise 1x1, 40x30 pixels (row chunks), 40 filters", MC_OP_CONV2D, 40, 30, 20, 40, 1, 1, 1, 1, MC_PAD_VALID, MC_ACT_RELU},
    {"pointwise 1x1 7x7 (columns split), 70 filters", MC_OP_CONV2D, 7, 7, 33, 70, 1, 1, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"pointwise 1x1 stride 2 valid (resnet50 shortcut)", MC_OP_CONV2D, 14, 13, 24, 40, 1, 1, 2, 2, MC_PAD_VALID, MC_ACT_RELU},
    {"pointwise 1x1 stride 2x1 same", MC_OP_CONV2D, 9, 6, 7, 5, 1, 1, 2, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"pointwise 1x1 softmax", MC_OP_CONV2D, 5, 5, 8, 6, 1, 1, 1, 1, MC_PAD_VALID, MC_ACT_SOFTMAX},
    {"pointwise 3x3 on 5x5, 64 channels (small output, as resnet50 conv5: im2col, not winograd)", MC_OP_CONV2D, 5, 5, 64, 40, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {"pointwise 5x5 stride 2 valid, narrow output", MC_OP_CONV2D, 13, 11, 6, 35, 5, 5, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"pointwise sepconv 3x3, 40 channels, 50 filters", MC_OP_SEPCONV2D, 21, 19, 40, 50, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_RELU},
    {.label = "pointwise sepconv 3x3 stride 2, multiplier 2", .op = MC_OP_SEPCONV2D, .h = 15, .w = 16, .c = 9, .units = 33, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .mult = 2, .pad = MC_PAD_SAME},
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
    /* The graph models' ops (ResNet50, Xception, C3D), odd shapes. */
    {.label = "batchnorm", .op = MC_OP_BATCHNORM, .h = 5, .w = 3, .c = 7, .eps = 1e-3f},
    {.label = "batchnorm relu, tiny eps", .op = MC_OP_BATCHNORM, .h = 4, .w = 6, .c = 9, .act = MC_ACT_RELU, .eps = 1.001e-5f},
    {.label = "batchnorm on a clip", .op = MC_OP_BATCHNORM, .h = 3, .w = 2, .c = 5, .t = 3, .eps = 0.01f},
    {.label = "add two", .op = MC_OP_ADD, .h = 5, .w = 7, .c = 3, .n_in = 2},
    {.label = "add three relu", .op = MC_OP_ADD, .h = 3, .w = 4, .c = 11, .n_in = 3, .act = MC_ACT_RELU},
    {.label = "concat two", .op = MC_OP_CONCAT, .h = 4, .w = 3, .c = 5, .n_in = 2, .cs = {5, 3}},
    {.label = "concat four, one channel", .op = MC_OP_CONCAT, .h = 3, .w = 5, .c = 1, .n_in = 4, .cs = {1, 6, 2, 1}},
    {.label = "concat clips", .op = MC_OP_CONCAT, .h = 2, .w = 3, .c = 2, .t = 3, .n_in = 2, .cs = {2, 7}},
    {.label = "globalavgpool", .op = MC_OP_GLOBALAVGPOOL, .h = 7, .w = 5, .c = 9},
    {.label = "globalavgpool many channels (chunks)", .op = MC_OP_GLOBALAVGPOOL, .h = 3, .w = 3, .c = 131},
    {.label = "globalavgpool clip softmax", .op = MC_OP_GLOBALAVGPOOL, .h = 3, .w = 4, .c = 6, .t = 3, .act = MC_ACT_SOFTMAX},
    {"avgpool 2x2/2 valid", MC_OP_AVGPOOL2D, 7, 6, 3, 0, 2, 2, 2, 2, MC_PAD_VALID, MC_ACT_NONE},
    {"avgpool 3x3/1 same (edges count fewer cells)", MC_OP_AVGPOOL2D, 5, 6, 4, 0, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"avgpool 3x2/2 same relu", MC_OP_AVGPOOL2D, 8, 7, 2, 0, 3, 2, 2, 2, MC_PAD_SAME, MC_ACT_RELU},
    {.label = "zeropad 3 all round", .op = MC_OP_ZEROPAD, .h = 4, .w = 5, .c = 3, .pads = {3, 3, 3, 3}},
    {.label = "zeropad bottom right", .op = MC_OP_ZEROPAD, .h = 3, .w = 4, .c = 2, .pads = {0, 1, 0, 1}},
    {.label = "zeropad clip, every side", .op = MC_OP_ZEROPAD, .h = 3, .w = 2, .c = 3, .t = 2, .pads = {1, 2, 0, 3, 2, 1}},
    {"dwconv 3x3 same", MC_OP_DWCONV2D, 7, 6, 5, 0, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"dwconv 3x3 stride 2 same relu", MC_OP_DWCONV2D, 9, 8, 4, 0, 3, 3, 2, 2, MC_PAD_SAME, MC_ACT_RELU},
    {.label = "dwconv 5x3 valid, multiplier 3", .op = MC_OP_DWCONV2D, .h = 8, .w = 7, .c = 3, .kh = 5, .kw = 3, .sh = 1, .sw = 2, .mult = 3},
    {.label = "dwconv 2x2 no bias", .op = MC_OP_DWCONV2D, .h = 5, .w = 5, .c = 6, .kh = 2, .kw = 2, .sh = 1, .sw = 1, .pad = MC_PAD_SAME, .no_bias = 1},
    {"sepconv 3x3 same", MC_OP_SEPCONV2D, 7, 5, 6, 9, 3, 3, 1, 1, MC_PAD_SAME, MC_ACT_NONE},
    {"sepconv 3x3 stride 2 same relu", MC_OP_SEPCONV2D, 9, 9, 5, 4, 3, 3, 2, 2, MC_PAD_SAME, MC_ACT_RELU},
    {.label = "sepconv 3x5 valid, multiplier 2, no bias", .op = MC_OP_SEPCONV2D, .h = 6, .w = 8, .c = 3, .units = 7, .kh = 3, .kw = 5, .sh = 1, .sw = 1, .mult = 2, .no_bias = 1},
    {.label = "conv3d 3x3x3 same relu", .op = MC_OP_CONV3D, .h = 6, .w = 5, .c = 3, .t = 4, .units = 5, .kh = 3, .kw = 3, .kt = 3, .sh = 1, .sw = 1, .st = 1, .pad = MC_PAD_SAME, .act = MC_ACT_RELU},
    {.label = "conv3d 2x3x2 valid strides", .op = MC_OP_CONV3D, .h = 7, .w = 6, .c = 2, .t = 5, .units = 4, .kh = 3, .kw = 2, .kt = 2, .sh = 2, .sw = 1, .st = 2},
    {.label = "conv3d even kernel same, odd frames", .op = MC_OP_CONV3D, .h = 5, .w = 4, .c = 4, .t = 3, .units = 3, .kh = 2, .kw = 4, .kt = 2, .sh = 1, .sw = 2, .st = 1, .pad = MC_PAD_SAME},
    {.label = "conv3d 1x1x1 pointwise", .op = MC_OP_CONV3D, .h = 3, .w = 4, .c = 6, .t = 2, .units = 5, .kh = 1, .kw = 1, .kt = 1, .sh = 1, .sw = 1, .st = 1, .no_bias = 1},
    {.label = "conv3d many bands (C3D conv1 rows)", .op = MC_OP_CONV3D, .h = 40, .w = 112, .c = 3, .t = 3, .units = 4, .kh = 3, .kw = 3, .kt = 3, .sh = 1, .sw = 1, .st = 1, .pad = MC_PAD_SAME},
    {.label = "maxpool3d 2x2x2", .op = MC_OP_MAXPOOL3D, .h = 6, .w = 4, .c = 3, .t = 4, .kh = 2, .kw = 2, .kt = 2, .sh = 2, .sw = 2, .st = 2},
    {.label = "maxpool3d 1x2x2 (C3D pool1)", .op = MC_OP_MAXPOOL3D, .h = 5, .w = 6, .c = 2, .t = 3, .kh = 2, .kw = 2, .kt = 1, .sh = 2, .sw = 2, .st = 1},
    {.label = "maxpool3d 3x3x2 same odd", .op = MC_OP_MAXPOOL3D, .h = 7, .w = 5, .c = 4, .t = 5, .kh = 3, .kw = 2, .kt = 3, .sh = 2, .sw = 2, .st = 2, .pad = MC_PAD_SAME},
    /* The two-stream model's temporal pyramid: windows of vectors (T x D). */
    {.label = "tpyramid 15 frames (spatial window), 4 levels", .op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 37, .t = 15},
    {.label = "tpyramid 25 frames (temporal window)", .op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 19, .t = 25},
    {.label = "tpyramid window inside the input (frames 15..39)", .op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 7, .t = 40, .first = 15, .frames = 25},
    {.label = "tpyramid first 15 of 40, 3 levels", .op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 5, .t = 40, .frames = 15, .levels = 3},
    {.label = "tpyramid exactly 2^(L-1) frames, HxWxC frames", .op = MC_OP_TPYRAMID, .h = 2, .w = 3, .c = 4, .t = 8, .levels = 4},
    {.label = "tpyramid one level (the whole window)", .op = MC_OP_TPYRAMID, .h = 1, .w = 1, .c = 3, .t = 5, .levels = 1, .first = 2},
};
#pragma GCC diagnostic pop
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static inline void make_layer(const op_case *c, mc_layer *l)
{
    memset(l, 0, sizeof *l);
    l->op = c->op;
    snprintf(l->name, sizeof l->name, "t");
    l->in = mc_shape_make(c->c, c->w, c->h, c->t ? c->t : 1);
    l->units = c->units;
    l->kh = c->kh;
    l->kw = c->kw;
    l->sh = c->sh;
    l->sw = c->sw;
    l->padding = c->pad;
    l->act = c->act;
    l->kt = c->kt ? c->kt : 1;
    l->st = c->st ? c->st : 1;
    l->mult = c->mult ? c->mult : 1;
    l->eps = c->eps != 0 ? c->eps : 1e-3f;
    l->no_bias = c->no_bias;
    l->levels = c->levels ? c->levels : 4;
    l->first = c->first;
    l->frames = c->frames;
    memcpy(l->pads, c->pads, sizeof l->pads);
    if (c->n_in > 1) {
        l->n_in = c->n_in;
        for (int k = 0; k < c->n_in; k++) {
            l->inputs[k] = -1;
            l->ins[k] = l->in;
            if (c->cs[k]) l->ins[k].ne[0] = c->cs[k];
        }
        l->in = l->ins[0];
    }
}

/* Floats of all the layer's inputs together (the reference reads them
 * concatenated in input order). */
static inline size_t op_case_in_count(const mc_layer *l)
{
    size_t n = 0;
    for (int k = 0; k < (l->n_in > 1 ? l->n_in : 1); k++) n += mc_shape_count(l->n_in > 1 ? &l->ins[k] : &l->in);
    return n;
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

/* The graph models' ops; `in` holds every input, concatenated. */
static inline void reference_graph_ops(const mc_layer *l, const float *in, double *out)
{
    const int T = l->in.ne[3], H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0];
    const size_t nout = mc_shape_count(&l->out);
    const int OT = l->out.ne[3], OH = l->out.ne[2], OW = l->out.ne[1], OC = l->out.ne[0];
    const size_t P = (size_t)T * H * W;
    switch (l->op) {
    case MC_OP_BATCHNORM:
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < C; c++)
                out[p * C + c] = ((double)in[p * C + c] - l->aux[0].data[c]) /
                                     sqrt((double)l->aux[1].data[c] + (double)l->eps) * l->weight.data[c] +
                                 l->bias.data[c];
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    case MC_OP_ADD:
        for (size_t i = 0; i < nout; i++) {
            double s = 0;
            for (int k = 0; k < l->n_in; k++) s += in[k * nout + i];
            out[i] = s;
        }
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    case MC_OP_CONCAT: {
        const float *src = in;
        int off = 0;
        for (int k = 0; k < l->n_in; k++) {
            const int ck = l->ins[k].ne[0];
            for (size_t p = 0; p < P; p++)
                for (int c = 0; c < ck; c++) out[p * OC + off + c] = src[p * ck + c];
            src += P * ck;
            off += ck;
        }
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    }
    case MC_OP_GLOBALAVGPOOL:
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (size_t p = 0; p < P; p++) s += in[p * C + c];
            out[c] = s / (double)P;
        }
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    case MC_OP_AVGPOOL2D: {
        int oh, ow;
        const int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &oh);
        const int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &ow);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    int n = 0;
                    for (int ky = 0; ky < l->kh; ky++)
                        for (int kx = 0; kx < l->kw; kx++) {
                            const int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += in[(iy * W + ix) * C + c], n++;
                        }
                    out[(oy * ow + ox) * C + c] = s / n;
                }
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    }
    case MC_OP_ZEROPAD:
        for (size_t i = 0; i < nout; i++) out[i] = 0;
        for (int t = 0; t < T; t++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < C; c++)
                        out[(((size_t)(t + l->pads[4]) * OH + y + l->pads[0]) * OW + x + l->pads[2]) * C + c] =
                            in[(((size_t)t * H + y) * W + x) * C + c];
        break;
    case MC_OP_DWCONV2D:
    case MC_OP_SEPCONV2D: {
        int oh, ow;
        const int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &oh);
        const int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &ow);
        const int M = l->mult, CM = C * M;
        double *dw = calloc((size_t)oh * ow * CM, sizeof *dw);
        ck_assert(dw);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < C; c++)
                    for (int m = 0; m < M; m++) {
                        double s = 0;
                        for (int ky = 0; ky < l->kh; ky++)
                            for (int kx = 0; kx < l->kw; kx++) {
                                const int iy = oy * l->sh + ky - pt, ix = ox * l->sw + kx - pl;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)in[(iy * W + ix) * C + c] * l->weight.data[((ky * l->kw + kx) * C + c) * M + m];
                            }
                        dw[((size_t)oy * ow + ox) * CM + c * M + m] = s;
                    }
        for (size_t p = 0; p < (size_t)oh * ow; p++)
            for (int co = 0; co < OC; co++) {
                double s = l->bias.data[co];
                if (l->op == MC_OP_DWCONV2D) s += dw[p * CM + co];
                else
                    for (int ci = 0; ci < CM; ci++) s += dw[p * CM + ci] * l->aux[0].data[(size_t)ci * OC + co];
                out[p * OC + co] = s;
            }
        free(dw);
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    }
    case MC_OP_CONV3D: {
        int ot, oh, ow;
        const int pf = ref_pad_before(T, l->kt, l->st, l->padding, &ot);
        const int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &oh);
        const int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &ow);
        for (int z = 0; z < ot; z++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int co = 0; co < OC; co++) {
                        double s = l->bias.data[co];
                        for (int kt = 0; kt < l->kt; kt++)
                            for (int ky = 0; ky < l->kh; ky++)
                                for (int kx = 0; kx < l->kw; kx++) {
                                    const int it = z * l->st + kt - pf, iy = oy * l->sh + ky - pt,
                                              ix = ox * l->sw + kx - pl;
                                    if (it < 0 || it >= T || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    for (int ci = 0; ci < C; ci++)
                                        s += (double)in[(((size_t)it * H + iy) * W + ix) * C + ci] *
                                             l->weight.data[((((size_t)kt * l->kh + ky) * l->kw + kx) * C + ci) * OC + co];
                                }
                        out[(((size_t)z * oh + oy) * ow + ox) * OC + co] = s;
                    }
        ref_act(l->act, out, nout, (size_t)OC);
        break;
    }
    case MC_OP_MAXPOOL3D: {
        int ot, oh, ow;
        const int pf = ref_pad_before(T, l->kt, l->st, l->padding, &ot);
        const int pt = ref_pad_before(H, l->kh, l->sh, l->padding, &oh);
        const int pl = ref_pad_before(W, l->kw, l->sw, l->padding, &ow);
        for (int z = 0; z < ot; z++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int c = 0; c < C; c++) {
                        double m = -INFINITY;
                        for (int kt = 0; kt < l->kt; kt++)
                            for (int ky = 0; ky < l->kh; ky++)
                                for (int kx = 0; kx < l->kw; kx++) {
                                    const int it = z * l->st + kt - pf, iy = oy * l->sh + ky - pt,
                                              ix = ox * l->sw + kx - pl;
                                    if (it >= 0 && it < T && iy >= 0 && iy < H && ix >= 0 && ix < W)
                                        m = fmax(m, in[(((size_t)it * H + iy) * W + ix) * C + c]);
                                }
                        out[(((size_t)z * oh + oy) * ow + ox) * C + c] = m;
                    }
        break;
    }
    case MC_OP_TPYRAMID: {
        const size_t D = (size_t)H * W * C;
        const int F = l->frames ? l->frames : T - l->first;
        size_t p = 0;
        for (int lev = 0; lev < l->levels; lev++)
            for (int k = 0; k < 1 << lev; k++, p++) {
                const int lo = l->first + k * F / (1 << lev), hi = l->first + (k + 1) * F / (1 << lev);
                /* frames outer: a max reduction over t crashes Debian's aarch64 gcc 12 */
                for (size_t d = 0; d < D; d++) out[p * D + d] = -INFINITY;
                for (int t = lo; t < hi; t++)
                    for (size_t d = 0; d < D; d++) out[p * D + d] = fmax(out[p * D + d], in[(size_t)t * D + d]);
            }
        break;
    }
    default: ck_abort_msg("no reference for op %d", l->op);
    }
    (void)OT;
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
    default: reference_graph_ops(l, in, out);
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
        mc_rng_fill(l->bias.data, mc_tensor_count(&l->bias), 7, 2, 0, l->no_bias ? 0.0f : 0.5f);
        for (int k = 0; k < MC_MAX_AUX; k++) {
            if (!mc_shape_count(&l->auxshape[k])) continue;
            ck_assert_int_eq(mc_tensor_alloc(&l->aux[k], l->auxshape[k], "aux"), MC_OK);
            mc_rng_fill(l->aux[k].data, mc_tensor_count(&l->aux[k]), 7, 4 + (uint64_t)k, 0, 0.5f);
        }
        if (l->op == MC_OP_BATCHNORM) /* a variance: positive */
            for (size_t i = 0; i < mc_tensor_count(&l->aux[1]); i++) l->aux[1].data[i] = 0.25f + fabsf(l->aux[1].data[i]);
    }
    mc_rng_fill(x, op_case_in_count(l), 7, 3, 0, 1.0f);
}

static inline void op_case_free(mc_layer *l)
{
    mc_tensor_free(&l->weight);
    mc_tensor_free(&l->bias);
    for (int k = 0; k < MC_MAX_AUX; k++) mc_tensor_free(&l->aux[k]);
}

/* Runs layer l on backend be through the backend interface as mc_net does:
 * one buffer per input (forward_n for several), x holding them all
 * concatenated; y receives the output. */
static inline void op_case_run(mc_backend *be, mc_layer *l, const float *x, float *y)
{
    const int n_in = l->n_in > 1 ? l->n_in : 1;
    const size_t nout = mc_shape_count(&l->out);
    void *bi[MC_MAX_INPUTS], *bo, *ws = NULL;
    const size_t wsb = be->workspace_bytes(be, l);
    ck_assert_int_eq(be->buffer_alloc(be, nout * 4, &bo), MC_OK);
    if (wsb) ck_assert_int_eq(be->buffer_alloc(be, wsb, &ws), MC_OK);
    ck_assert_msg(be->prepare_layer(be, l) == MC_OK, "%s prepare: %s", be->name, mc_error_last());
    for (int k = 0; k < n_in; k++) {
        const size_t nk = mc_shape_count(n_in > 1 ? &l->ins[k] : &l->in);
        ck_assert_int_eq(be->buffer_alloc(be, nk * 4, &bi[k]), MC_OK);
        ck_assert_int_eq(be->upload(be, bi[k], x, nk), MC_OK);
        x += nk;
    }
    mc_status st = n_in > 1 ? be->forward_n(be, l, (const void *const *)bi, bo, ws) : be->forward(be, l, bi[0], bo, ws);
    ck_assert_msg(st == MC_OK, "%s forward: %s", be->name, mc_error_last());
    ck_assert_msg(be->download(be, y, bo, nout) == MC_OK, "%s download: %s", be->name, mc_error_last());
    be->release_layer(be, l);
    for (int k = 0; k < n_in; k++) be->buffer_free(be, bi[k]);
    be->buffer_free(be, bo);
    if (ws) be->buffer_free(be, ws);
}

#endif
