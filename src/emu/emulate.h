/* emulate.h - an emulated IoT farm on one Linux machine.
 *
 * Each emulated device is a network namespace `mc-NAME-dK` with one veth
 * `eth0` (address 10.77.0.(K+1)/24) whose peer `dK` is a port of the bridge
 * `br0` in a private hub namespace `mc-NAME-hub` (bridge address
 * 10.77.0.254).  The root namespace's network is never touched: farm
 * processes, `initial` included, run inside the namespaces (see
 * mc_farm_exec; device -1 is the hub).  Each device's link is limited with a
 * `tc tbf` qdisc in both directions (on eth0 for what the device sends, on
 * the bridge port dK for what it receives); its processes are limited by
 * the cgroup v1 groups /sys/fs/cgroup/cpu/mchair-NAME-dK (cfs quota, a
 * fraction of one CPU) and /sys/fs/cgroup/memory/mchair-NAME-dK
 * (memory.limit_in_bytes).
 *
 * `ip` and `tc` run through fork/exec with argument vectors (no shell); a
 * failure names the command line and what it printed.  Everything a farm
 * made carries its name, so mc_farm_down() can remove it all even when the
 * state file is lost or the bring-up failed half-way; up and down are both
 * idempotent.  Farm names are 1-12 characters [a-z0-9], so one farm's
 * prefix never matches another's objects.
 */
#ifndef MC_EMU_EMULATE_H
#define MC_EMU_EMULATE_H

#include <stddef.h>
#include <sys/types.h>

#include "../core/status.h"

#define MC_FARM_MAX_DEVICES 64          /* addresses 10.77.0.1 .. .64 */
#define MC_FARM_NAME_MAX 12
#define MC_FARM_SUBNET "10.77.0"         /* /24, private, only inside our namespaces */
#define MC_FARM_HUB_HOST 254              /* the bridge's own address in the hub */
#define MC_FARM_RPI3_ALEXNET_S 0.525      /* ReQuEST record: AlexNet on one RPi 3 */
#define MC_FARM_RPI3_LINK_BPS 62e6        /* Musical Chair paper: measured WiFi */
#define MC_FARM_RPI3_MEM_MB 1024L         /* an RPi 3 has 1 GB */

typedef struct mc_farm_config {
    char name[MC_FARM_NAME_MAX + 1]; /* farm name: objects are mc-NAME-*, mchair-NAME-* */
    int devices;                     /* 1..MC_FARM_MAX_DEVICES */
    double link_bps;                 /* tbf rate per device and direction; 0 = unlimited */
    double cpu;                      /* CPU quota as a fraction of one CPU; 0 = unlimited */
    long mem_mb;                     /* memory limit per device; 0 = unlimited */
    long cpu_shares;                 /* cpu.shares of each device's group; 0 = the kernel's (1024) */
    const char *preset;              /* "rpi3" or NULL: recorded in the state file */
    double calib_unlimited_s;        /* rpi3 calibration: measured single-thread latency */
    double calib_verified_s;         /* rpi3 calibration: measured on a limited device */
    const char *device_model;        /* the devices' model (devmodel.h) as given, or NULL: recorded */
    const char *device_model_name;   /* ... and its name */
} mc_farm_config;

/* The cfs period and quota (microseconds) for a CPU fraction: the
 * shortest period (10..100 ms, whole ms) whose quota is at least the
 * kernel's 1 ms minimum, so that throttling slices a 0.5 s inference finely;
 * cpu <= 0: period 100 ms, quota -1 (unlimited). */
void mc_farm_cpu_quota(double cpu, long *period_us, long *quota_us);

/* Checks that a farm name is 1-12 characters of [a-z0-9]. */
mc_status mc_farm_name_check(const char *name);

/* Parses a tc-style rate ("62mbit", "500kbit", "1gbit", "20000000bit",
 * "8mbps" = bytes) into bits per second. */
mc_status mc_farm_rate_parse(const char *s, double *bps);

/* Object names: netns of device k (k = -1: the hub), cgroup directory of
 * device k for controller "cpu" or "memory", device address. */
void mc_farm_netns_name(const char *name, int k, char *buf, size_t n);
void mc_farm_cgroup_path(const char *name, int k, const char *ctl, char *buf, size_t n);
void mc_farm_address(int k, char *buf, size_t n);

/* The tbf burst (bytes) used for a rate: 10 ms worth of data, at least
 * four full frames. */
long mc_farm_tbf_burst(double bps);

/* Fails with MC_ERR_UNSUPPORTED and a clear message unless this process is
 * root, `ip` and `tc` run, network namespaces can be made and the cgroup v1
 * cpu and memory hierarchies are mounted. */
mc_status mc_farm_check_support(void);

/* Runs argv[0] (found in PATH) with the arguments, waits, and fails with
 * MC_ERR_IO naming the command line, its exit status and what it printed
 * (first part) unless it exits 0.  `out` (may be NULL) receives its output. */
mc_status mc_farm_run(char *const argv[], char *out, size_t out_size);

/* Brings a farm up (after removing any farm of the same name) and writes
 * the state file `state_path` (NULL: the default for the name).  On failure
 * everything made so far is removed. */
mc_status mc_farm_up(const mc_farm_config *c, const char *state_path);

/* Sets every device's CPU quota (fraction of one CPU; 0 = unlimited). */
mc_status mc_farm_set_cpu(const char *name, int devices, double cpu);

/* Writes the state file (JSON) for a farm that is up. */
mc_status mc_farm_state_write(const mc_farm_config *c, const char *path);

/* Default state file: $MCHAIR_FARM_DIR (else /run/mchair)/farm-NAME.json. */
void mc_farm_state_default(const char *name, char *buf, size_t n);

/* Removes everything the farm `name` made: stops the processes in its
 * namespaces and cgroups (SIGTERM, then SIGKILL after 2 s), deletes the
 * namespaces (and with them the veths, bridge and qdiscs), the cgroups and
 * the state file `state_path` (NULL: the default).  Nothing to remove is
 * success.  `removed` (may be NULL) gets the number of objects removed. */
mc_status mc_farm_down(const char *name, const char *state_path, int *removed);

/* Lists what of farm `name` exists now (namespaces, then cgroup
 * directories), one per line, into buf; returns the count (or -1). */
int mc_farm_leftovers(const char *name, char *buf, size_t n);

/* Runs argv in device k of farm `name` (k = -1: the hub namespace):
 * fork; the child writes its pid into the device's cpu and memory cgroups
 * (unless `unlimited`), enters the namespace with setns(2) and execs argv.
 * The parent forwards SIGINT/SIGTERM/SIGHUP to the child, waits, and
 * stores the child's exit code (128+signal if killed) in *code. */
mc_status mc_farm_exec(const char *name, int k, int unlimited, char *const argv[], int *code);

/* Moves process `pid` (all its threads) into device k's cgroups. */
mc_status mc_farm_attach(const char *name, int k, pid_t pid);

#endif
