/* cmd_farm.c - `mchair farm up|down|status|exec|attach`: the emulated farm.
 *
 * The work is in src/emu/emulate.c; this file parses options, runs the
 * rpi3 calibration (a measurement with `mchair predict`, see
 * docs/emulated-farm.md) and prints what was made. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../devmodel/devmodel.h"
#include "../emu/emulate.h"
#include "cli.h"

#define FARM_MODEL_SHARES 8192L /* devices of a device model: 8 times a nice-0 task's weight */

static void farm_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair farm up --devices N [--link RATE] [--cpu FRACTION | --preset rpi3 | --device-model P]\n"
            "                      [--mem MB] [--cpu-shares N] [--name NAME] [--state FILE] [--calib-repeat N]\n"
            "       mchair farm down [--name NAME] [--state FILE]\n"
            "       mchair farm status [--name NAME] [--state FILE]\n"
            "       mchair farm exec [--name NAME] [--unlimited] DEVICE -- COMMAND [ARGS...]\n"
            "       mchair farm attach [--name NAME] DEVICE PID...\n"
            "\n"
            "An emulated farm of small devices on this machine (root; network namespaces, tc tbf, cgroup v1).\n"
            "Device K is the network namespace mc-NAME-dK with address " MC_FARM_SUBNET ".(K+1), linked to a\n"
            "bridge in the namespace mc-NAME-hub (" MC_FARM_SUBNET ".%d); the root namespace's network is not\n"
            "touched, so farm processes (initial included) run inside the farm with `farm exec`.\n"
            "\n"
            "  --devices N       number of devices (1..%d)\n"
            "  --link RATE       tbf rate of each device's link, each direction (e.g. 62mbit; default unlimited)\n"
            "  --cpu FRACTION    CPU quota per device as a fraction of one CPU (e.g. 0.05; default unlimited)\n"
            "  --preset rpi3     calibrate the CPU quota so that `mchair predict --model alexnet --threads 1`\n"
            "                    takes %.3f s on one device (measured here), link 62mbit, memory 1024 MB\n"
            "  --device-model P  devices of the device model P (rpi3, or a preset file): its link and memory;\n"
            "                    no CPU quota unless --cpu: processes started with --device-model P pad\n"
            "                    their compute to the model's time (docs/emulated-farm.md)\n"
            "  --mem MB          memory limit per device (default unlimited)\n"
            "  --cpu-shares N    cgroup cpu.shares of each device (2..262144; default 1024, with --device-model\n"
            "                    %ld: a device's compute runs before the host's other work, so that it\n"
            "                    stays below the model's time on a loaded host)\n"
            "  --name NAME       farm name, 1-12 characters [a-z0-9] (default farm)\n"
            "  --state FILE      state file (default $MCHAIR_FARM_DIR or /run/mchair, farm-NAME.json)\n"
            "  --calib-repeat N  inferences per calibration measurement (default 10)\n"
            "  --unlimited       exec: enter the namespace only, not the cgroups (e.g. to load weights\n"
            "                    fast, then `farm attach`)\n"
            "  DEVICE            K, dK or hub\n",
            MC_FARM_HUB_HOST, MC_FARM_MAX_DEVICES, MC_FARM_RPI3_ALEXNET_S, FARM_MODEL_SHARES);
}

typedef struct farm_opts {
    const char *name, *state, *preset, *link, *device_model;
    long devices, mem_mb, calib_repeat, cpu_shares;
    double cpu;
    int unlimited;
} farm_opts;

static int parse_cpu(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1024) {
        fprintf(stderr, "mchair farm: --cpu needs a fraction of one CPU > 0 (e.g. 0.05), got '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses options up to the first non-option (DEVICE) or "--". */
static int parse_farm(int argc, char **argv, farm_opts *o)
{
    static const struct option lo[] = {
        {"devices", 1, 0, 'n'}, {"link", 1, 0, 'l'},  {"cpu", 1, 0, 'c'},       {"preset", 1, 0, 'p'},
        {"mem", 1, 0, 'm'},     {"name", 1, 0, 'N'},  {"state", 1, 0, 's'},     {"unlimited", 0, 0, 'u'},
        {"calib-repeat", 1, 0, 'r'}, {"device-model", 1, 0, 'D'}, {"cpu-shares", 1, 0, 'S'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->name = "farm";
    o->calib_repeat = 10;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': if (mc_parse_pos_int("--devices", optarg, MC_FARM_MAX_DEVICES, &o->devices)) return 2; break;
        case 'l': o->link = optarg; break;
        case 'c': if (parse_cpu(optarg, &o->cpu)) return 2; break;
        case 'p': o->preset = optarg; break;
        case 'D': o->device_model = optarg; break;
        case 'S':
            if (mc_parse_pos_int("--cpu-shares", optarg, 262144, &o->cpu_shares)) return 2;
            if (o->cpu_shares < 2) {
                fprintf(stderr, "mchair farm: --cpu-shares needs 2..262144, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'm': if (mc_parse_pos_int("--mem", optarg, 1L << 30, &o->mem_mb)) return 2; break;
        case 'N': o->name = optarg; break;
        case 's': o->state = optarg; break;
        case 'u': o->unlimited = 1; break;
        case 'r': if (mc_parse_pos_int("--calib-repeat", optarg, 1000, &o->calib_repeat)) return 2; break;
        case 'h': farm_usage(stdout); return 1;
        default: farm_usage(stderr); return 2;
        }
    }
    if (mc_farm_name_check(o->name)) {
        fprintf(stderr, "mchair farm: %s\n", mc_error_last());
        return 2;
    }
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "mchair farm %s: %s\n", what, mc_error_last());
    return 1;
}

/* Runs `mchair predict --model alexnet --threads 1` in device 0 (limited
 * or not) and returns its mean latency in seconds (and the median in
 * *median), or -1. */
static double measure_alexnet(const char *name, int unlimited, long repeat, double *median)
{
    char self[4096], rep[16], json[] = "/tmp/mchair-calib-XXXXXX";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        mc_error_set(MC_ERR_IO, "/proc/self/exe: %s", strerror(errno));
        return -1;
    }
    self[n] = 0;
    int fd = mkstemp(json);
    if (fd < 0) {
        mc_error_set(MC_ERR_IO, "%s: %s", json, strerror(errno));
        return -1;
    }
    close(fd);
    snprintf(rep, sizeof rep, "%ld", repeat);
    char *argv[] = {self, "predict", "--model", "alexnet", "--threads", "1", "--repeat", rep,
                    "--warmup", "1", "--quiet", "--json", json, NULL};
    int code = -1;
    double mean = -1;
    fflush(stdout);
    if (mc_farm_exec(name, 0, unlimited, argv, &code)) goto done;
    if (code) {
        mc_error_set(MC_ERR_BACKEND, "calibration: `mchair predict --model alexnet --threads 1` in device 0 "
                     "exited %d", code);
        goto done;
    }
    FILE *f = fopen(json, "r");
    char buf[65536];
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = 0;
    cJSON *r = cJSON_Parse(buf);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "mean_s");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "median_s");
    if (cJSON_IsNumber(m) && m->valuedouble > 0) mean = m->valuedouble;
    else mc_error_set(MC_ERR_FORMAT, "calibration: %s has no mean_s", json);
    *median = cJSON_IsNumber(md) ? md->valuedouble : mean;
    cJSON_Delete(r);
done:
    unlink(json);
    return mean;
}

static int farm_up(int argc, char **argv)
{
    farm_opts o;
    int rc = parse_farm(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (optind < argc) {
        fprintf(stderr, "mchair farm up: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.devices) {
        fprintf(stderr, "mchair farm up: --devices N is required\n");
        return 2;
    }
    mc_farm_config c = {0};
    snprintf(c.name, sizeof c.name, "%s", o.name);
    c.devices = (int)o.devices;
    c.cpu = o.cpu;
    c.mem_mb = o.mem_mb;
    int rpi3 = 0;
    if (o.preset) {
        if (strcmp(o.preset, "rpi3")) {
            fprintf(stderr, "mchair farm up: unknown preset '%s' (known: rpi3)\n", o.preset);
            return 2;
        }
        if (o.cpu > 0) {
            fprintf(stderr, "mchair farm up: --cpu and --preset rpi3 exclude each other (the preset measures "
                            "the quota)\n");
            return 2;
        }
        rpi3 = 1;
        c.preset = "rpi3";
        c.link_bps = MC_FARM_RPI3_LINK_BPS;
        if (!c.mem_mb) c.mem_mb = MC_FARM_RPI3_MEM_MB;
    }
    mc_devmodel dm;
    if (o.device_model) {
        if (rpi3) {
            fprintf(stderr, "mchair farm up: --preset rpi3 calibrates a CPU quota, --device-model pads compute to a "
                            "model: choose one\n");
            return 2;
        }
        if (mc_devmodel_open(o.device_model, &dm)) return fail("up");
        c.device_model = o.device_model;
        c.device_model_name = dm.name;
        c.preset = dm.name;
        if (dm.link_mbit_s > 0) c.link_bps = dm.link_mbit_s * 1e6;
        if (!c.mem_mb) c.mem_mb = (long)dm.device_mb;
        c.cpu_shares = FARM_MODEL_SHARES;
    }
    if (o.cpu_shares) c.cpu_shares = o.cpu_shares;
    if (o.link && mc_farm_rate_parse(o.link, &c.link_bps)) return fail("up");
    const char *state = o.state;
    char def[256];
    if (!state) {
        mc_farm_state_default(c.name, def, sizeof def);
        state = o.state; /* NULL: emulate.c makes the default directory */
    }
    if (mc_farm_up(&c, state)) return fail("up");

    if (rpi3) {
        /* Calibration: the unlimited single-thread latency L on this
         * machine (the median: this machine is shared, and time spent
         * waiting for a CPU is not work), quota f = L / 0.525 of one CPU,
         * then a check on a limited device; while that is more than 10%
         * off, f is scaled by the measured ratio and checked again (at most
         * two corrections; quota throttling is not exactly linear and the
         * machine may be shared). */
        printf("rpi3 calibration: measuring `mchair predict --model alexnet --threads 1 --repeat %ld` in "
               "device 0 without a CPU limit...\n", o.calib_repeat);
        double med, L;
        if (measure_alexnet(c.name, 1, o.calib_repeat, &L) <= 0) goto calib_fail;
        c.cpu = L / MC_FARM_RPI3_ALEXNET_S;
        c.calib_unlimited_s = L;
        long vrep = o.calib_repeat < 6 ? o.calib_repeat : 6;
        for (int round = 0; round < 3; round++) {
            if (mc_farm_set_cpu(c.name, c.devices, c.cpu)) goto calib_fail;
            long q, period;
            mc_farm_cpu_quota(c.cpu, &period, &q);
            printf("rpi3 calibration: %s %.4f s -> quota %.4f of one CPU (cfs_quota_us %ld / cfs_period_us %ld);"
                   " verifying with %ld inferences in device 0...\n",
                   round ? "previous check" : "unlimited median", round ? c.calib_verified_s : L, c.cpu,
                   q, period, vrep);
            double V = measure_alexnet(c.name, 0, vrep, &med);
            if (V <= 0) goto calib_fail;
            c.calib_verified_s = V;
            printf("rpi3 calibration: limited device: mean %.3f s, median %.3f s per AlexNet inference (target "
                   "%.3f s, the RPi 3 ReQuEST record; mean %+.0f%%)\n",
                   V, med, MC_FARM_RPI3_ALEXNET_S, 100 * (V / MC_FARM_RPI3_ALEXNET_S - 1));
            if (fabs(V / MC_FARM_RPI3_ALEXNET_S - 1) <= 0.10) break;
            if (round < 2) c.cpu *= V / MC_FARM_RPI3_ALEXNET_S;
        }
        if (mc_farm_state_write(&c, state)) {
            fail("up");
            mc_farm_down(c.name, state, NULL);
            return 1;
        }
    }
    if (0) {
    calib_fail:
        fprintf(stderr, "mchair farm up: rpi3 calibration: %s (the farm was removed)\n", mc_error_last());
        mc_farm_down(c.name, state, NULL);
        return 1;
    }
    char quota[64] = "unlimited", link[32] = "unlimited", mem[32] = "unlimited";
    if (c.cpu > 0) snprintf(quota, sizeof quota, "%.4f CPU", c.cpu);
    if (c.link_bps > 0) snprintf(link, sizeof link, "%.3g Mbit/s", c.link_bps / 1e6);
    if (c.mem_mb > 0) snprintf(mem, sizeof mem, "%ld MB", c.mem_mb);
    printf("farm %s up: %d devices, link %s each way, cpu %s, memory %s; hub %s." "%d in mc-%s-hub\n", c.name,
           c.devices, link, quota, mem, MC_FARM_SUBNET, MC_FARM_HUB_HOST, c.name);
    if (c.device_model)
        printf("device model %s (%s): start processes with --device-model %s to pad them to it; cpu.shares %ld\n",
               dm.name, c.device_model, c.device_model, c.cpu_shares);
    for (int k = 0; k < c.devices; k++) {
        char ns[64], addr[32];
        mc_farm_netns_name(c.name, k, ns, sizeof ns);
        mc_farm_address(k, addr, sizeof addr);
        printf("  device %-3d %-16s %s\n", k, ns, addr);
    }
    printf("state: %s\n", o.state ? o.state : def);
    return 0;
}

static int farm_down(int argc, char **argv)
{
    farm_opts o;
    int rc = parse_farm(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (optind < argc) {
        fprintf(stderr, "mchair farm down: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    int left = mc_farm_leftovers(o.name, NULL, 0);
    if (left > 0 && geteuid() != 0) {
        fprintf(stderr, "mchair farm down: farm %s has %d objects; removing them needs root\n", o.name, left);
        return 1;
    }
    int removed = 0;
    if (mc_farm_down(o.name, o.state, &removed)) return fail("down");
    printf("farm %s down: %d namespaces and cgroups removed\n", o.name, removed);
    return 0;
}

static long read_long(const char *dir, const char *file, const char *key)
{
    char path[256], line[128];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (!key) { v = atol(line); break; }
        size_t kl = strlen(key);
        if (!strncmp(line, key, kl) && line[kl] == ' ') { v = atol(line + kl + 1); break; }
    }
    fclose(f);
    return v;
}

static int farm_status(int argc, char **argv)
{
    farm_opts o;
    int rc = parse_farm(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    char def[256], objs[8192];
    const char *state = o.state;
    if (!state) {
        mc_farm_state_default(o.name, def, sizeof def);
        state = def;
    }
    int n = mc_farm_leftovers(o.name, objs, sizeof objs);
    FILE *f = fopen(state, "r");
    if (!f && n <= 0) {
        printf("farm %s: not up (no state file %s, no namespaces or cgroups)\n", o.name, state);
        return 3;
    }
    if (!f) {
        printf("farm %s: no state file %s, but these objects exist (`mchair farm down --name %s` removes "
               "them):\n%s", o.name, state, o.name, objs);
        return 1;
    }
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *r = cJSON_Parse(buf);
    if (!r) {
        fprintf(stderr, "mchair farm status: %s: not valid JSON\n", state);
        return 1;
    }
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(r, "device");
    const cJSON *link = cJSON_GetObjectItemCaseSensitive(r, "link");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(r, "cpu");
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(r, "calibration");
    printf("farm %s: %d devices, link %.3g Mbit/s, cpu %.4f, memory %g MB (0 = unlimited); state %s\n", o.name,
           cJSON_GetArraySize(devs), cJSON_GetNumberValue(cJSON_GetObjectItem(link, "rate_bps")) / 1e6,
           cJSON_GetNumberValue(cJSON_GetObjectItem(cpu, "fraction")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(r, "mem_mb")), state);
    const cJSON *dmj = cJSON_GetObjectItemCaseSensitive(r, "device_model");
    if (dmj)
        printf("device model %s (%s)\n", cJSON_GetStringValue(cJSON_GetObjectItem(dmj, "name")),
               cJSON_GetStringValue(cJSON_GetObjectItem(dmj, "source")));
    if (cal)
        printf("rpi3 calibration: unlimited %.4f s, limited %.3f s (target %.3f s)\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(cal, "unlimited_s")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(cal, "verified_s")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(cal, "target_s")));
    printf("  %-4s %-16s %-12s %6s %9s %12s %10s\n", "dev", "netns", "address", "procs", "throttled", "throttled s",
           "mem MB");
    int missing = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, devs)
    {
        int k = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "index"));
        const char *ns = cJSON_GetStringValue(cJSON_GetObjectItem(d, "netns"));
        const char *addr = cJSON_GetStringValue(cJSON_GetObjectItem(d, "address"));
        char cdir[160], mdir[160], path[192];
        mc_farm_cgroup_path(o.name, k, "cpu", cdir, sizeof cdir);
        mc_farm_cgroup_path(o.name, k, "memory", mdir, sizeof mdir);
        snprintf(path, sizeof path, "/var/run/netns/%s", ns ? ns : "");
        int up = ns && !access(path, F_OK) && !access(cdir, F_OK) && !access(mdir, F_OK);
        missing += !up;
        long procs = 0;
        snprintf(path, sizeof path, "%s/cgroup.procs", cdir);
        FILE *p = fopen(path, "r");
        if (p) {
            int ch;
            while ((ch = fgetc(p)) != EOF) procs += ch == '\n';
            fclose(p);
        }
        printf("  %-4d %-16s %-12s %6ld %9ld %12.2f %10.1f%s\n", k, ns ? ns : "?", addr ? addr : "?", procs,
               read_long(cdir, "cpu.stat", "nr_throttled"), read_long(cdir, "cpu.stat", "throttled_time") / 1e9,
               read_long(mdir, "memory.usage_in_bytes", NULL) / 1048576.0, up ? "" : "  MISSING");
    }
    cJSON_Delete(r);
    return missing ? 1 : 0;
}

static int parse_device(const char *s, int *k)
{
    if (!strcmp(s, "hub")) {
        *k = -1;
        return 0;
    }
    if (*s == 'd') s++;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v >= MC_FARM_MAX_DEVICES) {
        fprintf(stderr, "mchair farm: DEVICE must be K, dK (0..%d) or hub, got '%s'\n", MC_FARM_MAX_DEVICES - 1, s);
        return -1;
    }
    *k = (int)v;
    return 0;
}

static int farm_exec(int argc, char **argv)
{
    farm_opts o;
    int rc = parse_farm(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    int i = optind, k;
    if (i >= argc) {
        fprintf(stderr, "mchair farm exec: DEVICE and a command are required (farm exec 0 -- CMD ...)\n");
        return 2;
    }
    if (parse_device(argv[i++], &k)) return 2;
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc) {
        fprintf(stderr, "mchair farm exec: no command given (farm exec %s -- CMD ...)\n", argv[i - 1]);
        return 2;
    }
    int code = 0;
    if (mc_farm_exec(o.name, k, o.unlimited, argv + i, &code)) return fail("exec");
    return code;
}

static int farm_attach(int argc, char **argv)
{
    farm_opts o;
    int rc = parse_farm(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    int i = optind, k;
    if (argc - i < 2) {
        fprintf(stderr, "mchair farm attach: DEVICE and at least one PID are required\n");
        return 2;
    }
    if (parse_device(argv[i++], &k)) return 2;
    for (; i < argc; i++) {
        long pid;
        if (mc_parse_pos_int("PID", argv[i], 1L << 30, &pid)) return 2;
        if (mc_farm_attach(o.name, k, (pid_t)pid)) return fail("attach");
    }
    return 0;
}

int mc_cmd_farm(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"up", farm_up}, {"down", farm_down}, {"status", farm_status}, {"exec", farm_exec},
                {"attach", farm_attach}};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        farm_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name)) return subs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mchair farm: unknown subcommand '%s' (up, down, status, exec, attach)\n", argv[1]);
    return 2;
}
