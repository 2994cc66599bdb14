/* fuzz_farm.c - fuzz target for the farm file parser (mc_farm_parse): the
 * artifact's `ip` files, our task lists and the planner's files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "farm/farmfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static mc_farm f; /* large: keep it off the stack */
    (void)mc_farm_parse(text, "fuzz.json", "alexnet", &f);
    (void)mc_farm_parse(text, "fuzz.json", NULL, &f); /* the model named in the file */
    free(text);
    return 0;
}
