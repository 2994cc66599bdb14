/* farm.h - the farm file: which task runs which layers on which addresses.
 *
 * A farm file is the CK "avro" machine JSON, {"node": {"<task>": [addr...]}},
 * optionally extended with "model" and "tasks" (docs: farm contract).  A
 * task is data: a contiguous layer range [first, last) of the model, a
 * distribution method and a part count.  Without "tasks" the built-in preset
 * for (model, number of devices) is used; presets are JSON task lists in
 * farm.c and go through the same parser as user files.
 *
 * Addresses: task i's list has parts*R entries; entry k holds part (k % P)
 * of replica (k / P).  A frame with tag t goes to replica (t mod R) of a
 * task, chosen from the tag alone, so that every part holder of a split
 * task sends its part of tag t to the same replica of the next task.
 *
 * Leniency (documented): the artifact's own `ip` files end lists and objects
 * with a trailing comma; a comma followed (after white space) by `]` or `}`
 * is ignored.  Other malformed JSON is reported with line and column.
 */
#ifndef MC_FARM_H
#define MC_FARM_H

#include <stdint.h>

#include "../core/status.h"
#include "../core/tensor.h"

#define MC_FARM_MAX_TASKS 32
#define MC_FARM_MAX_ADDRS 64 /* per task */
#define MC_FARM_HOST_MAX 64
#define MC_FARM_TASK_PORT 12345
#define MC_FARM_INITIAL_PORT 9999

typedef enum mc_split {
    MC_SPLIT_DATA,         /* replicas, round-robin by tag */
    MC_SPLIT_FC_OUTPUT,    /* dense rows split; parts concatenated */
    MC_SPLIT_FC_INPUT,     /* (parsed; not run by this runtime yet) */
    MC_SPLIT_CONV_CHANNEL, /* (parsed; not run yet) */
    MC_SPLIT_CONV_FILTER,  /* (parsed; not run yet) */
    MC_SPLIT_CONV_SPATIAL, /* (parsed; not run yet) */
    MC_SPLIT_COUNT
} mc_split;

typedef struct mc_addr {
    char host[MC_FARM_HOST_MAX];
    int port;
} mc_addr;

typedef struct mc_farm_task {
    char name[MC_NAME_MAX];
    int first, last; /* layer range [first, last) */
    mc_split method;
    int parts;       /* P >= 1 (1 for data) */
    int grid[2];     /* conv_spatial only */
    int n_addr;      /* P * replicas */
    mc_addr addr[MC_FARM_MAX_ADDRS];
} mc_farm_task;

typedef struct mc_farm {
    char model[MC_NAME_MAX * 4]; /* built-in name or model file path */
    char preset[MC_NAME_MAX + 16]; /* e.g. "alexnet farm-5", "" for explicit tasks */
    int n_tasks;
    mc_farm_task tasks[MC_FARM_MAX_TASKS]; /* pipeline order */
    mc_addr initial;
} mc_farm;

const char *mc_split_name(mc_split s);
mc_split mc_split_from_name(const char *s); /* MC_SPLIT_COUNT if unknown */

/* Parses farm JSON text; `origin` names it in errors; `model` (may be NULL)
 * overrides/supplies the model when the file has no "model" key. */
mc_status mc_farm_parse(const char *text, const char *origin, const char *model, mc_farm *f);
mc_status mc_farm_load(const char *path, const char *model, mc_farm *f);

/* Index of the task called `name`, or -1. */
int mc_farm_find_task(const mc_farm *f, const char *name);
/* Parses "host" or "host:port" (default port when absent). */
mc_status mc_addr_parse(const char *s, int default_port, mc_addr *a);
int mc_addr_equal(const mc_addr *a, const mc_addr *b);
/* "host:port" into buf; returns buf. */
const char *mc_addr_str(const mc_addr *a, char *buf, size_t n);

static inline int mc_farm_replicas(const mc_farm_task *t) { return t->n_addr / t->parts; }
/* Number used to pick a replica: a decimal tag is its value, else a hash. */
uint64_t mc_tag_number(const char *tag);
/* First address index of the replica of task `t` that gets tag `tag`;
 * the P part holders are at [*first, *first + parts). */
int mc_farm_route(const mc_farm_task *t, const char *tag);

/* Number of devices (initial included), as the artifact counts farm-N. */
int mc_farm_devices(const mc_farm *f);

#endif
