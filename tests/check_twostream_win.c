/* check_twostream_win.c - the window messages of `initial --windows node`
 * (farm/twostream_farm.h: metadata mc.win, mc.stream, mc.frame), which the
 * initial device writes and the windowed task node reads (node_window.c):
 *   - every kind of message survives a write and a read;
 *   - a table of malformed metadata is refused, the message naming the key
 *     at fault; no mc.win at all is "not a window message" (NOT_FOUND). */
#include <check.h>
#include <string.h>

#include "core/status.h"
#include "farm/twostream_farm.h"
#include "testutil.h"

START_TEST(round_trip)
{
    static const mc_ts_win_msg msgs[] = {
        {15, 25, 1, 0, 0, 0, 34},  {15, 25, 0, 1, 1, 3, 35}, {15, 25, 0, 1, 0, 0, 1000000},
        {15, 25, 0, 0, 1, 15, 36}, {15, 25, 0, 0, 0, 1, 40}, {3, 4, 0, 1, 1, 0, 7},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        mc_ipc_meta meta = {0};
        mc_ipc_meta_set(&meta, "mc.t.conv", "0.1"); /* other keys stay out of it */
        mc_ts_win_meta_set(&meta, &msgs[i]);
        mc_ts_win_msg got;
        ck_assert_int_eq(mc_ts_win_meta_get(&meta, &got), MC_OK);
        ck_assert_msg(!memcmp(&got, &msgs[i], sizeof got), "message %zu changed on the way (mc.win=%s)", i,
                      mc_ipc_meta_get(&meta, "mc.win"));
    }
}
END_TEST

typedef struct bad_meta {
    const char *win, *stream, *frame; /* NULL: key absent */
    mc_status want;
    const char *says;
} bad_meta;

START_TEST(refusals)
{
    static const bad_meta bad[] = {
        {NULL, "0", "34", MC_ERR_NOT_FOUND, "no metadata mc.win"},
        {"15/25/xx", "0", "34", MC_ERR_FORMAT, "mc.win='15/25/xx'"},
        {"15/25/stt", "0", "34", MC_ERR_FORMAT, "mc.win='15/25/stt'"},
        {"15/25", "0", "34", MC_ERR_FORMAT, "mc.win='15/25'"},
        {"0/25/full", "0", "34", MC_ERR_FORMAT, "mc.win='0/25/full'"},
        {"15/25/full ", "0", "34", MC_ERR_FORMAT, "mc.win='15/25/full '"},
        {"15/99999/st", "0", "34", MC_ERR_FORMAT, "mc.win='15/99999/st'"},
        {"15/25/st", NULL, "34", MC_ERR_FORMAT, "mc.stream='(none)'"},
        {"15/25/st", "-1", "34", MC_ERR_FORMAT, "mc.stream='-1'"},
        {"15/25/st", "1x", "34", MC_ERR_FORMAT, "mc.stream='1x'"},
        {"15/25/st", "0", NULL, MC_ERR_FORMAT, "mc.frame='(none)'"},
        {"15/25/st", "0", "", MC_ERR_FORMAT, "mc.frame=''"},
        {"15/25/st", "0", "-3", MC_ERR_FORMAT, "mc.frame='-3'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_ipc_meta meta = {0};
        if (bad[i].win) mc_ipc_meta_set(&meta, "mc.win", bad[i].win);
        if (bad[i].stream) mc_ipc_meta_set(&meta, "mc.stream", bad[i].stream);
        if (bad[i].frame) mc_ipc_meta_set(&meta, "mc.frame", bad[i].frame);
        mc_ts_win_msg got;
        ck_assert_int_eq(mc_ts_win_meta_get(&meta, &got), bad[i].want);
        ck_assert_msg(strstr(mc_error_last(), bad[i].says), "case %zu: '%s' does not say '%s'", i, mc_error_last(),
                      bad[i].says);
    }
}
END_TEST

static Suite *twostream_win_suite(void)
{
    Suite *s = suite_create("twostream_win");
    TCase *tc = tcase_create("meta");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(twostream_win_suite()); }
