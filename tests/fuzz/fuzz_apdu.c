/* Command APDUs: what parses encodes back to the same bytes. */
#include "scp/apdu.h"
#include "scp/sw.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    apdu_t a;
    if (apdu_parse(d, n, &a) == 0) {
        uint8_t out[APDU_MAX_CMD];
        size_t m = apdu_encode(&a, out, sizeof out);
        if (m != n || memcmp(out, d, n) != 0)
            __builtin_trap();
    }
    size_t dl;
    uint16_t sw;
    if (rapdu_split(d, n, &dl, &sw) == 0) {
        char text[256];
        sw_describe(sw, (enum sw_context)(n % 7), text, sizeof text);
        if (!text[0])
            __builtin_trap();
    }
    return 0;
}
