/* flag.h - a flag one thread (or a signal handler) sets and others read:
 * stop, quit, give up a send.  An atomic int, not `volatile sig_atomic_t`:
 * volatile orders nothing between threads (ThreadSanitizer reports every
 * such flag as a data race), while a lock-free atomic int is both safe in a
 * signal handler and ordered between threads. */
#ifndef MC_FLAG_H
#define MC_FLAG_H

#include <stdatomic.h>

typedef atomic_int mc_flag;

#endif
