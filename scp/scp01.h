/*
 * SCP01 secure channel (GlobalPlatform Card Specification 2.1.1, appendix
 * D), for the GP 2.0.1 and 2.1.1 cards still in the field. Weaker than SCP02
 * and SCP03 (no R-MAC; a C-MAC chained without ICV encryption, i=05), so the
 * module speaks it only where the configuration allows it.
 *
 * Like SCP02 and SCP03 it is pure protocol: it builds command APDUs and
 * checks card responses; every computation with a key is a keystore call.
 */
#ifndef GP_SCP_SCP01_H
#define GP_SCP_SCP01_H

#include "apdu.h"
#include "scp.h"
#include "keystore/keystore.h"
#include "keystore/scp01_crypto.h"
#include "keystore/scp02_crypto.h"

#define SCP01_LEVEL_CMAC 0x01
#define SCP01_LEVEL_CDEC 0x02 /* always with C-MAC: 03 */
#define SCP01_INIT_RSP_LEN 28

typedef struct {
    uint8_t key_div[10];   /* key diversification data */
    uint8_t kvn;           /* key version number */
    uint8_t scp;           /* secure channel protocol identifier: 01 */
    uint8_t card_challenge[8];
    uint8_t card_cryptogram[8];
} scp01_init_rsp_t;

enum scp01_state { SCP01_CLOSED = 0, SCP01_INIT_SENT, SCP01_AUTH_SENT, SCP01_OPEN };

typedef struct {
    ks_session_t *ks;
    CK_OBJECT_HANDLE static_enc, static_mac, static_dek;
    enum ks_diversification div;  /* the key set holds master keys to diversify */
    scp_select_keys_fn select_keys;
    void *select_ctx;
    uint8_t level;
    uint8_t kvn_requested;
    enum scp01_state state;
    uint8_t host_challenge[8];
    scp01_init_rsp_t init;
    ks_scp01_keys_t keys;
    uint8_t last_cmac[8];   /* the ICV of the next C-MAC */
    uint16_t last_sw;
    char err[320];
} scp01_t;

/* Prepares a channel at level 01 or 03; nothing is sent. */
scp_err_t scp01_init(scp01_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t level);
/* Strict parser of an INITIALIZE UPDATE response (data + SW1 SW2). */
scp_err_t scp01_parse_init_update(const uint8_t *rsp, size_t len, scp01_init_rsp_t *out,
                                  char *why, size_t why_len);
/* INITIALIZE UPDATE for key version kvn (0: the card's default); the host
 * challenge from the keystore's RNG unless given (known-answer tests). */
scp_err_t scp01_initialize_update(scp01_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd);
/* Checks the answer, derives S-ENC and S-MAC in the keystore and verifies the
 * card cryptogram; on any failure the channel is closed and no EXTERNAL
 * AUTHENTICATE can be built. */
scp_err_t scp01_on_initialize_update(scp01_t *ch, const uint8_t *rsp, size_t len);
/* EXTERNAL AUTHENTICATE: host cryptogram and C-MAC (zero ICV). */
scp_err_t scp01_external_authenticate(scp01_t *ch, apdu_t *cmd);
scp_err_t scp01_on_external_authenticate(scp01_t *ch, uint16_t sw);
/* Wraps a plain command: C-MAC over the modified header and the plain data,
 * chained on the previous C-MAC; at level 03 the data, preceded by its
 * length byte and padded to whole blocks only when it is not, encrypted
 * with S-ENC (3DES-CBC, zero ICV). */
scp_err_t scp01_wrap(scp01_t *ch, const apdu_t *plain, apdu_t *wrapped);
/* Encrypts key data for PUT KEY under the static DEK (3DES-ECB). */
scp_err_t scp01_encrypt_key_data(scp01_t *ch, const uint8_t *in, size_t len, uint8_t *out);
void scp01_close(scp01_t *ch);
const char *scp01_error(const scp01_t *ch);

#endif
