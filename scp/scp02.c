/* SCP02 secure channel: see scp02.h. */
#include "config.h"
#include "scp02.h"
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
    case SCP_E_NOT_SCP02: return "card does not use SCP02";
    case SCP_E_KEY_VERSION: return "unexpected key version";
    case SCP_E_CARD_CRYPTOGRAM: return "card cryptogram mismatch";
    case SCP_E_KEYSTORE: return "keystore failure";
    case SCP_E_TOO_LONG: return "command too long for secure messaging";
    case SCP_E_TRANSPORT: return "reader failure";
    case SCP_E_REMOVED: return "card removed";
    case SCP_E_UNSUPPORTED: return "unsupported option";
    }
    return "unknown error";
}

static scp_err_t fail(scp02_t *ch, scp_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static scp_err_t fail(scp02_t *ch, scp_err_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->err, sizeof ch->err, fmt, ap);
    va_end(ap);
    return e;
}

/* A failure that ends the channel: keys are destroyed at once. */
static scp_err_t abort_channel(scp02_t *ch, scp_err_t e)
{
    scp02_close(ch);
    return e;
}

const char *scp02_error(const scp02_t *ch) { return ch->err; }

scp_err_t scp02_init(scp02_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t i_param,
                     uint8_t level)
{
    memset(ch, 0, sizeof *ch);
    ch->ks = ks;
    if (!ks || !keys)
        return fail(ch, SCP_E_ARGS, "no keystore session or key set");
    ch->static_enc = keys->enc;
    ch->static_mac = keys->mac;
    ch->static_dek = keys->dek;
    ch->i_param = i_param;
    ch->level = level;
    if (!(i_param & SCP02_I_EXPLICIT))
        return fail(ch, SCP_E_UNSUPPORTED, "SCP02 i=%02X uses implicit initiation, which gp-p11 "
                                           "does not support yet", i_param);
    if (i_param & SCP02_I_ICV_MAC_AID)
        return fail(ch, SCP_E_UNSUPPORTED, "SCP02 i=%02X (ICV = MAC over AID) is not supported yet",
                    i_param);
    if (level != SCP02_LEVEL_CMAC && level != (SCP02_LEVEL_CMAC | SCP02_LEVEL_CDEC))
        return fail(ch, SCP_E_UNSUPPORTED, "security level %02X is not supported yet (use 01 or 03)",
                    level);
    return SCP_OK;
}

scp_err_t scp02_parse_init_update(const uint8_t *rsp, size_t len, scp02_init_rsp_t *out,
                                  char *why, size_t why_len)
{
    size_t dlen;
    uint16_t sw;
    if (rapdu_split(rsp, len, &dlen, &sw) != 0) {
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
    if (dlen < SCP02_INIT_RSP_LEN) {
        snprintf(why, why_len, "INITIALIZE UPDATE response has %zu data bytes, SCP02 needs %d",
                 dlen, SCP02_INIT_RSP_LEN);
        return SCP_E_RSP_SHORT;
    }
    if (dlen > SCP02_INIT_RSP_LEN) {
        snprintf(why, why_len, "INITIALIZE UPDATE response has %zu data bytes, SCP02 needs "
                               "exactly %d (an SCP03 card answers 29 or 32)", dlen, SCP02_INIT_RSP_LEN);
        return SCP_E_RSP_LONG;
    }
    memcpy(out->key_div, rsp, 10);
    out->kvn = rsp[10];
    out->scp = rsp[11];
    memcpy(out->seq, rsp + 12, 2);
    memcpy(out->card_challenge, rsp + 14, 6);
    memcpy(out->card_cryptogram, rsp + 20, 8);
    if (out->scp != 0x02) {
        snprintf(why, why_len, "the card announced secure channel protocol %02X, not SCP02 (02)",
                 out->scp);
        return SCP_E_NOT_SCP02;
    }
    return SCP_OK;
}

scp_err_t scp02_initialize_update(scp02_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd)
{
    if (ch->state != SCP02_CLOSED)
        scp02_close(ch);
    if (host_challenge) {
        memcpy(ch->host_challenge, host_challenge, 8);
    } else if (ks_random(ch->ks, ch->host_challenge, 8) != CKR_OK) {
        return fail(ch, SCP_E_KEYSTORE, "no host challenge: %s", ks_session_error(ch->ks));
    }
    ch->kvn_requested = kvn;
    apdu_set(cmd, 0x80, 0x50, kvn, 0x00, ch->host_challenge, 8, 1, 256);
    ch->state = SCP02_INIT_SENT;
    return SCP_OK;
}

/* Constant-time comparison of two 8-byte cryptograms. */
static int equal8(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < 8; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

scp_err_t scp02_on_initialize_update(scp02_t *ch, const uint8_t *rsp, size_t len)
{
    if (ch->state != SCP02_INIT_SENT)
        return fail(ch, SCP_E_STATE, "INITIALIZE UPDATE response without a pending command");
    scp_err_t e = scp02_parse_init_update(rsp, len, &ch->init, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    if (ch->kvn_requested && ch->init.kvn != ch->kvn_requested) {
        fail(ch, SCP_E_KEY_VERSION, "asked for key version %u, the card answered with key "
                                    "version %u", ch->kvn_requested, ch->init.kvn);
        return abort_channel(ch, SCP_E_KEY_VERSION);
    }
    if (ks_scp02_derive(ch->ks, ch->static_enc, ch->static_mac, ch->static_dek, ch->init.seq,
                        &ch->keys) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "session keys: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    uint8_t in[16], mac[8];
    memcpy(in, ch->host_challenge, 8);
    memcpy(in + 8, ch->init.seq, 2);
    memcpy(in + 10, ch->init.card_challenge, 6);
    if (ks_mac_3des(ch->ks, ch->keys.enc, in, sizeof in, mac) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "card cryptogram: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    if (!equal8(mac, ch->init.card_cryptogram)) {
        fail(ch, SCP_E_CARD_CRYPTOGRAM,
             "the card cryptogram does not verify: the keystore's keys (key version %u) are not "
             "this card's keys; EXTERNAL AUTHENTICATE was not sent, so the card counted no "
             "failed authentication", ch->init.kvn);
        return abort_channel(ch, SCP_E_CARD_CRYPTOGRAM);
    }
    return SCP_OK;
}

/* C-MAC over header+data (modified or unmodified as the i-parameter says),
 * with the ICV of the channel: zero for the first command, otherwise the
 * previous C-MAC, encrypted with single DES under K1 when i says so. */
static scp_err_t compute_cmac(scp02_t *ch, const apdu_t *plain, int first, uint8_t mac[8])
{
    uint8_t icv[8] = {0};
    if (!first) {
        memcpy(icv, ch->last_cmac, 8);
        if ((ch->i_param & SCP02_I_ICV_ENCRYPT) &&
            ks_encrypt(ch->ks, ch->keys.cmac_k1, NULL, icv, 8, icv) != CKR_OK)
            return fail(ch, SCP_E_KEYSTORE, "ICV encryption: %s", ks_session_error(ch->ks));
    }
    uint8_t buf[5 + APDU_MAX_DATA];
    int unmodified = ch->i_param & SCP02_I_CMAC_UNMODIFIED;
    buf[0] = unmodified ? plain->cla : (uint8_t)(plain->cla | 0x04);
    buf[1] = plain->ins;
    buf[2] = plain->p1;
    buf[3] = plain->p2;
    buf[4] = (uint8_t)(unmodified ? plain->lc : plain->lc + 8);
    memcpy(buf + 5, plain->data, plain->lc);
    if (ks_mac_retail(ch->ks, ch->keys.cmac, ch->keys.cmac_k1, icv, buf, 5 + plain->lc, mac) !=
        CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "C-MAC: %s", ks_session_error(ch->ks));
    return SCP_OK;
}

static scp_err_t wrap(scp02_t *ch, const apdu_t *plain, apdu_t *out, int first, int encrypt)
{
    if (plain->lc + 8 > APDU_MAX_DATA)
        return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes leaves no room for the 8-byte "
                                        "C-MAC (at most 247)", plain->lc);
    uint8_t data[APDU_MAX_DATA + 8];
    size_t dlen = plain->lc;
    memcpy(data, plain->data, plain->lc);
    if (encrypt && plain->lc) {
        dlen = ks_pad80(plain->data, plain->lc, data, sizeof data);
        if (dlen == 0 || dlen + 8 > APDU_MAX_DATA)
            return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes is too long once padded "
                                            "and encrypted (at most 239)", plain->lc);
    }
    uint8_t mac[8];
    scp_err_t e = compute_cmac(ch, plain, first, mac);
    if (e != SCP_OK)
        return e;
    if (encrypt && plain->lc) {
        static const uint8_t zero[8];
        if (ks_encrypt(ch->ks, ch->keys.enc, zero, data, dlen, data) != CKR_OK)
            return fail(ch, SCP_E_KEYSTORE, "C-DEC encryption: %s", ks_session_error(ch->ks));
    }
    memcpy(data + dlen, mac, 8);
    apdu_set(out, (uint8_t)(plain->cla | 0x04), plain->ins, plain->p1, plain->p2, data, dlen + 8,
             plain->has_le, plain->le);
    memcpy(ch->last_cmac, mac, 8);
    return SCP_OK;
}

scp_err_t scp02_external_authenticate(scp02_t *ch, apdu_t *cmd)
{
    if (ch->state != SCP02_INIT_SENT || ch->keys.enc == CK_INVALID_HANDLE)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE needs a verified card cryptogram");
    uint8_t in[16], host[8];
    memcpy(in, ch->init.seq, 2);
    memcpy(in + 2, ch->init.card_challenge, 6);
    memcpy(in + 8, ch->host_challenge, 8);
    if (ks_mac_3des(ch->ks, ch->keys.enc, in, sizeof in, host) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "host cryptogram: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    apdu_t plain;
    apdu_set(&plain, 0x80, 0x82, ch->level, 0x00, host, 8, 0, 0);
    scp_err_t e = wrap(ch, &plain, cmd, 1, 0);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP02_AUTH_SENT;
    return SCP_OK;
}

scp_err_t scp02_on_external_authenticate(scp02_t *ch, uint16_t sw)
{
    if (ch->state != SCP02_AUTH_SENT)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE response without a pending command");
    ch->last_sw = sw;
    if (sw != 0x9000) {
        char d[200];
        fail(ch, SCP_E_RSP_SW, "EXTERNAL AUTHENTICATE refused: %s",
             sw_describe(sw, SW_CTX_EXTERNAL_AUTHENTICATE, d, sizeof d));
        return abort_channel(ch, SCP_E_RSP_SW);
    }
    ch->state = SCP02_OPEN;
    return SCP_OK;
}

scp_err_t scp02_wrap(scp02_t *ch, const apdu_t *plain, apdu_t *wrapped)
{
    if (ch->state != SCP02_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    if (plain->cla & 0x04)
        return fail(ch, SCP_E_ARGS, "CLA %02X already announces secure messaging: pass the plain "
                                    "command", plain->cla);
    return wrap(ch, plain, wrapped, 0, (ch->level & SCP02_LEVEL_CDEC) != 0);
}

void scp02_close(scp02_t *ch)
{
    if (ch->ks)
        ks_scp02_destroy(ch->ks, &ch->keys);
    ks_wipe(ch->last_cmac, sizeof ch->last_cmac);
    ks_wipe(ch->host_challenge, sizeof ch->host_challenge);
    ch->state = SCP02_CLOSED;
}
