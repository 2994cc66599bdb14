/* check_video.c - frame sources (models/video.c): random frames as
 * predict's, Y4M in 4:4:4, 4:2:0 and mono with BT.601 colours computed by
 * hand and resized to the model, a folder of images in name order, raw RGB24
 * files; every refusal names the file and the fault. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/video.h"
#include "models/weights.h"
#include "testutil.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mchair-video-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *b, size_t n, char *path)
{
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(random_frames_are_predicts_random_inputs)
{
    mc_video *v;
    ck_assert_int_eq(mc_video_open("random", 4, 3, 9, &v), MC_OK);
    float a[36], b[36];
    int eof;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mc_video_next(v, a, &eof), MC_OK);
        ck_assert_int_eq(eof, 0);
        mc_input_random(b, 36, 9, (uint64_t)i);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    }
    ck_assert_int_eq(mc_video_frames(v), 3);
    mc_video_close(v);
}
END_TEST

/* BT.601 limited range: white, black, red (Y 81, Cb 90, Cr 240), blue (Y 41, Cb 240, Cr 110). */
START_TEST(y4m_444_gives_bt601_colours_and_its_rate)
{
    const char hdr[] = "YUV4MPEG2 W2 H2 F30000:1001 Ip A1:1 C444 XYSCSS=444\n";
    const unsigned char Y[4] = {235, 16, 81, 41}, U[4] = {128, 128, 90, 240}, V[4] = {128, 128, 240, 110};
    unsigned char buf[256];
    size_t n = strlen(hdr);
    memcpy(buf, hdr, n);
    for (int f = 0; f < 2; f++) {
        memcpy(buf + n, "FRAME\n", 6), n += 6;
        memcpy(buf + n, Y, 4), memcpy(buf + n + 4, U, 4), memcpy(buf + n + 8, V, 4), n += 12;
    }
    char path[256];
    write_file("c.y4m", buf, n, path);
    mc_video *v;
    ck_assert_msg(mc_video_open(path, 2, 2, 0, &v) == MC_OK, "%s", mc_error_last());
    ck_assert(fabs(mc_video_fps(v) - 29.97003) < 1e-4);
    float out[12];
    int eof;
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    static const float want[12] = {1, 1, 1, 0, 0, 0, 0.998f, 0, 0, 0.0f, 0.0f, 1.0f};
    for (int k = 0; k < 12; k++) ck_assert_msg(fabsf(out[k] - want[k]) < 0.02f, "value %d: %g, want %g", k, out[k], want[k]);
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    ck_assert_int_eq(eof, 0);
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    ck_assert_int_eq(eof, 1);
    mc_video_close(v);
}
END_TEST

/* 4:2:0 (no C tag: the default), a 4x2 frame: the left 2x2 cell gray, the
 * right one red; shrunk to 2x1, each output is its cell's colour. */
START_TEST(y4m_420_chroma_cells_and_the_resize)
{
    const char hdr[] = "YUV4MPEG2 W4 H2 F25:1\nFRAME\n";
    const unsigned char Y[8] = {126, 126, 81, 81, 126, 126, 81, 81}, U[2] = {128, 90}, V[2] = {128, 240};
    unsigned char buf[128];
    size_t n = strlen(hdr);
    memcpy(buf, hdr, n);
    memcpy(buf + n, Y, 8), memcpy(buf + n + 8, U, 2), memcpy(buf + n + 10, V, 2), n += 12;
    char path[256];
    write_file("c420.y4m", buf, n, path);
    mc_video *v;
    ck_assert_msg(mc_video_open(path, 2, 1, 0, &v) == MC_OK, "%s", mc_error_last());
    float out[6];
    int eof;
    ck_assert_msg(mc_video_next(v, out, &eof) == MC_OK, "%s", mc_error_last());
    const float g = (float)(1.164383 * (126 - 16) / 255);
    const float want[6] = {g, g, g, 0.998f, 0, 0};
    for (int k = 0; k < 6; k++) ck_assert_msg(fabsf(out[k] - want[k]) < 0.02f, "value %d: %g, want %g", k, out[k], want[k]);
    mc_video_close(v);
    /* mono */
    const char mono[] = "YUV4MPEG2 W2 H1 F25:1 Cmono\nFRAME\n\xeb\x10";
    write_file("m.y4m", mono, sizeof mono - 1, path);
    ck_assert_int_eq(mc_video_open(path, 2, 1, 0, &v), MC_OK);
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    for (int k = 0; k < 3; k++) ck_assert(fabsf(out[k] - 1) < 0.01f && fabsf(out[3 + k]) < 0.01f);
    mc_video_close(v);
}
END_TEST

typedef struct bad_video {
    const char *name, *bytes;
    size_t len;
    const char *needle;
} bad_video;

static const bad_video bads[] = {
    {"trunc.y4m", "YUV4MPEG2 W2 H2 C444\nFRAME\nabcdef", 34, "frame 0 is truncated"},
    {"p10.y4m", "YUV4MPEG2 W2 H2 C420p10\nFRAME\n", 31, "C420p10 is not supported"},
    {"now.y4m", "YUV4MPEG2 H2 C444\n", 18, "frame size 0x2"},
    {"noframe.y4m", "YUV4MPEG2 W1 H1 Cmono\nFRAMX\nx", 29, "frame 0: no FRAME header"},
    {"odd.rgb", "abcdefg", 7, "7 bytes is not a whole number of 2x2 RGB24 frames (12 bytes each)"},
};

START_TEST(bad_videos_are_refused_naming_the_file)
{
    const bad_video *b = &bads[_i];
    char path[256];
    write_file(b->name, b->bytes, b->len, path);
    mc_video *v;
    float out[12];
    int eof;
    mc_status st = mc_video_open(path, 2, 2, 0, &v);
    if (!st) {
        st = mc_video_next(v, out, &eof);
        mc_video_close(v);
    }
    ck_assert_int_eq(st, MC_ERR_FORMAT);
    ck_assert_msg(strstr(mc_error_last(), path) && strstr(mc_error_last(), b->needle), "%s: %s", b->name,
                  mc_error_last());
}
END_TEST

/* A folder: frames in name order whatever their size; hidden files and
 * folders skipped; an empty folder refused. */
START_TEST(a_folder_of_images_is_read_in_name_order_and_resized)
{
    char path[256];
    const char b2[] = "P6 2 1 255\n\xff\xff\xff\xff\xff\xff";      /* white, 2x1 */
    const char a1[] = "P6 1 1 255\n\x00\x00\x00";                  /* black, 1x1 */
    const char bad[] = "not an image";
    write_file("frame_002.ppm", b2, sizeof b2 - 1, path);
    write_file("frame_001.ppm", a1, sizeof a1 - 1, path);
    write_file(".hidden", bad, sizeof bad - 1, path);
    snprintf(path, sizeof path, "%s/sub", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    mc_video *v;
    ck_assert_msg(mc_video_open(dir, 2, 2, 0, &v) == MC_OK, "%s", mc_error_last());
    float out[12];
    int eof;
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    for (int k = 0; k < 12; k++) ck_assert_float_eq(out[k], 0.0f);
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    for (int k = 0; k < 12; k++) ck_assert_float_eq_tol(out[k], 1.0f, 1e-6);
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    ck_assert_int_eq(eof, 1);
    mc_video_close(v);
    ck_assert_int_eq(mc_video_open(path, 2, 2, 0, &v), MC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "holds no frame files"));
    ck_assert_int_eq(mc_video_open("/nonexistent/x.y4m", 2, 2, 0, &v), MC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "/nonexistent/x.y4m"));
}
END_TEST

START_TEST(raw_rgb24_frames_of_the_model_size)
{
    unsigned char px[24];
    for (int k = 0; k < 24; k++) px[k] = (unsigned char)(k * 10);
    char path[256];
    write_file("two.rgb", px, sizeof px, path);
    mc_video *v;
    ck_assert_int_eq(mc_video_open(path, 2, 2, 0, &v), MC_OK);
    float out[12];
    int eof;
    for (int f = 0; f < 2; f++) {
        ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
        for (int k = 0; k < 12; k++) ck_assert_float_eq_tol(out[k], px[f * 12 + k] / 255.0f, 1e-7);
    }
    ck_assert_int_eq(mc_video_next(v, out, &eof), MC_OK);
    ck_assert_int_eq(eof, 1);
    mc_video_close(v);
}
END_TEST

static Suite *video_suite(void)
{
    Suite *s = suite_create("video");
    TCase *t = tcase_create("sources");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, random_frames_are_predicts_random_inputs);
    tcase_add_test(t, y4m_444_gives_bt601_colours_and_its_rate);
    tcase_add_test(t, y4m_420_chroma_cells_and_the_resize);
    tcase_add_loop_test(t, bad_videos_are_refused_naming_the_file, 0, (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(t, a_folder_of_images_is_read_in_name_order_and_resized);
    tcase_add_test(t, raw_rgb24_frames_of_the_model_size);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return mc_test_run(video_suite()); }
