/* twostream_system.h - the paper's two-stream systems as built-in presets
 * (Musical Chair section 5.1, Figures 14b and 18; docs/twostream.md).
 *
 * A system of N devices (the recording device, which is `mchair initial`,
 * not counted) is three farms, one per graph (spatial CNN, temporal CNN,
 * head), each a built-in farm preset of farmfile.c picked by its "node"
 * map: this table only says how many addresses each preset task gets.
 *     4   twostream-half: spatial 1, temporal 1, pyr 1, dense (4096-4096-51) 1
 *     5   twostream: spatial 1, temporal 1, pyr 1, fc1 1, fc23 1
 *     8   twostream: spatial 1, temporal 1, pyr 1, fc1 2 parts, fc2 2 parts, fc3 1
 *     10  as 8, spatial and temporal on 2 replicas each
 *     12  as 8, spatial and temporal on 3 replicas each
 * The one-device system (tasks loaded in turn) is not a farm and not here. */
#ifndef MC_TWOSTREAM_SYSTEM_H
#define MC_TWOSTREAM_SYSTEM_H

#include <cjson/cJSON.h>

#include "farm.h"

#define MC_TS_SYSTEM_MAX_TASKS 4

typedef struct mc_ts_system_farm {
    const char *model;                          /* the graph's built-in model */
    int n_tasks;
    const char *task[MC_TS_SYSTEM_MAX_TASKS];   /* task names of the graph's preset */
    int addrs[MC_TS_SYSTEM_MAX_TASKS];          /* addresses (parts x replicas) of each */
} mc_ts_system_farm;

typedef struct mc_ts_system {
    int devices;              /* without the recording device */
    const char *model;        /* twostream or twostream-half */
    mc_ts_system_farm g[3];   /* spatial, temporal, head */
} mc_ts_system;

/* The system of `devices` devices, or NULL. */
const mc_ts_system *mc_ts_system_find(int devices);
/* "4 (twostream-half), 5, 8, 10, 12" into buf. */
void mc_ts_system_list(char *buf, size_t size);

/* Graph g's farm of system s as a node-only farm file (the preset picks the
 * tasks): its devices at host:port + d for d = first_dev, first_dev + 1, ...
 * (spatial's devices first, then temporal's, then the head's), its initial
 * at host:initial_port.  *next_dev gets the device after the last one used. */
cJSON *mc_ts_system_node_json(const mc_ts_system *s, int g, const char *host, int port, int first_dev,
                              int initial_port, int *next_dev);

/* Writes system s's three farm files DIR/spatial.json, temporal.json and
 * head.json: each node-only file read back as a farm (the preset resolved
 * and checked against the model), then written with its tasks spelled out
 * and a "system" object (devices, graph, preset).  Devices at host:port+d,
 * the farms' initials at initial_port + g.  farms (may be NULL) gets the
 * three farms. */
mc_status mc_ts_system_write(const mc_ts_system *s, const char *dir, const char *host, int port, int initial_port,
                             mc_farm *farms);

#endif
