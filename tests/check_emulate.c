/* check_emulate.c - the emulated farm's parsing, naming, command running and
 * (where the machine allows: root, network namespaces, cgroup v1) a small
 * farm brought up, used and removed through the C interface.
 *
 * The network measurements (echo, link rate, CPU share, memory limit) are in
 * tests/emu/test_emu.py; this suite checks the library's contracts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "emu/emulate.h"
#include "testutil.h"

typedef struct rate_case {
    const char *text;
    double bps; /* 0: must be rejected */
} rate_case;

static const rate_case rate_cases[] = {
    {"62mbit", 62e6},  {"20Mbit", 20e6}, {"500kbit", 500e3}, {"1gbit", 1e9}, {"20000000bit", 20e6},
    {"8mbps", 64e6},   {"1.5mbit", 1.5e6}, {"", 0},           {"mbit", 0},    {"10", 0},
    {"10furlongs", 0}, {"-5mbit", 0},    {"0mbit", 0},       {"1bit", 0},    {"inf mbit", 0},
};

START_TEST(test_rates_parse_like_tc_and_bad_ones_are_named)
{
    const rate_case *c = &rate_cases[_i];
    double bps = -1;
    mc_status st = mc_farm_rate_parse(c->text, &bps);
    if (c->bps > 0) {
        ck_assert_msg(st == MC_OK, "'%s': %s", c->text, mc_error_last());
        ck_assert_double_eq_tol(bps, c->bps, 1e-6 * c->bps);
    } else {
        ck_assert_int_eq(st, MC_ERR_INVALID_ARG);
        ck_assert_msg(strstr(mc_error_last(), "link rate"), "message: %s", mc_error_last());
    }
}
END_TEST

static const struct {
    const char *name;
    int ok;
} name_cases[] = {{"farm", 1}, {"a", 1}, {"abcdefghijkl", 1}, {"emt12345", 1}, {"", 0}, {"abcdefghijklm", 0},
                  {"Farm", 0}, {"a-b", 0}, {"a b", 0}, {"../x", 0}};

START_TEST(test_farm_names_are_short_lowercase_words)
{
    mc_status st = mc_farm_name_check(name_cases[_i].name);
    ck_assert_msg((st == MC_OK) == name_cases[_i].ok, "'%s': %s", name_cases[_i].name, mc_error_last());
}
END_TEST

START_TEST(test_object_names_carry_the_farm_name)
{
    char b[256];
    mc_farm_netns_name("farm", 3, b, sizeof b);
    ck_assert_str_eq(b, "mc-farm-d3");
    mc_farm_netns_name("farm", -1, b, sizeof b);
    ck_assert_str_eq(b, "mc-farm-hub");
    mc_farm_cgroup_path("x1", 10, "cpu", b, sizeof b);
    ck_assert_str_eq(b, "/sys/fs/cgroup/cpu/mchair-x1-d10");
    mc_farm_address(0, b, sizeof b);
    ck_assert_str_eq(b, "10.77.0.1");
    mc_farm_address(10, b, sizeof b);
    ck_assert_str_eq(b, "10.77.0.11");
    mc_farm_address(-1, b, sizeof b);
    ck_assert_str_eq(b, "10.77.0.254");
}
END_TEST

START_TEST(test_tbf_burst_is_ten_ms_of_data_but_at_least_four_frames)
{
    ck_assert_int_eq(mc_farm_tbf_burst(62e6), 77500);
    ck_assert_int_eq(mc_farm_tbf_burst(20e6), 25000);
    ck_assert_int_eq(mc_farm_tbf_burst(1e6), 4 * 1514);
}
END_TEST

static const struct {
    double cpu;
    long period, quota;
} quota_cases[] = {
    {0.5, 10000, 5000},    /* shortest period: 10 ms */
    {0.0375, 27000, 1013}, /* the period grows until the quota reaches the kernel's 1 ms */
    {0.005, 100000, 1000}, /* longest period 100 ms; the quota is never below 1 ms */
    {2.0, 10000, 20000},   /* more than one CPU */
    {0, 100000, -1},       /* unlimited */
};

START_TEST(test_cpu_fractions_become_a_fine_grained_cfs_period_and_quota)
{
    long period, quota;
    mc_farm_cpu_quota(quota_cases[_i].cpu, &period, &quota);
    ck_assert_int_eq(period, quota_cases[_i].period);
    ck_assert_int_eq(quota, quota_cases[_i].quota);
}
END_TEST

START_TEST(test_a_failing_command_is_named_with_its_exit_status_and_output)
{
    char *argv[] = {"sh", "-c", "echo something went wrong >&2; exit 3", NULL};
    ck_assert_int_eq(mc_farm_run(argv, NULL, 0), MC_ERR_IO);
    const char *m = mc_error_last();
    ck_assert_msg(strstr(m, "`sh -c echo something went wrong >&2; exit 3`") && strstr(m, "exit 3") &&
                      strstr(m, "something went wrong"),
                  "message: %s", m);
    char *missing[] = {"/nonexistent/ip", "link", NULL};
    ck_assert_int_eq(mc_farm_run(missing, NULL, 0), MC_ERR_IO);
    ck_assert_msg(strstr(mc_error_last(), "cannot run /nonexistent/ip"), "message: %s", mc_error_last());
    char out[64];
    char *ok[] = {"echo", "hello", NULL};
    ck_assert_int_eq(mc_farm_run(ok, out, sizeof out), MC_OK);
    ck_assert_str_eq(out, "hello\n");
}
END_TEST

START_TEST(test_exec_and_down_on_a_farm_that_is_not_up)
{
    char name[16];
    snprintf(name, sizeof name, "ckn%d", (int)getpid() % 100000);
    char *argv[] = {"true", NULL};
    int code = -1;
    ck_assert_int_eq(mc_farm_exec(name, 0, 0, argv, &code), MC_ERR_NOT_FOUND);
    ck_assert_msg(strstr(mc_error_last(), "does not exist"), "message: %s", mc_error_last());
    ck_assert_int_eq(mc_farm_leftovers(name, NULL, 0), 0);
    if (geteuid() == 0) { /* nothing to remove is success, also twice */
        int removed = -1;
        ck_assert_int_eq(mc_farm_down(name, "/nonexistent/state.json", &removed), MC_OK);
        ck_assert_int_eq(removed, 0);
    }
    ck_assert_int_eq(mc_farm_exec("Bad-Name", 0, 0, argv, &code), MC_ERR_INVALID_ARG);
}
END_TEST

/* The farm of the bring-up test, named in the parent process so that the
 * unchecked teardown (run there, also when the forked test failed) removes
 * it. */
static char farm_name[MC_FARM_NAME_MAX + 1];

static void farm_teardown(void)
{
    if (geteuid() == 0) mc_farm_down(farm_name, "/nonexistent/state.json", NULL);
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

START_TEST(test_a_two_device_farm_comes_up_runs_a_command_and_goes_away)
{
    mc_farm_config c = {0};
    memcpy(c.name, farm_name, sizeof c.name);
    c.devices = 2;
    c.link_bps = 10e6;
    c.cpu = 0.5;
    c.mem_mb = 256;
    c.cpu_shares = 4096;
    char state[] = "/tmp/check-emulate-XXXXXX";
    int fd = mkstemp(state);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mc_status st = mc_farm_up(&c, state);
    ck_assert_msg(st == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(mc_farm_leftovers(c.name, NULL, 0), 3 + 4); /* hub, d0, d1; 2 x (cpu, memory) */

    cJSON *s = read_json(state);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(cJSON_GetObjectItem(s, "devices")->valueint, 2);
    cJSON *addrs = cJSON_GetObjectItem(s, "addresses");
    ck_assert_str_eq(cJSON_GetArrayItem(addrs, 1)->valuestring, "10.77.0.2");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "cpu"), "cfs_quota_us")->valueint, 5000);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "cpu"), "cfs_period_us")->valueint, 10000);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "cpu"), "shares")->valueint, 4096);
    cJSON_Delete(s);

    char quota[256], path[300];
    mc_farm_cgroup_path(c.name, 1, "cpu", path, sizeof path);
    strcat(path, "/cpu.cfs_quota_us");
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(quota, sizeof quota, f));
    fclose(f);
    ck_assert_int_eq(atol(quota), 5000);
    mc_farm_cgroup_path(c.name, 1, "cpu", path, sizeof path);
    strcat(path, "/cpu.shares"); /* the device's weight against the host's other work */
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(quota, sizeof quota, f));
    fclose(f);
    ck_assert_int_eq(atol(quota), 4096);

    /* The command runs inside device 1: its own address is there, and it
     * is in the device's cgroups; its exit code comes back. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ip -o addr show dev eth0 | grep -q 'inet 10.77.0.2/24' && grep -q ':cpu:/mchair-%s-d1$' "
             "/proc/self/cgroup && grep -q ':memory:/mchair-%s-d1$' /proc/self/cgroup && exit 7",
             c.name, c.name);
    char *argv[] = {"sh", "-c", cmd, NULL};
    int code = -1;
    ck_assert_msg(mc_farm_exec(c.name, 1, 0, argv, &code) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(code, 7);
    /* --unlimited: the namespace but not the cgroups */
    snprintf(cmd, sizeof cmd, "grep -q 'mchair-%s' /proc/self/cgroup || exit 9", c.name);
    ck_assert_int_eq(mc_farm_exec(c.name, 1, 1, argv, &code), MC_OK);
    ck_assert_int_eq(code, 9);

    int removed = 0;
    ck_assert_msg(mc_farm_down(c.name, state, &removed) == MC_OK, "%s", mc_error_last());
    ck_assert_int_eq(removed, 7);
    ck_assert_int_eq(mc_farm_leftovers(c.name, NULL, 0), 0);
    ck_assert_int_ne(access(state, F_OK), 0);
    ck_assert_int_eq(mc_farm_down(c.name, state, &removed), MC_OK);
    ck_assert_int_eq(removed, 0);
}
END_TEST

/* Without arguments: the arithmetic and error cases (any machine).  With
 * --farm: only the farm that comes up (ctest check_emulate_farm), which
 * exits 77 (skipped, with the reason) where the machine cannot make one. */
static Suite *emulate_suite(int farm)
{
    Suite *s = suite_create("emulate");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    snprintf(farm_name, sizeof farm_name, "ck%d", (int)getpid() % 100000);
    tcase_add_unchecked_fixture(t, NULL, farm_teardown);
    if (farm) {
        tcase_add_test(t, test_a_two_device_farm_comes_up_runs_a_command_and_goes_away);
        suite_add_tcase(s, t);
        return s;
    }
    tcase_add_loop_test(t, test_rates_parse_like_tc_and_bad_ones_are_named, 0,
                        (int)(sizeof rate_cases / sizeof rate_cases[0]));
    tcase_add_loop_test(t, test_farm_names_are_short_lowercase_words, 0,
                        (int)(sizeof name_cases / sizeof name_cases[0]));
    tcase_add_test(t, test_object_names_carry_the_farm_name);
    tcase_add_test(t, test_tbf_burst_is_ten_ms_of_data_but_at_least_four_frames);
    tcase_add_loop_test(t, test_cpu_fractions_become_a_fine_grained_cfs_period_and_quota, 0,
                        (int)(sizeof quota_cases / sizeof quota_cases[0]));
    tcase_add_test(t, test_a_failing_command_is_named_with_its_exit_status_and_output);
    tcase_add_test(t, test_exec_and_down_on_a_farm_that_is_not_up);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    int farm = argc > 1 && !strcmp(argv[1], "--farm");
    if (farm && mc_farm_check_support() != MC_OK) {
        printf("skipped: %s\n", mc_error_last());
        return 77;
    }
    return mc_test_run(emulate_suite(farm));
}
