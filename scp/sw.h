/* Status words in plain words (ISO/IEC 7816-4 and GlobalPlatform 2.2). */
#ifndef GP_SCP_SW_H
#define GP_SCP_SW_H

#include <stddef.h>
#include <stdint.h>

/* Context changes the meaning of a few status words. */
enum sw_context {
    SW_CTX_ANY = 0,
    SW_CTX_SELECT,
    SW_CTX_INITIALIZE_UPDATE,
    SW_CTX_EXTERNAL_AUTHENTICATE,
    SW_CTX_SECURED,   /* any command sent inside an open secure channel */
    SW_CTX_DELETE,
    SW_CTX_GET_STATUS,
    SW_CTX_INSTALL,
    SW_CTX_LOAD,
};

/* Writes "6982: security status not satisfied — ..." into out. */
const char *sw_describe(uint16_t sw, enum sw_context ctx, char *out, size_t cap);
/* The bare meaning of sw, or NULL when it has none we know. */
const char *sw_meaning(uint16_t sw, enum sw_context ctx);
/* Name of a GlobalPlatform / ISO command by INS ("GET STATUS"), or NULL. */
const char *gp_ins_name(uint8_t cla, uint8_t ins);

#endif
