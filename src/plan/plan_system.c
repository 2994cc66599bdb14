/* plan_system.c - sharing N devices between the graphs of a model
 * (plan_system.h): every share n_0 + n_1 + n_2 = N is tried, N <= 64 makes
 * that at most ~2,000 shares of three lookups each. */
#include "plan_system.h"

#include <stdio.h>
#include <string.h>

#define G MC_PLAN_SYSTEM_GRAPHS

/* The share of graphs g.. of `left` devices with the highest IPS; k[] gets it. */
static double best_share(mc_plan *const plans[G], int g, int left, int per_graph, int *k, int *used)
{
    if (g == G - 1) {
        if (left < 1 || left > per_graph || !plans[g][left - 1].feasible) return -1;
        k[g] = left;
        *used = plans[g][left - 1].used;
        return plans[g][left - 1].ips;
    }
    double best = -1;
    int bu = 0, kk[G];
    for (int a = 1; a <= per_graph && a <= left - (G - 1 - g); a++) {
        if (!plans[g][a - 1].feasible) continue;
        int u = 0;
        memcpy(kk, k, sizeof kk);
        double rest = best_share(plans, g + 1, left - a, per_graph, kk, &u);
        if (rest < 0) continue;
        double ips = plans[g][a - 1].ips < rest ? plans[g][a - 1].ips : rest;
        u += plans[g][a - 1].used;
        /* ties (within 1e-12): fewer devices in use, then the first graphs fewer devices (a increases) */
        if (ips > best * (1 + 1e-12) || (ips >= best * (1 - 1e-12) && u < bu)) {
            best = ips;
            bu = u;
            kk[g] = a;
            memcpy(k, kk, sizeof kk);
        }
    }
    *used = bu;
    return best;
}

void mc_plan_system_share(mc_plan *const plans[G], const char *const names[G], int n_max, mc_plan_system *sys)
{
    const int per_graph = n_max > G - 1 ? n_max - (G - 1) : 1;
    for (int n = 1; n <= n_max; n++) {
        mc_plan_system *s = &sys[n - 1];
        memset(s, 0, sizeof *s);
        s->n = n;
        if (n < G) {
            snprintf(s->why, sizeof s->why, "%d device%s for %d graphs: each graph needs a device of its own", n,
                     n > 1 ? "s" : "", G);
            continue;
        }
        int k[G] = {0}, used = 0;
        double ips = best_share(plans, 0, n, per_graph, k, &used);
        if (ips < 0) {
            /* Say which graph cannot be planned with what it could get at most. */
            int w = 0;
            for (int g = 0; g < G; g++) {
                const mc_plan *most = &plans[g][n - G];
                if (most->feasible) continue;
                w += snprintf(s->why + w, sizeof s->why - (size_t)w, "%s%s on %d device%s: %s", w ? "; " : "",
                              names[g], n - (G - 1), n - G ? "s" : "", most->why);
                if (w >= (int)sizeof s->why) break;
            }
            if (!w) { /* each fits alone: their least device counts add up to more than n */
                int least[G] = {0}, sum = 0;
                for (int g = 0; g < G; g++) {
                    while (least[g] < per_graph && !plans[g][least[g]].feasible) least[g]++;
                    sum += ++least[g];
                }
                snprintf(s->why, sizeof s->why, "the graphs need at least %d devices together (%s %d, %s %d, %s %d)",
                         sum, names[0], least[0], names[1], least[1], names[2], least[2]);
            }
            continue;
        }
        s->feasible = 1;
        s->ips = ips;
        s->used = used;
        memcpy(s->share, k, sizeof k);
        s->bottleneck = 0;
        for (int g = 1; g < G; g++)
            if (plans[g][k[g] - 1].ips < plans[s->bottleneck][k[s->bottleneck] - 1].ips) s->bottleneck = g;
    }
}

mc_status mc_plan_system_all(const mc_profile *const prof[G], const char *const names[G], const mc_plan_opts *o,
                             int n_max, mc_plan *const plans[G], mc_plan_system *sys)
{
    if (n_max < 1 || n_max > MC_PLAN_MAX_DEVICES)
        return mc_error_set(MC_ERR_INVALID_ARG, "plan: the number of devices must be from 1 to %d, got %d",
                            MC_PLAN_MAX_DEVICES, n_max);
    const int per_graph = n_max > G - 1 ? n_max - (G - 1) : 1;
    mc_plan_opts go = *o;
    go.n_max = per_graph;
    for (int g = 0; g < G; g++) {
        if (mc_plan_all(prof[g], &go, plans[g]) == MC_OK) continue;
        char why[sizeof plans[g][0].why];
        snprintf(why, sizeof why, "%.380s (planned alone for up to %d devices: the most it can get of %d)",
                 mc_error_last(), per_graph, n_max);
        for (int k = 0; k < per_graph; k++) {
            memset(&plans[g][k], 0, sizeof plans[g][k]);
            plans[g][k].n = k + 1;
            snprintf(plans[g][k].why, sizeof plans[g][k].why, "%s", why);
        }
    }
    mc_plan_system_share(plans, names, n_max, sys);
    return MC_OK;
}
