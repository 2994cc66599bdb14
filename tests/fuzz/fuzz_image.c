/* fuzz_image.c - fuzz target for the input decoder (mc_image_decode): PPM
 * headers with comments and 16-bit samples, JPEG and PNG (libjpeg-turbo and
 * libpng behind our error handling and size limits), the resize to the
 * input, raw float32 tensors, uint8 frames, for a 4x4 RGB input and a 2x3
 * one.  Seeds: tests/fuzz/corpus/fuzz_image (seed_*.jpg, seed_*.png). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int shapes[2][3] = {{3, 4, 4}, {3, 3, 2}}; /* C, W, H */
    for (int k = 0; k < 2; k++) {
        mc_shape s;
        memset(&s, 0, sizeof s);
        for (int d = 0; d < 3; d++) s.ne[d] = shapes[k][d];
        s.ne[3] = 1;
        float out[48];
        if (mc_image_decode(data, size, "fuzz", s, out) == MC_OK) {
            size_t n = mc_shape_count(&s);
            /* an image or uint8 frame gives values in [0, 1] (the resize averages); a
             * float tensor anything */
            if (size != n * sizeof(float))
                for (size_t i = 0; i < n; i++)
                    if (!(out[i] >= 0.0f && out[i] <= 1.0f)) abort();
        }
    }
    return 0;
}
