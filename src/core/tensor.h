/* tensor.h - the one tensor struct.
 *
 * Axis order (written down once, used everywhere): ne[0] is the innermost,
 * contiguous axis.  For images we store NHWC with batch 1, so
 *     ne[0] = C (channels), ne[1] = W, ne[2] = H, ne[3] = T (1 for images)
 * A vector of n features is {n, 1, 1, 1}.  Data is float32, dense, row-major
 * in that order, so element (h, w, c) lives at data[(h * W + w) * C + c].
 * Video clips (C3D, the 3-D ops) use the fourth axis for time: T frames of
 * H x W x C, NDHWC with batch 1, element (t, h, w, c) at
 * data[((t * H + h) * W + w) * C + c].  Weights with five axes (a 3-D
 * kernel KT x KH x KW x Cin x Cout) fold two of them into one ne (see the
 * op and docs/weights.md); four axes are enough for every activation.
 *
 * A tensor either owns its data (allocated with mc_tensor_alloc) or views
 * someone else's (owns == 0).  `extra` is for backend-private state, e.g. the
 * device copy of weights held by the CUDA backend.
 */
#ifndef MC_TENSOR_H
#define MC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define MC_MAX_DIMS 4
#define MC_NAME_MAX 48

typedef struct mc_shape {
    int ne[MC_MAX_DIMS]; /* element counts, ne[0] innermost (C, W, H, T) */
} mc_shape;

typedef struct mc_tensor {
    mc_shape shape;
    float *data;             /* ne[0]*ne[1]*ne[2]*ne[3] floats */
    int owns;                /* 1 if data was allocated for this tensor */
    char name[MC_NAME_MAX];  /* for error messages and weight files */
    void *extra;             /* backend-private state */
} mc_tensor;

mc_shape mc_shape_make(int c, int w, int h, int d);
size_t mc_shape_count(const mc_shape *s);
int mc_shape_equal(const mc_shape *a, const mc_shape *b);
/* Formats "HxWxC" (or "TxHxWxC" when T > 1) into buf; returns buf. */
const char *mc_shape_str(const mc_shape *s, char *buf, size_t n);

mc_status mc_tensor_alloc(mc_tensor *t, mc_shape s, const char *name);
void mc_tensor_view(mc_tensor *t, mc_shape s, float *data, const char *name);
void mc_tensor_free(mc_tensor *t);
static inline size_t mc_tensor_count(const mc_tensor *t) { return mc_shape_count(&t->shape); }
static inline size_t mc_tensor_bytes(const mc_tensor *t) { return mc_tensor_count(t) * sizeof(float); }

#endif
