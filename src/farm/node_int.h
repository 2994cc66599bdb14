/* node_int.h - the pieces of a task node (node.h) and what they share.
 * Internal to src/farm/node*.c. */
#ifndef MC_NODE_INT_H
#define MC_NODE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../backend/backend.h"
#include "../models/net.h"
#include "../net/control.h"
#include "../net/http.h"
#include "frame.h"
#include "node.h"
#include "queue.h"
#include "send.h"

#define NODE_INBOX 2         /* whole inputs' worth of bytes */
#define NODE_INBOX_ITEMS 128 /* parts of split inputs count by their size */
#define NODE_OUTBOX 1
#define NODE_MERGE_TAGS 32   /* at most this many tags waiting for parts... */
#define NODE_MB ((double)(1u << 20))
#define NODE_MERGE_BYTES (16.0 * NODE_MB) /* ...and at most this many bytes of them */
#define NODE_MERGE_TIMEOUT_S 30.0
#define NODE_PUSH_WAIT_S 1.0 /* a full input buffer: wait, then answer busy */
#define NODE_WAIT_S 10.0     /* a frame that may not be dropped waits this long for room */
#define NODE_BODY_SLACK (64u * 1024u)
#define NODE_CONTROL_BODY (1u << 20) /* a node without a task takes control messages only */
#define NODE_WIN_STREAMS 16  /* a windowed task (node_window.c) keeps this many streams' windows... */
#define NODE_WIN_REORDER 16  /* ...and holds this many frames of a stream that came before their turn */

typedef struct node_win node_win; /* node_window.c */

/* Where the node stands in one table: the farm and our place in it, with
 * the shapes of the split tasks around us.  Immutable once published and
 * reference-counted, so the sender routes a whole frame with one table. */
typedef struct node_view {
    int refs; /* under node.view_m */
    mc_farm farm;
    int ti;                /* our task, -1: none (standby) */
    int addr_index, part;  /* our entry in its address list, our part */
    int next_ti;           /* the task that takes our output (n_tasks: initial; -1: none) */
    int prev_split, prev_parts; /* the task before us is split (its parts meet here) */
    mc_split_part *prev_sp;
    mc_split_io prev_io;   /* its parts' messages (refers to prev_sp and node.shapes) */
    int next_split;        /* the task after us is split */
    mc_split_part *next_sp;
    mc_split_io next_io;
} node_view;

/* What our task holds (node_task.c): its own copy of the model with the
 * task's weights, the net, our split part. */
typedef struct node_task {
    long id;               /* a new id for every task loaded (frames carry it) */
    mc_farm_task def;
    int part;
    mc_model model;
    int model_open;
    mc_net net;
    int net_ready;
    int own_split;
    mc_split_part *own_sp;
    mc_split_io own_io;    /* our split's messages (refers to own_sp and node.shapes) */
    size_t in_n;           /* floats of a whole input: every tensor crossing the cut before our layers */
    size_t part_in_n;      /* floats of our input message (our slice when split; part 0 with the through tensors) */
    size_t out_n;          /* floats out (the cut after our layers, or our part's message) */
    size_t through;        /* split part 0: floats passing our layer by (first in and out) */
    size_t in_bytes;
    char tkey[MC_IPC_KEY_MAX]; /* "mc.t.<task>" */
    double limit_bytes, wbytes, wino_used, wino_all;
    int wino_layers, wino_can;
    double load_s;         /* seconds it took to load */
    int prev_split;        /* the task before it is split (its merge buffers count) */
    mc_split_part *prev_sp; /* that task's parts and their messages in the table this task was made from */
    mc_split_io prev_io;
    atomic_int ready;      /* weights loaded, net made: frames can be computed */
    char in_shape[64];
    /* on a device that holds several tasks (mc_node_pool, node_pool.c) */
    mc_node_pool *pool;    /* NULL: this node holds its task alone */
    int pool_slot;         /* our entry in the pool (-1: not yet in it) */
    char model_ref[MC_NAME_MAX * 4]; /* the model the weights are reopened from after an eviction */
    char rkey[MC_IPC_KEY_MAX]; /* "mc.r.<task>": seconds this frame waited for our weights to load again */
} node_task;

typedef struct node {
    const mc_node_opts *o;
    mc_addr me;
    char me_str[MC_FARM_HOST_MAX + 16];
    char model_ref[MC_NAME_MAX * 4]; /* the model every table must name */
    mc_model shapes;       /* every layer's shapes, no weights */
    int shapes_open;
    mc_backend *be;

    pthread_mutex_t view_m;
    node_view *view;       /* current table (ref'd), NULL before the first */
    pthread_rwlock_t task_lock; /* held for writing while a task is switched */
    node_task *task;       /* current task, NULL: none */
    atomic_long task_id;   /* id of the current task, 0 while none or switching */
    atomic_long epoch;     /* of the current view */

    pthread_mutex_t apply_m; /* one table applied at a time */
    pthread_mutex_t pend_m;
    char *pending;         /* newest table from the master, applied by the compute thread */
    long pending_epoch;

    mc_queue inbox, outbox;
    mc_merge merge;        /* the compute thread's: parts of a split predecessor */
    int have_merge, merge_cap;
    int merge_layer, merge_method, merge_grid_h; /* the split it merges (kept across tables while the same) */
    node_win *win;         /* the compute thread's: windows of a task fed mc.win messages (NULL: none yet) */
    mc_ipc *ipc;
    mc_ctl *ctl;
    mc_http_server *srv;
    mc_flag *stop;
    mc_flag quit;       /* threads end */
    mc_flag send_abort; /* a new table: the sender re-routes what it is sending */
    int quiet, dynamic;
    pthread_mutex_t log_lock;
    char log_task[MC_NAME_MAX]; /* the task's name in log lines (under log_lock) */

    atomic_long t_frame_us;  /* mean compute time per frame (EMA) */
    atomic_long t_send_us;   /* mean time to send an output (EMA) */
    atomic_long n_dropped, n_almost_full, n_computed, n_rerouted, n_failovers, n_refused;
    int wire_want;               /* --wire: the encoding of our outputs; -1: the farm file's */
    atomic_long n_wire[MC_WIRE_COUNT]; /* outputs sent in each encoding */
    atomic_long n_wire_fallback; /* int8 wanted, float32 sent: the tensor held NaN or inf */

    /* output tensors alive (computed, queued, or being encoded): one at a
     * time, so with the sender's encoded copy at most two outputs exist */
    pthread_mutex_t out_m;
    pthread_cond_t out_c;
    int outs_live;

    /* peers the sender could not reach, for the master (node_member.c) */
    pthread_mutex_t unreach_m;
    int n_unreach;
    char unreach[MC_CTL_UNREACH_MAX][MC_CTL_ADDR_MAX];
} node;

void node_log(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Views (node.c). */
node_view *node_view_get(node *n); /* a reference to the current view, or NULL */
void node_view_put(node *n, node_view *v);
/* Applies a table (farm JSON from the master, or the farm file): a new
 * view, and a new task when ours changed.  Called by the compute thread
 * (and once at start); `origin` names it in messages. */
mc_status node_apply_table(node *n, const char *json, const char *origin);
/* Parks a table for the compute thread to apply (newest epoch wins). */
void node_offer_table(node *n, long epoch, const char *json);

/* Tasks (node_task.c): prepare (shapes and sizes only: the HTTP side can
 * take the task's frames from then on) and load (weights, net: seconds on a
 * small device), or both at once (open). */
mc_status node_task_prepare(node *n, const mc_farm *farm, int ti, int addr_index, node_task **out);
mc_status node_task_load(node *n, node_task *k);
mc_status node_task_open(node *n, const mc_farm *farm, int ti, int addr_index, node_task **out);
void node_task_close(node_task *t);
/* Same work (layers, method, parts, our part): the node keeps its weights. */
int node_task_same(const node_task *t, const mc_farm_task *def, int part);
void node_task_describe(node *n, const node_task *t, const node_view *v);

/* A device holding several tasks (node_pool.c).  Loads go through the pool:
 * it evicts the least recently used tasks of the device until the new one
 * fits its budget.  enter/leave bracket one frame's compute (the device
 * computes one task at a time); enter reloads our task if it was evicted,
 * giving the seconds that took (padded to the device model's load time). */
mc_status node_pool_load(node *n, node_task *k);
mc_status node_pool_enter(node *n, node_task *k, double *reload_s);
void node_pool_leave(node *n, node_task *k, double compute_s);
void node_pool_forget(node_task *k); /* the task closes: out of the pool */
/* Holds the device (no task is evicted meanwhile), e.g. to describe ours. */
void node_pool_hold(node_task *k);
void node_pool_release(node_task *k);

/* Computes one frame through task k and queues its output (node_compute.c). */
void node_compute_frame(node *n, node_task *k, long epoch, mc_frame *fr);
/* A frame with metadata mc.win (node_window.c): into its stream's windows,
 * computed in frame order once they are full; refused frames are lost. */
void node_window_frame(node *n, node_task *k, const node_view *v, long epoch, mc_frame *fr);
void node_window_free(node *n);

/* Threads. */
void *node_compute_main(void *arg);
void *node_sender_main(void *arg);
void *node_member_main(void *arg);

/* A lost tag: handed to the sender, which reports it to initial. */
void node_queue_lost(node *n, const char *tag, const char *why);
/* The sender could not reach a peer: remembered for the master. */
void node_note_unreachable(node *n, const char *peer);
void node_out_acquire(node *n);
void node_out_release(node *n);

#endif
