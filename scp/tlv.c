/* BER-TLV reader: see tlv.h. */
#include "config.h"
#include "tlv.h"

int tlv_next(const uint8_t *buf, size_t len, size_t *off, tlv_t *out)
{
    size_t i = *off;
    /* 00 and FF between objects are padding (ISO/IEC 7816-4 5.2.2.1) */
    while (i < len && (buf[i] == 0x00 || buf[i] == 0xFF))
        i++;
    if (i >= len) {
        *off = i;
        return 0;
    }
    unsigned tag = buf[i++];
    if ((tag & 0x1F) == 0x1F) {
        int more = 0;
        do {
            if (i >= len || ++more > 2)
                return -1;
            tag = tag << 8 | buf[i];
        } while (buf[i++] & 0x80);
    }
    if (i >= len)
        return -1;
    size_t l = buf[i++];
    if (l == 0x81) {
        if (i >= len)
            return -1;
        l = buf[i++];
    } else if (l == 0x82) {
        if (i + 1 >= len)
            return -1;
        l = (size_t)buf[i] << 8 | buf[i + 1];
        i += 2;
    } else if (l > 0x7F) {
        return -1;
    }
    if (l > len - i)
        return -1;
    out->tag = tag;
    out->v = buf + i;
    out->len = l;
    *off = i + l;
    return 1;
}

int tlv_find(const uint8_t *buf, size_t len, unsigned tag, tlv_t *out)
{
    size_t off = 0;
    int r;
    while ((r = tlv_next(buf, len, &off, out)) == 1)
        if (out->tag == tag)
            return 1;
    return r;
}
