/* fuzz_weights.c - fuzz target for the weight file loader (mc_weights_load,
 * the MCHAIRW1 format): the input is written to a file and loaded into a
 * small graph model with a batchnorm (whose extra tensors the format carries),
 * whole and for a layer range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "models/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *MODEL = "model fw\n"
                           "input 6 6 2\n"
                           "conv2d c1 filters=3 kernel=3 padding=same\n"
                           "batchnorm b1\n"
                           "relu r1\n"
                           "flatten f\n"
                           "dense d1 units=4 act=softmax\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    static mc_model m;
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz-weights-%d.bin", (int)getpid());
        if (mc_model_parse(MODEL, "fuzz-model", &m)) abort();
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    (void)mc_weights_load(&m, 0, m.n_layers, path);
    (void)mc_weights_load(&m, 1, 3, path);
    unlink(path);
    return 0;
}
