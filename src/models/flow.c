/* flow.c - Farneback dense optical flow (flow.h says how and why).  Written
 * from the 2003 paper; plain loops in double, separable Gaussian windows. */
#include "flow.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "resize.h"

#define NCOEF 6 /* c, bx, by, axx, ayy, axy (f = c + bx x + by y + axx x^2 + ayy y^2 + axy x y) */
#define MAX_N 4

mc_flow_params mc_flow_defaults(int w, int h)
{
    mc_flow_params p = {1, 2, 1.1, 2, 1.5, 3};
    int m = w < h ? w : h;
    while (p.levels < 4 && m / (1 << p.levels) >= 6) p.levels++;
    return p;
}

void mc_flow_gray(const float *rgb, int w, int h, float *gray)
{
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        gray[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The expansion matrix M (NCOEF x K, K = (2n+1)^2): coefficients = M f over
 * the neighbourhood, from the normal equations (B^T W B) r = B^T W f solved
 * by Gauss-Jordan elimination. */
static mc_status expansion_matrix(int n, double sigma, double *M)
{
    const int side = 2 * n + 1, K = side * side;
    double nm[NCOEF][2 * NCOEF];
    memset(nm, 0, sizeof nm);
    double B[(2 * MAX_N + 1) * (2 * MAX_N + 1)][NCOEF], W[(2 * MAX_N + 1) * (2 * MAX_N + 1)];
    for (int k = 0; k < K; k++) {
        const double x = k % side - n, y = k / side - n;
        const double b[NCOEF] = {1, x, y, x * x, y * y, x * y};
        memcpy(B[k], b, sizeof b);
        W[k] = exp(-(x * x + y * y) / (2 * sigma * sigma));
        for (int i = 0; i < NCOEF; i++)
            for (int j = 0; j < NCOEF; j++) nm[i][j] += b[i] * W[k] * b[j];
    }
    for (int i = 0; i < NCOEF; i++) nm[i][NCOEF + i] = 1;
    for (int c = 0; c < NCOEF; c++) { /* Gauss-Jordan with partial pivoting */
        int piv = c;
        for (int r = c + 1; r < NCOEF; r++)
            if (fabs(nm[r][c]) > fabs(nm[piv][c])) piv = r;
        if (fabs(nm[piv][c]) < 1e-12)
            return mc_error_set(MC_ERR_INVALID_ARG, "flow: expansion radius %d sigma %g is singular", n, sigma);
        for (int j = 0; j < 2 * NCOEF; j++) {
            double t = nm[c][j];
            nm[c][j] = nm[piv][j], nm[piv][j] = t;
        }
        const double d = nm[c][c];
        for (int j = 0; j < 2 * NCOEF; j++) nm[c][j] /= d;
        for (int r = 0; r < NCOEF; r++)
            if (r != c && nm[r][c] != 0) {
                const double f = nm[r][c];
                for (int j = 0; j < 2 * NCOEF; j++) nm[r][j] -= f * nm[c][j];
            }
    }
    for (int i = 0; i < NCOEF; i++)
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int j = 0; j < NCOEF; j++) s += nm[i][NCOEF + j] * B[k][j];
            M[i * K + k] = s * W[k];
        }
    return MC_OK;
}

/* R (w x h x NCOEF) = the expansion of img at every pixel. */
static void expand(const float *img, int w, int h, int n, const double *M, double *R)
{
    const int side = 2 * n + 1, K = side * side;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double r[NCOEF] = {0};
            for (int k = 0; k < K; k++) {
                const double v = img[clampi(y + k / side - n, 0, h - 1) * w + clampi(x + k % side - n, 0, w - 1)];
                for (int i = 0; i < NCOEF; i++) r[i] += M[i * K + k] * v;
            }
            memcpy(R + ((size_t)y * w + x) * NCOEF, r, sizeof r);
        }
}

/* Bilinear sample of R's coefficients at (fx, fy), clamped to the frame. */
static void sample(const double *R, int w, int h, double fx, double fy, double *r)
{
    fx = fx < 0 ? 0 : fx > w - 1 ? w - 1 : fx;
    fy = fy < 0 ? 0 : fy > h - 1 ? h - 1 : fy;
    const int x0 = (int)fx, y0 = (int)fy, x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    const double ax = fx - x0, ay = fy - y0;
    const double *a = R + ((size_t)y0 * w + x0) * NCOEF, *b = R + ((size_t)y0 * w + x1) * NCOEF,
                 *c = R + ((size_t)y1 * w + x0) * NCOEF, *d = R + ((size_t)y1 * w + x1) * NCOEF;
    for (int i = 0; i < NCOEF; i++)
        r[i] = (1 - ay) * ((1 - ax) * a[i] + ax * b[i]) + ay * ((1 - ax) * c[i] + ax * d[i]);
}

/* In place, separable Gaussian window of radius rad over w x h x ch
 * (borders replicated); tmp holds w x h x ch doubles. */
static void blur(double *v, int w, int h, int ch, int rad, double sigma, double *tmp)
{
    double k[2 * MAX_N + 1], s = 0;
    for (int i = -rad; i <= rad; i++) s += k[i + rad] = exp(-(double)(i * i) / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= s;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                double a = 0;
                for (int i = -rad; i <= rad; i++) a += k[i + rad] * v[((size_t)y * w + clampi(x + i, 0, w - 1)) * ch + c];
                tmp[((size_t)y * w + x) * ch + c] = a;
            }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                double a = 0;
                for (int i = -rad; i <= rad; i++) a += k[i + rad] * tmp[((size_t)clampi(y + i, 0, h - 1) * w + x) * ch + c];
                v[((size_t)y * w + x) * ch + c] = a;
            }
}

/* One level: iters updates of d (w x h x 2) from the expansions R1, R2. */
static void update(const double *R1, const double *R2, int w, int h, const mc_flow_params *p, double *d, double *gh,
                   double *tmp)
{
    for (int it = 0; it < p->iters; it++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const size_t i = (size_t)y * w + x;
                const double *r1 = R1 + i * NCOEF, dx = d[2 * i], dy = d[2 * i + 1];
                double r2[NCOEF];
                sample(R2, w, h, x + dx, y + dy, r2);
                const double a11 = (r1[3] + r2[3]) / 2, a22 = (r1[4] + r2[4]) / 2, a12 = (r1[5] + r2[5]) / 4;
                const double bx = -(r2[1] - r1[1]) / 2 + a11 * dx + a12 * dy;
                const double by = -(r2[2] - r1[2]) / 2 + a12 * dx + a22 * dy;
                double *g = gh + i * 5;
                g[0] = a11 * a11 + a12 * a12;
                g[1] = a11 * a12 + a12 * a22;
                g[2] = a12 * a12 + a22 * a22;
                g[3] = a11 * bx + a12 * by;
                g[4] = a12 * bx + a22 * by;
            }
        blur(gh, w, h, 5, p->win, p->win_sigma, tmp);
        for (size_t i = 0; i < (size_t)w * h; i++) {
            const double *g = gh + i * 5, det = g[0] * g[2] - g[1] * g[1] + 1e-3;
            d[2 * i] = (g[2] * g[3] - g[1] * g[4]) / det;
            d[2 * i + 1] = (g[0] * g[4] - g[1] * g[3]) / det;
        }
    }
}

mc_status mc_flow_farneback(const float *g1, const float *g2, int w, int h, const mc_flow_params *p, float *flow)
{
    if (w < 1 || h < 1 || p->levels < 1 || p->iters < 1 || p->poly_n < 1 || p->poly_n > MAX_N || p->win < 0 ||
        p->win > MAX_N || p->poly_sigma <= 0 || p->win_sigma <= 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "flow: %dx%d frame, levels %d, poly_n %d (1..%d), win %d (0..%d), "
                            "iters %d", w, h, p->levels, p->poly_n, MAX_N, p->win, MAX_N, p->iters);
    const int K = (2 * p->poly_n + 1) * (2 * p->poly_n + 1);
    const size_t N = (size_t)w * h;
    double *M = mc_alloc(sizeof(double) * NCOEF * (size_t)K);
    double *R1 = mc_alloc(sizeof(double) * NCOEF * N), *R2 = mc_alloc(sizeof(double) * NCOEF * N);
    double *gh = mc_alloc(sizeof(double) * 5 * N), *tmp = mc_alloc(sizeof(double) * 5 * N);
    double *d = mc_alloc(sizeof(double) * 2 * N);
    float *i1 = mc_alloc(sizeof(float) * N), *i2 = mc_alloc(sizeof(float) * N), *fd = mc_alloc(sizeof(float) * 2 * N),
          *fu = mc_alloc(sizeof(float) * 2 * N);
    mc_status st = MC_OK;
    if (!M || !R1 || !R2 || !gh || !tmp || !d || !i1 || !i2 || !fd || !fu) {
        st = mc_error_set(MC_ERR_NOMEM, "flow: out of memory for a %dx%d frame", w, h);
        goto done;
    }
    if ((st = expansion_matrix(p->poly_n, p->poly_sigma, M))) goto done;
    int pw = 0, ph = 0; /* the previous (coarser) level's size; 0: none */
    for (int lev = p->levels - 1; lev >= 0; lev--) {
        const int lw = (int)lround(w / (double)(1 << lev)), lh = (int)lround(h / (double)(1 << lev));
        if (lw < 2 * p->poly_n + 1 || lh < 2 * p->poly_n + 1) continue; /* too small to expand */
        /* the level's frames, scaled to [0, 255] */
        if ((st = mc_resize(g1, w, h, 1, i1, lw, lh)) || (st = mc_resize(g2, w, h, 1, i2, lw, lh))) goto done;
        for (int k = 0; k < lw * lh; k++) i1[k] *= 255.0f, i2[k] *= 255.0f;
        expand(i1, lw, lh, p->poly_n, M, R1);
        expand(i2, lw, lh, p->poly_n, M, R2);
        if (pw) { /* the coarser flow, resized and scaled, starts this level */
            for (int k = 0; k < 2 * pw * ph; k++) fd[k] = (float)d[k];
            if ((st = mc_resize(fd, pw, ph, 2, fu, lw, lh))) goto done;
            for (int k = 0; k < lw * lh; k++)
                d[2 * k] = fu[2 * k] * (double)lw / pw, d[2 * k + 1] = fu[2 * k + 1] * (double)lh / ph;
        } else {
            memset(d, 0, sizeof(double) * 2 * (size_t)lw * lh);
        }
        update(R1, R2, lw, lh, p, d, gh, tmp);
        pw = lw, ph = lh;
    }
    if (!pw) {
        st = mc_error_set(MC_ERR_SHAPE, "flow: a %dx%d frame is smaller than the %dx%d expansion window", w, h,
                          2 * p->poly_n + 1, 2 * p->poly_n + 1);
        goto done;
    }
    for (size_t k = 0; k < 2 * N; k++) flow[k] = (float)d[k];
done:
    mc_free(M), mc_free(R1), mc_free(R2), mc_free(gh), mc_free(tmp), mc_free(d);
    mc_free(i1), mc_free(i2), mc_free(fd), mc_free(fu);
    return st;
}
