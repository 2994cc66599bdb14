/* master.h - the dynamic farm's master (Musical Chair section 4, journal
 * Procedure 1; docs/farm.md).
 *
 * The master owns the IP table: which device runs which task.  At start it
 * computes (or reads) the plans for every device count n = 1..N (the
 * planner's farm-1..N, planner.h).  Devices join with their address and
 * memory and send heartbeats with their figures; a device is out when its
 * heartbeats stop for the deadline, when it says leave, or when a sender
 * reports it unreachable and it does not take a connection.  On every change
 * of n the master takes the plan for the new n (the largest feasible one
 * that n devices can hold) and assigns its slots so that as few devices as
 * possible change task (a device keeps a slot with the same work), gives
 * the table a new epoch and pushes it to every device and to initial
 * (devices that miss the push get it with their next heartbeat's answer).
 *
 * Online rebalancing: the per-task compute times in the heartbeats calibrate
 * the profile (mc_profile_calibrate); when the plan for the same n on the
 * calibrated profile predicts an IPS better by `margin` than the current
 * plan's (on the same profile) for `hold_s` seconds, and the table has not
 * changed for `cooldown_s`, it is applied.  A device that leaves and comes
 * back is admitted again only after a probation that doubles with each of
 * its recent leaves (1 s, 2 s, 4 s ... 30 s), so a flapping device cannot
 * make the farm re-plan without end.
 *
 * The master runs inside `mchair initial --dynamic` (initial subscribes to
 * its tables in-process) or alone as `mchair master` (initial then joins it
 * with role "initial").  Its control messages are control.h's; whoever runs
 * the HTTP server passes them to mc_master_handlers().
 */
#ifndef MC_MASTER_H
#define MC_MASTER_H

#include <cjson/cJSON.h>

#include "../net/control.h"
#include "farm.h"

#define MC_MASTER_MAX_DEVICES 64
#define MC_MASTER_MAX_EVENTS 256

typedef struct mc_master_opts {
    const char *model;      /* model reference: built-in name or model file */
    const char *profile;    /* profile JSON (mchair profile) or NULL ... */
    const char *plans_dir;  /* ... or farm-<n>.json from `mchair plan --out` (no rebalancing without a
                               profile), or neither: a quick profile of this device */
    int devices;            /* the first table is made once this many devices have joined */
    int max_devices;        /* plans for 1..max_devices (0: 2 x devices) */
    double mem_mb;          /* per-device memory the plans fit in (0: 1024) */
    int have_link;          /* link model t = a*bytes + b for planning (else the profile's, else */
    double link_a, link_b;  /* the Musical Chair WiFi fit) */
    mc_addr initial;        /* where results go; port 0: a remote initial joins (role initial) */
    double deadline_s;      /* out when no heartbeat for this long (0: 1.5) */
    int no_rebalance;       /* 1: never rebalance on figures */
    double margin;          /* predicted IPS gain needed to rebalance (0: 0.25) */
    double hold_s;          /* for this long (0: 3) */
    double cooldown_s;      /* and no change for this long (0: 5) */
    /* > 0: a link between tasks that becomes the bottleneck switches to a
     * smaller encoding (f16, then int8) while the links' errors stay within
     * this budget (planner.h, mc_plan_wire_error), and back when it
     * recovers; each switch is an event "wire" (docs/wire.md).  0: the
     * tables keep their encodings (float32 from the planner). */
    double wire_budget;
    int threads;            /* of the quick profile (0: all cores) */
    int quiet;
    mc_auth *auth;          /* the farm key for its pushes (NULL: an open farm); not owned */
} mc_master_opts;

/* One change of the table, as initial and the reports show it. */
typedef struct mc_master_event {
    double t;               /* mc_now() when it happened */
    char kind[16];          /* start, leave, join, rebalance */
    int devices;            /* devices in the farm after it */
    long epoch;             /* the table it made */
    int moved;              /* devices that changed task */
    char why[256];
} mc_master_event;

typedef struct mc_master mc_master;

/* Reads or makes the plans (may take a few seconds for a quick profile). */
mc_status mc_master_new(const mc_master_opts *o, mc_master **out);
/* In-process subscriber (initial inside the same process): called with each
 * new table once it is ready (every device in it has acknowledged it in a
 * heartbeat, or 2 s passed) and the events since the last one, from the
 * master's thread, outside its lock.  A remote initial gets the same. */
typedef void (*mc_master_table_fn)(void *ctx, const mc_farm *farm, const mc_master_event *ev, int n_ev);
void mc_master_subscribe(mc_master *m, mc_master_table_fn fn, void *ctx);
/* Starts the monitor and the pusher threads. */
mc_status mc_master_start(mc_master *m);
void mc_master_free(mc_master *m); /* stops the threads */
mc_ctl_handlers mc_master_handlers(mc_master *m);

long mc_master_epoch(mc_master *m);
int mc_master_devices(mc_master *m); /* devices in the membership (joined, not out) */
/* "devices" (address, state, task, frames, memory) and "events" for a JSON report. */
cJSON *mc_master_report(mc_master *m);

/* The table as sent on the wire: the farm JSON plus "events" (what changed
 * since the last table initial saw). Malloc'ed. */
char *mc_master_table_text(const mc_farm *farm, const mc_master_event *ev, int n_ev);
/* Reads the "events" of a table text into ev[0..max); returns how many. */
int mc_master_table_events(const char *text, mc_master_event *ev, int max);

#endif
