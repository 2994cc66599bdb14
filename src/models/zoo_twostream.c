/* zoo_twostream.c - the two-stream action recognition model of Musical
 * Chair (section 2.3.1, after Ryoo et al.), as data (docs/model-format.md):
 * three graphs that a pipeline joins with sliding windows
 * (models/twostream.c, docs/twostream.md):
 *   - the spatial CNN, on one 16x12 RGB frame (width 16, height 12);
 *   - the temporal CNN, on 10 stacked optical flows of 16x12 (dx, dy);
 *   - the head, on a window of per-frame vectors: the temporal pyramid of
 *     each stream (15 max pools: whole window, halves, quarters, eighths),
 *     then dense 8192, 8192, 51 (twostream-half-head: 4096, 4096, 51).
 * The paper gives kernel sizes and filter counts; padding (same), the
 * activations (relu, softmax at the end) and the absence of pooling in the
 * CNNs are our reading of its Figures 4 and 5. */
#include "zoo.h"

const char mc_zoo_twostream_spatial_text[] =
    "# Two-stream spatial CNN: one 16x12 RGB frame -> a 256-vector (fc1s; the paper's\n"
    "# ImageNet classifier fc2s is not part of the action model)\n"
    "model twostream-spatial\n"
    "input 12 16 3                                                        # H W C\n"
    "conv2d conv1s filters=256 kernel=5 padding=same act=relu              # 12x16x256\n"
    "conv2d conv2s filters=256 kernel=3 padding=same act=relu\n"
    "conv2d conv3s filters=256 kernel=3 padding=same act=relu\n"
    "dense fc1s units=256 act=relu                                         # 256\n";

const char mc_zoo_twostream_temporal_text[] =
    "# Two-stream temporal CNN: 10 stacked optical flows (dx, dy of the oldest first)\n"
    "# -> a 256-vector (fc1t)\n"
    "model twostream-temporal\n"
    "input 12 16 20                                                       # H W C\n"
    "conv2d conv1t filters=256 kernel=5 padding=same act=relu              # 12x16x256\n"
    "conv2d conv2t filters=256 kernel=3 padding=same act=relu\n"
    "conv2d conv3t filters=256 kernel=3 padding=same act=relu\n"
    "dense fc1t units=256 act=relu                                         # 256\n";

/* The head's input is the two windows side by side: frames 0..14 the
 * spatial vectors of the last 15 frames, 15..39 the temporal vectors of the
 * last 25 flow stacks, oldest first in each.  (The two heads repeat their
 * pyramid lines rather than share a macro: tests/reference reads these
 * texts as plain C strings.) */
const char mc_zoo_twostream_head_text[] =
    "# Two-stream head: temporal pyramids of both windows, dense 8192-8192-51 (HMDB classes)\n"
    "model twostream-head\n"
    "input 1 1 256 40                                                     # 40 vectors: 15 spatial, 25 temporal\n"
    "tpyramid pyramid_s first=0 frames=15 levels=4                         # 15x256\n"
    "tpyramid pyramid_t in=input first=15 frames=25 levels=4               # 15x256\n"
    "concat pyramid in=pyramid_s,pyramid_t                                 # 2x15x256 = 7680\n"
    "dense fc1 units=8192 act=relu\n"
    "dense fc2 units=8192 act=relu\n"
    "dense fc3 units=51 act=softmax\n";

const char mc_zoo_twostream_half_head_text[] =
    "# Two-stream head with half-size dense layers (the paper's four-device system)\n"
    "model twostream-half-head\n"
    "input 1 1 256 40                                                     # 40 vectors: 15 spatial, 25 temporal\n"
    "tpyramid pyramid_s first=0 frames=15 levels=4                         # 15x256\n"
    "tpyramid pyramid_t in=input first=15 frames=25 levels=4               # 15x256\n"
    "concat pyramid in=pyramid_s,pyramid_t                                 # 2x15x256 = 7680\n"
    "dense fc1 units=4096 act=relu\n"
    "dense fc2 units=4096 act=relu\n"
    "dense fc3 units=51 act=softmax\n";
