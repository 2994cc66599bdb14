/* emulate.c - an emulated IoT farm: namespaces, veths, tbf and cgroup v1.
 *
 * Why it is built this way: the farm must look like separate small devices
 * on one WiFi network while running on one 2-core machine, and it must never
 * disturb the machine's own network.  So every farm object lives either in
 * a namespace the farm created (the hub with its bridge, one namespace per
 * device) or in a cgroup directory named after the farm; deleting the
 * namespaces deletes the veths, the bridge and the qdiscs with them.  The
 * names are derived from the farm name alone, which makes `down` complete
 * even without the state file, and `up` safe to repeat (it first runs
 * `down`).  Commands are run with fork/execvp and argument vectors, never
 * through a shell, and their output is kept for the error message.
 */
#define _GNU_SOURCE
#include "emulate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define NETNS_DIR "/var/run/netns"
#define CGROUP_ROOT "/sys/fs/cgroup"
#define TBF_LATENCY "50ms"

/* ---- names ------------------------------------------------------------ */

mc_status mc_farm_name_check(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > MC_FARM_NAME_MAX)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm name '%s': needs 1 to %d characters [a-z0-9]",
                            name ? name : "", MC_FARM_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i])))
            return mc_error_set(MC_ERR_INVALID_ARG, "farm name '%s': only [a-z0-9] allowed (got '%c')",
                                name, name[i]);
    return MC_OK;
}

void mc_farm_netns_name(const char *name, int k, char *buf, size_t n)
{
    if (k < 0) snprintf(buf, n, "mc-%s-hub", name);
    else snprintf(buf, n, "mc-%s-d%d", name, k);
}

void mc_farm_cgroup_path(const char *name, int k, const char *ctl, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s/mchair-%s-d%d", CGROUP_ROOT, ctl, name, k);
}

void mc_farm_address(int k, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%d", MC_FARM_SUBNET, k < 0 ? MC_FARM_HUB_HOST : k + 1);
}

void mc_farm_state_default(const char *name, char *buf, size_t n)
{
    const char *dir = getenv("MCHAIR_FARM_DIR");
    snprintf(buf, n, "%s/farm-%s.json", dir && *dir ? dir : "/run/mchair", name);
}

mc_status mc_farm_rate_parse(const char *s, double *bps)
{
    static const struct { const char *unit; double mult; } units[] = {
        {"bit", 1},      {"kbit", 1e3},   {"mbit", 1e6},   {"gbit", 1e9},
        {"bps", 8},      {"kbps", 8e3},   {"mbps", 8e6},   {"gbps", 8e9},
    };
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || errno || !(v > 0) || !isfinite(v))
        return mc_error_set(MC_ERR_INVALID_ARG, "link rate '%s': expected a positive number with a unit "
                            "(bit, kbit, mbit, gbit, bps, kbps, mbps, gbps), e.g. 62mbit", s ? s : "");
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcasecmp(end, units[i].unit)) {
            *bps = v * units[i].mult;
            if (*bps < 8000)
                return mc_error_set(MC_ERR_INVALID_ARG, "link rate '%s': below 8kbit is not usable", s);
            return MC_OK;
        }
    }
    return mc_error_set(MC_ERR_INVALID_ARG, "link rate '%s': unknown unit '%s' (bit, kbit, mbit, gbit, bps, "
                        "kbps, mbps, gbps)", s, end);
}

void mc_farm_cpu_quota(double cpu, long *period_us, long *quota_us)
{
    if (!(cpu > 0)) {
        *period_us = 100000;
        *quota_us = -1;
        return;
    }
    long p = (long)ceil(1000.0 / cpu / 1000.0) * 1000;
    if (p < 10000) p = 10000;
    if (p > 100000) p = 100000;
    long q = lround(cpu * (double)p);
    *period_us = p;
    *quota_us = q < 1000 ? 1000 : q;
}

long mc_farm_tbf_burst(double bps)
{
    long b = (long)(bps / 8 / 100); /* 10 ms of data */
    return b < 4 * 1514 ? 4 * 1514 : b;
}

/* ---- running commands ------------------------------------------------- */

static void argv_str(char *const argv[], char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; argv[i] && o + 1 < n; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i ? " " : "", argv[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

mc_status mc_farm_run(char *const argv[], char *out, size_t out_size)
{
    char cmd[512], text[2048];
    argv_str(argv, cmd, sizeof cmd);
    int p[2];
    if (pipe2(p, O_CLOEXEC)) return mc_error_set(MC_ERR_IO, "`%s`: pipe: %s", cmd, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return mc_error_set(MC_ERR_IO, "`%s`: fork: %s", cmd, strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        char chunk[1024];
        ssize_t r = read(p[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t take = (size_t)r;
        if (take > sizeof text - 1 - len) take = sizeof text - 1 - len; /* bounded: keep the start */
        memcpy(text + len, chunk, take);
        len += take;
    }
    text[len] = 0;
    close(p[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) return mc_error_set(MC_ERR_IO, "`%s`: wait: %s", cmd, strerror(errno));
    }
    if (out && out_size) snprintf(out, out_size, "%s", text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = 0;
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return MC_OK;
    if (WIFEXITED(ws))
        return mc_error_set(MC_ERR_IO, "`%s` failed (exit %d): %s", cmd, WEXITSTATUS(ws),
                            len ? text : "(no output)");
    return mc_error_set(MC_ERR_IO, "`%s` killed by signal %d: %s", cmd, WTERMSIG(ws), len ? text : "(no output)");
}

#define RUN(...) mc_farm_run((char *const[]){__VA_ARGS__, NULL}, NULL, 0)

/* ---- small file helpers ----------------------------------------------- */

static mc_status write_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mc_status write_file(const char *path, const char *fmt, ...)
{
    char val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return mc_error_set(MC_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    ssize_t w = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    if (w != (ssize_t)strlen(val))
        return mc_error_set(MC_ERR_IO, "%s: cannot write '%s': %s", path, val, strerror(e));
    return MC_OK;
}

static int is_dir(const char *p)
{
    struct stat s;
    return !stat(p, &s) && S_ISDIR(s.st_mode);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* ---- support check ---------------------------------------------------- */

mc_status mc_farm_check_support(void)
{
    if (geteuid() != 0)
        return mc_error_set(MC_ERR_UNSUPPORTED, "the emulated farm needs root (network namespaces, tc, "
                            "cgroups); run it as root or under sudo");
    const char *files[] = {CGROUP_ROOT "/cpu/cpu.cfs_quota_us", CGROUP_ROOT "/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < 2; i++)
        if (access(files[i], W_OK))
            return mc_error_set(MC_ERR_UNSUPPORTED, "cgroup v1 not usable: %s: %s (the emulated farm needs the "
                                "v1 cpu and memory hierarchies mounted under " CGROUP_ROOT ")",
                                files[i], strerror(errno));
    /* Can this kernel make a network namespace?  Try in a throw-away child. */
    pid_t pid = fork();
    if (pid < 0) return mc_error_set(MC_ERR_UNSUPPORTED, "fork: %s", strerror(errno));
    if (pid == 0) _exit(unshare(CLONE_NEWNET) ? 1 : 0);
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(ws) || WEXITSTATUS(ws))
        return mc_error_set(MC_ERR_UNSUPPORTED, "this kernel or container cannot create network namespaces "
                            "(unshare(CLONE_NEWNET) failed)");
    char out[256];
    if (mc_farm_run((char *const[]){"ip", "-V", NULL}, out, sizeof out) ||
        mc_farm_run((char *const[]){"tc", "-V", NULL}, out, sizeof out))
        return mc_error_set(MC_ERR_UNSUPPORTED, "the emulated farm needs `ip` and `tc` (Debian package "
                            "iproute2): %s", mc_error_last());
    return MC_OK;
}

/* ---- listing and removing --------------------------------------------- */

/* Does `entry` name an object of farm `name` ("mc-NAME-hub", "mc-NAME-dK"
 * with prefix "mc-", or "mchair-NAME-dK" with prefix "mchair-")? */
static int farm_owns(const char *entry, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    if (strncmp(entry, prefix, pl) || strncmp(entry + pl, name, nl) || entry[pl + nl] != '-') return 0;
    const char *t = entry + pl + nl + 1;
    if (!strcmp(t, "hub")) return !strcmp(prefix, "mc-");
    if (t[0] != 'd' || !t[1]) return 0;
    for (const char *c = t + 1; *c; c++)
        if (!isdigit((unsigned char)*c)) return 0;
    return 1;
}

typedef struct name_list {
    char items[2 * MC_FARM_MAX_DEVICES + 8][320];
    int n;
} name_list;

/* Netns names and cgroup paths of farm `name` that exist now. */
static void list_objects(const char *name, name_list *ns, name_list *cg)
{
    ns->n = cg->n = 0;
    DIR *d = opendir(NETNS_DIR);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && ns->n < (int)(sizeof ns->items / sizeof ns->items[0]))
            if (farm_owns(e->d_name, "mc-", name)) snprintf(ns->items[ns->n++], sizeof ns->items[0], "%s", e->d_name);
        closedir(d);
    }
    const char *ctls[] = {"cpu", "memory"};
    for (int c = 0; c < 2; c++) {
        char dir[64];
        snprintf(dir, sizeof dir, CGROUP_ROOT "/%s", ctls[c]);
        d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) && cg->n < (int)(sizeof cg->items / sizeof cg->items[0]))
            if (farm_owns(e->d_name, "mchair-", name))
                snprintf(cg->items[cg->n++], sizeof cg->items[0], "%s/%s", dir, e->d_name);
        closedir(d);
    }
}

int mc_farm_leftovers(const char *name, char *buf, size_t n)
{
    if (mc_farm_name_check(name)) return -1;
    static name_list ns, cg; /* large: keep off the stack */
    list_objects(name, &ns, &cg);
    size_t o = 0;
    if (buf && n) buf[0] = 0;
    for (int i = 0; i < ns.n + cg.n; i++) {
        const char *s = i < ns.n ? ns.items[i] : cg.items[i - ns.n];
        if (buf && o < n) {
            int w = snprintf(buf + o, n - o, "%s%s\n", i < ns.n ? "netns " : "cgroup ", s);
            if (w > 0) o += (size_t)w;
        }
    }
    return ns.n + cg.n;
}

#define MAX_PIDS 4096
typedef struct pid_set {
    pid_t p[MAX_PIDS];
    int n;
} pid_set;

static void pid_add(pid_set *s, pid_t pid)
{
    if (pid <= 1 || pid == getpid()) return;
    for (int i = 0; i < s->n; i++)
        if (s->p[i] == pid) return;
    if (s->n < MAX_PIDS) s->p[s->n++] = pid;
}

static void pids_from_text(pid_set *s, const char *text)
{
    const char *c = text;
    while (*c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (end == c) { c++; continue; }
        pid_add(s, (pid_t)v);
        c = end;
    }
}

static void collect_pids(const name_list *ns, const name_list *cg, pid_set *s)
{
    s->n = 0;
    for (int i = 0; i < ns->n; i++) {
        static char out[16384];
        if (!mc_farm_run((char *const[]){"ip", "netns", "pids", (char *)ns->items[i], NULL}, out, sizeof out))
            pids_from_text(s, out);
    }
    for (int i = 0; i < cg->n; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/cgroup.procs", cg->items[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        long v;
        while (fscanf(f, "%ld", &v) == 1) pid_add(s, (pid_t)v);
        fclose(f);
    }
}

/* Alive and not a zombie. */
static int pid_alive(pid_t pid)
{
    char path[64], st[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t r = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[r] = 0;
    const char *p = strrchr(st, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void stop_pids(const pid_set *s)
{
    for (int i = 0; i < s->n; i++) kill(s->p[i], SIGTERM);
    for (int t = 0; t < 40; t++) { /* up to 2 s */
        int alive = 0;
        for (int i = 0; i < s->n; i++) alive += pid_alive(s->p[i]);
        if (!alive) return;
        sleep_ms(50);
    }
    for (int i = 0; i < s->n; i++)
        if (pid_alive(s->p[i])) kill(s->p[i], SIGKILL);
    for (int t = 0; t < 20; t++) {
        int alive = 0;
        for (int i = 0; i < s->n; i++) alive += pid_alive(s->p[i]);
        if (!alive) return;
        sleep_ms(50);
    }
}

mc_status mc_farm_down(const char *name, const char *state_path, int *removed)
{
    mc_status st = mc_farm_name_check(name);
    if (st) return st;
    if (removed) *removed = 0;
    static name_list ns, cg;
    static pid_set pids;
    list_objects(name, &ns, &cg);
    /* Processes first: a namespace with processes in it outlives `ip netns
     * del`, and a cgroup with tasks cannot be removed.  Twice, for children
     * that were forked while we were stopping their parents. */
    for (int round = 0; round < 2; round++) {
        collect_pids(&ns, &cg, &pids);
        if (pids.n) stop_pids(&pids);
    }
    mc_status first = MC_OK;
    char keep[512] = "";
    for (int i = 0; i < ns.n; i++) {
        st = RUN("ip", "netns", "del", ns.items[i]);
        if (st && !first) { first = st; snprintf(keep, sizeof keep, "%s", mc_error_last()); }
        if (!st && removed) (*removed)++;
    }
    for (int i = 0; i < cg.n; i++) {
        int ok = 0;
        for (int t = 0; t < 40 && !ok; t++) { /* exiting tasks may linger a moment */
            ok = !rmdir(cg.items[i]) || errno == ENOENT;
            if (!ok) sleep_ms(50);
        }
        if (!ok && !first) {
            first = MC_ERR_IO;
            snprintf(keep, sizeof keep, "%s: cannot remove cgroup: %s", cg.items[i], strerror(errno));
        }
        if (ok && removed) (*removed)++;
    }
    char def[256];
    if (!state_path) {
        mc_farm_state_default(name, def, sizeof def);
        state_path = def;
    }
    unlink(state_path);
    if (first) return mc_error_set(first, "farm %s down: %s", name, keep);
    return MC_OK;
}

/* ---- bringing up ------------------------------------------------------ */

/* Sets device k's cfs period and quota (quota first unlimited, so that no
 * intermediate pair is refused). */
static mc_status cpu_set(const char *name, int k, double cpu)
{
    char dir[160], file[400];
    long period, quota;
    mc_farm_cpu_quota(cpu, &period, &quota);
    mc_farm_cgroup_path(name, k, "cpu", dir, sizeof dir);
    snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
    mc_status st = write_file(file, "-1");
    if (st) return st;
    snprintf(file, sizeof file, "%s/cpu.cfs_period_us", dir);
    if ((st = write_file(file, "%ld", period))) return st;
    snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
    return write_file(file, "%ld", quota);
}

static mc_status cgroup_make(const char *name, int k, double cpu, long mem_mb, long shares)
{
    char dir[160], file[400];
    mc_farm_cgroup_path(name, k, "cpu", dir, sizeof dir);
    if (mkdir(dir, 0755) && errno != EEXIST) return mc_error_set(MC_ERR_IO, "%s: mkdir: %s", dir, strerror(errno));
    mc_status st = cpu_set(name, k, cpu);
    if (st) return st;
    if (shares > 0) { /* a device's weight against the host's other work (devices of a device model) */
        snprintf(file, sizeof file, "%s/cpu.shares", dir);
        if ((st = write_file(file, "%ld", shares))) return st;
    }
    mc_farm_cgroup_path(name, k, "memory", dir, sizeof dir);
    if (mkdir(dir, 0755) && errno != EEXIST) return mc_error_set(MC_ERR_IO, "%s: mkdir: %s", dir, strerror(errno));
    snprintf(file, sizeof file, "%s/memory.limit_in_bytes", dir);
    if (mem_mb > 0) return write_file(file, "%lld", (long long)mem_mb << 20);
    return write_file(file, "-1");
}

mc_status mc_farm_set_cpu(const char *name, int devices, double cpu)
{
    for (int k = 0; k < devices; k++) {
        mc_status st = cpu_set(name, k, cpu);
        if (st) return st;
    }
    return MC_OK;
}

static mc_status tbf_add(const char *ns, const char *dev, double bps)
{
    char rate[32], burst[32];
    snprintf(rate, sizeof rate, "%.0fbit", bps);
    snprintf(burst, sizeof burst, "%ld", mc_farm_tbf_burst(bps));
    return RUN("tc", "-n", (char *)ns, "qdisc", "replace", "dev", (char *)dev, "root", "tbf", "rate", rate,
               "burst", burst, "latency", TBF_LATENCY);
}

static mc_status device_make(const mc_farm_config *c, int k, const char *hub)
{
    char ns[64], port[16], addr[40];
    mc_farm_netns_name(c->name, k, ns, sizeof ns);
    snprintf(port, sizeof port, "d%d", k);
    mc_farm_address(k, addr, sizeof addr);
    strcat(addr, "/24");
    mc_status st;
    if ((st = RUN("ip", "netns", "add", ns))) return st;
    if ((st = RUN("ip", "-n", ns, "link", "set", "lo", "up"))) return st;
    /* Both ends are created directly inside their namespaces: nothing ever
     * appears in the root namespace. */
    if ((st = RUN("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns",
                  (char *)hub)))
        return st;
    if ((st = RUN("ip", "-n", (char *)hub, "link", "set", port, "master", "br0"))) return st;
    if ((st = RUN("ip", "-n", (char *)hub, "link", "set", port, "up"))) return st;
    if ((st = RUN("ip", "-n", ns, "addr", "add", addr, "dev", "eth0"))) return st;
    if ((st = RUN("ip", "-n", ns, "link", "set", "eth0", "up"))) return st;
    if (c->link_bps > 0) {
        if ((st = tbf_add(ns, "eth0", c->link_bps))) return st;   /* what the device sends */
        if ((st = tbf_add(hub, port, c->link_bps))) return st;    /* what it receives */
    }
    return cgroup_make(c->name, k, c->cpu, c->mem_mb, c->cpu_shares);
}

mc_status mc_farm_up(const mc_farm_config *c, const char *state_path)
{
    mc_status st = mc_farm_name_check(c->name);
    if (st) return st;
    if (c->devices < 1 || c->devices > MC_FARM_MAX_DEVICES)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm %s: --devices must be 1..%d, got %d", c->name,
                            MC_FARM_MAX_DEVICES, c->devices);
    if (c->cpu_shares && (c->cpu_shares < 2 || c->cpu_shares > 262144))
        return mc_error_set(MC_ERR_INVALID_ARG, "farm %s: cpu shares must be 2..262144, got %ld", c->name,
                            c->cpu_shares);
    if (c->cpu < 0 || c->mem_mb < 0 || c->link_bps < 0)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm %s: negative cpu, memory or link rate", c->name);
    if ((st = mc_farm_check_support())) return st;
    if ((st = mc_farm_down(c->name, state_path, NULL))) return st; /* `up` twice: start afresh */

    char hub[64], hubaddr[40];
    mc_farm_netns_name(c->name, -1, hub, sizeof hub);
    mc_farm_address(-1, hubaddr, sizeof hubaddr);
    strcat(hubaddr, "/24");
    if ((st = RUN("ip", "netns", "add", hub)) || (st = RUN("ip", "-n", hub, "link", "set", "lo", "up")) ||
        (st = RUN("ip", "-n", hub, "link", "add", "br0", "type", "bridge")) ||
        (st = RUN("ip", "-n", hub, "addr", "add", hubaddr, "dev", "br0")) ||
        (st = RUN("ip", "-n", hub, "link", "set", "br0", "up")))
        goto fail;
    for (int k = 0; k < c->devices; k++)
        if ((st = device_make(c, k, hub))) goto fail;
    if ((st = mc_farm_state_write(c, state_path))) goto fail;
    return MC_OK;
fail:;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mc_error_last());
    mc_farm_down(c->name, state_path, NULL);
    return mc_error_set(st, "farm %s up: %s (everything made so far was removed)", c->name, msg);
}

/* ---- state file ------------------------------------------------------- */

mc_status mc_farm_state_write(const mc_farm_config *c, const char *path)
{
    char def[256], buf[192];
    if (!path) {
        mc_farm_state_default(c->name, def, sizeof def);
        path = def;
        char dir[256];
        snprintf(dir, sizeof dir, "%s", def);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            if (mkdir(dir, 0755) && errno != EEXIST)
                return mc_error_set(MC_ERR_IO, "%s: mkdir: %s", dir, strerror(errno));
        }
    }
    cJSON *r = cJSON_CreateObject();
    if (!r) return mc_error_set(MC_ERR_NOMEM, "farm state: out of memory");
    cJSON_AddStringToObject(r, "name", c->name);
    cJSON_AddNumberToObject(r, "devices", c->devices);
    cJSON_AddStringToObject(r, "subnet", MC_FARM_SUBNET ".0/24");
    if (c->preset) cJSON_AddStringToObject(r, "preset", c->preset);
    cJSON *hub = cJSON_AddObjectToObject(r, "hub");
    mc_farm_netns_name(c->name, -1, buf, sizeof buf);
    cJSON_AddStringToObject(hub, "netns", buf);
    cJSON_AddStringToObject(hub, "bridge", "br0");
    mc_farm_address(-1, buf, sizeof buf);
    cJSON_AddStringToObject(hub, "address", buf);
    cJSON *link = cJSON_AddObjectToObject(r, "link");
    cJSON_AddNumberToObject(link, "rate_bps", c->link_bps);
    if (c->link_bps > 0) {
        cJSON_AddNumberToObject(link, "burst_bytes", (double)mc_farm_tbf_burst(c->link_bps));
        cJSON_AddStringToObject(link, "latency", TBF_LATENCY);
    }
    cJSON *cpu = cJSON_AddObjectToObject(r, "cpu");
    cJSON_AddNumberToObject(cpu, "fraction", c->cpu);
    long period, quota;
    mc_farm_cpu_quota(c->cpu, &period, &quota);
    cJSON_AddNumberToObject(cpu, "cfs_period_us", (double)period);
    cJSON_AddNumberToObject(cpu, "cfs_quota_us", (double)quota);
    cJSON_AddNumberToObject(cpu, "shares", (double)(c->cpu_shares > 0 ? c->cpu_shares : 1024));
    cJSON_AddNumberToObject(r, "mem_mb", (double)c->mem_mb);
    if (c->calib_unlimited_s > 0) {
        cJSON *cal = cJSON_AddObjectToObject(r, "calibration");
        cJSON_AddStringToObject(cal, "command", "mchair predict --model alexnet --threads 1");
        cJSON_AddNumberToObject(cal, "unlimited_s", c->calib_unlimited_s);
        cJSON_AddNumberToObject(cal, "target_s", MC_FARM_RPI3_ALEXNET_S);
        cJSON_AddNumberToObject(cal, "verified_s", c->calib_verified_s);
    }
    if (c->device_model) { /* nodes and predict in the devices pad to it (docs/emulated-farm.md) */
        cJSON *dm = cJSON_AddObjectToObject(r, "device_model");
        cJSON_AddStringToObject(dm, "source", c->device_model);
        cJSON_AddStringToObject(dm, "name", c->device_model_name ? c->device_model_name : c->device_model);
    }
    cJSON *devs = cJSON_AddArrayToObject(r, "device");
    cJSON *addrs = cJSON_AddArrayToObject(r, "addresses");
    cJSON *node = cJSON_AddObjectToObject(r, "node");
    cJSON *initial = cJSON_AddArrayToObject(node, "initial");
    cJSON *pool = cJSON_AddArrayToObject(node, "devices");
    for (int k = 0; k < c->devices; k++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(devs, d);
        cJSON_AddNumberToObject(d, "index", k);
        mc_farm_netns_name(c->name, k, buf, sizeof buf);
        cJSON_AddStringToObject(d, "netns", buf);
        mc_farm_address(k, buf, sizeof buf);
        cJSON_AddStringToObject(d, "address", buf);
        cJSON_AddItemToArray(addrs, cJSON_CreateString(buf));
        cJSON_AddItemToArray(k == 0 ? initial : pool, cJSON_CreateString(buf));
        cJSON_AddStringToObject(d, "interface", "eth0");
        snprintf(buf, sizeof buf, "d%d", k);
        cJSON_AddStringToObject(d, "hub_port", buf);
        mc_farm_cgroup_path(c->name, k, "cpu", buf, sizeof buf);
        cJSON_AddStringToObject(d, "cgroup_cpu", buf);
        mc_farm_cgroup_path(c->name, k, "memory", buf, sizeof buf);
        cJSON_AddStringToObject(d, "cgroup_memory", buf);
    }
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    if (!txt) return mc_error_set(MC_ERR_NOMEM, "farm state: out of memory");
    FILE *f = fopen(path, "w");
    mc_status st = MC_OK;
    if (!f) {
        st = mc_error_set(MC_ERR_IO, "%s: cannot write the farm state: %s", path, strerror(errno));
    } else {
        int bad = fputs(txt, f) < 0 || fputc('\n', f) < 0;
        if (fclose(f) || bad) st = mc_error_set(MC_ERR_IO, "%s: cannot write the farm state: %s", path, strerror(errno));
    }
    free(txt);
    return st;
}

/* ---- running inside a device ------------------------------------------ */

static mc_status device_exists(const char *name, int k, char *ns, size_t n)
{
    mc_status st = mc_farm_name_check(name);
    if (st) return st;
    if (k < -1 || k >= MC_FARM_MAX_DEVICES)
        return mc_error_set(MC_ERR_INVALID_ARG, "farm %s: no device %d", name, k);
    mc_farm_netns_name(name, k, ns, n);
    char path[128];
    snprintf(path, sizeof path, NETNS_DIR "/%s", ns);
    if (access(path, F_OK))
        return mc_error_set(MC_ERR_NOT_FOUND, "farm %s: %s does not exist (is the farm up? `mchair farm up "
                            "--name %s`)", name, path, name);
    return MC_OK;
}

mc_status mc_farm_attach(const char *name, int k, pid_t pid)
{
    char ns[64], dir[160], file[192];
    mc_status st = device_exists(name, k, ns, sizeof ns);
    if (st) return st;
    if (k < 0) return MC_OK; /* the hub has no limits */
    const char *ctls[] = {"cpu", "memory"};
    for (int i = 0; i < 2; i++) {
        mc_farm_cgroup_path(name, k, ctls[i], dir, sizeof dir);
        snprintf(file, sizeof file, "%s/cgroup.procs", dir);
        if ((st = write_file(file, "%d", (int)pid))) return st;
    }
    return MC_OK;
}

static volatile sig_atomic_t exec_child;

static void forward_signal(int sig)
{
    if (exec_child > 0) kill((pid_t)exec_child, sig);
}

mc_status mc_farm_exec(const char *name, int k, int unlimited, char *const argv[], int *code)
{
    char ns[64], nspath[128], cg[2][160];
    mc_status st = device_exists(name, k, ns, sizeof ns);
    if (st) return st;
    if (!argv || !argv[0]) return mc_error_set(MC_ERR_INVALID_ARG, "farm exec: no command given");
    snprintf(nspath, sizeof nspath, NETNS_DIR "/%s", ns);
    int limited = k >= 0 && !unlimited;
    if (limited) {
        mc_farm_cgroup_path(name, k, "cpu", cg[0], sizeof cg[0]);
        mc_farm_cgroup_path(name, k, "memory", cg[1], sizeof cg[1]);
        for (int i = 0; i < 2; i++)
            if (!is_dir(cg[i]))
                return mc_error_set(MC_ERR_NOT_FOUND, "farm %s device %d: cgroup %s is missing", name, k, cg[i]);
    }
    int p[2]; /* the child reports a failure before exec through this pipe */
    if (pipe2(p, O_CLOEXEC)) return mc_error_set(MC_ERR_IO, "farm exec: pipe: %s", strerror(errno));
    /* Forward signals from before the fork on, so none is lost. */
    struct sigaction sa = {0}, old[3];
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    exec_child = 0;
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old[i]);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
        return mc_error_set(MC_ERR_IO, "farm exec: fork: %s", strerror(e));
    }
    if (pid == 0) {
        for (int i = 0; i < 3; i++) signal(sigs[i], SIG_DFL);
        close(p[0]);
        char msg[512];
        if (limited) {
            for (int i = 0; i < 2; i++) {
                char file[400];
                snprintf(file, sizeof file, "%s/tasks", cg[i]);
                int fd = open(file, O_WRONLY | O_CLOEXEC);
                int ok = fd >= 0 && dprintf(fd, "%d", (int)getpid()) > 0;
                int e = errno;
                if (fd >= 0) close(fd);
                if (!ok) {
                    snprintf(msg, sizeof msg, "%s: cannot join the cgroup: %s", file, strerror(e));
                    goto child_fail;
                }
            }
        }
        int fd = open(nspath, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET)) {
            snprintf(msg, sizeof msg, "%s: cannot enter the network namespace: %s", nspath, strerror(errno));
            goto child_fail;
        }
        close(fd);
        execvp(argv[0], argv);
        snprintf(msg, sizeof msg, "cannot run %s: %s", argv[0], strerror(errno));
    child_fail:
        if (write(p[1], msg, strlen(msg)) < 0) {}
        _exit(127);
    }
    exec_child = pid;
    close(p[1]);
    char msg[512];
    ssize_t r;
    while ((r = read(p[0], msg, sizeof msg - 1)) < 0 && errno == EINTR) {}
    close(p[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            st = mc_error_set(MC_ERR_IO, "farm exec: wait: %s", strerror(errno));
            break;
        }
    }
    exec_child = 0;
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
    if (st) return st;
    if (r > 0) {
        msg[r] = 0;
        return mc_error_set(MC_ERR_IO, "farm %s device %d: %s", name, k, msg);
    }
    if (code) *code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return MC_OK;
}
