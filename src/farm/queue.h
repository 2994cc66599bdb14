/* queue.h - a bounded FIFO of pointers between threads.
 *
 * Every buffer between the HTTP threads, the compute thread and the sender
 * is one of these, so a node holds at most `cap` frames per stage however
 * many arrive: producers wait (with a timeout) instead of growing memory.
 */
#ifndef MC_QUEUE_H
#define MC_QUEUE_H

#include <pthread.h>

#include "../core/status.h"

typedef struct mc_queue {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    void **items;
    int cap, head, count, closed;
} mc_queue;

mc_status mc_queue_init(mc_queue *q, int cap);
/* Frees the queue and, with free_item, the items still in it. */
void mc_queue_free(mc_queue *q, void (*free_item)(void *));
/* 0 when queued; -1 when still full after timeout_s or closed. */
int mc_queue_push(mc_queue *q, void *item, double timeout_s);
/* The oldest item, or NULL after timeout_s (or when closed and empty). */
void *mc_queue_pop(mc_queue *q, double timeout_s);
void mc_queue_close(mc_queue *q);
int mc_queue_count(mc_queue *q);

#endif
