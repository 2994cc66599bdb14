/* queue.h - a bounded FIFO of pointers between threads.
 *
 * Every buffer between the HTTP threads, the compute thread and the sender
 * is one of these, so a node holds at most `cap` frames per stage however
 * many arrive: producers wait (with a timeout) instead of growing memory.
 * A queue may also be bounded in bytes (mc_queue_init_bytes): items are
 * pushed with their size, and an item fits when the bytes queued plus its
 * size stay within the budget (an item larger than the budget still fits an
 * empty queue, so nothing waits forever).  Parts of a split tensor are then
 * charged by their size, not as whole frames.
 */
#ifndef MC_QUEUE_H
#define MC_QUEUE_H

#include <pthread.h>

#include "../core/status.h"

typedef struct mc_queue {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    void **items;
    size_t *sizes;    /* bytes of each item (0 when pushed without a size) */
    size_t bytes, max_bytes; /* queued bytes; budget (0: none) */
    int cap, head, count, closed;
} mc_queue;

mc_status mc_queue_init(mc_queue *q, int cap);
/* At most `cap` items and `max_bytes` bytes (0: no byte budget). */
mc_status mc_queue_init_bytes(mc_queue *q, int cap, size_t max_bytes);
/* Frees the queue and, with free_item, the items still in it. */
void mc_queue_free(mc_queue *q, void (*free_item)(void *));
/* 0 when queued; -1 when still full after timeout_s or closed. */
int mc_queue_push(mc_queue *q, void *item, double timeout_s);
/* As mc_queue_push, charging `bytes` against the byte budget; *queued_after
 * (may be NULL) gets the bytes queued once the item is in. */
int mc_queue_push_sized(mc_queue *q, void *item, size_t bytes, double timeout_s, size_t *queued_after);
/* The oldest item, or NULL after timeout_s (or when closed and empty). */
void *mc_queue_pop(mc_queue *q, double timeout_s);
void mc_queue_close(mc_queue *q);
/* A new byte budget (a node that switched task takes inputs of another size). */
void mc_queue_set_max_bytes(mc_queue *q, size_t max_bytes);
size_t mc_queue_max_bytes(mc_queue *q);
int mc_queue_count(mc_queue *q);
size_t mc_queue_bytes(mc_queue *q);

#endif
