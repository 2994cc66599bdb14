/* queue.c - bounded FIFO (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

mc_status mc_queue_init(mc_queue *q, int cap) { return mc_queue_init_bytes(q, cap, 0); }

mc_status mc_queue_init_bytes(mc_queue *q, int cap, size_t max_bytes)
{
    q->items = calloc((size_t)cap, sizeof *q->items);
    q->sizes = calloc((size_t)cap, sizeof *q->sizes);
    if (!q->items || !q->sizes) {
        free(q->items);
        free(q->sizes);
        q->items = NULL;
        q->sizes = NULL;
        return mc_error_set(MC_ERR_NOMEM, "queue: out of memory");
    }
    q->cap = cap;
    q->bytes = 0;
    q->max_bytes = max_bytes;
    q->head = q->count = q->closed = 0;
    pthread_mutex_init(&q->m, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return MC_OK;
}

void mc_queue_free(mc_queue *q, void (*free_item)(void *))
{
    if (!q->items) return;
    if (free_item)
        for (int i = 0; i < q->count; i++) free_item(q->items[(q->head + i) % q->cap]);
    free(q->items);
    free(q->sizes);
    q->items = NULL;
    q->sizes = NULL;
    pthread_mutex_destroy(&q->m);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

static struct timespec deadline(double s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long sec = (long)s;
    ts.tv_sec += sec;
    ts.tv_nsec += (long)((s - (double)sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Room for an item of `bytes` (with the lock held). */
static int has_room(const mc_queue *q, size_t bytes)
{
    if (q->count == q->cap) return 0;
    return !q->max_bytes || q->count == 0 || bytes <= q->max_bytes - (q->bytes < q->max_bytes ? q->bytes : q->max_bytes);
}

int mc_queue_push_sized(mc_queue *q, void *item, size_t bytes, double timeout_s, size_t *queued_after)
{
    struct timespec ts = deadline(timeout_s);
    pthread_mutex_lock(&q->m);
    while (!has_room(q, bytes) && !q->closed)
        if (pthread_cond_timedwait(&q->not_full, &q->m, &ts) == ETIMEDOUT) break;
    int ok = has_room(q, bytes) && !q->closed;
    if (ok) {
        int at = (q->head + q->count) % q->cap;
        q->items[at] = item;
        q->sizes[at] = bytes;
        q->bytes += bytes;
        q->count++;
        pthread_cond_signal(&q->not_empty);
    }
    if (queued_after) *queued_after = q->bytes;
    pthread_mutex_unlock(&q->m);
    return ok ? 0 : -1;
}

int mc_queue_push(mc_queue *q, void *item, double timeout_s) { return mc_queue_push_sized(q, item, 0, timeout_s, NULL); }

void *mc_queue_pop(mc_queue *q, double timeout_s)
{
    struct timespec ts = deadline(timeout_s);
    pthread_mutex_lock(&q->m);
    while (q->count == 0 && !q->closed)
        if (pthread_cond_timedwait(&q->not_empty, &q->m, &ts) == ETIMEDOUT) break;
    void *it = NULL;
    if (q->count) {
        it = q->items[q->head];
        q->bytes -= q->sizes[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_broadcast(&q->not_full); /* a big item may free room for several */
    }
    pthread_mutex_unlock(&q->m);
    return it;
}

void mc_queue_close(mc_queue *q)
{
    pthread_mutex_lock(&q->m);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->m);
}

int mc_queue_count(mc_queue *q)
{
    pthread_mutex_lock(&q->m);
    int n = q->count;
    pthread_mutex_unlock(&q->m);
    return n;
}

size_t mc_queue_bytes(mc_queue *q)
{
    pthread_mutex_lock(&q->m);
    size_t n = q->bytes;
    pthread_mutex_unlock(&q->m);
    return n;
}

size_t mc_queue_max_bytes(mc_queue *q)
{
    pthread_mutex_lock(&q->m);
    size_t n = q->max_bytes;
    pthread_mutex_unlock(&q->m);
    return n;
}

void mc_queue_set_max_bytes(mc_queue *q, size_t max_bytes)
{
    pthread_mutex_lock(&q->m);
    q->max_bytes = max_bytes;
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->m);
}
