/* alloc.c - aligned allocation with accounting and fault injection.
 * A 64-byte header in front of each block stores its size so that the
 * in-use counter stays exact without a lookup table. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MC_ALIGN 64

static atomic_long fail_countdown = -1;
static atomic_size_t in_use;
static atomic_size_t peak;

void mc_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

size_t mc_alloc_bytes_in_use(void) { return atomic_load(&in_use); }
size_t mc_alloc_bytes_peak(void) { return atomic_load(&peak); }

void *mc_alloc(size_t bytes)
{
    long c = atomic_load(&fail_countdown);
    if (c >= 0) {
        if (c == 0) return NULL;
        atomic_fetch_sub(&fail_countdown, 1);
    }
    if (bytes > SIZE_MAX - MC_ALIGN) return NULL;
    void *raw = NULL;
    if (posix_memalign(&raw, MC_ALIGN, bytes + MC_ALIGN) != 0) return NULL;
    *(size_t *)raw = bytes;
    size_t now = atomic_fetch_add(&in_use, bytes) + bytes;
    size_t p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now)) {
    }
    return (char *)raw + MC_ALIGN;
}

void *mc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = mc_alloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void mc_free(void *p)
{
    if (!p) return;
    char *raw = (char *)p - MC_ALIGN;
    atomic_fetch_sub(&in_use, *(size_t *)raw);
    free(raw);
}
