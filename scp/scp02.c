/* SCP02 secure channel: see scp02.h. */
#include "config.h"
#include "scp02.h"
#include "sw.h"

#include <stdio.h>
#include <string.h>

#define fail SCP_FAIL

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
    if (i_param & 0x80)
        return fail(ch, SCP_E_UNSUPPORTED, "SCP02 i=%02X has a reserved bit set", i_param);
    int rmac = (level & SCP02_LEVEL_RMAC) != 0;
    uint8_t base = level & (uint8_t)~SCP02_LEVEL_RMAC;
    if (!(i_param & SCP02_I_EXPLICIT)) {
        if (level != SCP02_LEVEL_CMAC)
            return fail(ch, SCP_E_UNSUPPORTED, "SCP02 i=%02X opens the channel implicitly, which "
                                               "gives C-MAC only (security level mac)", i_param);
    } else if (base != SCP02_LEVEL_CMAC && base != (SCP02_LEVEL_CMAC | SCP02_LEVEL_CDEC)) {
        return fail(ch, SCP_E_UNSUPPORTED, "security level %02X is not an SCP02 level (01, 03, 11, "
                                           "13)", level);
    }
    if (rmac && !(i_param & SCP02_I_RMAC))
        return fail(ch, SCP_E_UNSUPPORTED, "security level %02X asks for R-MAC, which the card "
                                           "(SCP02 i=%02X) does not offer", level, i_param);
    return SCP_OK;
}

scp_err_t scp02_parse_init_update(const uint8_t *rsp, size_t len, scp02_init_rsp_t *out,
                                  char *why, size_t why_len)
{
    size_t dlen;
    scp_err_t e = scp_init_update_data(rsp, len, &dlen, why, why_len);
    if (e != SCP_OK)
        return e;
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
    return scp_check_protocol(out->scp, 0x02, why, why_len);
}

scp_err_t scp02_initialize_update(scp02_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd)
{
    if (ch->state != SCP02_CLOSED)
        scp02_close(ch);
    scp_err_t e = scp_initialize_update(ch->ks, kvn, host_challenge, ch->host_challenge, 8, cmd,
                                        ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    ch->kvn_requested = kvn;
    ch->state = SCP02_INIT_SENT;
    return SCP_OK;
}

/* Session keys for sequence counter seq: from the key set's static keys, or
 * from static keys diversified from its master keys with the card's KDD;
 * with one base key (i bit 01 clear) every session key comes from 'enc'. */
static scp_err_t derive_session_keys(scp02_t *ch, const uint8_t seq[2])
{
    int one = !(ch->i_param & SCP02_I_THREE_KEYS);
    CK_OBJECT_HANDLE st[3] = {ch->static_enc, one ? ch->static_enc : ch->static_mac,
                              one ? ch->static_enc : ch->static_dek};
    CK_OBJECT_HANDLE div[3] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_RV rv = CKR_OK;
    if (ch->div != KS_DIV_NONE) {
        for (int k = 0; k < (one ? 1 : 3) && rv == CKR_OK; k++)
            rv = ks_scp02_diversify(ch->ks, st[k], ch->div, ch->init.key_div, k + 1, &div[k]);
        for (int k = 0; k < 3; k++)
            st[k] = div[one ? 0 : k];
    }
    if (rv == CKR_OK)
        rv = ks_scp02_derive(ch->ks, st[0], st[1], st[2], seq, &ch->keys);
    for (int k = 0; k < 3; k++)
        ks_destroy(ch->ks, div[k]); /* the card's static keys are not kept */
    if (rv != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "session keys: %s", ks_session_error(ch->ks));
    return SCP_OK;
}

scp_err_t scp02_on_initialize_update(scp02_t *ch, const uint8_t *rsp, size_t len)
{
    if (ch->state != SCP02_INIT_SENT)
        return fail(ch, SCP_E_STATE, "INITIALIZE UPDATE response without a pending command");
    scp_err_t e = scp02_parse_init_update(rsp, len, &ch->init, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    e = scp_des_answer_checks(ch->kvn_requested, ch->init.kvn, ch->select_keys, ch->select_ctx,
                              ch->init.key_div, &ch->static_enc, &ch->static_mac,
                              &ch->static_dek, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    scp_err_t de = derive_session_keys(ch, ch->init.seq);
    if (de != SCP_OK)
        return abort_channel(ch, de);
    uint8_t in[16], mac[8];
    memcpy(in, ch->host_challenge, 8);
    memcpy(in + 8, ch->init.seq, 2);
    memcpy(in + 10, ch->init.card_challenge, 6);
    CK_RV rv = ks_mac_3des(ch->ks, ch->keys.enc, in, sizeof in, mac);
    e = scp_check_card_cryptogram(rv, ks_session_error(ch->ks), mac, ch->init.card_cryptogram, 8,
                                  ch->init.kvn, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
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
        if (ch->first_icv)
            ch->first_icv = 0; /* implicit initiation: the ICV is used as computed */
        else if ((ch->i_param & SCP02_I_ICV_ENCRYPT) &&
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
    /* the R-MAC covers the plain command: CLA without SM and channel bits */
    ch->rmac_cmd[0] = (uint8_t)(plain->cla & ~0x07);
    ch->rmac_cmd[1] = plain->ins;
    ch->rmac_cmd[2] = plain->p1;
    ch->rmac_cmd[3] = plain->p2;
    ch->rmac_cmd[4] = (uint8_t)plain->lc;
    memcpy(ch->rmac_cmd + 5, plain->data, plain->lc);
    ch->rmac_cmd_len = 5 + plain->lc;
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
    scp_err_t e = scp_external_authenticate_sw(sw, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP02_OPEN;
    memcpy(ch->rmac_icv, ch->last_cmac, 8); /* R-MAC chaining starts from this C-MAC */
    return SCP_OK;
}

scp_err_t scp02_wrap(scp02_t *ch, const apdu_t *plain, apdu_t *wrapped)
{
    if (ch->state != SCP02_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    scp_err_t e = scp_check_plain(plain, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    return wrap(ch, plain, wrapped, 0, (ch->level & SCP02_LEVEL_CDEC) != 0);
}

void scp02_close(scp02_t *ch)
{
    ch->first_icv = 0;
    ks_wipe(ch->rmac_cmd, sizeof ch->rmac_cmd);
    if (ch->ks)
        ks_scp02_destroy(ch->ks, &ch->keys);
    ks_wipe(ch->last_cmac, sizeof ch->last_cmac);
    ks_wipe(ch->host_challenge, sizeof ch->host_challenge);
    ch->state = SCP02_CLOSED;
}

scp_err_t scp02_unwrap(scp02_t *ch, const uint8_t *rsp, size_t len, uint8_t *out, size_t *out_len)
{
    if (!(ch->level & SCP02_LEVEL_RMAC) || ch->state != SCP02_OPEN) {
        memmove(out, rsp, len);
        *out_len = len;
        return SCP_OK;
    }
    if (len < 10) {
        *out_len = 0;
        return fail(ch, SCP_E_RMAC, "the card's answer (%zu bytes) carries no R-MAC: it is not "
                                    "trusted", len);
    }
    size_t dl = len - 10;
    uint8_t buf[5 + APDU_MAX_DATA + 1 + 256 + 2];
    size_t n = ch->rmac_cmd_len;
    memcpy(buf, ch->rmac_cmd, n);
    buf[n++] = (uint8_t)dl;
    memcpy(buf + n, rsp, dl);
    n += dl;
    buf[n++] = rsp[len - 2];
    buf[n++] = rsp[len - 1];
    uint8_t mac[8];
    if (ks_mac_retail(ch->ks, ch->keys.rmac, ch->keys.rmac_k1, ch->rmac_icv, buf, n, mac) != CKR_OK) {
        *out_len = 0;
        return fail(ch, SCP_E_KEYSTORE, "R-MAC: %s", ks_session_error(ch->ks));
    }
    if (!scp_equal(mac, rsp + dl, 8)) {
        *out_len = 0;
        return fail(ch, SCP_E_RMAC, "the R-MAC of the card's answer does not verify: the answer "
                                    "was changed or does not come from the card, and is not "
                                    "returned");
    }
    memcpy(ch->rmac_icv, mac, 8);
    memmove(out, rsp, dl);
    out[dl] = rsp[len - 2];
    out[dl + 1] = rsp[len - 1];
    *out_len = dl + 2;
    return SCP_OK;
}

scp_err_t scp02_implicit_open(scp02_t *ch, const uint8_t seq[2], const uint8_t *aid, size_t aid_len)
{
    if (ch->i_param & SCP02_I_EXPLICIT)
        return fail(ch, SCP_E_STATE, "SCP02 i=%02X opens explicitly (INITIALIZE UPDATE)", ch->i_param);
    if (ch->state != SCP02_CLOSED)
        scp02_close(ch);
    memset(&ch->init, 0, sizeof ch->init);
    memcpy(ch->init.seq, seq, 2);
    scp_err_t e = derive_session_keys(ch, seq);
    if (e != SCP_OK)
        return e;
    memset(ch->last_cmac, 0, 8);
    if (ch->i_param & SCP02_I_ICV_MAC_AID) {
        static const uint8_t zero[8];
        if (!aid || aid_len < 5) {
            scp02_close(ch);
            return fail(ch, SCP_E_ARGS, "implicit initiation needs the selected application's AID");
        }
        if (ks_mac_retail(ch->ks, ch->keys.cmac, ch->keys.cmac_k1, zero, aid, aid_len,
                          ch->last_cmac) != CKR_OK) {
            scp02_close(ch);
            return fail(ch, SCP_E_KEYSTORE, "ICV over the AID: %s", ks_session_error(ch->ks));
        }
    }
    ch->first_icv = 1;
    ch->state = SCP02_OPEN;
    return SCP_OK;
}

scp_err_t scp02_encrypt_key_data(scp02_t *ch, const uint8_t *in, size_t len, uint8_t *out)
{
    if (ch->state != SCP02_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    if (ks_encrypt(ch->ks, ch->keys.dek, NULL, in, len, out) != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "key encryption under the session DEK: %s",
                    ks_session_error(ch->ks));
    return SCP_OK;
}

scp_err_t scp02_wrap_key(scp02_t *ch, CK_OBJECT_HANDLE key, uint8_t out[16])
{
    if (ch->state != SCP02_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    CK_RV rv = ks_wrap_des3_ecb(ch->ks, ch->keys.dek, key, out);
    if (rv != CKR_OK)
        return fail(ch, rv == CKR_MECHANISM_INVALID ? SCP_E_UNSUPPORTED : SCP_E_KEYSTORE,
                    "wrapping the new key under the session DEK: %s", ks_session_error(ch->ks));
    return SCP_OK;
}
