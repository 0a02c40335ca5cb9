/* Hex text <-> bytes, for key files, configuration and traces. */
#include "config.h"
#include "hex.h"

#include <ctype.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *p = hex;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        int hi = hexval((unsigned char)p[0]);
        int lo = p[1] ? hexval((unsigned char)p[1]) : -1;
        if (hi < 0 || lo < 0 || n >= cap)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    return (int)n;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char d[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * len] = 0;
}
