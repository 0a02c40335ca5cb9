/* GlobalPlatform commands over a transport, through an SCP02 or SCP03
 * channel. */
#ifndef GP_SCP_GP_H
#define GP_SCP_GP_H

#include "registry.h"
#include "scp01.h"
#include "scp02.h"
#include "scp03.h"
#include "sw.h"
#include "transport.h"

/* Called for every APDU exchanged (for the module's APDU trace). plain is
 * the plain command (NULL for GET RESPONSE); wire what went to the card;
 * rsp/rsp_len the answer; how says GP_TRACE_SECURED (C-MAC) and
 * GP_TRACE_ENCRYPTED (its data went encrypted: never to be shown). */
#define GP_TRACE_SECURED   1
#define GP_TRACE_ENCRYPTED 2
#define GP_TRACE_RSP_ENCRYPTED 4 /* the answer's data came encrypted (R-ENCRYPTION) */
#define GP_TRACE_RSP_SECRET    8 /* the answer is to a command whose answer may be secret
                                  * (gp_secret_ins): its data never shown either */
/* Commands whose data (and answer) may carry keys, PINs or secrets: the trace
 * never shows them (PUT KEY, STORE DATA, the authentications, VERIFY, ...). */
int gp_secret_ins(uint8_t ins);
typedef void (*gp_trace_fn)(void *ctx, const apdu_t *plain, const uint8_t *wire, size_t wire_len,
                            const uint8_t *rsp, size_t rsp_len, int how);

typedef struct {
    uint8_t scp;            /* 2 (or 0): SCP02; 3: SCP03; 1: SCP01 */
    uint8_t i_param;        /* SCP02 i: 0x15, 0x55... (SCP03 takes the card's) */
    uint8_t level;          /* 0x01 C-MAC, 0x03 C-MAC + C-DEC, 0x11, 0x13, 0x33 (SCP03) */
    uint8_t kvn;            /* 0: the card's default key version */
    const uint8_t *isd_aid; /* NULL or length 0: select the default application */
    size_t isd_aid_len;
    int selected;           /* the caller has just selected the security domain */
    enum ks_diversification div; /* the key set holds master keys */
    scp_select_keys_fn select_keys; /* optional: pick the card's own key set */
    void *select_ctx;
    /* optional, with select_ctx: asked once the card cryptogram verified,
     * before EXTERNAL AUTHENTICATE is sent; 0 holds it back (SCP_E_HELD,
     * with why) */
    int (*may_authenticate)(void *ctx, const uint8_t kdd[10], char *why, size_t why_len);
    int s16;                /* SCP03: S16 mode (the card announces i with bit 01);
                               else S8, and S16 once after 6700 to S8's challenge */
    int probe_only;         /* stop once the card cryptogram verified: no EXTERNAL
                               AUTHENTICATE, no channel; proves the card holds
                               these keys under kvn without spending a try */
} gp_channel_opts_t;

/* What the open (or last) channel is, whatever its protocol. */
typedef struct {
    uint8_t level, kvn, i;  /* i: SCP02's as chosen, SCP03's as the card answered */
    const uint8_t *kdd;     /* the card's key diversification data (10 bytes) */
    int cdec, rmac, renc;   /* the level has C-DECRYPTION, R-MAC, R-ENCRYPTION (SCP03) */
    size_t mac_len;         /* bytes of each C-MAC and R-MAC: 8, or 16 (SCP03 S16) */
    ks_keyset_t keys;       /* the static key set (SCP03: AES, with its length) */
    unsigned long ks_calls; /* keystore calls of the last secured command (SCP03) */
} gp_channel_info_t;

struct gp_card;
/* One channel interface, one instance per protocol (scp/channel.c): the
 * handshake, wrapping and unwrapping are written once in gp.c over it. */
typedef struct gp_channel_ops {
    uint8_t scp;            /* 01, 02, 03 */
    size_t block;           /* the cipher block C-DEC pads to: 8 (DES), 16 (AES) */
    /* prepares the channel; nothing is sent */
    scp_err_t (*init)(struct gp_card *g, ks_session_t *ks, const ks_keyset_t *keys,
                      const gp_channel_opts_t *o);
    /* NULL, or: does this opening go without INITIALIZE UPDATE (SCP02's
     * implicit initiation)? open_implicit then opens the channel */
    int (*implicit)(const gp_channel_opts_t *o);
    scp_err_t (*open_implicit)(struct gp_card *g, const gp_channel_opts_t *o);
    scp_err_t (*initialize_update)(struct gp_card *g, uint8_t kvn, apdu_t *cmd);
    scp_err_t (*on_initialize_update)(struct gp_card *g, const uint8_t *rsp, size_t len);
    /* NULL, or: may INITIALIZE UPDATE go once more in another mode after this
     * refusal (SCP03: 6700 to S8's 8-byte challenge, then S16)? 1: switched */
    int (*another_mode)(struct gp_card *g, uint16_t sw);
    scp_err_t (*external_authenticate)(struct gp_card *g, apdu_t *cmd);
    scp_err_t (*on_external_authenticate)(struct gp_card *g, uint16_t sw);
    scp_err_t (*wrap)(struct gp_card *g, const apdu_t *plain, apdu_t *wire);
    /* does an answer (status word, data length) carry an R-MAC to check? */
    int (*answer_has_rmac)(uint16_t sw, size_t data_len);
    scp_err_t (*unwrap)(struct gp_card *g, const uint8_t *rsp, size_t len, uint8_t *out,
                        size_t *out_len);
    /* PUT KEY's key data: in (len bytes), or the keystore key (in NULL) */
    scp_err_t (*encrypt_key)(struct gp_card *g, const uint8_t *in, size_t len,
                             CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len);
    void (*close)(struct gp_card *g); /* whatever state it is in */
    int (*is_open)(const struct gp_card *g);
    const char *(*error)(const struct gp_card *g);
    void (*info)(const struct gp_card *g, gp_channel_info_t *out);
    /* may this protocol run at this level? 0 with why when not */
    int (*level_ok)(uint8_t level, char *why, size_t why_len);
} gp_channel_ops_t;

/* The instance of protocol scp (1, 2 or 3; anything else: NULL). */
const gp_channel_ops_t *gp_channel_ops(uint8_t scp);

/* A card's security domain as the GlobalPlatform commands see it: the
 * transport, the secure channel and what the last command's answer proved.
 * Not a session in PKCS#11's sense: those are the module's session_t (an
 * application's) and the keystore's ks_session_t. */
typedef struct gp_card {
    gp_transport_t t;
    const gp_channel_ops_t *ops; /* the protocol of the channel (NULL: none yet) */
    scp02_t ch;             /* its state: SCP02's, SCP03's or SCP01's */
    scp03_t ch3;
    scp01_t ch1;
    uint16_t sw;            /* status word of the last command */
    char err[600];
    gp_trace_fn trace;
    void *trace_ctx;
    uint8_t selected_aid[16]; /* from the FCI of the last SELECT (tag 84) */
    size_t selected_aid_len;
    int auth_refused;       /* the card refused EXTERNAL AUTHENTICATE (it counted a failure) */
    /* what the answer to the last command sent proves (gp_send; gp_not_executed) */
    int sent;               /* it left gp-p11 for the card */
    int not_executed;       /* the card's answer proves it did not run there */
    int via_get_response;   /* the final status word is a GET RESPONSE's, not the command's */
    uint16_t cmd_sw;        /* the command's own status word (61xx: it ran, data waits) */
    int sw_trusted;         /* the status word is authenticated, or no R-MAC level asks it */
} gp_card_t;



void gp_card_init(gp_card_t *g, gp_transport_t t);
/* Sets g's error text and returns e (for gp.c and install.c). */
scp_err_t gp_fail(gp_card_t *g, scp_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *gp_error(const gp_card_t *g);
int gp_channel_open(const gp_card_t *g);
/* The open (or last) channel's security level, key version and protocol. */
uint8_t gp_channel_level(const gp_card_t *g);
uint8_t gp_channel_kvn(const gp_card_t *g);
uint8_t gp_channel_scp(const gp_card_t *g);
/* The card's key diversification data, from its INITIALIZE UPDATE answer. */
const uint8_t *gp_channel_kdd(const gp_card_t *g);
/* The i-parameter in use: SCP02's as chosen, SCP03's as the card answered. */
uint8_t gp_channel_i(const gp_card_t *g);
/* The static key set of the channel (SCP03: AES, with its length). */
ks_keyset_t gp_channel_keys(const gp_card_t *g);
/* Keystore calls the last secured command took (wrap and unwrap; SCP03). */
unsigned long gp_channel_ks_calls(const gp_card_t *g);
/* Everything above at once (zeros when no channel was ever opened). */
void gp_channel_info(const gp_card_t *g, gp_channel_info_t *out);
/* May protocol scp run at level? 0 with why (in that protocol's terms). */
int gp_level_allowed(uint8_t scp, uint8_t level, char *why, size_t why_len);
/* Key data for PUT KEY under the channel's key-encryption key: SCP02's
 * session DEK (3DES-ECB, 16 bytes) or SCP03's static DEK (AES-CBC, zero
 * IV); in: the key value (len bytes), or key: a keystore key wrapped with
 * C_WrapKey (in NULL). *out_len: room in, bytes written out. */
scp_err_t gp_encrypt_key(gp_card_t *g, const uint8_t *in, size_t len, CK_OBJECT_HANDLE key,
                         uint8_t *out, size_t *out_len);

/* Sends a plain command, secured when the channel is open. Handles 61xx
 * (GET RESPONSE) and 6Cxx to a command without data (resent once with the
 * card's Le: only a command that carries no data, which changes nothing, is
 * ever sent again here). The response data (without SW) goes to rsp; the
 * SW to *sw. Returns SCP_OK whatever the SW. */
scp_err_t gp_send(gp_card_t *g, const apdu_t *plain, uint8_t *rsp, size_t cap, size_t *rlen,
                  uint16_t *sw);
/* As gp_send, but any SW other than 9000 is SCP_E_RSP_SW, explained. */
scp_err_t gp_command(gp_card_t *g, const char *what, enum sw_context ctx, const apdu_t *plain,
                     uint8_t *rsp, size_t cap, size_t *rlen);

scp_err_t gp_select(gp_card_t *g, const uint8_t *aid, size_t aid_len);
/* SELECT (unless o->selected), INITIALIZE UPDATE, card cryptogram check,
 * EXTERNAL AUTHENTICATE. */
scp_err_t gp_open_channel(gp_card_t *g, ks_session_t *ks, const ks_keyset_t *keys,
                          const gp_channel_opts_t *o);
void gp_close_channel(gp_card_t *g);

/* GET STATUS with 'next occurrence' continuations; entries parsed. */
int gp_get_status(gp_card_t *g, uint8_t p1, int tlv, gp_entry_t *out, int max);
/* GET DATA; the whole TLV the card returns. */
scp_err_t gp_get_data(gp_card_t *g, uint16_t tag, uint8_t *out, size_t cap, size_t *len);
scp_err_t gp_delete(gp_card_t *g, const uint8_t *aid, size_t aid_len, int related);
/* DELETE [key] (GlobalPlatform 2.2 11.2.2.3): every key of key version kvn
 * ('D2'), or only key identifier id of it ('D0', when id >= 0). */
scp_err_t gp_delete_key(gp_card_t *g, uint8_t kvn, int id);
scp_err_t gp_set_status(gp_card_t *g, uint8_t p1, uint8_t p2, const uint8_t *aid, size_t aid_len);

/* The bytes of one encrypted key in PUT KEY: 16 for DES; for AES the key in
 * whole blocks (an AES-192 key is padded to 32 bytes before encryption). */
size_t gp_key_data_len(int aes, size_t key_len);
/* PUT KEY of a key set: three keys already encrypted (gp_encrypt_key), each
 * gp_key_data_len bytes, of key_len bytes each with their key check values;
 * aes: key type 88 (AES, SCP03) rather than 80 (DES): replace_kvn 0 adds
 * new_kvn.
 * The card's answer (key version and KCVs) is checked against kcv.
 * SCP_E_RSP_SW: the card refused (g->sw); SCP_E_RSP_SHORT: it answered 9000
 * but its confirmation is not what was sent; anything else: no usable answer.
 * Only gp_not_executed() proves the card did not execute it. */
scp_err_t gp_put_key(gp_card_t *g, uint8_t replace_kvn, uint8_t new_kvn, int aes,
                     size_t key_len, const uint8_t enc_keys[3][32], const uint8_t kcv[3][3]);

/* --- applets (install.c) --- */

/* The most plain data bytes one command carries, so that its wrapped form
 * still fits Lc 255: 247 at C-MAC, 239 at C-MAC + C-DEC (always padded). */
size_t gp_max_data(const gp_card_t *g);
/* INSTALL [for load]; sd_len 0 leaves the target security domain to the
 * card (its issuer security domain); hash and params may be empty. */
scp_err_t gp_install_for_load(gp_card_t *g, const uint8_t *elf, size_t elf_len,
                              const uint8_t *sd, size_t sd_len, const uint8_t *hash,
                              size_t hash_len, const uint8_t *params, size_t params_len);
/* Called after every LOAD block the card accepted; non-zero stops the LOAD
 * there (SCP_E_CANCELED; the card drops an unfinished LOAD at its next
 * command of another kind). */
typedef int (*gp_progress_fn)(void *ctx, size_t blocks_done, size_t blocks_total);
/* LOAD of a whole load file data block in numbered blocks of gp_max_data
 * bytes, the last flagged (P1 80). An error names the block. */
scp_err_t gp_load(gp_card_t *g, const uint8_t *block, size_t len, gp_progress_fn progress,
                  void *ctx);
typedef struct {
    const uint8_t *elf, *module, *app;   /* load file, module (class), instance AIDs */
    size_t elf_len, module_len, app_len;
    const uint8_t *priv;                 /* 1 or 3 bytes */
    size_t priv_len;
    const uint8_t *params;               /* the application's own (inside C9) */
    size_t params_len;
    int make_selectable;                 /* P1 0C rather than 04 */
} gp_install_t;
scp_err_t gp_install_for_install(gp_card_t *g, const gp_install_t *in);
scp_err_t gp_install_for_make_selectable(gp_card_t *g, const uint8_t *app, size_t app_len,
                                         const uint8_t *priv, size_t priv_len);
/* INSTALL [for personalization] of app, then STORE DATA in numbered blocks;
 * format: P1 bits 7-1 (data structure and encryption information, GP 2.2.1
 * table 11-89), the last-block bit added here. *taken: the bytes of data
 * in the STORE DATA blocks the card accepted (after a failure past the
 * first block nothing may be sent again whole: the application has those
 * bytes already). */
scp_err_t gp_store_data(gp_card_t *g, const uint8_t *app, size_t app_len, const uint8_t *data,
                        size_t len, uint8_t format, size_t *taken);

/* A status word that says specifically that the card did not execute the
 * command: 64xx (memory unchanged), 67xx to 6Bxx, 6Dxx, 6Exx and
 * GlobalPlatform's 94xx. Not 65xx (memory changed), 66xx, 6Cxx, 6Fxx (no
 * precise diagnosis), nor a warning (62xx, 63xx): after those, whether the
 * command took effect is unknown. */
int gp_sw_refused(uint16_t sw);
/* The one rule for the outcome of a command that changes the card, after
 * gp_send or gp_command returned e for it: 1 when it provably did not run:
 * it never left gp-p11, or the card refused it with a gp_sw_refused status
 * word that is the command's own (not its GET RESPONSE's) and is
 * authenticated (at an R-MAC level an answer without a verified R-MAC
 * proves nothing). 0: it ran (e is SCP_OK), or its outcome is unknown, and
 * what the card holds must be found out before anything is undone. */
int gp_not_executed(const gp_card_t *g, scp_err_t e);
/* After an error: does the outcome of the last command remain unknown? */
int gp_outcome_unknown(const gp_card_t *g, scp_err_t e);

/* Reads the secure channel protocol and its i-parameter from card
 * recognition data (GET DATA 66). Returns 0 with *scp and *i set, or -1
 * when the data does not announce one. */
int gp_card_data_scp(const uint8_t *data, size_t len, uint8_t *scp, uint8_t *i);

#endif
