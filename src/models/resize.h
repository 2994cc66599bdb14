/* resize.h - resizing an H x W x C float image to another size.
 *
 * One method, separable, chosen per axis (docs/input.md):
 *  - shrinking an axis (out < in): area averaging.  Output cell o covers
 *    [o * in/out, (o + 1) * in/out) of the input axis; each input cell
 *    weighs by its overlap with that span (fractional at the ends), the
 *    weights summing to 1.  Every input pixel counts, so a shrink does not
 *    alias (bilinear would skip pixels beyond a 2x shrink).  It equals
 *    OpenCV's INTER_AREA and PIL's BOX filter.
 *  - enlarging an axis (out > in): bilinear with the half-pixel convention:
 *    output o samples input position x = (o + 0.5) * in/out - 0.5, clamped
 *    to [0, in - 1], between cells floor(x) and floor(x) + 1 (OpenCV's
 *    INTER_LINEAR, TensorFlow's half_pixel_centers=True).
 *  - an axis of the same size is copied.
 * Weights are computed in double, sums accumulated in double. */
#ifndef MC_RESIZE_H
#define MC_RESIZE_H

#include "../core/status.h"

/* src: sh x sw x c (row-major, channels innermost) -> dst: dh x dw x c.
 * All sizes >= 1.  MC_ERR_NOMEM if the scratch row buffer cannot be had. */
mc_status mc_resize(const float *src, int sw, int sh, int c, float *dst, int dw, int dh);

#endif
