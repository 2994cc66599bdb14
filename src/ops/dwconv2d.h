/* dwconv2d.h - the depthwise convolution kernel, shared by dwconv2d.c and
 * sepconv2d.c (a separable convolution is a depthwise one followed by a
 * 1x1 convolution). */
#ifndef MC_DWCONV2D_H
#define MC_DWCONV2D_H

#include "op.h"

/* Infers the depthwise part of l (dwconv2d or sepconv2d): checks the
 * parameters, sets pad_top/pad_left, wshape = {M, C, KW, KH} and the
 * depthwise output's height and width. */
mc_status mc_dwconv2d_geometry(mc_layer *l, int *oh, int *ow);
/* out[(oy*OW + ox)*C*M + c*M + m] = bias (or 0 if bias is NULL)
 *   + sum over (ky, kx) of in[iy, ix, c] * w[((ky*KW + kx)*C + c)*M + m],
 * taps in (ky, kx) order; OH, OW from out_h, out_w. */
void mc_dwconv2d_run(const mc_layer *l, const float *in, const float *w, const float *bias, float *out, int out_h,
                     int out_w);
/* The same for output pixels [p0, p1) in raster order, on the calling
 * thread alone (sepconv2d makes the rows its pointwise product is about to
 * read, while they are in cache). */
void mc_dwconv2d_pixels(const mc_layer *l, const float *in, const float *w, const float *bias, float *out, int out_w,
                        size_t p0, size_t p1);

#endif
