/* twostream_farm.h - the two-stream model on farms (docs/twostream.md,
 * "On a farm").
 *
 * Each graph of the model (spatial CNN, temporal CNN, head) runs on a farm
 * of its own, any layout a farm file allows (replicas of a task take frames
 * round-robin, a dense layer split across devices, ...).  The initial
 * device is the camera side and the windows' keeper:
 *   - it reads K streams (video.h), computes each stream's optical flow and
 *     keeps its window of 10 flows (the paper's recorder device);
 *   - it sends frames to the spatial farm and flow stacks to the temporal
 *     farm; their 256-vectors come back in any order and are put in a ring
 *     per stream and stream kind, by frame (the bounded reorder buffer:
 *     MC_TS_RING frames; a farm is held back when a stream's ring is full);
 *   - once the vectors a frame's windows need are there, it sends the two
 *     windows (40 x 256) to the head farm, which gives the scores.
 * That is --windows initial (the default).  In the paper the device of the
 * pyramid task keeps the windows: --windows node, where the head farm's
 * first task keeps them (node_window.c) and gets each frame's two new
 * vectors instead (below); that task must then be one device.
 *
 * Tags of each farm interleave the streams: spatial tag i is frame i / K of
 * stream i % K, temporal tag j frame 10 + j / K (the first with 10 flows),
 * head tag k frame 34 + k / K (the first with full windows).  A vector that
 * never comes (its frame dropped or lost in its farm) is skipped by every
 * window that would hold it: the window takes the vectors before it
 * instead, and the frame's scores say how many it skipped.  A window that
 * cannot be filled (too many skipped, beyond the ring) drops its frame,
 * saying why. */
#ifndef MC_TWOSTREAM_FARM_H
#define MC_TWOSTREAM_FARM_H

#include <stdint.h>

#include "../core/flag.h"
#include "../net/auth.h"
#include "../net/avro_ipc.h"

#define MC_TS_RING 64

/* Where the pyramid's windows are kept (--windows). */
enum { MC_TS_WINDOWS_INITIAL, MC_TS_WINDOWS_NODE };

/* --windows node: the head farm's first task keeps the windows (one per
 * stream, src/farm/node_window.c).  Head tag k's call then carries frame f's
 * new vectors, not the window: metadata
 *   mc.win    "<swin>/<twin>/<s><t>": s is 's' when the input's row 0 is frame
 *             f's spatial vector, '-' when that vector will never come (the
 *             window skips it); t likewise for row 1 and the temporal vector;
 *             or "<swin>/<twin>/full": the input is the whole window (rows
 *             0..swin-1 spatial, then twin temporal, oldest first), sent as a
 *             stream's first message and again after one of its head
 *             messages was dropped or lost (the node's windows start over);
 *   mc.stream the stream, mc.frame the frame f.
 * The input bytes stay the head's input size (40 x 256 floats). */
typedef struct mc_ts_win_msg {
    int swin, twin;
    int full;         /* the input is the whole window */
    int has_s, has_t; /* delta: rows 0 and 1 hold frame f's vectors */
    int stream;
    long frame;
} mc_ts_win_msg;

/* Writes m's metadata (mc.win, mc.stream, mc.frame) into meta. */
void mc_ts_win_meta_set(mc_ipc_meta *meta, const mc_ts_win_msg *m);
/* Reads them: MC_ERR_NOT_FOUND when meta has no mc.win (not a window
 * message), MC_ERR_FORMAT naming the key at fault. */
mc_status mc_ts_win_meta_get(const mc_ipc_meta *meta, mc_ts_win_msg *m);

/* One scored frame: stream, frame number, scores, vectors its windows
 * skipped, seconds from the frame's send to the spatial farm to its scores. */
typedef void (*mc_ts_score_fn)(void *ctx, int stream, long frame, const float *scores, size_t n, int skipped,
                               double latency_s);

typedef struct mc_ts_farm_opts {
    const char *model;     /* twostream or twostream-half */
    const char *farm[3];   /* farm files of the spatial, temporal and head graphs */
    const char *video;     /* SRC[,SRC...] (video.h) */
    int streams;
    long frames;           /* frames of each stream */
    double fps;            /* each stream's rate (0: closed loop) */
    uint64_t seed;
    long window;           /* frames in flight per farm (0: its device count) */
    double timeout_s;
    int quiet;
    int windows;           /* MC_TS_WINDOWS_INITIAL (default) or _NODE */
    mc_auth *auth;
    mc_ts_score_fn on_score;
    void *score_ctx;
    int drop_stream;       /* fault injection: frame drop_frame of this stream is dropped at the */
    long drop_frame;       /*   source before the spatial farm (-1: none), as backpressure would */
} mc_ts_farm_opts;

typedef struct mc_ts_farm_report {
    long frames, scored, skipped_vectors, dropped_windows;
    long sent[3], done[3], dropped[3], lost[3]; /* per farm */
    long out_of_order[3];                       /* results that came after a later tag's, per farm */
    long reloads[3];                            /* results whose task had to be reloaded first (mc.r.*) */
    double reload_s[3];                         /* and the seconds of those reloads, per farm */
    double wall_s, mean_latency_s, flow_ms;     /* flow_ms: mean optical flow time per frame at the source */
    double steady_ips;                          /* (scored - 1) / (last scores - first scores): windows full */
} mc_ts_farm_report;

mc_status mc_ts_farm_run(const mc_ts_farm_opts *o, mc_flag *stop, mc_ts_farm_report *r);

#endif
