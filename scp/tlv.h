/* BER-TLV as GlobalPlatform uses it: 1-3 byte tags, lengths up to 82 xx xx. */
#ifndef GP_SCP_TLV_H
#define GP_SCP_TLV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned tag;
    const uint8_t *v;
    size_t len;
} tlv_t;

/* Reads the TLV at *off and advances *off past it. Returns 1, 0 at the end
 * of the buffer, or -1 when the bytes are not valid BER-TLV (truncated tag
 * or length, length past the end of the buffer). */
int tlv_next(const uint8_t *buf, size_t len, size_t *off, tlv_t *out);
/* Finds the first TLV with tag at this level; 1 found, 0 not, -1 malformed. */
int tlv_find(const uint8_t *buf, size_t len, unsigned tag, tlv_t *out);

#endif
