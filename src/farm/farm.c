/* farm.c - tasks, addresses and routing of a farm (see farm.h). */
#include "farm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../models/model.h"

const char *mc_split_name(mc_split s) { return mc_split_method_name(s); }

mc_split mc_split_from_name(const char *s) { return mc_split_method_from_name(s); }

mc_status mc_farm_task_part(const mc_model *m, const mc_farm_task *t, int k, mc_split_part *p)
{
    return mc_split_make_part(&m->layers[t->first], t->method, t->parts, t->grid[0], t->grid[1], k, p);
}

mc_status mc_farm_task_parts(const mc_model *m, const mc_farm_task *t, mc_split_part **parts)
{
    *parts = NULL;
    if (t->method == MC_SPLIT_DATA) return MC_OK;
    mc_split_part *p = calloc((size_t)t->parts, sizeof *p);
    if (!p) return mc_error_set(MC_ERR_NOMEM, "task %s: out of memory for %d parts", t->name, t->parts);
    for (int k = 0; k < t->parts; k++) {
        mc_status st = mc_farm_task_part(m, t, k, &p[k]);
        if (st) {
            free(p);
            return st;
        }
    }
    *parts = p;
    return MC_OK;
}

mc_status mc_farm_task_io(const mc_model *m, const mc_farm_task *t, mc_split_part **parts, mc_split_io *io)
{
    memset(io, 0, sizeof *io);
    mc_status st = mc_farm_task_parts(m, t, parts);
    if (st || !*parts) return st;
    if ((st = mc_split_io_init(io, m, *parts, t->parts))) {
        free(*parts);
        *parts = NULL;
    }
    return st;
}

uint64_t mc_tag_number(const char *tag)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(tag, &end, 10);
    if (*tag && !*end && !errno) return v;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

int mc_farm_route(const mc_farm_task *t, const char *tag)
{
    int r = mc_farm_replicas(t);
    if (t->wtotal > 0) return t->wpattern[mc_tag_number(tag) % (uint64_t)t->wtotal] * t->parts;
    return (int)(mc_tag_number(tag) % (uint64_t)(r > 0 ? r : 1)) * t->parts;
}

mc_status mc_farm_task_set_weights(mc_farm_task *t, const int *w, int n)
{
    const int R = mc_farm_replicas(t);
    if (n != R)
        return mc_error_set(MC_ERR_INVALID_ARG, "task %s: %d weights for %d replicas", t->name, n, R);
    int same = 1, total = 0;
    for (int r = 0; r < R; r++) {
        if (w[r] < 1 || w[r] > MC_FARM_WEIGHT_MAX)
            return mc_error_set(MC_ERR_INVALID_ARG, "task %s: replica weight %d is not 1..%d", t->name, w[r],
                                MC_FARM_WEIGHT_MAX);
        same &= w[r] == w[0];
        total += w[r];
    }
    memset(t->weight, 0, sizeof t->weight);
    t->wtotal = 0;
    if (same) return MC_OK;
    /* smooth weighted round-robin: each step every replica gains its weight,
     * the one with the most credit takes the tag and pays the total; the
     * pattern interleaves replicas (no bursts) and is the same everywhere */
    int credit[MC_FARM_MAX_ADDRS] = {0};
    for (int x = 0; x < total; x++) {
        int best = 0;
        for (int r = 0; r < R; r++) {
            credit[r] += w[r];
            if (credit[r] > credit[best]) best = r;
        }
        credit[best] -= total;
        t->wpattern[x] = (unsigned char)best;
    }
    for (int r = 0; r < R; r++) t->weight[r] = (unsigned char)w[r];
    t->wtotal = total;
    return MC_OK;
}

int mc_farm_find_task(const mc_farm *f, const char *name)
{
    for (int i = 0; i < f->n_tasks; i++)
        if (!strcmp(f->tasks[i].name, name)) return i;
    return -1;
}

int mc_farm_task_at(const mc_farm *f, int first, int n_layers)
{
    if (first >= n_layers) return f->n_tasks;
    for (int i = 0; i < f->n_tasks; i++)
        if (f->tasks[i].first == first) return i;
    return -1;
}

int mc_farm_task_addr_index(const mc_farm_task *t, const mc_addr *a)
{
    for (int k = 0; k < t->n_addr; k++)
        if (mc_addr_equal(&t->addr[k], a)) return k;
    return -1;
}

int mc_farm_devices(const mc_farm *f)
{
    int n = 1;
    for (int i = 0; i < f->n_tasks; i++) n += f->tasks[i].n_addr;
    return n;
}

mc_status mc_addr_parse(const char *s, int default_port, mc_addr *a)
{
    memset(a, 0, sizeof *a);
    /* "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address (more
     * than one colon, no brackets) is a host without a port */
    const char *host = s, *colon = NULL;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (close[1] && close[1] != ':'))
            return mc_error_set(MC_ERR_FORMAT, "bad address '%s' (an IPv6 address is written [addr] or [addr]:port)", s);
        host = s + 1;
        hl = (size_t)(close - host);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) colon = NULL; /* bare IPv6 */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= sizeof a->host) return mc_error_set(MC_ERR_FORMAT, "bad address '%s'", s);
    memcpy(a->host, host, hl);
    a->port = default_port;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || p <= 0 || p > 65535)
            return mc_error_set(MC_ERR_FORMAT, "bad port in address '%s'", s);
        a->port = (int)p;
    }
    return MC_OK;
}

int mc_addr_equal(const mc_addr *a, const mc_addr *b)
{
    return a->port == b->port && !strcmp(a->host, b->host);
}

const char *mc_addr_str(const mc_addr *a, char *buf, size_t n)
{
    snprintf(buf, n, strchr(a->host, ':') ? "[%s]:%d" : "%s:%d", a->host, a->port);
    return buf;
}

