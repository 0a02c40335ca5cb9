/* INITIALIZE UPDATE responses: any bytes, a clean verdict and no crash. */
#include "scp/scp02.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    scp02_init_rsp_t r;
    char why[256];
    scp_err_t e = scp02_parse_init_update(d, n, &r, why, sizeof why);
    if (e == SCP_OK && (n != SCP02_INIT_RSP_LEN + 2 || r.scp != 0x02 || d[n - 2] != 0x90 || d[n - 1]))
        __builtin_trap(); /* accepted something SCP02 does not allow */
    if (e != SCP_OK && !why[0])
        __builtin_trap(); /* refused without saying why */
    return 0;
}
