/* ISO/IEC 7816-4 APDU codec (short lengths). */
#include "config.h"
#include "apdu.h"

#include <string.h>

void apdu_set(apdu_t *a, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
              const uint8_t *data, size_t lc, int has_le, unsigned le)
{
    memset(a, 0, sizeof *a);
    a->cla = cla;
    a->ins = ins;
    a->p1 = p1;
    a->p2 = p2;
    if (lc > APDU_MAX_DATA)
        lc = APDU_MAX_DATA;
    a->lc = lc;
    if (lc && data)
        memcpy(a->data, data, lc);
    a->has_le = has_le;
    a->le = has_le ? (le == 0 ? 256 : le) : 0;
}

int apdu_case(const apdu_t *a)
{
    return a->lc == 0 ? (a->has_le ? 2 : 1) : (a->has_le ? 4 : 3);
}

size_t apdu_encode(const apdu_t *a, uint8_t *out, size_t cap)
{
    if (a->lc > APDU_MAX_DATA || (a->has_le && (a->le < 1 || a->le > 256)))
        return 0;
    size_t n = 4 + (a->lc ? 1 + a->lc : 0) + (a->has_le ? 1 : 0);
    if (n > cap)
        return 0;
    out[0] = a->cla;
    out[1] = a->ins;
    out[2] = a->p1;
    out[3] = a->p2;
    size_t i = 4;
    if (a->lc) {
        out[i++] = (uint8_t)a->lc;
        memcpy(out + i, a->data, a->lc);
        i += a->lc;
    }
    if (a->has_le)
        out[i++] = (uint8_t)(a->le & 0xFF);
    return i;
}

int apdu_parse(const uint8_t *buf, size_t len, apdu_t *out)
{
    if (!buf || len < 4)
        return -1;
    memset(out, 0, sizeof *out);
    out->cla = buf[0];
    out->ins = buf[1];
    out->p1 = buf[2];
    out->p2 = buf[3];
    if (len == 4)
        return 0;
    if (len == 5) {
        out->has_le = 1;
        out->le = buf[4] ? buf[4] : 256;
        return 0;
    }
    size_t lc = buf[4];
    if (lc == 0)
        return -1; /* extended length: not supported */
    if (len == 5 + lc) {
        out->lc = lc;
        memcpy(out->data, buf + 5, lc);
        return 0;
    }
    if (len == 6 + lc) {
        out->lc = lc;
        memcpy(out->data, buf + 5, lc);
        out->has_le = 1;
        out->le = buf[5 + lc] ? buf[5 + lc] : 256;
        return 0;
    }
    return -1;
}

int rapdu_split(const uint8_t *buf, size_t len, size_t *data_len, uint16_t *sw)
{
    if (!buf || len < 2)
        return -1;
    *data_len = len - 2;
    *sw = (uint16_t)(buf[len - 2] << 8 | buf[len - 1]);
    return 0;
}


int apdu_logical_channel(uint8_t cla)
{
    return (cla & 0x40) ? 4 + (cla & 0x0F) : cla & 0x03;
}
