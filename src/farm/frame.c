/* frame.c - frames and the bounded merge table (see frame.h). */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mc_frame *mc_frame_new(const char *tag, size_t n)
{
    mc_frame *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->data = malloc((n ? n : 1) * sizeof(float));
    if (!f->data) {
        free(f);
        return NULL;
    }
    f->n = n;
    snprintf(f->tag, sizeof f->tag, "%s", tag);
    return f;
}

void mc_frame_free(void *p)
{
    mc_frame *f = p;
    if (!f) return;
    free(f->data);
    free(f);
}

mc_status mc_merge_init(mc_merge *m, const mc_split_io *io, int cap, double timeout_s)
{
    memset(m, 0, sizeof *m);
    if (io->n < 1 || io->n > 64) return mc_error_set(MC_ERR_INVALID_ARG, "merge: %d parts (1 to 64)", io->n);
    m->e = calloc((size_t)cap, sizeof *m->e);
    if (!m->e) return mc_error_set(MC_ERR_NOMEM, "merge: out of memory");
    m->parts = io->n;
    m->io = io;
    m->total = io->out_total;
    m->cap = cap;
    m->timeout_s = timeout_s;
    return MC_OK;
}

void mc_merge_free(mc_merge *m)
{
    for (int i = 0; m->e && i < m->cap; i++) free(m->e[i].data);
    free(m->e);
    m->e = NULL;
}

int mc_merge_pending(const mc_merge *m)
{
    int n = 0;
    for (int i = 0; i < m->cap; i++) n += m->e[i].used;
    return n;
}

void mc_meta_merge_times(mc_ipc_meta *dst, const mc_ipc_meta *src)
{
    for (int i = 0; i < src->n; i++) {
        if (strncmp(src->key[i], "mc.t.", 5) && strncmp(src->key[i], "mc.r.", 5)) continue;
        const char *old = mc_ipc_meta_get(dst, src->key[i]);
        if (!old || atof(src->val[i]) > atof(old)) mc_ipc_meta_set(dst, src->key[i], src->val[i]);
    }
}

static void drop(mc_merge_entry *e)
{
    free(e->data);
    memset(e, 0, sizeof *e);
}

mc_frame *mc_merge_add(mc_merge *m, mc_frame *part, double now, char lost[MC_IPC_TAG_MAX], int *err)
{
    lost[0] = '\0';
    *err = 0;
    if (part->part < 0 || part->part >= m->parts) {
        mc_error_set(MC_ERR_FORMAT, "tag %s: part %d of %d does not exist", part->tag, part->part, m->parts);
        *err = 1;
        mc_frame_free(part);
        return NULL;
    }
    size_t want = mc_split_io_out_count(m->io, part->part);
    if (part->n != want) {
        mc_error_set(MC_ERR_SHAPE, "tag %s: part %d has %zu values, expected %zu", part->tag, part->part, part->n,
                     want);
        *err = 1;
        mc_frame_free(part);
        return NULL;
    }
    mc_merge_entry *e = NULL, *free_e = NULL, *oldest = NULL;
    for (int i = 0; i < m->cap; i++) {
        mc_merge_entry *x = &m->e[i];
        if (x->used && !strcmp(x->tag, part->tag)) {
            e = x;
            break;
        }
        if (!x->used && !free_e) free_e = x;
        if (x->used && (!oldest || x->t0 < oldest->t0)) oldest = x;
    }
    if (!e) {
        if (!free_e) { /* full: the oldest waiting tag is lost */
            snprintf(lost, MC_IPC_TAG_MAX, "%s", oldest->tag);
            drop(oldest);
            free_e = oldest;
        }
        e = free_e;
        e->data = malloc(m->total * sizeof(float));
        if (!e->data) {
            mc_error_set(MC_ERR_NOMEM, "merge: out of memory");
            *err = 1;
            mc_frame_free(part);
            return NULL;
        }
        mc_split_io_merge_begin(m->io, e->data);
        e->used = 1;
        e->t0 = now;
        snprintf(e->tag, sizeof e->tag, "%s", part->tag);
        e->meta = part->meta;
    } else {
        mc_meta_merge_times(&e->meta, &part->meta);
    }
    if (!e->have[part->part]) { /* a duplicate is ignored (it would add twice in a sum merge) */
        mc_split_io_merge_add(m->io, part->part, part->data, e->data);
        e->have[part->part] = 1;
        e->got++;
    }
    double t_recv = part->t_recv;
    mc_frame_free(part);
    if (e->got < m->parts) return NULL;
    mc_split_io_merge_end(m->io, e->data);
    mc_frame *whole = calloc(1, sizeof *whole);
    if (!whole) {
        mc_error_set(MC_ERR_NOMEM, "merge: out of memory");
        *err = 1;
        drop(e);
        return NULL;
    }
    snprintf(whole->tag, sizeof whole->tag, "%s", e->tag);
    whole->data = e->data;
    whole->n = m->total;
    whole->meta = e->meta;
    whole->t_recv = t_recv;
    e->data = NULL;
    drop(e);
    return whole;
}

int mc_merge_expire(mc_merge *m, double now, char lost[MC_IPC_TAG_MAX])
{
    for (int i = 0; i < m->cap; i++) {
        if (m->e[i].used && now - m->e[i].t0 > m->timeout_s) {
            snprintf(lost, MC_IPC_TAG_MAX, "%s", m->e[i].tag);
            drop(&m->e[i]);
            return 1;
        }
    }
    return 0;
}
