/* tensor.c - shape helpers and owned/viewed tensor storage. */
#include "tensor.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

mc_shape mc_shape_make(int c, int w, int h, int d)
{
    mc_shape s = {{c, w, h, d}};
    return s;
}

size_t mc_shape_count(const mc_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < MC_MAX_DIMS; i++) n *= (size_t)(s->ne[i] > 0 ? s->ne[i] : 0);
    return n;
}

int mc_shape_equal(const mc_shape *a, const mc_shape *b)
{
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}

const char *mc_shape_str(const mc_shape *s, char *buf, size_t n)
{
    if (s->ne[3] > 1)
        snprintf(buf, n, "%dx%dx%dx%d", s->ne[3], s->ne[2], s->ne[1], s->ne[0]);
    else
        snprintf(buf, n, "%dx%dx%d", s->ne[2], s->ne[1], s->ne[0]);
    return buf;
}

static void set_name(mc_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

mc_status mc_tensor_alloc(mc_tensor *t, mc_shape s, const char *name)
{
    memset(t, 0, sizeof *t);
    t->shape = s;
    set_name(t, name);
    for (int i = 0; i < MC_MAX_DIMS; i++)
        if (s.ne[i] <= 0) {
            char b[64];
            return mc_error_set(MC_ERR_SHAPE, "tensor %s: impossible shape %s", t->name,
                                mc_shape_str(&s, b, sizeof b));
        }
    size_t bytes = mc_shape_count(&s) * sizeof(float);
    t->data = mc_alloc(bytes ? bytes : sizeof(float));
    if (!t->data)
        return mc_error_set(MC_ERR_NOMEM, "tensor %s: cannot allocate %zu bytes", t->name, bytes);
    t->owns = 1;
    return MC_OK;
}

void mc_tensor_view(mc_tensor *t, mc_shape s, float *data, const char *name)
{
    memset(t, 0, sizeof *t);
    t->shape = s;
    t->data = data;
    set_name(t, name);
}

void mc_tensor_free(mc_tensor *t)
{
    if (t->owns) mc_free(t->data);
    t->data = NULL;
    t->owns = 0;
}
