/* fuzz_ipcresp.c - fuzz target for the answer decoder a sender runs on what
 * a peer sends back (mc_ipc_response_decode_meta: framing, the handshake
 * response, response metadata such as mc.almost_full, the error flag and
 * union).  Any input must decode or be refused, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/avro_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_ipc *ipc;
    if (mc_ipc_new(&ipc)) abort();
    mc_ipc_match match;
    static mc_ipc_meta meta; /* large: off the stack */
    if (mc_ipc_response_decode_meta(ipc, data, size, &match, &meta) == MC_OK && meta.n < 0) abort();
    (void)mc_ipc_meta_get(&meta, "mc.almost_full");
    mc_ipc_free(ipc);
    return 0;
}
