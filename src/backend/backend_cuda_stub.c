/* backend_cuda_stub.c - linked when the build has no CUDA toolkit, so that
 * `--device gpu` fails with a clear message instead of a link error. */
#include "backend.h"

int mc_backend_cuda_compiled(void) { return 0; }

mc_status mc_backend_cuda_create(mc_backend **out)
{
    *out = NULL;
    return mc_error_set(MC_ERR_UNSUPPORTED,
                        "this build has no CUDA backend (the CUDA toolkit was not found when "
                        "configuring; reconfigure with -DMC_CUDA=ON)");
}
