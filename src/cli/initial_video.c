/* initial_video.c - the frames `mchair initial --video SRC[,SRC...]
 * [--streams K]` sends: K streams (cameras), each its own source (one SRC
 * for all: random frames get seed + k, a file or folder is read by each),
 * decoded once and resized to the model's input (models/video.h).
 *
 * Tags interleave the streams: tag i is frame i / K of stream i % K, so
 * each stream's frames keep their order in the farm's tag order and every
 * stream gets one frame in K.  At most MC_VIDEO_HELD_BYTES of frames are
 * held; a run longer than what is held (or than a file) uses them in turn,
 * as --input files are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/video.h"
#include "cli.h"

#define MC_VIDEO_HELD_BYTES (256u << 20)

mc_status mc_initial_video_frames(const char *spec, int streams, long repeat, mc_shape in, uint64_t seed,
                                  float ***frames_out, int *n_out, double *fps_out)
{
    *frames_out = NULL;
    *n_out = 0;
    *fps_out = 0;
    char sb[64];
    if (in.ne[0] != 3 || in.ne[3] != 1)
        return mc_error_set(MC_ERR_SHAPE, "--video: the model's input %s is not one RGB frame",
                            mc_shape_str(&in, sb, sizeof sb));
    char *list = strdup(spec), *save = NULL;
    const char *src[64];
    int n_src = 0;
    for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && n_src < 64; t = strtok_r(NULL, ",", &save))
        src[n_src++] = t;
    if (!n_src || (n_src > 1 && n_src != streams)) {
        free(list);
        return mc_error_set(MC_ERR_INVALID_ARG, "--video %s: one source, or one per stream (%d)", spec, streams);
    }
    const size_t nin = mc_shape_count(&in);
    long per = (repeat + streams - 1) / streams; /* frames each stream sends */
    long cap = (long)(MC_VIDEO_HELD_BYTES / (nin * sizeof(float) * (size_t)streams));
    if (per > cap) per = cap;
    if (per < 1) per = 1;
    float **held = calloc((size_t)per * (size_t)streams, sizeof(float *));
    long got = per; /* frames every stream could give: the shortest stream */
    mc_status st = held ? MC_OK : mc_error_set(MC_ERR_NOMEM, "--video: out of memory");
    for (int k = 0; k < streams && !st; k++) {
        mc_video *v = NULL;
        if ((st = mc_video_open(src[n_src > 1 ? k : 0], in.ne[1], in.ne[2], seed + (uint64_t)k, &v))) break;
        if (k == 0) *fps_out = mc_video_fps(v);
        long f;
        for (f = 0; f < got && !st; f++) {
            float *x = malloc(nin * sizeof(float));
            int eof = 0;
            if (!x) st = mc_error_set(MC_ERR_NOMEM, "--video: out of memory");
            else if (!(st = mc_video_next(v, x, &eof)) && !eof) {
                held[f * streams + k] = x;
                continue;
            }
            free(x);
            break;
        }
        if (!st && f < got) got = f;
        mc_video_close(v);
        if (!st && !got) st = mc_error_set(MC_ERR_FORMAT, "--video %s: stream %d has no frames", spec, k);
    }
    if (!st) { /* keep the first `got` frames of every stream, interleaved */
        for (long j = got * streams; j < per * streams; j++) free(held[j]), held[j] = NULL;
        *frames_out = held;
        *n_out = (int)(got * streams);
    } else if (held) {
        for (long j = 0; j < per * streams; j++) free(held[j]);
        free(held);
    }
    free(list);
    return st;
}
