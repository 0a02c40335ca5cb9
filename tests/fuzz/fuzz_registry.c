/* GET STATUS answers in both formats, for every kind of entry. */
#include "scp/registry.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1)
        return 0;
    static const uint8_t kinds[] = {0x80, 0x40, 0x20, 0x10};
    uint8_t p1 = kinds[d[0] & 3];
    int tlv = (d[0] >> 2) & 1;
    gp_entry_t *e = calloc(16, sizeof *e);
    char why[256];
    int k = gp_registry_parse(d + 1, n - 1, p1, tlv, e, 16, why, sizeof why);
    for (int i = 0; i < k; i++) {
        if (e[i].aid_len < 5 || e[i].aid_len > GP_AID_MAX || e[i].raw_len > sizeof e[i].raw || e[i].raw_len == 0 ||
            e[i].n_modules > GP_MODULES_MAX)
            __builtin_trap();
        (void)gp_entry_kind(&e[i]);
        (void)gp_lifecycle_name(&e[i]);
    }
    free(e);
    return 0;
}
