/* ISO/IEC 7816-4 command and response APDUs, short length fields only. */
#ifndef GP_SCP_APDU_H
#define GP_SCP_APDU_H

#include <stddef.h>
#include <stdint.h>

#define APDU_MAX_DATA 255
#define APDU_MAX_CMD (5 + APDU_MAX_DATA + 1)
#define APDU_MAX_RSP (256 + 2)

typedef struct {
    uint8_t cla, ins, p1, p2;
    size_t lc;                  /* 0..255 */
    uint8_t data[APDU_MAX_DATA];
    int has_le;
    unsigned le;                /* 1..256 when has_le (256 is encoded as 00) */
} apdu_t;

/* ISO case 1..4 of an APDU. */
int apdu_case(const apdu_t *a);
/* Encodes a; returns the length, or 0 if it does not fit in cap or is invalid. */
size_t apdu_encode(const apdu_t *a, uint8_t *out, size_t cap);
/* Parses a short command APDU (cases 1-4); returns 0, or -1 when the bytes
 * are no valid short APDU (too short, Lc disagreeing with the length,
 * extended length). */
int apdu_parse(const uint8_t *buf, size_t len, apdu_t *out);
/* Builds a command from parts (data may be NULL when lc is 0). */
void apdu_set(apdu_t *a, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
              const uint8_t *data, size_t lc, int has_le, unsigned le);

/* The logical channel a CLA byte addresses (ISO/IEC 7816-4 5.4.1): 0 to 3
 * in the first interindustry classes (0X, and GlobalPlatform's 8X), 4 to 19
 * in the further interindustry classes (4X to 7X, CX to FX), where the
 * secure messaging indication is bit 6, not bit 3. */
int apdu_logical_channel(uint8_t cla);

/* Splits a response into data and status word; -1 if shorter than 2 bytes. */
int rapdu_split(const uint8_t *buf, size_t len, size_t *data_len, uint16_t *sw);

#endif
