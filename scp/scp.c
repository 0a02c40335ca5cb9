/* What the secure channels share: see scp.h. */
#include "config.h"
#include "scp.h"
#include "apdu.h"
#include "sw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *scp_err_name(scp_err_t e)
{
    switch (e) {
    case SCP_OK: return "ok";
    case SCP_E_ARGS: return "bad arguments";
    case SCP_E_STATE: return "wrong channel state";
    case SCP_E_RSP_SHORT: return "card response too short";
    case SCP_E_RSP_LONG: return "card response too long";
    case SCP_E_RSP_SW: return "card returned an error";
    case SCP_E_OTHER_SCP: return "card uses another secure channel protocol";
    case SCP_E_KEY_VERSION: return "unexpected key version";
    case SCP_E_CARD_CRYPTOGRAM: return "card cryptogram mismatch";
    case SCP_E_KEYSTORE: return "keystore failure";
    case SCP_E_TOO_LONG: return "command too long for secure messaging";
    case SCP_E_CANCELED: return "stopped by the application";
    case SCP_E_TRANSPORT: return "reader failure";
    case SCP_E_REMOVED: return "card removed";
    case SCP_E_UNSUPPORTED: return "unsupported option";
    case SCP_E_RMAC: return "response MAC invalid";
    case SCP_E_BUSY: return "card in use by another program";
    case SCP_E_HELD: return "authentication held back";
    }
    return "unknown error";
}

scp_err_t scp_fail(char *err, size_t err_len, scp_err_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(err, err_len, fmt, ap);
    va_end(ap);
    return e;
}

int scp_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

scp_err_t scp_init_update_data(const uint8_t *rsp, size_t len, size_t *dlen, char *why,
                               size_t why_len)
{
    uint16_t sw;
    if (rapdu_split(rsp, len, dlen, &sw) != 0) {
        snprintf(why, why_len, "INITIALIZE UPDATE: the card's response has no status word "
                               "(%zu bytes)", len);
        return SCP_E_RSP_SHORT;
    }
    if (sw != 0x9000) {
        char d[200];
        snprintf(why, why_len, "INITIALIZE UPDATE refused: %s",
                 sw_describe(sw, SW_CTX_INITIALIZE_UPDATE, d, sizeof d));
        return SCP_E_RSP_SW;
    }
    return SCP_OK;
}

scp_err_t scp_external_authenticate_sw(uint16_t sw, char *err, size_t err_len)
{
    if (sw == 0x9000)
        return SCP_OK;
    char d[200];
    return scp_fail(err, err_len, SCP_E_RSP_SW, "EXTERNAL AUTHENTICATE refused: %s",
                    sw_describe(sw, SW_CTX_EXTERNAL_AUTHENTICATE, d, sizeof d));
}

scp_err_t scp_check_plain(const apdu_t *plain, char *err, size_t err_len)
{
    if (apdu_logical_channel(plain->cla))
        return scp_fail(err, err_len, SCP_E_ARGS,
                        "CLA %02X addresses logical channel %d; the secure channel lives on the "
                        "basic channel (0): use CLA 00 or 80",
                        plain->cla, apdu_logical_channel(plain->cla));
    if (plain->cla & 0x04)
        return scp_fail(err, err_len, SCP_E_ARGS,
                        "CLA %02X already announces secure messaging: pass the plain command",
                        plain->cla);
    return SCP_OK;
}

scp_err_t scp_initialize_update(ks_session_t *ks, uint8_t kvn, const uint8_t *given,
                                uint8_t *hc, size_t hc_len, apdu_t *cmd, char *err,
                                size_t err_len)
{
    if (given)
        memcpy(hc, given, hc_len);
    else if (ks_random(ks, hc, hc_len) != CKR_OK)
        return scp_fail(err, err_len, SCP_E_KEYSTORE, "no host challenge: %s", ks_session_error(ks));
    apdu_set(cmd, 0x80, 0x50, kvn, 0x00, hc, hc_len, 1, 256);
    return SCP_OK;
}

scp_err_t scp_check_protocol(uint8_t answered, uint8_t want, char *why, size_t why_len)
{
    if (answered == want)
        return SCP_OK;
    return scp_fail(why, why_len, SCP_E_OTHER_SCP, "the card announced secure channel protocol "
                    "%02X, not SCP%02X (%02X)", answered, want, want);
}

scp_err_t scp_check_kvn(uint8_t asked, uint8_t answered, char *err, size_t err_len)
{
    if (!asked || asked == answered)
        return SCP_OK;
    return scp_fail(err, err_len, SCP_E_KEY_VERSION, "asked for key version %u, the card answered "
                    "with key version %u", asked, answered);
}

scp_err_t scp_check_keys_found(CK_OBJECT_HANDLE enc, char *err, size_t err_len)
{
    if (enc != CK_INVALID_HANDLE)
        return SCP_OK;
    return scp_fail(err, err_len, SCP_E_KEYSTORE, "no key set for this card in the keystore; "
                    "EXTERNAL AUTHENTICATE was not sent");
}

scp_err_t scp_check_card_cryptogram(CK_RV rv, const char *keystore_error, const uint8_t *computed,
                                    const uint8_t *received, size_t n, uint8_t kvn, char *err,
                                    size_t err_len)
{
    if (rv != CKR_OK)
        return scp_fail(err, err_len, SCP_E_KEYSTORE, "card cryptogram: %s", keystore_error);
    if (scp_equal(computed, received, n))
        return SCP_OK;
    return scp_fail(err, err_len, SCP_E_CARD_CRYPTOGRAM,
                    "the card cryptogram does not verify: the keystore's keys (key version %u) "
                    "are not this card's keys; EXTERNAL AUTHENTICATE was not sent, so the card "
                    "counted no failed authentication", kvn);
}

scp_err_t scp_des_answer_checks(uint8_t asked, uint8_t answered, scp_select_keys_fn fn, void *ctx,
                                const uint8_t key_div[10], CK_OBJECT_HANDLE *enc,
                                CK_OBJECT_HANDLE *mac, CK_OBJECT_HANDLE *dek, char *err,
                                size_t err_len)
{
    scp_err_t e = scp_check_kvn(asked, answered, err, err_len);
    if (e != SCP_OK)
        return e;
    ks_keyset_t k = {*enc, *mac, *dek, 0, 16};
    if (fn && fn(ctx, key_div, &k) == 0 && !k.aes) {
        *enc = k.enc;
        *mac = k.mac;
        *dek = k.dek;
    }
    return scp_check_keys_found(*enc, err, err_len);
}
