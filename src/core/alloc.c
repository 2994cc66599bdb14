/* alloc.c - aligned allocation with accounting and fault injection.
 * A 64-byte header in front of each block stores its size so that the
 * in-use counter stays exact without a lookup table.
 *
 * Blocks of MC_HUGE_MIN bytes or more (weights of dense and large conv
 * layers) start on a 2 MiB boundary and are marked for transparent huge
 * pages where the kernel offers them (madvise mode is Debian's default, so
 * nothing else asks for them): a batch-1 dense layer streams its weights
 * once per inference, and with 4 KiB pages every 4 KiB of that stream is a
 * TLB miss.  AlexNet's dense layers ran ~10% faster (README, engine). */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define MC_ALIGN 64
#define MC_HUGE_PAGE ((size_t)2 << 20)
#define MC_HUGE_MIN ((size_t)4 << 20)

/* Bytes in front of a block of this size (its header is the last 64). */
static size_t lead_bytes(size_t bytes) { return bytes >= MC_HUGE_MIN ? MC_HUGE_PAGE : MC_ALIGN; }

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
    const size_t lead = lead_bytes(bytes);
    if (bytes > SIZE_MAX - lead) return NULL;
    void *raw = NULL;
    if (posix_memalign(&raw, lead, bytes + lead) != 0) return NULL;
    char *p = (char *)raw + lead;
    *(size_t *)(p - MC_ALIGN) = bytes;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (lead == MC_HUGE_PAGE) /* advice only: a refusal changes nothing */
        (void)madvise(p, bytes & ~(MC_HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    size_t now = atomic_fetch_add(&in_use, bytes) + bytes;
    size_t pk = atomic_load(&peak);
    while (now > pk && !atomic_compare_exchange_weak(&peak, &pk, now)) {
    }
    return p;
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
    const size_t bytes = *(size_t *)((char *)p - MC_ALIGN);
    atomic_fetch_sub(&in_use, bytes);
    free((char *)p - lead_bytes(bytes));
}
