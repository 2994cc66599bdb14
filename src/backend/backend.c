/* backend.c - picking a backend by kind or name. */
#include "backend.h"

#include <string.h>

mc_status mc_backend_from_name(const char *name, mc_backend_kind *kind)
{
    if (strcmp(name, "cpu") == 0) *kind = MC_BACKEND_CPU;
    else if (strcmp(name, "gpu") == 0 || strcmp(name, "cuda") == 0) *kind = MC_BACKEND_CUDA;
    else return mc_error_set(MC_ERR_NOT_FOUND, "unknown device '%s' (expected cpu or gpu)", name);
    return MC_OK;
}

mc_status mc_backend_create(mc_backend_kind kind, int threads, mc_backend **out)
{
    *out = NULL;
    switch (kind) {
    case MC_BACKEND_CPU: return mc_backend_cpu_create(threads, out);
    case MC_BACKEND_CUDA: return mc_backend_cuda_create(out);
    }
    return mc_error_set(MC_ERR_INVALID_ARG, "unknown backend kind %d", (int)kind);
}

void mc_backend_destroy(mc_backend *be)
{
    if (be && be->destroy) be->destroy(be);
}
