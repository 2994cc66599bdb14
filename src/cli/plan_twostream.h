/* plan_twostream.h - `mchair plan --model twostream|twostream-half`
 * (cmd_plan_twostream.c), called by cmd_plan.c with its parsed options. */
#ifndef MC_PLAN_TWOSTREAM_H
#define MC_PLAN_TWOSTREAM_H

#include "../plan/planner.h"

typedef struct mc_plan_ts_args {
    const char *model;     /* twostream or twostream-half */
    long system;           /* --system N (0: plan) */
    long n_max;            /* --devices (0: not given) */
    double mem_mb;         /* --mem (0: not given) */
    const char *profiles;  /* --profile S,T,H */
    const char *devmodel;  /* --device-model P: the graphs' profiles modeled instead */
    const char *out;       /* --out DIR */
    const char *host;
    long port, initial_port;
    mc_plan_opts o;        /* link and wire as parsed (n_max and mem set here) */
    int link_given;        /* o's link came from --link (else the profiles' or the WiFi fit) */
} mc_plan_ts_args;

int mc_plan_twostream(mc_plan_ts_args *a);

#endif
