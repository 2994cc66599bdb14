/* backend_cpu.c - the CPU backend: host memory, each op's forward_cpu,
 * OpenBLAS for the matrix products and OpenMP for the rest. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/alloc.h"
#include "backend.h"

/* OpenBLAS' own thread control (not in the cblas.h of every vendor). */
void openblas_set_num_threads(int num_threads);

static mc_status cpu_buffer_alloc(mc_backend *be, size_t bytes, void **buf)
{
    (void)be;
    *buf = mc_alloc(bytes ? bytes : 1);
    return *buf ? MC_OK : mc_error_set(MC_ERR_NOMEM, "cpu: cannot allocate %zu bytes", bytes);
}

static void cpu_buffer_free(mc_backend *be, void *buf)
{
    (void)be;
    mc_free(buf);
}

static mc_status cpu_copy(mc_backend *be, float *dst, const float *src, size_t n)
{
    (void)be;
    if (dst != src) memcpy(dst, src, n * sizeof(float));
    return MC_OK;
}

static mc_status cpu_upload(mc_backend *be, void *dst, const float *src, size_t n)
{
    return cpu_copy(be, dst, src, n);
}

static mc_status cpu_download(mc_backend *be, float *dst, const void *src, size_t n)
{
    return cpu_copy(be, dst, src, n);
}

static int cpu_supports_layer(mc_backend *be, const mc_layer *l)
{
    (void)be;
    const mc_op_def *d = mc_op_get(l->op);
    return d && d->forward_cpu;
}

/* Backend-private state. */
typedef struct cpu_ctx {
    mc_cpu_derived derived; /* budget left for derived weights and their settings (op.h) */
    int threads;           /* compute threads; 0 = the library default */
} cpu_ctx;

/* OpenMP's thread count is a per-thread setting and OpenBLAS' OpenMP build
 * follows the calling thread's, so it is applied on every thread that
 * prepares or runs a layer (a farm node computes on a worker thread, not on
 * the one that created the backend). */
static void cpu_apply_threads(const cpu_ctx *c)
{
#ifdef _OPENMP
    if (c->threads > 0 && omp_get_max_threads() != c->threads) omp_set_num_threads(c->threads);
#else
    (void)c;
#endif
}

static mc_status cpu_prepare_layer(mc_backend *be, mc_layer *l)
{
    (void)be;
    if (l->has_params && (!l->weight.data || !l->bias.data))
        return mc_error_set(MC_ERR_INVALID_ARG, "layer %s: weights are not loaded", l->name);
    cpu_ctx *c = be->ctx;
    cpu_apply_threads(c);
    const mc_op_def *d = mc_op_get(l->op);
    return d->prepare_cpu ? d->prepare_cpu(l, &c->derived) : MC_OK;
}

static void cpu_release_layer(mc_backend *be, mc_layer *l)
{
    (void)be;
    const mc_op_def *d = mc_op_get(l->op);
    if (d && d->release_cpu) d->release_cpu(l, &((cpu_ctx *)be->ctx)->derived);
}

static size_t cpu_workspace_bytes(mc_backend *be, const mc_layer *l)
{
    (void)be;
    const mc_op_def *d = mc_op_get(l->op);
    return d && d->workspace ? d->workspace(l) * sizeof(float) : 0;
}

static mc_status cpu_forward(mc_backend *be, const mc_layer *l, const void *in, void *out, void *ws)
{
    cpu_apply_threads(be->ctx);
    return mc_op_get(l->op)->forward_cpu(l, in, out, ws);
}

static mc_status cpu_forward_n(mc_backend *be, const mc_layer *l, const void *const *ins, void *out, void *ws)
{
    const mc_op_def *d = mc_op_get(l->op);
    if (!d->forward_cpu_n) return mc_error_set(MC_ERR_UNSUPPORTED, "cpu: layer %s reads one input", l->name);
    cpu_apply_threads(be->ctx);
    return d->forward_cpu_n(l, (const float *const *)ins, out, ws);
}

static mc_status cpu_forward_frame(mc_backend *be, const mc_layer *l, const void *const *win, int ot, void *out,
                                   void *ws)
{
    const mc_op_def *d = mc_op_get(l->op);
    if (!d->forward_frame_cpu)
        return mc_error_set(MC_ERR_UNSUPPORTED, "cpu: layer %s (%s) does not run frame by frame", l->name, d->name);
    cpu_apply_threads(be->ctx);
    return d->forward_frame_cpu(l, (const float *const *)win, ot, out, ws);
}

static mc_status cpu_synchronize(mc_backend *be)
{
    (void)be;
    return MC_OK;
}

static void cpu_destroy(mc_backend *be)
{
    free(be->ctx);
    free(be);
}

static const mc_backend cpu_template = {
    /* .name            = */ "cpu",
    /* .ctx             = */ NULL,
    /* .buffer_alloc    = */ cpu_buffer_alloc,
    /* .buffer_free     = */ cpu_buffer_free,
    /* .upload          = */ cpu_upload,
    /* .download        = */ cpu_download,
    /* .supports_layer  = */ cpu_supports_layer,
    /* .prepare_layer   = */ cpu_prepare_layer,
    /* .release_layer   = */ cpu_release_layer,
    /* .workspace_bytes = */ cpu_workspace_bytes,
    /* .forward         = */ cpu_forward,
    /* .synchronize     = */ cpu_synchronize,
    /* .destroy         = */ cpu_destroy,
    /* .forward_n       = */ cpu_forward_n,
    /* .forward_frame   = */ cpu_forward_frame,
    /* .host_memory     = */ 1,
};

/* Bytes of derived weights (Winograd) a CPU backend allows by default:
 * enough for every layer the rule selects in VGG16 with the plain weights
 * kept (105 MB), so that any layer range of the built-in models gets the
 * same kernels as the whole model (a split run equals an unsplit one bit
 * for bit).  `mchair predict` drops the plain weights instead (46 MB). */
#define MC_CPU_DERIVED_BUDGET_DEFAULT ((size_t)128 << 20)

mc_status mc_backend_cpu_create(int threads, mc_backend **out)
{
    mc_backend *be = malloc(sizeof *be);
    cpu_ctx *c = malloc(sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return mc_error_set(MC_ERR_NOMEM, "cpu backend: out of memory");
    }
    *be = cpu_template;
    memset(c, 0, sizeof *c);
    c->derived.budget = MC_CPU_DERIVED_BUDGET_DEFAULT;
    c->threads = threads > 0 ? threads : 0;
    be->ctx = c;
    if (threads > 0) {
        openblas_set_num_threads(threads);
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
    }
    *out = be;
    return MC_OK;
}

void mc_backend_cpu_set_derived_budget(mc_backend *be, size_t bytes)
{
    if (be && be->ctx && be->destroy == cpu_destroy) ((cpu_ctx *)be->ctx)->derived.budget = bytes;
}

void mc_backend_cpu_set_winograd(mc_backend *be, size_t budget_bytes, int drop_weights, size_t band_floats)
{
    if (!be || !be->ctx || be->destroy != cpu_destroy) return;
    mc_cpu_derived *d = &((cpu_ctx *)be->ctx)->derived;
    d->budget = budget_bytes;
    d->drop_weights = drop_weights != 0;
    d->band_floats = band_floats;
}
