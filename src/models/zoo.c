/* zoo.c - the built-in models, written in the model format (docs/model-format.md).
 * AlexNet and VGG16 have the ReQuEST artifact's shapes (DESIGN.md section 2)
 * and are here; the journal's ResNet50, Xception and C3D are longer and have
 * a file each (zoo_<name>.c). */
#include <string.h>

#include "model.h"
#include "zoo.h"

static const char alexnet_text[] =
    "# Single-stream AlexNet of the ReQuEST'18 IoT-farm artifact (Keras)\n"
    "model alexnet\n"
    "input 224 224 3\n"
    "conv2d conv1 filters=48 kernel=11 stride=4 padding=same act=relu   # 56x56x48\n"
    "maxpool2d pool1 pool=2 stride=2                                      # 28x28x48\n"
    "conv2d conv2 filters=128 kernel=5 padding=same act=relu             # 28x28x128\n"
    "maxpool2d pool2 pool=2 stride=2                                      # 14x14x128\n"
    "conv2d conv3 filters=192 kernel=3 padding=same act=relu\n"
    "conv2d conv4 filters=192 kernel=3 padding=same act=relu\n"
    "conv2d conv5 filters=128 kernel=3 padding=same act=relu\n"
    "maxpool2d pool5 pool=2 stride=2                                      # 7x7x128\n"
    "flatten flatten                                                      # 6272\n"
    "dense fc1 units=4096 act=relu\n"
    "dense fc2 units=4096 act=relu\n"
    "dense fc3 units=1000 act=softmax\n";

static const char vgg16_text[] =
    "# VGG16 (Simonyan and Zisserman), as in the ReQuEST'18 IoT-farm artifact\n"
    "model vgg16\n"
    "input 224 224 3\n"
    "conv2d block1_conv1 filters=64 kernel=3 padding=same act=relu\n"
    "conv2d block1_conv2 filters=64 kernel=3 padding=same act=relu\n"
    "maxpool2d block1_pool pool=2 stride=2\n"
    "conv2d block2_conv1 filters=128 kernel=3 padding=same act=relu\n"
    "conv2d block2_conv2 filters=128 kernel=3 padding=same act=relu\n"
    "maxpool2d block2_pool pool=2 stride=2\n"
    "conv2d block3_conv1 filters=256 kernel=3 padding=same act=relu\n"
    "conv2d block3_conv2 filters=256 kernel=3 padding=same act=relu\n"
    "conv2d block3_conv3 filters=256 kernel=3 padding=same act=relu\n"
    "maxpool2d block3_pool pool=2 stride=2\n"
    "conv2d block4_conv1 filters=512 kernel=3 padding=same act=relu\n"
    "conv2d block4_conv2 filters=512 kernel=3 padding=same act=relu\n"
    "conv2d block4_conv3 filters=512 kernel=3 padding=same act=relu\n"
    "maxpool2d block4_pool pool=2 stride=2\n"
    "conv2d block5_conv1 filters=512 kernel=3 padding=same act=relu\n"
    "conv2d block5_conv2 filters=512 kernel=3 padding=same act=relu\n"
    "conv2d block5_conv3 filters=512 kernel=3 padding=same act=relu\n"
    "maxpool2d block5_pool pool=2 stride=2                                 # 7x7x512\n"
    "flatten flatten                                                       # 25088\n"
    "dense fc1 units=4096 act=relu\n"
    "dense fc2 units=4096 act=relu\n"
    "dense predictions units=1000 act=softmax\n";

static const struct {
    const char *name, *text;
} zoo[] = {{"alexnet", alexnet_text},
            {"vgg16", vgg16_text},
            {"resnet50", mc_zoo_resnet50_text},
            {"xception", mc_zoo_xception_text},
            {"c3d", mc_zoo_c3d_text},
            {"twostream-spatial", mc_zoo_twostream_spatial_text},
            {"twostream-temporal", mc_zoo_twostream_temporal_text},
            {"twostream-head", mc_zoo_twostream_head_text},
            {"twostream-half-head", mc_zoo_twostream_half_head_text}};

static const char *const zoo_names[] = {"alexnet",           "vgg16",          "resnet50",
                                        "xception",          "c3d",            "twostream-spatial",
                                        "twostream-temporal", "twostream-head", "twostream-half-head",
                                        NULL};

const char *const *mc_model_builtin_names(void) { return zoo_names; }

const char *mc_model_builtin_text(const char *name)
{
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++)
        if (!strcmp(zoo[i].name, name)) return zoo[i].text;
    return NULL;
}

mc_status mc_model_builtin(const char *name, mc_model *m)
{
    const char *t = mc_model_builtin_text(name);
    if (!t) return mc_model_open(name, m);
    return mc_model_parse(t, name, m);
}
