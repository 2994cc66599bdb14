/* check_twostream.c - the sliding window (models/window.c) and the
 * two-stream pipeline on one device (models/twostream.c): windows evict the
 * oldest vector and keep tags, flows stack on channels oldest first, the
 * pipeline scores from frame 34 on and every frame after, counts missing
 * frames, starts over after a reset, and reports allocation failures. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "models/twostream.h"
#include "models/window.h"
#include "testutil.h"

/* Pushes 1..pushes into a window of cap vectors of dim 2 ({k, -k}); the
 * window must hold the last min(pushes, cap), oldest first. */
typedef struct win_case {
    int cap, pushes;
} win_case;

static const win_case wins[] = {{1, 1}, {1, 5}, {3, 2}, {3, 3}, {3, 7}, {10, 10}, {10, 23}, {25, 24}};

START_TEST(a_window_keeps_the_last_vectors_oldest_first_with_their_tags)
{
    const win_case *c = &wins[_i];
    mc_window w;
    ck_assert_int_eq(mc_window_init(&w, c->cap, 2), MC_OK);
    for (int k = 1; k <= c->pushes; k++) {
        float v[2] = {(float)k, (float)-k};
        mc_window_push(&w, (uint64_t)(100 + k), v);
    }
    int held = c->pushes < c->cap ? c->pushes : c->cap;
    ck_assert_int_eq(w.n, held);
    ck_assert_int_eq(mc_window_full(&w), c->pushes >= c->cap);
    float *all = malloc(sizeof(float) * 2 * (size_t)held);
    mc_window_copy(&w, all);
    for (int k = 0; k < held; k++) {
        int want = c->pushes - held + 1 + k;
        ck_assert_float_eq(mc_window_at(&w, k)[0], (float)want);
        ck_assert_float_eq(all[2 * k + 1], (float)-want);
        ck_assert_uint_eq(mc_window_tag(&w, k), (uint64_t)(100 + want));
    }
    free(all);
    mc_window_clear(&w);
    ck_assert_int_eq(w.n, 0);
    mc_window_free(&w);
}
END_TEST

/* Three flows of 2 positions x 2 channels stack into 2 positions x 6
 * channels: position p reads flow 0's (dx, dy), flow 1's, flow 2's. */
START_TEST(flows_stack_on_channels_oldest_first)
{
    mc_window w;
    ck_assert_int_eq(mc_window_init(&w, 3, 4), MC_OK);
    for (int k = 0; k < 4; k++) { /* the first is pushed out */
        float f[4] = {10.0f * k + 1, 10.0f * k + 2, 10.0f * k + 3, 10.0f * k + 4};
        mc_window_push(&w, (uint64_t)k, f);
    }
    float out[12];
    mc_window_stack_channels(&w, 2, out);
    static const float want[12] = {11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34};
    for (int i = 0; i < 12; i++) ck_assert_float_eq(out[i], want[i]);
    mc_window_free(&w);
    ck_assert_int_eq(mc_window_init(&w, 0, 4), MC_ERR_INVALID_ARG);
}
END_TEST

static void frame_and_flow(uint64_t i, float *frame, float *flow)
{
    mc_rng_fill(frame, 12 * 16 * 3, 11, 1, i * 576, 1.0f);
    mc_rng_fill(flow, 12 * 16 * 2, 11, 2, i * 384, 2.0f);
}

/* Scores from frame 34 (10 flows for the first temporal vector at frame 10,
 * then 25 of them) and for every frame after; the same frames after a
 * reset give the same scores; a jump in the tags is counted. */
START_TEST(the_pipeline_scores_every_frame_once_its_windows_are_full)
{
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 2, &be), MC_OK);
    mc_twostream ts;
    ck_assert_msg(mc_twostream_open(&ts, "twostream-half", be, 3) == MC_OK, "%s", mc_error_last());
    ck_assert_uint_eq(mc_twostream_classes(&ts), 51);
    ck_assert_int_eq(ts.w, 16);
    ck_assert_int_eq(ts.h, 12);
    float frame[576], flow[384], s[2][51], first[51];
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < 37; i++) {
            int ready;
            frame_and_flow(i, frame, flow);
            ck_assert_int_eq(mc_twostream_step(&ts, i, frame, i ? flow : NULL, s[i & 1], &ready), MC_OK);
            ck_assert_msg(ready == (i >= 34), "round %d frame %llu: ready %d", round, (unsigned long long)i, ready);
            if (!ready) continue;
            double sum = 0;
            for (int c = 0; c < 51; c++) sum += s[i & 1][c];
            ck_assert_msg(fabs(sum - 1) < 1e-4, "scores sum to %g", sum);
            if (i == 34 && round == 0) memcpy(first, s[0], sizeof first);
            if (i == 34 && round == 1) ck_assert_int_eq(memcmp(first, s[0], sizeof first), 0);
            if (i > 34) ck_assert_msg(mc_test_max_rel_err(s[0], s[1], 51, 0) > 1e-6, "frame %llu as the one before",
                                      (unsigned long long)i);
        }
        ck_assert_uint_eq(ts.scored, 3 * (uint64_t)(round + 1));
        ck_assert_uint_eq(ts.gaps, 0);
        mc_twostream_reset(&ts);
    }
    /* frames 0..9, then 12: two frames missing */
    int ready;
    for (uint64_t i = 0; i < 10; i++) ck_assert_int_eq(mc_twostream_step(&ts, i, frame, flow, s[0], &ready), MC_OK);
    ck_assert_int_eq(mc_twostream_step(&ts, 12, frame, flow, s[0], &ready), MC_OK);
    ck_assert_uint_eq(ts.gaps, 2);
    mc_twostream_close(&ts);
    ck_assert_int_eq(mc_twostream_open(&ts, "twostream-quarter", be, 3), MC_ERR_NOT_FOUND);
    mc_backend_destroy(be);
}
END_TEST

/* Every allocation of open failing in turn: MC_ERR_NOMEM, nothing held. */
START_TEST(allocation_failures_while_opening_are_reported)
{
    mc_backend *be;
    ck_assert_int_eq(mc_backend_create(MC_BACKEND_CPU, 1, &be), MC_OK);
    size_t base = mc_alloc_bytes_in_use();
    int failed = 0, ok = 0;
    for (long n = 0; n < 200 && !ok; n += 7) {
        mc_twostream ts;
        mc_alloc_fail_after(n);
        mc_status st = mc_twostream_open(&ts, "twostream-half", be, 1);
        mc_alloc_fail_after(-1);
        if (st == MC_OK) {
            ok = 1;
            mc_twostream_close(&ts);
        } else {
            ck_assert_msg(st == MC_ERR_NOMEM, "after %ld: %s", n, mc_error_last());
            failed++;
        }
        ck_assert_uint_eq(mc_alloc_bytes_in_use(), base);
    }
    ck_assert(failed > 0);
    ck_assert_msg(ok, "open never succeeded within 200 allocations");
    mc_backend_destroy(be);
}
END_TEST

static Suite *twostream_suite(void)
{
    Suite *s = suite_create("twostream");
    TCase *t = tcase_create("window");
    tcase_add_loop_test(t, a_window_keeps_the_last_vectors_oldest_first_with_their_tags, 0,
                        (int)(sizeof wins / sizeof wins[0]));
    tcase_add_test(t, flows_stack_on_channels_oldest_first);
    suite_add_tcase(s, t);
    TCase *p = tcase_create("pipeline");
    tcase_set_timeout(p, 600);
    tcase_add_test(p, the_pipeline_scores_every_frame_once_its_windows_are_full);
    tcase_add_test(p, allocation_failures_while_opening_are_reported);
    suite_add_tcase(s, p);
    return s;
}

int main(void) { return mc_test_run(twostream_suite()); }
