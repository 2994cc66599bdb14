/* zoo_c3d.c - C3D of the journal paper (section VI), as data (docs/model-format.md).
 * Generated once by a script, then kept as text: edit it here.  Layer names
 * are Keras' where Keras has the layer, so weights convert by name. */
#include "zoo.h"

const char mc_zoo_c3d_text[] =
    "# C3D (Tran et al. 2015) on Sports-1M: 16-frame 112x112 RGB clips, eight 3x3x3\n"
    "# convolutions (same padding, relu), five max pools (the first keeps the time\n"
    "# axis), fc 4096-4096-487.  The layout of the Keras port of the Caffe model,\n"
    "# including its zero padding before pool5 (7x7 -> 8x8 -> 4x4).\n"
    "model c3d\n"
    "input 112 112 3 16                                                   # H W C T: 16 frames\n"
    "conv3d conv1 filters=64 kernel=3 padding=same act=relu               # 16x112x112x64\n"
    "maxpool3d pool1 pool=2 pool_t=1                                      # 16x56x56x64\n"
    "conv3d conv2 filters=128 kernel=3 padding=same act=relu\n"
    "maxpool3d pool2 pool=2                                               # 8x28x28x128\n"
    "conv3d conv3a filters=256 kernel=3 padding=same act=relu\n"
    "conv3d conv3b filters=256 kernel=3 padding=same act=relu\n"
    "maxpool3d pool3 pool=2                                               # 4x14x14x256\n"
    "conv3d conv4a filters=512 kernel=3 padding=same act=relu\n"
    "conv3d conv4b filters=512 kernel=3 padding=same act=relu\n"
    "maxpool3d pool4 pool=2                                               # 2x7x7x512\n"
    "conv3d conv5a filters=512 kernel=3 padding=same act=relu\n"
    "conv3d conv5b filters=512 kernel=3 padding=same act=relu\n"
    "zeropad zeropad5 pad_bottom=1 pad_right=1                            # 2x8x8x512\n"
    "maxpool3d pool5 pool=2                                               # 1x4x4x512\n"
    "flatten flatten                                                      # 8192\n"
    "dense fc6 units=4096 act=relu\n"
    "dense fc7 units=4096 act=relu\n"
    "dense fc8 units=487 act=softmax\n";
