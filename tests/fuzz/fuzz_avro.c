/* fuzz_avro.c - fuzz target for a node's request decoder: an HTTP body goes
 * through mc_ipc_serve (framing, handshake, call metadata, parameters) as a
 * node would answer it; every input must get a response and leak nothing. */
#include <stdint.h>
#include <stdlib.h>

#include "net/avro_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mc_status accept_all(void *ctx, mc_ipc_forward *f)
{
    (void)ctx;
    (void)f;
    return MC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mc_ipc *ipc;
    if (!ipc && mc_ipc_new(&ipc)) abort();
    unsigned char *resp = NULL;
    size_t len = 0;
    int code = mc_ipc_serve(ipc, data, size, accept_all, NULL, &resp, &len);
    if (code != 200 && code != 400 && code != 413) abort(); /* a status we never send */
    free(resp);
    return 0;
}
