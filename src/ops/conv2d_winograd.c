/* conv2d_winograd.c - 3x3 stride-1 convolution by Winograd F(2x2, 3x3).
 *
 * Why: VGG16 is 3x3 convolutions, and a direct product already runs near
 * the machine's SGEMM rate, so only fewer multiplies make it faster.
 * F(2x2,3x3) computes each 2x2 output tile from a 4x4 input tile with 16
 * multiplies per (input, output) channel pair instead of 36:
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * The 16 element-wise products over all tiles and channels become 16 matrix
 * products [tiles x Cin] x [Cin x Cout].  Its transforms only add, subtract
 * and halve, so it stays within float rounding of the direct result.
 * F(4x4,3x3) would cut the multiplies by 4 instead of 2.25, but its
 * transforms (factors 4, 5, 8, 1/6, 1/24) lose digits: in a float32
 * simulation its error on one tile reached 1.4e-5 of the output's range
 * against 1.4e-6 for F(2x2) (C = 512), and the farm compares a split run
 * with an unsplit one at 1e-5.
 *
 * Layout, chosen for the products (conv2d_gemm.c, read in place, no
 * packing per call): the transformed weights U are 16 matrices [Cin][Kp]
 * (Kp: Cout rounded up to a kernel panel, zero columns), each stored in
 * panels of columns (mc_gemm_pack_b's layout), built once in prepare;
 * a band of T tiles is transformed into V, 16 matrices [T][ldv], the
 * products go to M, 16 matrices [T][ldm], and the output transform adds
 * bias and the activation on the way out.  Each of the 16 matrices of V
 * and M is followed by one spare cache line (and rows by a spare vector
 * where they would be a multiple of 4 KB long):
 * the transforms write 16 streams at once, and with strides that are
 * multiples of 4 KB (T*C floats often are) all 16 fell into one L1 set;
 * the input transform then took 40% of the layer (perf).
 *
 * Threads: when a layer has at least two bands per thread, each thread
 * takes whole bands (its own V and M; one parallel region per layer, no
 * barrier per band).  Otherwise (small outputs: AlexNet conv3-5, VGG16
 * blocks 4-5) the threads share each band: tiles split for the transforms,
 * the 16 products split between them.
 *
 * Cost: U takes 16/9 of the weights' memory.  It is built only while it
 * fits the backend's budget for derived data; otherwise the layer keeps
 * the im2col path, within float rounding of the same result, so a
 * memory-starved farm node runs the same model.  A memory-bounded node (and
 * `mchair predict`) asks the backend to drop the plain weights of a
 * transformed layer (it then adds U - W, 7/16 of U) and sets the band size
 * (backend.h: mc_backend_cpu_set_winograd).
 */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/alloc.h"
#include "conv2d_gemm.h"
#include "conv2d_winograd.h"

/* Below this many input channels the 16 products (inner dimension Cin) are
 * too thin for the transforms to pay: measured per layer (README). */
#define MC_WINOGRAD_MIN_CHANNELS 64
/* Smaller outputs (ResNet50's conv5: 7x7, 16 tiles for 49 pixels, U of
 * 16.8 MB read for 0.23 GFLOP) run faster as one product on packed weights
 * (conv2d_pointwise.c). */
#define MC_WINOGRAD_MIN_SIDE 8
/* Default workspace of one band: V and M of its tiles (1 MB). */
#define MC_WINOGRAD_BAND_FLOATS ((size_t)1 << 18)
/* Fewest tiles per band: every band reads all of U (16 x Cin x Cout), so
 * layers with few tiles and large U (VGG16 blocks 4-5: 1 MB of U per tile
 * row) take bands larger than the workspace default instead of reading U
 * from memory once per row. */
#define MC_WINOGRAD_MIN_TILES 192
/* ... unless U is small enough to stay in cache between bands. */
#define MC_WINOGRAD_SMALL_U ((size_t)1 << 20)
/* Spare floats after each of the 16 matrices of V and M (one cache line). */
#define PAD 16

static int round_up(int x, int m) { return (x + m - 1) / m * m; }
static int kp_of(const mc_layer *l) { return round_up(l->out.ne[0], MC_GEMM_NR); }
/* Row strides of V and M: a spare vector only where rows would be a
 * multiple of 4 KB apart (the kernel's 12 row streams in one L1 set). */
static int ld_of(int n)
{
    n = round_up(n, 16);
    return n % 1024 ? n : n + 16;
}
static int ldv_of(const mc_layer *l) { return ld_of(l->in.ne[0]); }
static int ldm_of(const mc_layer *l) { return ld_of(kp_of(l)); }

/* Bytes of U and of the plain weights. */
static size_t u_bytes(const mc_layer *l) { return (size_t)16 * l->in.ne[0] * kp_of(l) * sizeof(float); }
static size_t w_bytes(const mc_layer *l) { return (size_t)9 * l->in.ne[0] * l->out.ne[0] * sizeof(float); }

/* Depends on the layer alone, never on which other layers share the net, so
 * that a farm task runs a layer with the same kernel as a single device. */
int mc_winograd_applies(const mc_layer *l)
{
    return l->op == MC_OP_CONV2D && l->kh == 3 && l->kw == 3 && l->sh == 1 && l->sw == 1 &&
           l->in.ne[0] >= MC_WINOGRAD_MIN_CHANNELS && l->out.ne[1] >= MC_WINOGRAD_MIN_SIDE &&
           l->out.ne[2] >= MC_WINOGRAD_MIN_SIDE;
}

static int tiles_w(const mc_layer *l) { return (l->out.ne[1] + 1) / 2; }
static int tiles_h(const mc_layer *l) { return (l->out.ne[2] + 1) / 2; }

/* Threads the layer runs on (prepare records them; op.h). */
static int wino_threads(const mc_layer *l)
{
    return mc_op_ws_threads(l);
}

/* Tiles of a band of r tile rows, rounded up to whole kernel rows. */
static size_t band_tiles(const mc_layer *l, int r) { return (size_t)round_up(r * tiles_w(l), MC_GEMM_MR); }

static size_t band_ws(const mc_layer *l, int r)
{
    const size_t tp = band_tiles(l, r);
    return 16 * (tp * ldv_of(l) + PAD) + 16 * (tp * ldm_of(l) + PAD);
}

/* Tile rows per band: as many as fit the band workspace, and at least
 * MC_WINOGRAD_MIN_TILES tiles unless the backend set a band size. */
static int band_rows(const mc_layer *l)
{
    const size_t cap = l->cpu_band_floats ? l->cpu_band_floats : MC_WINOGRAD_BAND_FLOATS;
    const size_t min_tiles = l->cpu_band_floats || u_bytes(l) <= MC_WINOGRAD_SMALL_U ? 1 : MC_WINOGRAD_MIN_TILES;
    int r = 1;
    while (r < tiles_h(l) && (band_ws(l, r + 1) <= cap || (size_t)r * tiles_w(l) < min_tiles)) r++;
    return r;
}

/* Whether each thread takes whole bands (else the threads share a band). */
static int per_thread_bands(const mc_layer *l, int threads)
{
    const int bands = (tiles_h(l) + band_rows(l) - 1) / band_rows(l);
    return threads > 1 && bands >= 2 * threads;
}

size_t mc_winograd_workspace(const mc_layer *l)
{
    if (!mc_winograd_applies(l)) return 0;
    const int t = wino_threads(l);
    return (per_thread_bands(l, t) ? (size_t)t : 1) * band_ws(l, band_rows(l)) +
           (size_t)t * mc_gemm_scratch(l->in.ne[0]);
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
    const int C = l->in.ne[0], K = l->out.ne[0], KP = kp_of(l);
    float *u = mc_calloc(1, bytes); /* zero columns K..KP */
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
                /* matrix y*4+x, packed in panels of NR columns (conv2d_gemm.h) */
                for (int x = 0; x < 4; x++)
                    u[(size_t)(y * 4 + x) * C * KP + (size_t)(k / MC_GEMM_NR) * C * MC_GEMM_NR +
                      (size_t)c * MC_GEMM_NR + k % MC_GEMM_NR] = v[x];
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

/* One band: tile rows [ty0, ty1), T tiles, TP rounded up to kernel rows. */
typedef struct band {
    int ty0, ty1;
    size_t T, TP;
    float *V, *M; /* 16 matrices each, strides vs and ms */
    size_t vs, ms;
} band;

static void band_init(const mc_layer *l, band *b, int ty0, int ty1, float *ws)
{
    b->ty0 = ty0;
    b->ty1 = ty1;
    b->T = (size_t)(ty1 - ty0) * tiles_w(l);
    b->TP = (size_t)round_up((int)b->T, MC_GEMM_MR);
    b->vs = b->TP * ldv_of(l) + PAD;
    b->ms = b->TP * ldm_of(l) + PAD;
    b->V = ws;
    b->M = ws + 16 * b->vs;
}

/* B^T d B of one tile for elements [c, c + width) of type T (a vector or a
 * float): r[16] are the 16 input rows, v the first of the 16 outputs, vs
 * the distance between outputs. */
#define WINO_INPUT(T, LD, ST)                                                                                  \
    do {                                                                                                       \
        T d[16];                                                                                               \
        for (int q = 0; q < 16; q++) d[q] = LD(r[q] + c);                                                      \
        /* s = B^T d, column by column */                                                                      \
        T s0[4], s1[4], s2[4], s3[4];                                                                          \
        for (int j = 0; j < 4; j++) {                                                                          \
            s0[j] = d[j] - d[8 + j];                                                                           \
            s1[j] = d[4 + j] + d[8 + j];                                                                       \
            s2[j] = d[8 + j] - d[4 + j];                                                                       \
            s3[j] = d[4 + j] - d[12 + j];                                                                      \
        }                                                                                                      \
        /* V = s B, row by row */                                                                              \
        T *const s_[4] = {s0, s1, s2, s3};                                                                     \
        for (int i = 0; i < 4; i++) {                                                                          \
            const T *si = s_[i];                                                                               \
            ST(v + (size_t)(4 * i + 0) * vs + c, si[0] - si[2]);                                               \
            ST(v + (size_t)(4 * i + 1) * vs + c, si[1] + si[2]);                                               \
            ST(v + (size_t)(4 * i + 2) * vs + c, si[2] - si[1]);                                               \
            ST(v + (size_t)(4 * i + 3) * vs + c, si[1] - si[3]);                                               \
        }                                                                                                      \
    } while (0)

#define SLOAD(p) (*(p))
#define SSTORE(p, x) (*(p) = (x))

/* V[xi][t][c] = (B^T d B)[xi] for tiles [t0, t1) of the band. */
static void input_transform(const mc_layer *l, const float *in, const band *b, size_t t0, size_t t1)
{
    const int H = l->in.ne[2], W = l->in.ne[1], C = l->in.ne[0], TW = tiles_w(l);
    const size_t vs = b->vs, ldv = (size_t)ldv_of(l);
    for (size_t t = t0; t < t1; t++) {
        if (t >= b->T) { /* kernel-row padding: zeros, never NaN from old memory */
            for (int k = 0; k < 16; k++) memset(b->V + k * vs + t * ldv, 0, (size_t)C * sizeof(float));
            continue;
        }
        const int ty = b->ty0 + (int)(t / TW), tx = (int)(t % TW);
        const int y0 = 2 * ty - l->pad_top, x0 = 2 * tx - l->pad_left;
        for (int c0 = 0; c0 < C; c0 += MC_WINOGRAD_CHUNK) {
            const int cn = C - c0 < MC_WINOGRAD_CHUNK ? C - c0 : MC_WINOGRAD_CHUNK;
            const float *r[16];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    int y = y0 + i, x = x0 + j;
                    r[i * 4 + j] = (y >= 0 && y < H && x >= 0 && x < W) ? in + ((size_t)y * W + x) * C + c0 : zero_row;
                }
            float *v = b->V + t * ldv + c0;
            int c = 0;
            for (; c + MC_GEMM_VL <= cn; c += MC_GEMM_VL) WINO_INPUT(mc_vf, mc_vload, mc_vstore);
            for (; c < cn; c++) WINO_INPUT(float, SLOAD, SSTORE);
        }
    }
}

/* M[xi] = V[xi] U[xi] for xi in [x0, x1). */
static void products(const mc_layer *l, const band *b, int x0, int x1, float *scratch)
{
    const int C = l->in.ne[0], KP = kp_of(l);
    const float *U = l->cpu_state;
    for (int k = x0; k < x1; k++)
        mc_gemm_packed((int)b->TP, KP, C, b->V + k * b->vs, (size_t)ldv_of(l), U + (size_t)k * C * KP,
                       b->M + k * b->ms, (size_t)ldm_of(l), 0, scratch);
}

/* A^T m A + bias, then the activation's floor, for elements [k, k + width)
 * of type T: m the first of the 16 inputs (distance ms), y[4] the outputs. */
#define WINO_OUTPUT(T, LD, ST, BIAS, MAXLO)                                                                   \
    do {                                                                                                       \
        T q[16];                                                                                               \
        for (int i = 0; i < 16; i++) q[i] = LD(m + (size_t)i * ms + k);                                        \
        /* s = A^T m */                                                                                        \
        T s0[4], s1[4];                                                                                        \
        for (int j = 0; j < 4; j++) {                                                                          \
            s0[j] = q[j] + q[4 + j] + q[8 + j];                                                                \
            s1[j] = q[4 + j] - q[8 + j] - q[12 + j];                                                           \
        }                                                                                                      \
        const T b_ = BIAS;                                                                                     \
        ST(y[0] + k, MAXLO(s0[0] + s0[1] + s0[2] + b_));                                                       \
        ST(y[1] + k, MAXLO(s0[1] - s0[2] - s0[3] + b_));                                                       \
        ST(y[2] + k, MAXLO(s1[0] + s1[1] + s1[2] + b_));                                                       \
        ST(y[3] + k, MAXLO(s1[1] - s1[2] - s1[3] + b_));                                                       \
    } while (0)

/* out tile = A^T m A + bias, activation; clipped at the output's edge, for
 * tiles [t0, t1).  Vectorised over output channels. */
static void output_transform(const mc_layer *l, const band *b, float *out, size_t t0, size_t t1)
{
    const int OH = l->out.ne[2], OW = l->out.ne[1], K = l->out.ne[0], TW = tiles_w(l);
    const size_t ms = b->ms, ldm = (size_t)ldm_of(l);
    const float *bias = l->bias.data;
    const int relu = l->act == MC_ACT_RELU;
    if (t1 > b->T) t1 = b->T;
    for (size_t t = t0; t < t1; t++) {
        const int oy = 2 * (b->ty0 + (int)(t / TW)), ox = 2 * (int)(t % TW);
        float *o00 = out + ((size_t)oy * OW + ox) * K;
        /* Edge tiles write their missing pixels into a scratch row. */
        float spill[3][MC_WINOGRAD_CHUNK];
        const int has_r = ox + 1 < OW, has_d = oy + 1 < OH;
        for (int k0 = 0; k0 < K; k0 += MC_WINOGRAD_CHUNK) {
            const int kn = K - k0 < MC_WINOGRAD_CHUNK ? K - k0 : MC_WINOGRAD_CHUNK;
            const float *m = b->M + t * ldm + k0;
            float *y[4] = {o00 + k0, has_r ? o00 + K + k0 : spill[0], has_d ? o00 + (size_t)OW * K + k0 : spill[1],
                           has_r && has_d ? o00 + (size_t)(OW + 1) * K + k0 : spill[2]};
            const float *bk = bias + k0;
            int k = 0;
            if (relu) {
/* max(x, 0) as a mask: NaN > 0 is false, so NaN gives 0 as the scalar form */
#define VRELU(x) ({ mc_vf x_ = (x); (mc_vf)((mc_vi)x_ & (x_ > (mc_vf){0})); })
#define SRELU(x) ({ float x_ = (x); x_ > 0.0f ? x_ : 0.0f; })
                for (; k + MC_GEMM_VL <= kn; k += MC_GEMM_VL) WINO_OUTPUT(mc_vf, mc_vload, mc_vstore, mc_vload(bk + k), VRELU);
                for (; k < kn; k++) WINO_OUTPUT(float, SLOAD, SSTORE, bk[k], SRELU);
            } else {
#define NOACT(x) (x)
                for (; k + MC_GEMM_VL <= kn; k += MC_GEMM_VL) WINO_OUTPUT(mc_vf, mc_vload, mc_vstore, mc_vload(bk + k), NOACT);
                for (; k < kn; k++) WINO_OUTPUT(float, SLOAD, SSTORE, bk[k], NOACT);
            }
        }
    }
}

mc_status mc_winograd_forward(const mc_layer *l, const float *in, float *out, float *ws)
{
    const int TH = tiles_h(l), rows = band_rows(l), threads = wino_threads(l);
    const int bands = (TH + rows - 1) / rows;
    const size_t bws = band_ws(l, rows), scr = mc_gemm_scratch(l->in.ne[0]);
    if (per_thread_bands(l, threads)) {
#pragma omp parallel num_threads(threads)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *mine = ws + (size_t)tid * bws, *scratch = ws + (size_t)threads * bws + (size_t)tid * scr;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < bands; i++) {
                band b;
                const int ty = i * rows;
                band_init(l, &b, ty, ty + rows < TH ? ty + rows : TH, mine);
                input_transform(l, in, &b, 0, b.TP);
                products(l, &b, 0, 16, scratch);
                output_transform(l, &b, out, 0, b.T);
            }
        }
    } else {
        for (int i = 0; i < bands; i++) {
            band b;
            const int ty = i * rows;
            band_init(l, &b, ty, ty + rows < TH ? ty + rows : TH, ws);
#pragma omp parallel num_threads(threads)
            {
                int tid = 0, nt = 1;
#ifdef _OPENMP
                tid = omp_get_thread_num();
                nt = omp_get_num_threads();
#endif
                /* contiguous shares: each thread transforms, multiplies and
                 * writes back its own part */
                input_transform(l, in, &b, b.TP * tid / nt, b.TP * (tid + 1) / nt);
#pragma omp barrier
                products(l, &b, 16 * tid / nt, 16 * (tid + 1) / nt, ws + bws + (size_t)tid * scr);
#pragma omp barrier
                output_transform(l, &b, out, b.T * tid / nt, b.T * (tid + 1) / nt);
            }
        }
    }
    if (l->act != MC_ACT_NONE && l->act != MC_ACT_RELU)
        mc_act_apply(l->act, out, mc_shape_count(&l->out), (size_t)l->out.ne[0]);
    return MC_OK;
}
