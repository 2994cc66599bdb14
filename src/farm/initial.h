/* initial.h - the farm's source and sink (the artifact's "initial" node).
 *
 * Sends frames (random, as the artifact did, or given tensors) to the first
 * task, at most `window` in flight (or paced at `rate`), and collects the
 * final results (forward calls with next = "initial"), counted once per tag
 * however often a tag was sent.  Every tag ends as done, dropped or lost:
 *   - dropped: only by the backpressure policy (the first task asked to hold
 *     off when the frame was due at `rate`, or a node dropped it and said
 *     so: metadata mc.dropped);
 *   - lost, with a reason: a static farm loses a frame when the first task
 *     cannot be reached, when a node reports that it could not deliver it
 *     (mc.error), or when it is not back within `timeout_s`.
 * With a dynamic farm (a master: master.h) initial keeps every frame until
 * its result is back and sends it again (at most max_tries sends in all, further apart each time)
 * when a node reports it lost, when a new table came after it was sent and
 * it is overdue (a device left or changed task with it inside), or when it
 * is long overdue; it is lost only when its tries or `timeout_s` run out.
 * Each table change is an event (start, leave, join, rebalance) with the
 * time from the change to the first result computed under the new table
 * (results carry mc.ep, the oldest epoch on their path).
 */
#ifndef MC_INITIAL_H
#define MC_INITIAL_H

#include <signal.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../core/flag.h"
#include "../net/auth.h"
#include "../net/avro_ipc.h"
#include "master.h"

#define MC_INITIAL_REASONS 64
#define MC_INITIAL_EVENTS 256

/* Called with each result (tag index, the merged output) as it is done. */
typedef void (*mc_initial_result_fn)(void *ctx, long tag, const float *out, size_t n);
/* Frames made while the stream runs (the two-stream farm's windows,
 * farm/twostream_farm.h): fills x (the model input's floats) for tag i and
 * returns 1, returns 0 when the frame is not ready yet (asked again soon;
 * results keep arriving meanwhile), or -1 when the frame cannot be made: the
 * tag is then dropped, with the reason the function set (mc_error_set). */
typedef int (*mc_initial_input_fn)(void *ctx, long tag, float *x);
/* Adds metadata to the call that sends tag i (called with input_ctx, after
 * input_fn made the frame): the two-stream farm's window messages. */
typedef void (*mc_initial_meta_fn)(void *ctx, long tag, mc_ipc_meta *meta);
/* Called when a tag ends dropped or lost (the reason is in the report). */
typedef void (*mc_initial_gone_fn)(void *ctx, long tag, int state);

typedef struct mc_initial_opts {
    const char *farm;          /* a static farm file ... */
    mc_master *master;         /* ... or a master in this process ... */
    const char *master_addr;   /* ... or a master elsewhere (HOST:PORT): initial joins it */
    const char *model;         /* when the farm file has none */
    const char *listen;        /* where results (and control messages) arrive; default: the farm's initial */
    const float *const *inputs; /* frames to send in turn (model input floats each), or NULL: random */
    int n_inputs;
    long repeat, window;       /* window 0: the farm's device count */
    double rate;               /* frames per second (0: closed loop) */
    double timeout_s;          /* a frame not back this long after its first send is lost */
    uint64_t seed;
    int float_frames;          /* random frames as float32 instead of the artifact's uint8 */
    int max_tries;             /* dynamic: sends of one frame at most (0: 8; 0.25 s doubling to 4 s apart) */
    double wait_s;             /* dynamic: how long to wait for the first table (0: 300) */
    int quiet;                 /* only the summary */
    mc_auth *auth;             /* the farm key (NULL: an open farm); not owned */
    mc_initial_result_fn on_result;
    void *result_ctx;
    mc_initial_input_fn input_fn; /* frames made on the fly (NULL: inputs or random) */
    void *input_ctx;
    mc_initial_gone_fn on_gone;   /* tags dropped or lost (called with result_ctx) */
    mc_initial_meta_fn meta_fn;   /* more metadata for a tag's call (NULL: none) */
} mc_initial_opts;

enum { MC_TAG_UNSENT, MC_TAG_FLIGHT, MC_TAG_DONE, MC_TAG_LOST, MC_TAG_DROPPED };

typedef struct mc_initial_event {
    double t_s;                /* seconds after the first frame was sent */
    char kind[16];
    int devices, moved;
    long epoch;
    double recovery_s;         /* to the first result computed under its table; < 0: none came */
    char why[256];
} mc_initial_event;

typedef struct mc_initial_report {
    char model[64], farm[160];
    int devices, n_tasks;
    long repeat, done, dropped, lost, reissued, rerouted;
    double mean_s, throughput_ips;
    double t_first_unix;       /* wall clock of the first send (to line up with other logs) */
    unsigned char *state;      /* per tag, MC_TAG_* */
    double *lat_s, *recv_s;    /* per tag, done ones: latency from the first send; arrival after t_first */
    int n_reasons;
    long reason_tag[MC_INITIAL_REASONS];
    char reason[MC_INITIAL_REASONS][320];
    char task_name[MC_FARM_MAX_TASKS * 4][MC_NAME_MAX]; /* per task seen: mean compute time */
    double task_sum[MC_FARM_MAX_TASKS * 4];
    long task_n[MC_FARM_MAX_TASKS * 4];
    double task_reload_sum[MC_FARM_MAX_TASKS * 4]; /* mc.r.<task>: seconds its device reloaded it */
    long task_reloads[MC_FARM_MAX_TASKS * 4];       /* results that waited for such a reload */
    int n_task_names;
    int n_events;
    mc_initial_event events[MC_INITIAL_EVENTS];
    int interrupted;
    int dynamic;
} mc_initial_report;

/* Runs the stream to its end (every tag accounted for) or until *stop. */
mc_status mc_initial_run(const mc_initial_opts *o, mc_flag *stop, mc_initial_report *r);
void mc_initial_report_free(mc_initial_report *r);
/* The JSON report (docs/farm.md). */
cJSON *mc_initial_report_json(const mc_initial_report *r);

#endif
