/* What the secure channels (scp02.h, scp03.h) and the GlobalPlatform
 * commands over them (gp.h) answer. */
#ifndef GP_SCP_SCP_H
#define GP_SCP_SCP_H

#include <stddef.h>
#include <stdint.h>

#include "apdu.h"
#include "keystore/keystore.h"
#include "keystore/msg.h"

typedef enum {
    SCP_OK = 0,
    SCP_E_ARGS,            /* bad argument or malformed command APDU */
    SCP_E_STATE,           /* the channel is not in the state this step needs */
    SCP_E_RSP_SHORT,       /* card response shorter than the protocol allows */
    SCP_E_RSP_LONG,        /* card response longer than the protocol allows */
    SCP_E_RSP_SW,          /* card answered with an error status word */
    SCP_E_OTHER_SCP,       /* card answered with another secure channel protocol */
    SCP_E_KEY_VERSION,     /* card answered with another key version than asked */
    SCP_E_CARD_CRYPTOGRAM, /* card cryptogram wrong: keys do not match the card */
    SCP_E_KEYSTORE,        /* a keystore call failed */
    SCP_E_TOO_LONG,        /* the wrapped command would exceed 255 data bytes */
    SCP_E_TRANSPORT,       /* reader or connection failure */
    SCP_E_REMOVED,         /* card removed */
    SCP_E_UNSUPPORTED,     /* i-parameter or level not supported */
    SCP_E_RMAC,            /* a response's R-MAC is missing or does not verify */
    SCP_E_BUSY,            /* another program holds the card */
    SCP_E_CANCELED,        /* the application asked to stop (a LOAD between blocks) */
    SCP_E_HELD,            /* EXTERNAL AUTHENTICATE held back: this card refused one before */
} scp_err_t;

const char *scp_err_name(scp_err_t e);
/* Writes the message into an object's buffer (msg.h) and returns e: the one
 * failure path of both channels and of the GlobalPlatform commands. */
scp_err_t scp_fail(char *err, size_t err_len, scp_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same on an object with a char err[] (a channel, a card's connection). */
#define SCP_FAIL(obj, e, ...) scp_fail((obj)->err, sizeof (obj)->err, (e), __VA_ARGS__)
/* Constant-time comparison (cryptograms, MACs): 1 when equal. */
int scp_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* The data length of an INITIALIZE UPDATE answer (data + SW): SCP_OK for
 * 9000, else SCP_E_RSP_SHORT or SCP_E_RSP_SW with the reason in why. */
scp_err_t scp_init_update_data(const uint8_t *rsp, size_t len, size_t *dlen, char *why,
                               size_t why_len);

/* EXTERNAL AUTHENTICATE's answer: SCP_OK for 9000, else SCP_E_RSP_SW with
 * the card's refusal in plain words in err. */
scp_err_t scp_external_authenticate_sw(uint16_t sw, char *err, size_t err_len);
/* A command to wrap: on the basic channel and not yet secured. SCP_OK, or
 * SCP_E_ARGS with what to pass instead in err. */
scp_err_t scp_check_plain(const apdu_t *plain, char *err, size_t err_len);

/* What the three handshakes share, each writing err (an object's buffer)
 * and returning SCP_OK or the error: */
/* INITIALIZE UPDATE for key version kvn with a host challenge of hc_len bytes (8; 16 in
 * SCP03's S16 mode):
 * given (known-answer tests) or from the keystore's RNG, kept in hc */
scp_err_t scp_initialize_update(ks_session_t *ks, uint8_t kvn, const uint8_t *given,
                                uint8_t *hc, size_t hc_len, apdu_t *cmd, char *err,
                                size_t err_len);
/* the INITIALIZE UPDATE answer names protocol want (else SCP_E_OTHER_SCP) */
scp_err_t scp_check_protocol(uint8_t answered, uint8_t want, char *why, size_t why_len);
/* the card answered with the key version asked for (asked 0: any) */
scp_err_t scp_check_kvn(uint8_t asked, uint8_t answered, char *err, size_t err_len);
/* a key set was found for the card (enc a handle) */
scp_err_t scp_check_keys_found(CK_OBJECT_HANDLE enc, char *err, size_t err_len);
/* the card cryptogram computed (rv: the keystore's answer) equals the card's,
 * compared in constant time */
scp_err_t scp_check_card_cryptogram(CK_RV rv, const char *keystore_error, const uint8_t *computed,
                                    const uint8_t *received, size_t n, uint8_t kvn, char *err,
                                    size_t err_len);

/* Called between INITIALIZE UPDATE and the card cryptogram check with the
 * card's key diversification data: it may replace the key set (keys bound
 * to a card). Returns 0, or -1 with nothing changed. */
typedef int (*scp_select_keys_fn)(void *ctx, const uint8_t key_div[10], ks_keyset_t *keys);
/* The checks of a DES protocol's INITIALIZE UPDATE answer (SCP01, SCP02):
 * the key version asked for (scp_check_kvn), the card's own key set (fn, if
 * any, taken when it is DES), and a key set found (scp_check_keys_found). */
scp_err_t scp_des_answer_checks(uint8_t asked, uint8_t answered, scp_select_keys_fn fn, void *ctx,
                                const uint8_t key_div[10], CK_OBJECT_HANDLE *enc,
                                CK_OBJECT_HANDLE *mac, CK_OBJECT_HANDLE *dek, char *err,
                                size_t err_len);

#endif
