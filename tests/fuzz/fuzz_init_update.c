/* INITIALIZE UPDATE responses, SCP01, SCP02 and SCP03 parsers: any bytes, a
 * clean verdict and no crash. */
#include "scp/scp01.h"
#include "scp/scp02.h"
#include "scp/scp03.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    scp02_init_rsp_t r;
    char why[256];
    why[0] = 0;
    scp_err_t e = scp02_parse_init_update(d, n, &r, why, sizeof why);
    if (e == SCP_OK && (n != SCP02_INIT_RSP_LEN + 2 || r.scp != 0x02 || d[n - 2] != 0x90 || d[n - 1]))
        __builtin_trap(); /* accepted something SCP02 does not allow */
    if (e != SCP_OK && !why[0])
        __builtin_trap(); /* refused without saying why */
    scp03_init_rsp_t r3;
    why[0] = 0;
    e = scp03_parse_init_update(d, n, &r3, why, sizeof why);
    if (e == SCP_OK) {
        size_t m = (r3.i & SCP03_I_S16) ? 16 : 8; /* S8 or S16 */
        size_t want = 13 + 2 * m + ((r3.i & SCP03_I_PSEUDO_RANDOM) ? 3 : 0);
        if (n != want + 2 || r3.scp != 0x03 || (r3.i & 0x8E) || d[n - 2] != 0x90 || d[n - 1] ||
            r3.s != m || r3.has_seq != ((r3.i & SCP03_I_PSEUDO_RANDOM) != 0))
            __builtin_trap(); /* accepted something SCP03 does not allow */
    }
    if (e != SCP_OK && !why[0])
        __builtin_trap();
    scp01_init_rsp_t r1;
    why[0] = 0;
    e = scp01_parse_init_update(d, n, &r1, why, sizeof why);
    if (e == SCP_OK && (n != SCP01_INIT_RSP_LEN + 2 || r1.scp != 0x01 || d[n - 2] != 0x90 || d[n - 1]))
        __builtin_trap(); /* accepted something SCP01 does not allow */
    if (e != SCP_OK && !why[0])
        __builtin_trap();
    return 0;
}
