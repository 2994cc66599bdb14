/* conv2d_winograd.c - 3x3 stride-1 convolution by Winograd F(2x2, 3x3).
 *
 * Why: VGG16 is 3x3 convolutions, and im2col + SGEMM already runs at ~90%
 * of the machine's SGEMM rate, so only fewer multiplies make it faster.
 * F(2x2,3x3) computes each 2x2 output tile from a 4x4 input tile with 16
 * multiplies per (input, output) channel pair instead of 36:
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * The 16 element-wise products over all tiles and channels become 16 GEMMs
 * [tiles x Cin] x [Cin x Cout].  Its transforms only add, subtract and halve,
 * so it stays within float rounding of the direct result (F(4x4,3x3) would
 * cut more multiplies but loses digits, which the farm's 1e-5 budget cannot
 * afford).
 *
 * Cost: the transformed weights U take 16/9 of the weights' memory.  It is
 * used where the input has at least MC_WINOGRAD_MIN_CHANNELS (measured:
 * faster there, slower below) and the output is large or U small (see
 * mc_winograd_applies), and only while U fits the backend's budget for
 * derived data.  The default budget, 64 MB, holds what the rule selects in
 * VGG16 (blocks 2-4, 54 MB; its peak stays under 700 MB) and AlexNet
 * (conv3-5, 3.5 MB), so every layer range of them gets the same kernels as
 * the whole model; a smaller budget (e.g. a memory-starved farm node) falls
 * back to im2col, within float rounding of the same result.  The tile
 * transforms run
 * in bands of tile rows so the workspace stays bounded.  U is built once in
 * prepare (kept in cpu_state) and freed in release; without it forward
 * falls back to im2col.  A memory-bounded farm node also asks the backend
 * to drop the plain weights of a transformed layer (it then adds U - W,
 * 7/16 of U) and for smaller bands (backend.h: mc_backend_cpu_set_winograd).
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "conv2d_winograd.h"

#define MC_WINOGRAD_MIN_PIXELS (28 * 28)
/* Smaller outputs still gain, but the extra memory then buys less: allowed
 * while the transformed weights are small (AlexNet conv3-5, not VGG16 block5,
 * which would take VGG16 past its 700 MB budget). */
#define MC_WINOGRAD_SMALL_BYTES ((size_t)4 << 20)
/* Below this many input channels the 16 GEMMs (inner dimension Cin) are too
 * thin and the transforms dominate: measured slower than im2col on VGG16's
 * block1_conv1/2 and block2_conv1 (Cin 3, 64, 64), faster from Cin 128. */
#define MC_WINOGRAD_MIN_CHANNELS 128
/* Workspace budget for one band: V and M, 16 floats per tile and channel. */
#define MC_WINOGRAD_BAND_FLOATS ((size_t)4 << 20)

/* Bytes of U (16 floats per input and output channel) and of the plain weights. */
static size_t u_bytes(const mc_layer *l) { return (size_t)16 * l->in.ne[0] * l->out.ne[0] * sizeof(float); }
static size_t w_bytes(const mc_layer *l) { return (size_t)9 * l->in.ne[0] * l->out.ne[0] * sizeof(float); }

/* Depends on the layer alone, never on which other layers share the net, so
 * that a farm task runs a layer with the same kernel as a single device. */
int mc_winograd_applies(const mc_layer *l)
{
    return l->op == MC_OP_CONV2D && l->kh == 3 && l->kw == 3 && l->sh == 1 && l->sw == 1 &&
           l->in.ne[0] >= MC_WINOGRAD_MIN_CHANNELS &&
           ((size_t)l->out.ne[1] * l->out.ne[2] >= MC_WINOGRAD_MIN_PIXELS ||
            u_bytes(l) <= MC_WINOGRAD_SMALL_BYTES);
}

static int tiles_w(const mc_layer *l) { return (l->out.ne[1] + 1) / 2; }
static int tiles_h(const mc_layer *l) { return (l->out.ne[2] + 1) / 2; }

/* Tile rows per band. */
static int band_rows(const mc_layer *l)
{
    size_t per_row = (size_t)16 * tiles_w(l) * (l->in.ne[0] + l->out.ne[0]);
    size_t r = (l->cpu_band_floats ? l->cpu_band_floats : MC_WINOGRAD_BAND_FLOATS) / per_row;
    if (r < 1) r = 1;
    if (r > (size_t)tiles_h(l)) r = (size_t)tiles_h(l);
    return (int)r;
}

size_t mc_winograd_workspace(const mc_layer *l)
{
    if (!mc_winograd_applies(l)) return 0;
    return (size_t)16 * band_rows(l) * tiles_w(l) * (l->in.ne[0] + l->out.ne[0]);
}

size_t mc_winograd_weight_bytes(const mc_layer *l)
{
    return mc_winograd_applies(l) ? u_bytes(l) : 0;
}

mc_status mc_winograd_prepare(mc_layer *l, mc_cpu_derived *d)
{
    if (!mc_winograd_applies(l) || l->cpu_state) return MC_OK;
    l->cpu_band_floats = d->band_floats;
    const size_t bytes = u_bytes(l);
    const size_t cost = d->drop_weights ? bytes - w_bytes(l) : bytes; /* what preparing adds */
    if (cost > d->budget) return MC_OK; /* im2col path */
    if (!l->weight.data) /* dropped by an earlier prepare: U cannot be rebuilt */
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded (dropped once transformed?)",
                            l->name);
    const int C = l->in.ne[0], K = l->out.ne[0];
    float *u = mc_alloc(bytes);
    if (!u) return mc_error_set(MC_ERR_NOMEM, "layer %s: no memory for Winograd weights", l->name);
    const float *w = l->weight.data;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        for (int k = 0; k < K; k++) {
            float g[3][3], t[4][3];
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 3; x++) g[y][x] = w[((size_t)(y * 3 + x) * C + c) * K + k];
            for (int x = 0; x < 3; x++) { /* t = G g */
                t[0][x] = g[0][x];
                t[1][x] = 0.5f * (g[0][x] + g[1][x] + g[2][x]);
                t[2][x] = 0.5f * (g[0][x] - g[1][x] + g[2][x]);
                t[3][x] = g[2][x];
            }
            for (int y = 0; y < 4; y++) { /* U = t G^T */
                float v[4] = {t[y][0], 0.5f * (t[y][0] + t[y][1] + t[y][2]),
                              0.5f * (t[y][0] - t[y][1] + t[y][2]), t[y][2]};
                for (int x = 0; x < 4; x++) u[((size_t)(y * 4 + x) * C + c) * K + k] = v[x];
            }
        }
    }
    l->cpu_state = u;
    d->budget -= cost;
    if (d->drop_weights) mc_tensor_free(&l->weight); /* forward reads only U from now on */
    return MC_OK;
}

void mc_winograd_release(mc_layer *l, mc_cpu_derived *d)
{
    if (l->op != MC_OP_CONV2D || !l->cpu_state) return;
    mc_free(l->cpu_state);
    l->cpu_state = NULL;
    /* U, less the plain weights when prepare dropped them */
    d->budget += l->weight.data ? u_bytes(l) : u_bytes(l) - w_bytes(l);
}

/* Zero row standing in for input pixels outside the image (channels are
 * processed in chunks of at most this many). */
#define MC_WINOGRAD_CHUNK 1024
static const float zero_row[MC_WINOGRAD_CHUNK];

/* V[k][t][c] = (B^T d B)[k] for tiles of tile rows [ty0, ty1).  Written as
 * straight loops over channels with no branches so that they vectorise. */
static void input_transform(const mc_layer *l, const float *in, float *V, int ty0, int ty1, int threads)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0], TW = tiles_w(l);
    const size_t T = (size_t)(ty1 - ty0) * TW, TC = T * C;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ty = ty0; ty < ty1; ty++) {
        for (int tx = 0; tx < TW; tx++) {
            const size_t t = (size_t)(ty - ty0) * TW + tx;
            const int y0 = 2 * ty - l->pad_top, x0 = 2 * tx - l->pad_left;
            for (int c0 = 0; c0 < C; c0 += MC_WINOGRAD_CHUNK) {
                const int cn = C - c0 < MC_WINOGRAD_CHUNK ? C - c0 : MC_WINOGRAD_CHUNK;
                const float *r[16];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int y = y0 + i, x = x0 + j;
                        r[i * 4 + j] = (y >= 0 && y < H && x >= 0 && x < W) ? in + ((size_t)y * W + x) * C + c0
                                                                           : zero_row;
                    }
                float *v = V + t * C + c0;
                for (int c = 0; c < cn; c++) {
                    /* s = B^T d, column by column */
                    float s00 = r[0][c] - r[8][c], s01 = r[1][c] - r[9][c], s02 = r[2][c] - r[10][c],
                          s03 = r[3][c] - r[11][c];
                    float s10 = r[4][c] + r[8][c], s11 = r[5][c] + r[9][c], s12 = r[6][c] + r[10][c],
                          s13 = r[7][c] + r[11][c];
                    float s20 = r[8][c] - r[4][c], s21 = r[9][c] - r[5][c], s22 = r[10][c] - r[6][c],
                          s23 = r[11][c] - r[7][c];
                    float s30 = r[4][c] - r[12][c], s31 = r[5][c] - r[13][c], s32 = r[6][c] - r[14][c],
                          s33 = r[7][c] - r[15][c];
                    /* V = s B, row by row */
                    v[0 * TC + c] = s00 - s02;
                    v[1 * TC + c] = s01 + s02;
                    v[2 * TC + c] = s02 - s01;
                    v[3 * TC + c] = s01 - s03;
                    v[4 * TC + c] = s10 - s12;
                    v[5 * TC + c] = s11 + s12;
                    v[6 * TC + c] = s12 - s11;
                    v[7 * TC + c] = s11 - s13;
                    v[8 * TC + c] = s20 - s22;
                    v[9 * TC + c] = s21 + s22;
                    v[10 * TC + c] = s22 - s21;
                    v[11 * TC + c] = s21 - s23;
                    v[12 * TC + c] = s30 - s32;
                    v[13 * TC + c] = s31 + s32;
                    v[14 * TC + c] = s32 - s31;
                    v[15 * TC + c] = s31 - s33;
                }
            }
        }
    }
}

/* out tile = A^T m A + bias, activation; clipped at the output's edge.  The
 * 2x2 tile is computed for all output channels at once, vectorised over k. */
static void output_transform(const mc_layer *l, const float *M, float *out, int ty0, int ty1, int threads)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], K = l->out.ne[0], TW = tiles_w(l);
    const size_t T = (size_t)(ty1 - ty0) * TW, TK = T * K;
    const float *b = l->bias.data;
    const float lo = l->act == MC_ACT_RELU ? 0.0f : -INFINITY;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ty = ty0; ty < ty1; ty++) {
        for (int tx = 0; tx < TW; tx++) {
            const size_t t = (size_t)(ty - ty0) * TW + tx;
            const int oy = 2 * ty, ox = 2 * tx;
            float *o00 = out + ((size_t)oy * OW + ox) * K;
            /* Edge tiles write their missing pixels into a scratch row. */
            float spill[3][MC_WINOGRAD_CHUNK];
            const int has_r = ox + 1 < OW, has_d = oy + 1 < OH;
            for (int k0 = 0; k0 < K; k0 += MC_WINOGRAD_CHUNK) {
                const int kn = K - k0 < MC_WINOGRAD_CHUNK ? K - k0 : MC_WINOGRAD_CHUNK;
                const float *m = M + t * K + k0;
                float *y00 = o00 + k0;
                float *y01 = has_r ? o00 + K + k0 : spill[0];
                float *y10 = has_d ? o00 + (size_t)OW * K + k0 : spill[1];
                float *y11 = has_r && has_d ? o00 + (size_t)(OW + 1) * K + k0 : spill[2];
                const float *bk = b + k0;
                for (int k = 0; k < kn; k++) {
                    /* s = A^T m */
                    float s00 = m[0 * TK + k] + m[4 * TK + k] + m[8 * TK + k];
                    float s01 = m[1 * TK + k] + m[5 * TK + k] + m[9 * TK + k];
                    float s02 = m[2 * TK + k] + m[6 * TK + k] + m[10 * TK + k];
                    float s03 = m[3 * TK + k] + m[7 * TK + k] + m[11 * TK + k];
                    float s10 = m[4 * TK + k] - m[8 * TK + k] - m[12 * TK + k];
                    float s11 = m[5 * TK + k] - m[9 * TK + k] - m[13 * TK + k];
                    float s12 = m[6 * TK + k] - m[10 * TK + k] - m[14 * TK + k];
                    float s13 = m[7 * TK + k] - m[11 * TK + k] - m[15 * TK + k];
                    /* y = s A + bias, then the activation's floor */
                    float a = s00 + s01 + s02 + bk[k], c = s01 - s02 - s03 + bk[k];
                    float d = s10 + s11 + s12 + bk[k], e = s11 - s12 - s13 + bk[k];
                    y00[k] = a > lo ? a : lo;
                    y01[k] = c > lo ? c : lo;
                    y10[k] = d > lo ? d : lo;
                    y11[k] = e > lo ? e : lo;
                }
            }
        }
    }
}

mc_status mc_winograd_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const int C = l->in.ne[0], K = l->out.ne[0], TH = tiles_h(l), TW = tiles_w(l);
    const float *U = l->cpu_state;
    const int band = band_rows(l), threads = l->cpu_threads > 0 ? l->cpu_threads : 1;
    for (int ty = 0; ty < TH; ty += band) {
        const int ty1 = ty + band < TH ? ty + band : TH;
        const int T = (ty1 - ty) * TW;
        float *V = ws, *M = ws + (size_t)16 * T * C;
        input_transform(l, in, V, ty, ty1, threads);
        /* Whole GEMMs to each thread (single-threaded inside the region):
         * at batch 1 they are small, and splitting each across threads cost
         * more in synchronisation than it gained. */
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int k = 0; k < 16; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, K, C, 1.0f, V + (size_t)k * T * C, C,
                        U + (size_t)k * C * K, K, 0.0f, M + (size_t)k * T * K, K);
        output_transform(l, M, out, ty, ty1, threads);
    }
    if (l->act != MC_ACT_NONE && l->act != MC_ACT_RELU)
        mc_act_apply(l->act, out, mc_shape_count(&l->out), (size_t)K);
    return MC_OK;
}
