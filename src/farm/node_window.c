/* node_window.c - the pyramid's windows inside a task node (--windows node,
 * docs/twostream.md "Windows inside the head farm's first task").
 *
 * The paper keeps the windows on the device of the pyramid task (Figure 17,
 * section 4.4).  A call with metadata mc.win (twostream_farm.h: a stream's
 * whole window, or one frame's new spatial and temporal vectors) is not
 * computed as it is: per stream the node keeps a reorder buffer (frames by
 * number, NODE_WIN_REORDER of them) and the two windows (mc_window, 15 and
 * 25 vectors); it applies the frames in order, pushing the vectors that came
 * (a vector marked '-' will never come: the windows skip it, holding the
 * newest vectors before it instead, as the initial device's windows do), and
 * computes each frame on its full windows, forwarding the output with the
 * frame's own tag.  Everything is allocated once per task; nothing grows: a
 * frame too far ahead of the stream's next, or older than it, is refused as
 * lost (initial counts it and sends the stream's whole window next).
 * Replicas or parts of the task could not share windows: a windowed task
 * with more than one address is refused. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/window.h"
#include "node_int.h"
#include "twostream_farm.h"

typedef struct win_stream {
    mc_window sw, tw;
    long next;                         /* the frame to apply next; -1: waiting for a whole window */
    mc_frame *held[NODE_WIN_REORDER];  /* frames that came before their turn, slot frame % NODE_WIN_REORDER */
    long held_frame[NODE_WIN_REORDER];
} win_stream;

struct node_win {
    long task_id;
    int swin, twin;
    size_t dim;
    win_stream s[NODE_WIN_STREAMS];
};

static void lost(node *n, mc_frame *fr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lost(node *n, mc_frame *fr, const char *fmt, ...)
{
    char why[MC_IPC_VAL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    node_queue_lost(n, fr->tag, why);
    mc_frame_free(fr);
}

void node_window_free(node *n)
{
    node_win *w = n->win;
    if (!w) return;
    for (int s = 0; s < NODE_WIN_STREAMS; s++) {
        mc_window_free(&w->s[s].sw);
        mc_window_free(&w->s[s].tw);
        for (int i = 0; i < NODE_WIN_REORDER; i++) mc_frame_free(w->s[s].held[i]);
    }
    free(w);
    n->win = NULL;
}

/* The windows for task k and this message's sizes: made once per task. */
static node_win *windows_for(node *n, node_task *k, const mc_ts_win_msg *m, char *why, size_t why_n)
{
    node_win *w = n->win;
    if (w && w->task_id == k->id && w->swin == m->swin && w->twin == m->twin) return w;
    for (int s = 0; w && s < NODE_WIN_STREAMS; s++) /* windows of another task or size: they start over */
        for (int i = 0; i < NODE_WIN_REORDER; i++)
            if (w->s[s].held[i]) {
                lost(n, w->s[s].held[i], "task %s: stream %d frame %ld: the windows started over (new task or "
                     "window sizes)", k->def.name, s, w->s[s].held_frame[i]);
                w->s[s].held[i] = NULL;
            }
    node_window_free(n);
    const size_t rows = (size_t)(m->swin + m->twin);
    if (k->in_n % rows || k->part_in_n != k->in_n) {
        snprintf(why, why_n, "task %s: windows of %d + %d vectors do not fit its input %s (%zu floats)", k->def.name,
                 m->swin, m->twin, k->in_shape, k->in_n);
        return NULL;
    }
    w = calloc(1, sizeof *w);
    int ok = w != NULL;
    for (int s = 0; ok && s < NODE_WIN_STREAMS; s++) {
        w->s[s].next = -1;
        ok = !mc_window_init(&w->s[s].sw, m->swin, k->in_n / rows) && !mc_window_init(&w->s[s].tw, m->twin, k->in_n / rows);
    }
    if (w) w->task_id = k->id, w->swin = m->swin, w->twin = m->twin, w->dim = k->in_n / rows;
    n->win = w;
    if (!ok) {
        node_window_free(n);
        snprintf(why, why_n, "task %s: out of memory for the windows of %d streams", k->def.name, NODE_WIN_STREAMS);
        return NULL;
    }
    return w;
}

/* Applies frame fr (its turn) to stream s's windows; computes it when they are full. */
static void apply(node *n, node_task *k, long epoch, node_win *w, win_stream *st, const mc_ts_win_msg *m, mc_frame *fr)
{
    const size_t dim = w->dim;
    st->next = m->frame + 1;
    if (m->full) {
        mc_window_clear(&st->sw);
        mc_window_clear(&st->tw);
        for (int i = 0; i < w->swin; i++) mc_window_push(&st->sw, (uint64_t)m->frame, fr->data + (size_t)i * dim);
        for (int i = 0; i < w->twin; i++)
            mc_window_push(&st->tw, (uint64_t)m->frame, fr->data + (size_t)(w->swin + i) * dim);
    } else {
        if (m->has_s) mc_window_push(&st->sw, (uint64_t)m->frame, fr->data);
        if (m->has_t) mc_window_push(&st->tw, (uint64_t)m->frame, fr->data + dim);
    }
    if (!mc_window_full(&st->sw) || !mc_window_full(&st->tw)) {
        lost(n, fr, "task %s: stream %d frame %ld: windows not full (%d/%d spatial, %d/%d temporal vectors)",
             k->def.name, m->stream, m->frame, st->sw.n, w->swin, st->tw.n, w->twin);
        return;
    }
    /* downstream tasks compute it as any frame: no window metadata */
    mc_ipc_meta_del(&fr->meta, "mc.win");
    mc_ipc_meta_del(&fr->meta, "mc.stream");
    mc_ipc_meta_del(&fr->meta, "mc.frame");
    mc_window_copy(&st->sw, fr->data);
    mc_window_copy(&st->tw, fr->data + (size_t)w->swin * dim);
    node_compute_frame(n, k, epoch, fr);
}

void node_window_frame(node *n, node_task *k, const node_view *v, long epoch, mc_frame *fr)
{
    mc_ts_win_msg m;
    char why[MC_IPC_VAL_MAX];
    if (mc_ts_win_meta_get(&fr->meta, &m)) {
        lost(n, fr, "task %s: window message: %s", k->def.name, mc_error_last());
        return;
    }
    const mc_farm_task *def = v && v->ti >= 0 ? &v->farm.tasks[v->ti] : &k->def;
    if (def->n_addr > 1 || def->parts > 1) {
        lost(n, fr, "task %s keeps the windows (mc.win) but has %d %s: replicas or parts cannot share windows; give "
             "the windowed task one address", def->name, def->parts > 1 ? def->parts : def->n_addr,
             def->parts > 1 ? "parts" : "replicas");
        return;
    }
    if (v && v->ti != 0) {
        lost(n, fr, "task %s keeps the windows (mc.win) but is not the farm's first task", def->name);
        return;
    }
    if (m.stream >= NODE_WIN_STREAMS) {
        lost(n, fr, "task %s: stream %d: this node keeps the windows of %d streams at most", k->def.name, m.stream,
             NODE_WIN_STREAMS);
        return;
    }
    node_win *w = windows_for(n, k, &m, why, sizeof why);
    if (!w) {
        lost(n, fr, "%s", why);
        return;
    }
    if (m.swin != w->swin || m.twin != w->twin) {
        lost(n, fr, "task %s: mc.win of %d/%d vectors; its windows hold %d/%d", k->def.name, m.swin, m.twin, w->swin,
             w->twin);
        return;
    }
    win_stream *st = &w->s[m.stream];
    if (m.full) { /* the stream starts over: frames held up to it are superseded */
        for (int i = 0; i < NODE_WIN_REORDER; i++)
            if (st->held[i] && st->held_frame[i] <= m.frame) {
                lost(n, st->held[i], "task %s: stream %d frame %ld: superseded by the whole window of frame %ld",
                     k->def.name, m.stream, st->held_frame[i], m.frame);
                st->held[i] = NULL;
            }
        apply(n, k, epoch, w, st, &m, fr);
    } else if (st->next >= 0 && m.frame < st->next) {
        lost(n, fr, "task %s: stream %d frame %ld came after its windows moved on to frame %ld", k->def.name, m.stream,
             m.frame, st->next);
        return;
    } else if (st->next == m.frame) {
        apply(n, k, epoch, w, st, &m, fr);
    } else { /* before its turn: held, if the reorder buffer has room */
        const int slot = (int)(m.frame % NODE_WIN_REORDER);
        if ((st->next >= 0 && m.frame >= st->next + NODE_WIN_REORDER) || st->held[slot]) {
            lost(n, fr, "task %s: stream %d frame %ld: reorder buffer full (%d frames; waiting for frame %ld)",
                 k->def.name, m.stream, m.frame, NODE_WIN_REORDER, st->next);
            return;
        }
        st->held[slot] = fr, st->held_frame[slot] = m.frame;
        return;
    }
    /* frames held for their turn */
    for (;;) {
        const int slot = (int)(st->next % NODE_WIN_REORDER);
        mc_frame *h = st->held[slot];
        if (!h || st->held_frame[slot] != st->next) break;
        st->held[slot] = NULL;
        mc_ts_win_msg hm;
        if (mc_ts_win_meta_get(&h->meta, &hm)) { /* read when it came: cannot fail */
            lost(n, h, "task %s: window message: %s", k->def.name, mc_error_last());
            st->next++;
            continue;
        }
        apply(n, k, epoch, w, st, &hm, h);
    }
}
