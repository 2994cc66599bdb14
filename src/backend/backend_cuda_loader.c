/* backend_cuda_loader.c - finds and loads the CUDA backend plugin.
 *
 * The CUDA backend lives in libmchair_cuda.so next to libmchair.so, so that
 * CPU-only runs never map cuBLAS/cuDNN (see cmake/cuda.cmake for why).  It is
 * loaded once, on the first request for a GPU backend; MCHAIR_CUDA_PLUGIN
 * names another file.  Every failure says which file and why. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#ifdef MC_HAVE_CUDA
typedef mc_status (*plugin_create_fn)(mc_backend **out);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static plugin_create_fn plugin_create;
static char plugin_error[PATH_MAX + 512];

static void plugin_load(void)
{
    char path[PATH_MAX];
    const char *env = getenv("MCHAIR_CUDA_PLUGIN");
    Dl_info info;
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else if (dladdr((void *)mc_backend_cuda_create, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        int dir = slash ? (int)(slash - info.dli_fname) : 0;
        snprintf(path, sizeof path, "%.*s%slibmchair_cuda.so", dir, info.dli_fname, slash ? "/" : "");
    } else {
        snprintf(path, sizeof path, "libmchair_cuda.so");
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(plugin_error, sizeof plugin_error, "cannot load the CUDA backend %s: %s", path, dlerror());
        return;
    }
    plugin_create = (plugin_create_fn)(void (*)(void))dlsym(h, "mc_backend_cuda_plugin_create");
    if (!plugin_create)
        snprintf(plugin_error, sizeof plugin_error, "%s is not an mchair CUDA backend: %s", path, dlerror());
}
#endif

int mc_backend_cuda_compiled(void)
{
#ifdef MC_HAVE_CUDA
    pthread_once(&once, plugin_load);
    return plugin_create != NULL;
#else
    return 0;
#endif
}

mc_status mc_backend_cuda_create(mc_backend **out)
{
    *out = NULL;
#ifndef MC_HAVE_CUDA
    return mc_error_set(MC_ERR_UNSUPPORTED,
                        "this build has no CUDA backend (the CUDA toolkit or cuDNN was not found when "
                        "configuring; install them and reconfigure with -DMC_CUDA=ON)");
#else
    pthread_once(&once, plugin_load);
    if (!plugin_create) return mc_error_set(MC_ERR_UNSUPPORTED, "%s", plugin_error);
    return plugin_create(out);
#endif
}
