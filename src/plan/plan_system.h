/* plan_system.h - planning a model of several graphs on one farm of N
 * devices: the two-stream model's spatial CNN, temporal CNN and head
 * (docs/planner.md, "Models of several graphs").
 *
 * Each graph runs on its own farm and the graphs work in parallel on every
 * frame, so the system's throughput is the smallest of the graphs'.  For N
 * devices the planner shares them out, n_0 + n_1 + n_2 = N, every graph at
 * least one device (a device holds one task of one graph), each graph
 * planned for its share by the single-graph planner (mc_plan_all, planner.h,
 * same memory budget and link), and takes the share of highest predicted
 * IPS = min over g of plans[g][n_g - 1].ips.  Ties: fewer devices in use,
 * then the share that gives the first graphs fewer devices.
 *
 * What the model leaves out: the initial device serves the three farms, so
 * its sends and receives per frame add up across the graphs; each graph's
 * plan counts only its own (as the planner does for one model). */
#ifndef MC_PLAN_SYSTEM_H
#define MC_PLAN_SYSTEM_H

#include "planner.h"

#define MC_PLAN_SYSTEM_GRAPHS 3

typedef struct mc_plan_system {
    int n;                               /* devices available */
    int feasible;                        /* 0: why says which graph does not fit */
    int share[MC_PLAN_SYSTEM_GRAPHS];    /* devices given to each graph */
    double ips;                          /* min over the graphs' plans */
    int bottleneck;                      /* the graph of smallest IPS */
    int used;                            /* devices holding a task */
    char why[512];
} mc_plan_system;

/* The best share of n = 1..n_max devices (sys[n - 1]) from the graphs'
 * plans: plans[g][k - 1] is graph g's plan for k devices, k = 1..n_max - 2
 * (mc_plan_all with that n_max); `names` name the graphs in reasons. */
void mc_plan_system_share(mc_plan *const plans[MC_PLAN_SYSTEM_GRAPHS], const char *const names[MC_PLAN_SYSTEM_GRAPHS],
                          int n_max, mc_plan_system *sys);

/* Plans every graph for 1..max(1, n_max - 2) devices (plans[g] holds that
 * many plans; a graph the planner cannot plan at all gets every plan
 * infeasible with the planner's reason) and shares the devices out
 * (sys[0..n_max)).  Fails only on bad options (n_max out of 1..64). */
mc_status mc_plan_system_all(const mc_profile *const prof[MC_PLAN_SYSTEM_GRAPHS],
                             const char *const names[MC_PLAN_SYSTEM_GRAPHS], const mc_plan_opts *o, int n_max,
                             mc_plan *const plans[MC_PLAN_SYSTEM_GRAPHS], mc_plan_system *sys);

#endif
