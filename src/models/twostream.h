/* twostream.h - the two-stream action recognition pipeline on one device
 * (Musical Chair sections 2.3.1 and 4.4; docs/twostream.md).
 *
 * The model is three graphs of the zoo (zoo_twostream.c) joined by sliding
 * windows, which hold what a graph cannot: state across frames.  Per frame:
 *   1. the spatial CNN turns the 16x12 RGB frame into a 256-vector, which
 *      enters the spatial window (15 vectors);
 *   2. the frame's optical flow (from the previous frame: H x W x 2, dx
 *      then dy) enters the flow window (10 flows); once it holds 10, they
 *      are stacked into H x W x 20 (flow k, oldest first, at channels 2k,
 *      2k+1) and the temporal CNN turns them into a 256-vector, which
 *      enters the temporal window (25 vectors);
 *   3. once both windows are full, the head reads them side by side (40 x
 *      256: 15 spatial then 25 temporal, oldest first), builds the two
 *      temporal pyramids and gives 51 action scores.
 * So the first frame gives no flow, flow 1..9 fill the flow window, frame
 * 10 gives the first temporal vector and frame 34 (counting from 0) the
 * first scores; after that every frame gives scores.  Frames are known by
 * their tags; a frame missing from the sequence (tag jumps) is counted in
 * `gaps`, and the windows simply go on with the frames that came (a window
 * then spans more time; the flow across the gap is the caller's, computed
 * against the last frame it had).  Nothing is allocated per frame. */
#ifndef MC_TWOSTREAM_H
#define MC_TWOSTREAM_H

#include <stdint.h>

#include "../backend/backend.h"
#include "model.h"
#include "net.h"
#include "window.h"

/* A two-stream model: its three graphs and its windows, as data. */
typedef struct mc_twostream_def {
    const char *name;                    /* "twostream", "twostream-half" */
    const char *spatial, *temporal, *head; /* built-in graphs */
    int flows;                           /* flows stacked for the temporal CNN (10) */
    int swin, twin;                      /* spatial and temporal windows of the head (15, 25) */
} mc_twostream_def;

/* The definition of a pipeline name, or NULL. */
const mc_twostream_def *mc_twostream_find(const char *name);

typedef struct mc_twostream {
    const mc_twostream_def *def;
    mc_model model[3];     /* spatial, temporal, head */
    mc_net net[3];
    int open;              /* graphs opened (for close after a failure) */
    mc_window flowwin, swin, twin;
    int w, h;              /* frame size (the spatial CNN's input) */
    size_t dim;            /* a stream vector's floats (256) */
    float *vec, *stack, *head_in;
    uint64_t frames, last_tag, gaps, scored;
    double sec[3];         /* compute seconds per graph, all frames */
} mc_twostream;

/* Opens the three graphs with random weights from seed (spatial seed,
 * temporal seed + 1, head seed + 2; mc_weights_random) on backend be. */
mc_status mc_twostream_open(mc_twostream *ts, const char *name, mc_backend *be, uint64_t seed);
/* One frame: frame is h x w x 3, flow h x w x 2 or NULL (the first frame of
 * a stream).  When both windows are full, writes the scores (51 floats) and
 * sets *ready to 1; else *ready is 0. */
mc_status mc_twostream_step(mc_twostream *ts, uint64_t tag, const float *frame, const float *flow, float *scores,
                            int *ready);
/* Forgets the windows (a new stream). */
void mc_twostream_reset(mc_twostream *ts);
/* Writes graph g's weights (0 spatial, 1 temporal, 2 head) to path. */
mc_status mc_twostream_save_weights(const mc_twostream *ts, int g, const char *path);
void mc_twostream_close(mc_twostream *ts);
/* Floats of the scores (the head's output). */
size_t mc_twostream_classes(const mc_twostream *ts);

#endif
