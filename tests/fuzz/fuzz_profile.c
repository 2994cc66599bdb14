/* fuzz_profile.c - fuzz target for the profile loader (mc_profile_from_json,
 * what `mchair plan --profile` and the master read) and its check against a
 * model (AlexNet, whose layers a profile must name). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "models/model.h"
#include "plan/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mc_model m;
    static int have;
    if (!have && (mc_model_builtin("alexnet", &m) || !(have = 1))) abort();
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!j) return 0;
    mc_profile p;
    if (mc_profile_from_json(j, "fuzz.json", &p) == MC_OK) {
        (void)mc_profile_check_model(&p, &m, "fuzz.json");
        for (int l = 0; l < p.n_layers; l++) (void)mc_profile_split_end(&p, l);
        mc_profile_free(&p);
    }
    cJSON_Delete(j);
    return 0;
}
