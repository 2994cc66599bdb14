/* fuzz_devmodel.c - fuzz target for the device model's preset parser
 * (mc_devmodel_parse) and the arithmetic on what it accepts: a preset that
 * parses must give every op a positive finite rate and AlexNet a positive
 * finite time.  Built as a libFuzzer binary with -DMC_FUZZ=ON (clang), and
 * always as a replay test over corpus/fuzz_devmodel/. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devmodel/devmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mc_model alexnet;
    static int have;
    if (!have) have = mc_model_builtin("alexnet", &alexnet) == MC_OK ? 1 : -1;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mc_devmodel dm;
    if (mc_devmodel_parse(text, "fuzz", &dm) == MC_OK) {
        for (int op = 0; op < MC_OP_COUNT; op++)
            if (!(dm.gflops[op] > 0) || !isfinite(dm.gflops[op])) abort();
        if (have > 0) {
            mc_devmodel_cost c;
            if (mc_devmodel_range(&dm, &alexnet, 0, alexnet.n_layers, &c, NULL) || !(c.total_s > 0) ||
                !isfinite(c.total_s))
                abort();
        }
    }
    free(text);
    return 0;
}
