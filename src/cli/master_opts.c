/* master_opts.c - the master's options, shared by `mchair master` and
 * `mchair initial --dynamic` (one parser, one help text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../farm/master.h"
#include "cli.h"

void mc_master_usage(FILE *f)
{
    fprintf(f,
            "  --devices N         start once N devices have joined\n"
            "  --max-devices N     plans for 1..N devices (default 2 x --devices)\n"
            "  --profile FILE      plans from this profile (default: a quick profile of this device)\n"
            "  --plans DIR         or the farm-<n>.json files of `mchair plan --out DIR`\n"
            "  --mem MB            memory per device the plans fit in (default 1024)\n"
            "  --link a,b          link model t = a*kB + b s for planning (default: the profile's,\n"
            "                      else the Musical Chair WiFi fit 0.0002,0.002)\n"
            "  --deadline S        a device is out after S s without a heartbeat (default 1.5)\n"
            "  --no-rebalance      never re-plan on the devices' figures\n"
            "  --margin F          rebalance when the calibrated plan predicts F more IPS (default 0.25)\n"
            "  --hold S            ... for S seconds (default 3)\n"
            "  --cooldown S        ... and the table did not change for S seconds (default 5)\n"
            "  --wire-budget X     a link that becomes the bottleneck switches to f16, then int8, while\n"
            "                      the links' errors stay within X (max |p - p32| / max p32, summed);\n"
            "                      back when it recovers (default: float32 links; docs/wire.md)\n");
}

static int pos_num(const char *cmd, const char *opt, const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end || !(*out > 0)) {
        fprintf(stderr, "mchair %s: %s needs a positive number, got '%s'\n", cmd, opt, v);
        return -1;
    }
    return 0;
}

int mc_master_opt(const char *cmd, int c, const char *v, mc_master_opts *m)
{
    long n;
    switch (c) {
    case MC_OPT_DEVICES:
        if (mc_parse_pos_int("--devices", v, 64, &n)) return -1;
        m->devices = (int)n;
        return 1;
    case MC_OPT_MAX_DEVICES:
        if (mc_parse_pos_int("--max-devices", v, 64, &n)) return -1;
        m->max_devices = (int)n;
        return 1;
    case MC_OPT_PROFILE: m->profile = v; return 1;
    case MC_OPT_PLANS: m->plans_dir = v; return 1;
    case MC_OPT_MEM: return pos_num(cmd, "--mem", v, &m->mem_mb) ? -1 : 1;
    case MC_OPT_LINK: {
        double a, b;
        int k = 0;
        if (sscanf(v, "%lf,%lf%n", &a, &b, &k) != 2 || v[k] || a < 0 || b < 0) {
            fprintf(stderr, "mchair %s: --link needs a,b (seconds per kB, seconds), both >= 0, got '%s'\n", cmd, v);
            return -1;
        }
        m->have_link = 1;
        m->link_a = a / 1000.0;
        m->link_b = b;
        return 1;
    }
    case MC_OPT_DEADLINE: return pos_num(cmd, "--deadline", v, &m->deadline_s) ? -1 : 1;
    case MC_OPT_NO_REBALANCE: m->no_rebalance = 1; return 1;
    case MC_OPT_MARGIN: return pos_num(cmd, "--margin", v, &m->margin) ? -1 : 1;
    case MC_OPT_HOLD: return pos_num(cmd, "--hold", v, &m->hold_s) ? -1 : 1;
    case MC_OPT_COOLDOWN: return pos_num(cmd, "--cooldown", v, &m->cooldown_s) ? -1 : 1;
    case MC_OPT_WIRE_BUDGET: return pos_num(cmd, "--wire-budget", v, &m->wire_budget) ? -1 : 1;
    default: return 0;
    }
}

int mc_master_opts_check(const char *cmd, const mc_master_opts *m)
{
    if (!m->devices) {
        fprintf(stderr, "mchair %s: --devices N is required (the stream starts once N devices have joined)\n", cmd);
        return -1;
    }
    if (m->profile && m->plans_dir) {
        fprintf(stderr, "mchair %s: --profile and --plans exclude each other\n", cmd);
        return -1;
    }
    return 0;
}
