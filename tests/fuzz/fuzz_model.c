/* fuzz_model.c - fuzz target for the model text parser (mc_model_parse)
 * and what is derived from the graph it builds: the tensors crossing every
 * cut and the shapes of every range's ends.  Built as a libFuzzer binary
 * with -DMC_FUZZ=ON (clang), and always as a replay test that feeds every
 * file of corpus/fuzz_model/ through it. */
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
    if (mc_model_parse(text, "fuzz", &m) == MC_OK) {
        mc_cut_tensor t[4];
        for (int k = 0; k <= m.n_layers; k++) {
            int n = mc_model_cut(&m, k, t, 4);
            size_t sum = 0;
            for (int i = 0; i < n && i < 4; i++) sum += t[i].floats;
            if (n < 1 || (n <= 4 && sum != mc_model_cut_floats(&m, k))) abort(); /* a cut always carries something */
            if (k < m.n_layers) (void)mc_model_range_in(&m, k);
            if (k > 0) (void)mc_model_range_out(&m, k);
        }
        (void)mc_model_param_count(&m, 0, m.n_layers);
        mc_model_free(&m);
    }
    free(text);
    return 0;
}
