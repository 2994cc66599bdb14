/* wire.h - encodings of a float32 tensor on the wire between nodes.
 *
 * On the papers' WiFi links every byte of an activation costs time (VGG16's
 * block1 output is 3.2 MB a frame); a smaller encoding trades a bounded
 * error for bytes.  Three encodings, one per message (docs/wire.md):
 *
 *   f32   float32 as the artifact sends it (little-endian); the default, and
 *         the only one towards a peer that did not announce the others.
 *   f16   IEEE 754 binary16, little-endian, rounded to nearest even.
 *         Finite values: relative error <= 2^-11 for |x| >= 2^-14 (half's
 *         normal range), absolute error <= 2^-25 below (subnormals and zero).
 *         |x| >= 65520 (past the largest half, 65504, after rounding) becomes
 *         +-inf, as IEEE conversion does; +-inf stays +-inf; NaN stays a
 *         (quiet) NaN with its sign.  Signed zeros are kept.
 *   int8  symmetric, one scale per message: 4 bytes float32 scale s
 *         (little-endian) = max|x| / 127, then n signed bytes q = round(x / s)
 *         (half away from zero) in [-127, 127]; decoded as q * s.  Absolute
 *         error <= s / 2 = max|x| / 254 (plus float rounding).  A message
 *         holding NaN or +-inf cannot be carried: encoding refuses it
 *         (MC_ERR_INVALID_ARG naming the element); senders then send f32.
 *         An all-zero (or empty) tensor has s = 0.
 *
 * Encode and decode are plain loops over the elements without branches the
 * compiler cannot turn into selects (vectorised at -O2/-O3 on x86-64 and
 * aarch64); they run once per message.  Decoding checks the size: a buffer
 * that is not exactly mc_wire_bytes(enc, n) is refused, naming both sizes.
 *
 * Announcing: a node that can decode f16 and int8 says so in the response
 * metadata of every forward call ("mc.wire" = "f32,f16,int8"); senders
 * remember it per peer (rpc.h) and use another encoding than f32 only
 * towards a peer that announced it.  A message's encoding travels in its
 * call metadata ("mc.wire" = "f16" or "int8"; absent: f32).
 */
#ifndef MC_WIRE_H
#define MC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum mc_wire {
    MC_WIRE_F32 = 0,
    MC_WIRE_F16,
    MC_WIRE_INT8,
    MC_WIRE_COUNT
} mc_wire;

#define MC_WIRE_META "mc.wire"        /* call metadata: the message's encoding; response: those accepted */
#define MC_WIRE_ALL ((1u << MC_WIRE_COUNT) - 1u)
#define MC_WIRE_INT8_HEADER 4u        /* the int8 scale */

/* "f32", "f16", "int8". */
const char *mc_wire_name(mc_wire w);
/* Parses a name ("f32"/"float32", "f16"/"float16", "int8"/"i8"); the error names it. */
mc_status mc_wire_parse(const char *s, mc_wire *out);
/* Bytes of n values encoded as w. */
size_t mc_wire_bytes(mc_wire w, size_t n);
/* A set of encodings (bit w) as a comma list ("f32,f16,int8") and back;
 * unknown names in a peer's list are ignored (a newer peer). */
void mc_wire_mask_str(unsigned mask, char *buf, size_t n);
unsigned mc_wire_mask_parse(const char *list);

/* Encodes n values into out (mc_wire_bytes(w, n) bytes).  Only int8 can
 * fail: a NaN or infinite value (the error names its index). */
mc_status mc_wire_encode(mc_wire w, const float *x, size_t n, unsigned char *out);
/* Decodes len bytes into n values; len must be mc_wire_bytes(w, n). */
mc_status mc_wire_decode(mc_wire w, const unsigned char *in, size_t len, float *out, size_t n);

/* One value, for tests and tools (the loops above use the same code). */
uint16_t mc_wire_f32_to_f16(float f);
float mc_wire_f16_to_f32(uint16_t h);

#endif
