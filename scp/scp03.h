/*
 * SCP03 secure channel (GlobalPlatform Card Specification 2.2 Amendment D,
 * v1.1.2), in S8 mode: 8-byte challenges, cryptograms and MACs.
 *
 * Pure protocol, as scp02.h: it builds command APDUs and checks the card's
 * answers; every computation with a key is a keystore call on handles.
 */
#ifndef GP_SCP_SCP03_H
#define GP_SCP_SCP03_H

#include "apdu.h"
#include "scp.h"
#include "keystore/keystore.h"
#include "keystore/scp03_crypto.h"

/* i-parameter bits (Amendment D 5.1, table 5-1). */
#define SCP03_I_PSEUDO_RANDOM 0x10 /* pseudo-random card challenge, with a sequence counter */
#define SCP03_I_RMAC          0x20 /* R-MAC supported */
#define SCP03_I_RENC          0x40 /* R-ENCRYPTION supported (with R-MAC: i 60 or 70) */

/* Security levels (P1 of EXTERNAL AUTHENTICATE). */
#define SCP03_LEVEL_CMAC 0x01
#define SCP03_LEVEL_CDEC 0x02 /* with C-MAC: 03 */
#define SCP03_LEVEL_RMAC 0x10
#define SCP03_LEVEL_RENC 0x20 /* with C-DEC, C-MAC and R-MAC: 33 */

#define SCP03_INIT_RSP_LEN     29 /* random card challenge */
#define SCP03_INIT_RSP_LEN_SEQ 32 /* pseudo-random: and a 3-byte sequence counter */
/* S16 mode (i bit 01, Amendment D v1.2): challenges, cryptograms, C-MAC and
 * R-MAC of 16 bytes: 45 bytes, or 48 with the sequence counter */
#define SCP03_I_S16 0x01

typedef struct {
    uint8_t key_div[10];
    uint8_t kvn;
    uint8_t scp;               /* 03 */
    uint8_t i;                 /* the i-parameter the card answers with */
    uint8_t card_challenge[16];
    uint8_t card_cryptogram[16];
    size_t s;                  /* the mode's length: 8 (S8) or 16 (S16, i bit 01) */
    uint8_t seq[3];            /* pseudo-random challenges only */
    int has_seq;
} scp03_init_rsp_t;

enum scp03_state { SCP03_CLOSED = 0, SCP03_INIT_SENT, SCP03_AUTH_SENT, SCP03_OPEN };

typedef struct {
    ks_session_t *ks;
    ks_keyset_t statics;       /* the static keys: AES, handles in the keystore */
    enum ks_diversification div; /* KS_DIV_KDF3: statics are master keys, diversified per card */
    scp_select_keys_fn select_keys;
    void *select_ctx;
    uint8_t level;
    uint8_t kvn_requested;
    enum scp03_state state;
    size_t s;                  /* 8 (S8 mode) or 16 (S16): host challenge, MACs */
    uint8_t host_challenge[16];
    scp03_init_rsp_t init;
    ks_scp03_keys_t keys;
    uint8_t chain[16];         /* MAC chaining value: the last full C-MAC */
    uint32_t counter;          /* encryption counter of the last command */
    uint16_t last_sw;
    unsigned long ks_calls;    /* keystore calls of the last wrap + unwrap (bench) */
    char err[320];
} scp03_t;

/* Prepares a channel at a security level (01, 03, 11, 13 or 33); nothing
 * is sent. The key set must be AES. */
scp_err_t scp03_init(scp03_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t level);
/* Strict parser of an INITIALIZE UPDATE response (data + SW1 SW2). */
scp_err_t scp03_parse_init_update(const uint8_t *rsp, size_t len, scp03_init_rsp_t *out, char *why,
                                  size_t why_len);
/* Builds INITIALIZE UPDATE for key version kvn (0: the card's default);
 * the host challenge comes from the keystore unless given. */
scp_err_t scp03_initialize_update(scp03_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd);
/* Checks the answer, that the card's i allows the level, derives the
 * session keys in the keystore and verifies the card cryptogram. On any
 * failure the channel is closed and no EXTERNAL AUTHENTICATE can be built. */
scp_err_t scp03_on_initialize_update(scp03_t *ch, const uint8_t *rsp, size_t len);
/* EXTERNAL AUTHENTICATE: host cryptogram and C-MAC (chaining from zero). */
scp_err_t scp03_external_authenticate(scp03_t *ch, apdu_t *cmd);
scp_err_t scp03_on_external_authenticate(scp03_t *ch, uint16_t sw);
/* Wraps a plain command: the encryption counter moves on (C-DEC levels),
 * the data is encrypted (C-DEC, when there is data), then C-MAC. */
scp_err_t scp03_wrap(scp03_t *ch, const apdu_t *plain, apdu_t *wrapped);
/* Checks the R-MAC of an answer (data || R-MAC || SW) and decrypts its data
 * (R-ENC). An error status word carries no R-MAC: only the SW is returned.
 * An answer that does not verify is SCP_E_RMAC and nothing is copied. */
scp_err_t scp03_unwrap(scp03_t *ch, const uint8_t *rsp, size_t len, uint8_t *out, size_t *out_len);
/* Does an answer with this status word carry an R-MAC (9000, 62xx, 63xx)?
 * Every other one is an error, sent alone and unauthenticated. */
int scp03_sw_protected(uint16_t sw);
/* Key data for PUT KEY: AES-CBC with a zero IV under the static DEK, of a
 * key of len bytes (16, 24 or 32). An AES-192 key is padded to whole blocks
 * as PKCS#7 pads (eight bytes 08), which the card ignores: out has
 * gp_key_data_len bytes, 32 for it. */
scp_err_t scp03_encrypt_key_data(scp03_t *ch, const uint8_t *in, size_t len, uint8_t *out);
/* The same for a key of key_len bytes held in the keystore: C_WrapKey with
 * CKM_AES_CBC. An AES-192 key is passed as its sendable form (ks_keyset_t's
 * sendable: the key padded to 32 bytes inside the keystore). */
scp_err_t scp03_wrap_key(scp03_t *ch, CK_OBJECT_HANDLE key, size_t key_len, uint8_t *out,
                         size_t *out_len);
/* Ends the channel and destroys its session keys in the keystore. */
void scp03_close(scp03_t *ch);
const char *scp03_error(const scp03_t *ch);

#endif
