/* check_flow.c - Farneback optical flow (models/flow.c) on synthetic shifts:
 * a smooth pattern translated by (tx, ty) pixels, sub-pixel shifts
 * included, gives that flow inside the frame (borders, where the pattern
 * enters or leaves, excluded) within a tolerance; no motion gives none;
 * bad parameters and allocation failures are reported. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "models/flow.h"
#include "testutil.h"

/* A smooth pattern with structure in every direction (so the aperture
 * problem does not arise), in [0, 1]. */
static double pattern(double x, double y, double scale)
{
    x /= scale, y /= scale;
    return 0.5 + 0.18 * sin(0.55 * x + 0.25 * y) + 0.14 * cos(0.3 * x - 0.6 * y + 1.0) +
           0.1 * sin(0.9 * y + 0.4 * x * 0.5 + 2.0);
}

typedef struct shift_case {
    int w, h;
    double tx, ty;
    double scale;    /* pattern size: larger for larger frames */
    int margin;      /* border pixels left out of the check */
    double tol_mean; /* |mean flow - shift| per axis */
    double tol_px;   /* 90% of the pixels within this of the shift */
} shift_case;

static const shift_case shifts[] = {
    {64, 48, 0, 0, 2.0, 4, 0.01, 0.02},
    {64, 48, 1.0, 0, 2.0, 6, 0.05, 0.15},
    {64, 48, 0, -1.0, 2.0, 6, 0.05, 0.15},
    {64, 48, 0.5, 0.5, 2.0, 6, 0.05, 0.15},
    {64, 48, -2.0, 1.5, 2.0, 8, 0.05, 0.15},
    {64, 48, 3.0, -2.5, 2.0, 10, 0.05, 0.15},
    {16, 12, 0.5, 0, 1.0, 3, 0.08, 0.25},
    {16, 12, -0.7, 0.4, 1.0, 3, 0.08, 0.25},
    {16, 12, 1.0, 1.0, 1.0, 3, 0.08, 0.25},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(a_translated_pattern_gives_its_shift)
{
    const shift_case *c = &shifts[_i];
    const int w = c->w, h = c->h;
    float *a = malloc(sizeof(float) * w * h), *b = malloc(sizeof(float) * w * h), *f = malloc(sizeof(float) * w * h * 2);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            a[y * w + x] = (float)pattern(x, y, c->scale);
            b[y * w + x] = (float)pattern(x - c->tx, y - c->ty, c->scale); /* moved by (tx, ty) */
        }
    mc_flow_params p = mc_flow_defaults(w, h);
    ck_assert_msg(mc_flow_farneback(a, b, w, h, &p, f) == MC_OK, "%s", mc_error_last());
    double sx = 0, sy = 0;
    int n = 0;
    double *err = malloc(sizeof(double) * w * h);
    for (int y = c->margin; y < h - c->margin; y++)
        for (int x = c->margin; x < w - c->margin; x++, n++) {
            const double dx = f[2 * (y * w + x)], dy = f[2 * (y * w + x) + 1];
            sx += dx, sy += dy;
            err[n] = hypot(dx - c->tx, dy - c->ty);
        }
    qsort(err, (size_t)n, sizeof *err, cmp_double);
    const double mx = sx / n, my = sy / n, p90 = err[(int)(0.9 * (n - 1))];
    printf("flow %dx%d shift (%.2f, %.2f): mean (%.3f, %.3f), 90th percentile error %.3f, levels %d\n", w, h, c->tx,
           c->ty, mx, my, p90, p.levels);
    ck_assert_msg(fabs(mx - c->tx) <= c->tol_mean && fabs(my - c->ty) <= c->tol_mean,
                  "%dx%d shift (%g, %g): mean flow (%g, %g)", w, h, c->tx, c->ty, mx, my);
    ck_assert_msg(p90 <= c->tol_px, "%dx%d shift (%g, %g): 90%% of pixels within %g, not %g", w, h, c->tx, c->ty,
                  p90, c->tol_px);
    free(err);
    free(a);
    free(b);
    free(f);
}
END_TEST

START_TEST(gray_is_bt601_luma)
{
    const float rgb[6] = {1, 0, 0, 0.2f, 0.4f, 1};
    float g[2];
    mc_flow_gray(rgb, 2, 1, g);
    ck_assert_float_eq_tol(g[0], 0.299f, 1e-7);
    ck_assert_float_eq_tol(g[1], 0.299f * 0.2f + 0.587f * 0.4f + 0.114f, 1e-6);
}
END_TEST

START_TEST(bad_parameters_tiny_frames_and_allocation_failures_are_reported)
{
    float a[16 * 12] = {0}, f[16 * 12 * 2];
    mc_flow_params p = mc_flow_defaults(16, 12);
    ck_assert_int_eq(p.levels, 2);
    mc_flow_params bad = p;
    bad.poly_n = 9;
    ck_assert_int_eq(mc_flow_farneback(a, a, 16, 12, &bad, f), MC_ERR_INVALID_ARG);
    ck_assert_int_eq(mc_flow_farneback(a, a, 4, 3, &p, f), MC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "4x3"));
    for (long n = 0; n < 12; n++) {
        mc_alloc_fail_after(n);
        mc_status st = mc_flow_farneback(a, a, 16, 12, &p, f);
        mc_alloc_fail_after(-1);
        ck_assert_int_eq(st, n < 10 ? MC_ERR_NOMEM : st);
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), 0);
    }
}
END_TEST

static Suite *flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *t = tcase_create("farneback");
    tcase_add_loop_test(t, a_translated_pattern_gives_its_shift, 0, (int)(sizeof shifts / sizeof shifts[0]));
    tcase_add_test(t, gray_is_bt601_luma);
    tcase_add_test(t, bad_parameters_tiny_frames_and_allocation_failures_are_reported);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return mc_test_run(flow_suite()); }
