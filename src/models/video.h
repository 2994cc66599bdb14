/* video.h - a source of frames for the two-stream pipeline and `initial
 * --video`: random frames, a folder of images, a Y4M file or a raw RGB
 * file, every frame resized to the model's frame size (resize.h).
 *
 *   "random"  frame i is mc_input_random(seed, i) (the artifact's random
 *             frames); endless;
 *   a folder  its regular files in name order (strcmp), hidden ones
 *             skipped, each decoded by mc_image_decode (PPM, JPEG, PNG of
 *             any size, or raw frames of the target size);
 *   FILE.y4m  YUV4MPEG2 (starts with "YUV4MPEG2 "): 8-bit 4:2:0 (420jpeg,
 *             420paldv, 420mpeg2, 420), 4:2:2, 4:4:4 or mono; converted to
 *             RGB with BT.601 limited-range coefficients, chroma of a
 *             subsampled format taken from its cell (no interpolation);
 *   any other file: raw RGB24 frames of the target size (w x h x 3 bytes
 *             each, row-major), the file a whole number of them.
 * Errors name the file and the fault. */
#ifndef MC_VIDEO_H
#define MC_VIDEO_H

#include <stdint.h>

#include "../core/status.h"

typedef struct mc_video mc_video;

/* Opens spec for frames of w x h (x 3 channels). */
mc_status mc_video_open(const char *spec, int w, int h, uint64_t seed, mc_video **v);
/* The next frame into out (h x w x 3 floats in [0, 1]); *eof = 1 (out
 * untouched) after the last. */
mc_status mc_video_next(mc_video *v, float *out, int *eof);
/* Frames per second the source declares (a Y4M header), else 0. */
double mc_video_fps(const mc_video *v);
/* Frames read so far. */
long mc_video_frames(const mc_video *v);
void mc_video_close(mc_video *v);

#endif
