/* flow.h - dense optical flow between two gray frames: Farneback's
 * two-frame motion estimation by polynomial expansion (G. Farneback, "Two-
 * Frame Motion Estimation Based on Polynomial Expansion", SCIA 2003), the
 * method Musical Chair's temporal stream uses (section 2.3.1).
 *
 * 1. Polynomial expansion: around every pixel, each frame is fitted by
 *    f(p) ~ p^T A p + b^T p + c over a (2n+1)^2 neighbourhood with Gaussian
 *    weights (sigma), by weighted least squares; the fit is one fixed 6 x
 *    (2n+1)^2 matrix applied to the neighbourhood (borders replicated).
 * 2. Displacement: if frame 2 is frame 1 moved by d, then A2 = A1 and
 *    b2 = b1 - 2 A1 d.  With a current estimate d~, frame 2's expansion is
 *    read at p + d~ (bilinear), A = (A1 + A2) / 2 and
 *    db = -(b2 - b1) / 2 + A d~, and d solves A d = db in the least-squares
 *    sense over a Gaussian window (radius `win`): d = G^-1 h with
 *    G = sum w A^T A, h = sum w A^T db (+ a small ridge on G).  Repeated
 *    `iters` times.
 * 3. A pyramid of `levels` (each half the size, area averaged): the flow of
 *    a coarser level, resized and scaled, starts the finer one, so motions
 *    of several pixels are found.
 * The flow at pixel p is (dx, dy) in pixels: what was at p in frame 1 is at
 * p + (dx, dy) in frame 2 (x to the right, y down).  Frames are gray in
 * [0, 1] (mc_flow_gray), scaled to [0, 255] inside, as the ridge assumes. */
#ifndef MC_FLOW_H
#define MC_FLOW_H

#include "../core/status.h"

typedef struct mc_flow_params {
    int levels;        /* pyramid levels (1: no pyramid); fewer if the frame gets too small */
    int poly_n;        /* neighbourhood radius of the expansion (2: 5x5) */
    double poly_sigma; /* its Gaussian weights' sigma (1.1 for radius 2) */
    int win;           /* radius of the averaging window (2: 5x5) */
    double win_sigma;  /* its Gaussian weights' sigma */
    int iters;         /* displacement updates per level */
} mc_flow_params;

/* The settings used for the two-stream model's 16x12 frames and any size:
 * radius 2 expansion (sigma 1.1), 5x5 window (sigma 1.5), 3 iterations, as
 * many levels (up to 4) as keep the smaller side at least 6 pixels. */
mc_flow_params mc_flow_defaults(int w, int h);

/* Gray of an RGB frame (h x w x 3, channels innermost): ITU-R BT.601 luma
 * 0.299 R + 0.587 G + 0.114 B. */
void mc_flow_gray(const float *rgb, int w, int h, float *gray);

/* The flow from frame g1 to frame g2 (w x h gray each) into flow (h x w x 2:
 * dx, dy of each pixel).  Allocates its scratch per call (mc_alloc). */
mc_status mc_flow_farneback(const float *g1, const float *g2, int w, int h, const mc_flow_params *p, float *flow);

#endif
