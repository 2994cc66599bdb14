/* frame.h - a tensor in flight through the farm, and the merge of split parts.
 *
 * A frame is one tag's tensor (or one part of it) plus the call metadata
 * that travels with it.  The merge table collects the P parts of the same
 * tag from the holders of a split task and hands out the merged tensor only
 * when every part has arrived.  Parts are placed by their index, never by
 * arrival order, with split.h's merge (concat, sum then activation, or
 * spatial tiles; each part is merged as it arrives, so an entry holds one
 * tensor, not P).  The merged tensor is the cut after the split layer: in a
 * graph, the tensors that passed the layer by (with part 0) and then the
 * layer's output (split.h, mc_split_io).  It is bounded: at most `cap` tags wait at once; a tag that
 * waits longer than the timeout, or is pushed out by a full table, is
 * reported as lost.
 */
#ifndef MC_FRAME_H
#define MC_FRAME_H

#include <stddef.h>

#include "../net/avro_ipc.h"
#include "../models/split.h"

typedef struct mc_frame {
    char tag[MC_IPC_TAG_MAX];
    int part;       /* index of this part, 0 when whole */
    float *data;    /* malloc'ed */
    size_t n;       /* floats */
    mc_ipc_meta meta;
    double t_recv;  /* mc_now() when it arrived */
    long task_id;   /* node: the task it was accepted for (node_task.id) */
    int layer_end;  /* node: the layer after the last one computed (routes the output) */
} mc_frame;

mc_frame *mc_frame_new(const char *tag, size_t n);
void mc_frame_free(void *f); /* void * so queues can free frames */

typedef struct mc_merge_entry {
    int used, got;
    char tag[MC_IPC_TAG_MAX];
    float *data;
    unsigned char have[64];
    double t0;
    mc_ipc_meta meta;
} mc_merge_entry;

typedef struct mc_merge {
    int parts, cap;
    size_t total;               /* floats of the merged tensor (the cut after the split layer) */
    const mc_split_io *io;      /* the split task's parts in its graph (not owned) */
    double timeout_s;
    mc_merge_entry *e;
} mc_merge;

/* `io` (with its parts and layer) must outlive the table. */
mc_status mc_merge_init(mc_merge *m, const mc_split_io *io, int cap, double timeout_s);
void mc_merge_free(mc_merge *m);
/* Adds a part (takes ownership of `part`).  Returns the whole frame when
 * this was the last missing part, else NULL.  A part the tag already has is
 * ignored (a sender that failed over to another replica sends it twice).  A tag dropped to make room is
 * written to `lost` (else lost[0] = 0).  A part of the wrong size sets an
 * error and returns NULL with *err = 1. */
mc_frame *mc_merge_add(mc_merge *m, mc_frame *part, double now, char lost[MC_IPC_TAG_MAX], int *err);
/* Drops one tag that waited longer than the timeout; returns 1 and its tag, else 0. */
int mc_merge_expire(mc_merge *m, double now, char lost[MC_IPC_TAG_MAX]);
int mc_merge_pending(const mc_merge *m);

/* Copies the per-task figures (mc.t.*, mc.r.*) of src into dst, keeping the larger of two. */
void mc_meta_merge_times(mc_ipc_meta *dst, const mc_ipc_meta *src);

#endif
