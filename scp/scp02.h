/*
 * SCP02 secure channel (GlobalPlatform Card Specification 2.2, appendix E).
 *
 * The channel is pure protocol: it builds command APDUs and checks card
 * responses; the caller moves bytes (see gp.h for a driver over a
 * transport). Every computation with a key is a keystore call on handles.
 */
#ifndef GP_SCP_SCP02_H
#define GP_SCP_SCP02_H

#include "apdu.h"
#include "keystore/keystore.h"
#include "keystore/scp02_crypto.h"

/* i-parameter bits (GlobalPlatform 2.2 E.1.2). */
#define SCP02_I_THREE_KEYS      0x01 /* else one base key */
#define SCP02_I_CMAC_UNMODIFIED 0x02 /* else C-MAC over the modified header */
#define SCP02_I_EXPLICIT        0x04 /* explicit initiation (INITIALIZE UPDATE) */
#define SCP02_I_ICV_MAC_AID     0x08 /* ICV = MAC over AID (implicit) */
#define SCP02_I_ICV_ENCRYPT     0x10 /* ICV encrypted with single DES */
#define SCP02_I_RMAC            0x20 /* R-MAC supported */
#define SCP02_I_WELL_KNOWN      0x40 /* pseudo-random card challenge */

/* Security levels (P1 of EXTERNAL AUTHENTICATE). */
#define SCP02_LEVEL_CMAC 0x01
#define SCP02_LEVEL_CDEC 0x02 /* always with CMAC: 0x03 */
#define SCP02_LEVEL_RMAC 0x10

#include "scp.h"

#define SCP02_INIT_RSP_LEN 28

typedef struct {
    uint8_t key_div[10];   /* key diversification data */
    uint8_t kvn;           /* key version number */
    uint8_t scp;           /* secure channel protocol identifier: 02 */
    uint8_t seq[2];        /* sequence counter */
    uint8_t card_challenge[6];
    uint8_t card_cryptogram[8];
} scp02_init_rsp_t;

enum scp02_state { SCP02_CLOSED = 0, SCP02_INIT_SENT, SCP02_AUTH_SENT, SCP02_OPEN };


typedef struct {
    ks_session_t *ks;
    CK_OBJECT_HANDLE static_enc, static_mac, static_dek;
    enum ks_diversification div;  /* the key set holds master keys to diversify */
    scp_select_keys_fn select_keys;
    void *select_ctx;
    uint8_t i_param;
    uint8_t level;
    uint8_t kvn_requested;
    enum scp02_state state;
    uint8_t host_challenge[8];
    scp02_init_rsp_t init;
    ks_scp02_keys_t keys;
    uint8_t last_cmac[8];   /* C-MAC of the last command sent in the channel */
    int first_icv;          /* the next command's ICV is last_cmac as it is */
    uint8_t rmac_icv[8];    /* R-MAC of the last response (R-MAC levels) */
    uint8_t rmac_cmd[5 + APDU_MAX_DATA]; /* the command part of the next R-MAC */
    size_t rmac_cmd_len;
    uint16_t last_sw;
    char err[320];
} scp02_t;

/* Prepares a channel; nothing is sent. For a single base key pass a key set
 * whose three handles are the same. */
scp_err_t scp02_init(scp02_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t i_param,
                     uint8_t level);
/* Strict parser of an INITIALIZE UPDATE response (data + SW1 SW2). */
scp_err_t scp02_parse_init_update(const uint8_t *rsp, size_t len, scp02_init_rsp_t *out,
                                  char *why, size_t why_len);
/* Builds INITIALIZE UPDATE for key version kvn (0 = card default). The host
 * challenge comes from the keystore's RNG unless host_challenge is given
 * (known-answer tests). */
scp_err_t scp02_initialize_update(scp02_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd);
/* Checks the response, derives session keys in the keystore and verifies
 * the card cryptogram. On any failure the channel is closed and no
 * EXTERNAL AUTHENTICATE can be built. */
scp_err_t scp02_on_initialize_update(scp02_t *ch, const uint8_t *rsp, size_t len);
/* Builds EXTERNAL AUTHENTICATE (host cryptogram + C-MAC, zero ICV). */
scp_err_t scp02_external_authenticate(scp02_t *ch, apdu_t *cmd);
scp_err_t scp02_on_external_authenticate(scp02_t *ch, uint16_t sw);
/* Wraps a plain command for the open channel: C-MAC (ICV chaining) and, at
 * level 03, C-DEC encryption of the data field. */
scp_err_t scp02_wrap(scp02_t *ch, const apdu_t *plain, apdu_t *wrapped);
/* Checks and removes the R-MAC of a response (data + R-MAC + SW) at the R-MAC
 * levels; copies the response through otherwise. A response whose R-MAC does
 * not verify is SCP_E_RMAC and nothing is copied. */
scp_err_t scp02_unwrap(scp02_t *ch, const uint8_t *rsp, size_t len, uint8_t *out, size_t *out_len);
/* Implicit initiation (i without the explicit bit): session keys from the
 * card's sequence counter (GET DATA 00C1), and the first ICV a MAC over the
 * selected application's AID (i bit 08) or zero. */
scp_err_t scp02_implicit_open(scp02_t *ch, const uint8_t seq[2], const uint8_t *aid, size_t aid_len);
/* Encrypts key data under the session DEK (3DES-ECB), for PUT KEY. */
scp_err_t scp02_encrypt_key_data(scp02_t *ch, const uint8_t *in, size_t len, uint8_t *out);
/* Wraps a key held in the keystore under the session DEK (C_WrapKey). */
scp_err_t scp02_wrap_key(scp02_t *ch, CK_OBJECT_HANDLE key, uint8_t out[16]);

/* Ends the channel and destroys its session keys in the keystore. */
void scp02_close(scp02_t *ch);
const char *scp02_error(const scp02_t *ch);

#endif
