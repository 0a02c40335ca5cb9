/* CAP files, ZIP and raw: whatever the bytes, a clear refusal or a block
 * whose framing holds (C4, BER length, whole components in load order). */
#include "scp/cap.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1)
        return 0;
    gp_cap_t cap;
    char why[300] = "";
    if (gp_cap_parse(d + 1, n - 1, d[0] & 1, &cap, why, sizeof why) != 0) {
        if (!why[0] || cap.block)
            __builtin_trap(); /* a refusal always says why, and keeps nothing */
        return 0;
    }
    const uint8_t *b = cap.block;
    size_t h = b[1] < 0x80 ? 2 : (size_t)(b[1] & 0x7F) + 2, len = 0;
    for (size_t i = 2; i < h; i++)
        len = len << 8 | b[i];
    if (b[1] < 0x80)
        len = b[1];
    if (b[0] != 0xC4 || h + len != cap.block_len || b[h] != CAP_HEADER || cap.pkg_aid_len < 5 ||
        cap.pkg_aid_len > 16 || cap.n_applets < 0 || cap.n_applets > GP_CAP_APPLETS_MAX)
        __builtin_trap();
    for (size_t o = h; o < cap.block_len;) { /* whole components, Debug never */
        if (cap.block_len - o < 3 || b[o] == CAP_DEBUG || b[o] < 1 || b[o] > CAP_DEBUG)
            __builtin_trap();
        o += 3 + ((size_t)b[o + 1] << 8 | b[o + 2]);
        if (o > cap.block_len)
            __builtin_trap();
    }
    gp_cap_free(&cap);
    return 0;
}
