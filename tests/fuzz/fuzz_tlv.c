/* BER-TLV and what is read from it: card recognition data. */
#include "scp/gp.h"
#include "scp/tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    size_t off = 0;
    tlv_t t;
    int r;
    while ((r = tlv_next(d, n, &off, &t)) == 1) {
        if (t.v < d || t.v + t.len > d + n || off > n)
            __builtin_trap(); /* a value outside the buffer */
        tlv_t inner;
        (void)tlv_find(t.v, t.len, 0x4F, &inner);
    }
    uint8_t scp, i;
    (void)gp_card_data_scp(d, n, &scp, &i);
    return 0;
}
