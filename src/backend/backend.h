/* backend.h - where ops run: a small table of function pointers.
 *
 * The net runner (models/net.c) never touches activation memory itself; it
 * asks the backend for buffers, moves the input up and the output down, and
 * calls forward() per layer.  The CPU backend runs each op's forward_cpu on
 * host memory (BLAS via OpenBLAS).  The CUDA backend keeps activations on the
 * GPU between layers, uploads weights once in prepare_layer() and runs the
 * CUDA twin of each op.  A farm node is not a backend: it runs a layer range
 * on one of these.
 */
#ifndef MC_BACKEND_H
#define MC_BACKEND_H

#include <stddef.h>

#include "../ops/op.h"

typedef struct mc_backend mc_backend;

struct mc_backend {
    const char *name; /* "cpu", "cuda" */
    void *ctx;        /* backend-private */

    /* Device buffers for activations and scratch. */
    mc_status (*buffer_alloc)(mc_backend *be, size_t bytes, void **buf);
    void (*buffer_free)(mc_backend *be, void *buf);
    mc_status (*upload)(mc_backend *be, void *dst, const float *src, size_t n);
    mc_status (*download)(mc_backend *be, float *dst, const void *src, size_t n);

    /* Whether forward() can run this layer. */
    int (*supports_layer)(mc_backend *be, const mc_layer *l);
    /* Once per layer before the first forward: upload weights, pick algorithms. */
    mc_status (*prepare_layer)(mc_backend *be, mc_layer *l);
    void (*release_layer)(mc_backend *be, mc_layer *l);
    /* Scratch bytes forward() needs for this layer. */
    size_t (*workspace_bytes)(mc_backend *be, const mc_layer *l);
    /* in/out/ws are buffers from buffer_alloc; out may be in for in-place
     * ops (op.h `inplace`). */
    mc_status (*forward)(mc_backend *be, const mc_layer *l, const void *in, void *out, void *ws);
    /* Waits until queued work is done (for timing). */
    mc_status (*synchronize)(mc_backend *be);
    void (*destroy)(mc_backend *be);
    /* Layers that read several inputs (add, concat; op.h forward_cpu_n):
     * ins[k] is the buffer holding input k, l->n_in of them.  out may be
     * ins[0] for in-place ops (op.h `inplace`).  NULL: the backend runs no
     * such layer (mc_net_init then refuses them). */
    mc_status (*forward_n)(mc_backend *be, const mc_layer *l, const void *const *ins, void *out, void *ws);
    /* One output frame `ot` of a clip op (op.h forward_frame_cpu): win[k]
     * points at input frame mc_op_frame_first(l, ot) + k inside some buffer
     * (NULL: padding), out at the output frame.  NULL: the backend does not
     * stream clips (the net then runs every layer whole). */
    mc_status (*forward_frame)(mc_backend *be, const mc_layer *l, const void *const *win, int ot, void *out,
                               void *ws);
    /* 1: buffers are host memory, so a net may let its layers read the
     * caller's input arrays and write its output arrays in place of
     * buffers of its own (no upload or download copy; models/net.h). */
    int host_memory;
};

typedef enum mc_backend_kind { MC_BACKEND_CPU, MC_BACKEND_CUDA } mc_backend_kind;

/* Creates a backend; threads <= 0 keeps the library default.  The CUDA
 * backend returns MC_ERR_UNSUPPORTED with a message when the build has no
 * CUDA or the machine has no GPU. */
mc_status mc_backend_create(mc_backend_kind kind, int threads, mc_backend **out);
void mc_backend_destroy(mc_backend *be);
mc_status mc_backend_from_name(const char *name, mc_backend_kind *kind);

mc_status mc_backend_cpu_create(int threads, mc_backend **out);
/* Bytes of weights a CPU backend may derive for faster kernels (Winograd);
 * set before preparing layers.  Default 128 MB (VGG16's transforms with its
 * plain weights kept); 0 turns derived kernels off. */
void mc_backend_cpu_set_derived_budget(mc_backend *be, size_t bytes);
/* All the Winograd settings of a CPU backend, before preparing layers (a
 * memory-bounded farm node): budget_bytes as above; drop_weights: free a
 * layer's plain weights once transformed (it then adds 7/16 of U instead of
 * U, and cannot be prepared again: a later prepare fails with a message);
 * band_floats: workspace floats of one band of tiles (0: the default).
 * No effect on other backends. */
void mc_backend_cpu_set_winograd(mc_backend *be, size_t budget_bytes, int drop_weights, size_t band_floats);
mc_status mc_backend_cuda_create(mc_backend **out);
/* 1 if this binary was built with the CUDA backend. */
int mc_backend_cuda_compiled(void);

#endif
