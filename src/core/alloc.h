/* alloc.h - the one place memory is taken from.
 *
 * All large buffers (weights, activations, workspaces, network bodies) go
 * through mc_alloc so that (1) they are 64-byte aligned for SIMD/BLAS and
 * (2) tests can make the Nth allocation fail (mc_alloc_fail_after) to prove
 * that every error path returns MC_ERR_NOMEM instead of crashing, as SQLite
 * does with its replaceable allocator.
 */
#ifndef MC_ALLOC_H
#define MC_ALLOC_H

#include <stddef.h>

void *mc_alloc(size_t bytes);            /* aligned, NULL on failure */
void *mc_calloc(size_t n, size_t size);  /* aligned and zeroed */
void mc_free(void *p);

/* Fault injection: after `n` more successful allocations every allocation
 * fails, until mc_alloc_fail_after(-1) turns it off. */
void mc_alloc_fail_after(long n);

/* Bytes currently held through mc_alloc (for memory reports). */
size_t mc_alloc_bytes_in_use(void);
size_t mc_alloc_bytes_peak(void);

#endif
