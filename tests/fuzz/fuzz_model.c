/* fuzz_model.c - fuzz target for the model text parser (mc_model_parse).
 * Built as a libFuzzer binary with -DMC_FUZZ=ON (clang), and always as a
 * replay test that feeds every file of corpus/fuzz_model/ through it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mc_model m;
    if (mc_model_parse(text, "fuzz", &m) == MC_OK) mc_model_free(&m);
    free(text);
    return 0;
}
