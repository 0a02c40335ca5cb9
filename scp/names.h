/* The words for a login's channel choices, shared by gp-p11.conf and the
 * tool's options: security levels, protocols and key diversification. */
#ifndef GP_SCP_NAMES_H
#define GP_SCP_NAMES_H

#include <stdint.h>

/* "mac" 01, "mac-enc" 03, "mac-rmac" 11, "mac-enc-rmac" 13,
 * "mac-enc-rmac-renc" 33 (SCP03). 0, or -1 for another word. */
int gp_level_from_name(const char *name, uint8_t *level);
/* The name of a level, or NULL. */
const char *gp_level_name(uint8_t level);
#define GP_LEVEL_WORDS "'mac', 'mac-enc', 'mac-rmac', 'mac-enc-rmac' or 'mac-enc-rmac-renc' (SCP03)"
/* "auto" 0, "01"/"1", "02"/"2", "03"/"3". */
int gp_scp_from_name(const char *name, uint8_t *scp);
#define GP_SCP_WORDS "'auto', '01', '02' or '03'"
/* "none", "emv", "visa2", "kdf3": enum ks_diversification. */
int gp_div_from_name(const char *name, int *div);
const char *gp_div_name(int div);
#define GP_DIV_WORDS "'none', 'emv', 'visa2' (DES keys) or 'kdf3' (AES keys)"

#endif
