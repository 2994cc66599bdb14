/* fuzz_ctl.c - fuzz target for the dynamic farm's control protocol: an HTTP
 * body goes through mc_ctl_serve (framing, handshake by protocol hash, call
 * metadata, message name, the generic Avro decoding of control.avpr's
 * records) as a node or the master would answer it; every input must get an
 * HTTP status we send and leak nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mc_status h_join(void *ctx, const char *addr, const char *role, double mem, mc_ctl_table *out)
{
    (void)ctx;
    (void)addr;
    (void)mem;
    out->epoch = 3;
    out->farm = strdup(role); /* an answer that depends on the input */
    return out->farm ? MC_OK : MC_ERR_NOMEM;
}

static mc_status h_heartbeat(void *ctx, const char *addr, long epoch, const mc_ctl_figures *f, mc_ctl_table *out)
{
    (void)ctx;
    (void)f;
    out->epoch = epoch;
    out->rejoin = epoch < 0;
    out->farm = epoch & 1 ? strdup(addr) : NULL;
    return MC_OK;
}

static mc_status h_report(void *ctx, const char *addr, const char *peer, const char *what)
{
    (void)ctx;
    (void)addr;
    (void)peer;
    return what[0] == 'x' ? mc_error_set(MC_ERR_INVALID_ARG, "refused: %s", what) : MC_OK;
}

static mc_status h_assign(void *ctx, long epoch, const char *farm)
{
    (void)ctx;
    (void)farm;
    return epoch < 0 ? mc_error_set(MC_ERR_INVALID_ARG, "old epoch") : MC_OK;
}

/* leave is NULL: "not served here" */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mc_ctl *ctl;
    if (!ctl && mc_ctl_new(&ctl)) abort();
    static const mc_ctl_handlers h = {NULL, h_join, h_heartbeat, h_report, h_assign, NULL};
    unsigned char *resp = NULL;
    size_t len = 0;
    int code = mc_ctl_serve(ctl, &h, data, size, &resp, &len);
    if (code != 200 && code != 400 && code != 500) abort(); /* a status we never send */
    free(resp);
    return 0;
}
