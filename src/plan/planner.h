/* planner.h - task assignment for 1..N devices (Musical Chair Algorithm 1,
 * journal Procedure 1) from a profile (profile.h) and a link model.
 *
 * A plan is a pipeline of tasks; task t runs layers [first, last) of the
 * model, either as `replicas` data-parallel copies or, for a one-layer task,
 * as `parts` model-parallel parts (split.h) of each replica.  It uses
 * parts * replicas devices.  The cost model (docs/planner.md):
 *   - a message of d bytes costs t(d) = a*d + b on the sender and on the
 *     receiver; d is the encoded size (core/wire.h) of the tensors crossing
 *     the cut: the link from initial carries the uint8 frame, the link to
 *     initial float32, a link between tasks the encoding of its sender
 *     (mc_plan_task.wire, chosen with mc_plan_opts.wire); a device that sends to a split task sends one message per
 *     part, a device after a split task receives one message per part;
 *   - a device's service time per frame = receive + compute + send, where
 *     compute is the sum of its layers' profiled latencies (the largest
 *     part's for a split task);
 *   - a task's throughput = replicas / service time; the plan's IPS is the
 *     smallest throughput over the tasks and the initial node (which sends
 *     every frame and receives every result);
 *   - end-to-end latency = sum of compute plus one transfer per hop;
 *   - per-device memory = weights + 2 * largest activation + workspace
 *     (net.c's buffers).
 * Planning: layers that do not fit the budget are split (fewest parts that
 * fit); a dynamic program over "units" (a conv/dense layer with the light
 * layers after it, which stay with it) finds the balanced pipeline with
 * replicas/splits of highest IPS for each n; plan n also considers plan n-1
 * plus one device (a replica, a part more, or a task cut in two) and takes
 * it when it is within 3% of the best, so few devices change task.
 */
#ifndef MC_PLANNER_H
#define MC_PLANNER_H

#include <cjson/cJSON.h>

#include "../core/wire.h"
#include "profile.h"

#define MC_PLAN_MAX_DEVICES 64
#define MC_PLAN_MAX_TASKS 64

typedef struct mc_plan_task {
    char name[MC_NAME_MAX];
    int first, last;            /* layers [first, last) */
    mc_split_method method;     /* MC_SPLIT_DATA or the split of layer `first` */
    int variant;                /* index into the profile layer's splits, -1 for data */
    int parts, grid_h, grid_w;  /* 1, 1, 1 for data */
    int replicas;
    double compute_s;           /* per frame on one device */
    double service_s;           /* receive + compute + send per frame on one device */
    double ips;                 /* replicas / service_s */
    double mem_bytes;           /* per device */
    mc_wire wire;               /* encoding of its output to the next task (f32 to initial) */
    int devices[MC_PLAN_MAX_DEVICES]; /* parts*replicas device ids in farm-file order */
    char why[320];
} mc_plan_task;

typedef struct mc_plan {
    int n;          /* devices available */
    int feasible;   /* 0: no plan for n devices (why says so) */
    int used;       /* devices holding a task (n, or less when one is left idle) */
    int n_tasks;
    mc_plan_task tasks[MC_PLAN_MAX_TASKS];
    double ips, latency_s, max_mem_bytes;
    int bottleneck; /* task index, or -1 for the initial node */
    int changed;    /* devices of plan n-1 that hold another task here */
    char why[512];
} mc_plan;

typedef struct mc_plan_opts {
    int n_max;        /* 1..MC_PLAN_MAX_DEVICES */
    double mem_bytes; /* per-device budget */
    double link_a;    /* seconds per byte */
    double link_b;    /* seconds per message */
    /* Encodings of the links between tasks: an mc_wire for every link (0:
     * f32, the default), MC_PLAN_WIRE_AUTO (per link, the smallest within
     * wire_budget), or MC_PLAN_WIRE_TASKS (each task's own .wire, e.g. a
     * farm file's, as mc_farm_to_plan fills it). */
    int wire;
    /* AUTO: the error the encodings may add to the result, as max |p - p32|
     * / max p32 of the probabilities, summed over the encoded links with
     * mc_plan_wire_error's figure each (<= 0: MC_PLAN_WIRE_BUDGET). */
    double wire_budget;
} mc_plan_opts;

#define MC_PLAN_WIRE_AUTO MC_WIRE_COUNT
#define MC_PLAN_WIRE_TASKS (-1)
#define MC_PLAN_WIRE_BUDGET 1e-2

/* The error one link in encoding w adds to a model's probabilities, as the
 * planner counts it (measured over AlexNet's and VGG16's cuts, docs/wire.md). */
double mc_plan_wire_error(mc_wire w);

/* Fills plans[0..n_max) (plans[n-1] for n devices).  Fails, naming the
 * constraint, when N < 1, when a layer cannot fit the budget even split, or
 * when no n <= N has a plan.  Plans for n below the smallest feasible n are
 * marked infeasible with the reason. */
mc_status mc_plan_all(const mc_profile *p, const mc_plan_opts *o, mc_plan *plans);

/* Re-computes a plan's predictions (IPS, latency, memory, bottleneck) from
 * its tasks with the cost model above. */
void mc_plan_evaluate(const mc_profile *p, const mc_plan_opts *o, mc_plan *pl);

/* Procedure 1, step 3 (deploy, monitor, plan again): folds the compute
 * time per frame that each task of a deployed plan measured (measured_s[t],
 * e.g. initial's JSON "task_mean_s"; <= 0: not measured) into the profile.
 * The latencies of task t's layers, and of all their split variants, are
 * multiplied by measured_s[t] / pl->tasks[t].compute_s (clamped to
 * 0.01..100), so that planning again sees each layer as it ran in the farm
 * (contention, swap, a slower device) rather than as profiled alone.
 * factor[t] (may be NULL) gets the factor applied, 1 where not measured.
 * Returns the number of tasks calibrated. */
int mc_profile_calibrate(mc_profile *p, const mc_plan *pl, const double *measured_s, double *factor);

/* Farm files of plans, and plans of farm files: src/farm/farmfile.h. */

#endif
