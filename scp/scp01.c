/* SCP01 secure channel: see scp01.h. */
#include "config.h"
#include "scp01.h"
#include "sw.h"

#include <stdio.h>
#include <string.h>

#define fail SCP_FAIL

static scp_err_t abort_channel(scp01_t *ch, scp_err_t e)
{
    scp01_close(ch);
    return e;
}

const char *scp01_error(const scp01_t *ch) { return ch->err; }

scp_err_t scp01_init(scp01_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t level)
{
    memset(ch, 0, sizeof *ch);
    ch->ks = ks;
    if (!ks || !keys)
        return fail(ch, SCP_E_ARGS, "no keystore session or key set");
    ch->static_enc = keys->enc;
    ch->static_mac = keys->mac;
    ch->static_dek = keys->dek;
    ch->level = level;
    if (level != SCP01_LEVEL_CMAC && level != (SCP01_LEVEL_CMAC | SCP01_LEVEL_CDEC))
        return fail(ch, SCP_E_UNSUPPORTED, "security level %02X is not an SCP01 level: SCP01 has "
                                           "mac (01) and mac-enc (03), no R-MAC", level);
    return SCP_OK;
}

scp_err_t scp01_parse_init_update(const uint8_t *rsp, size_t len, scp01_init_rsp_t *out,
                                  char *why, size_t why_len)
{
    size_t dlen;
    scp_err_t e = scp_init_update_data(rsp, len, &dlen, why, why_len);
    if (e != SCP_OK)
        return e;
    if (dlen != SCP01_INIT_RSP_LEN) {
        snprintf(why, why_len, "INITIALIZE UPDATE response has %zu data bytes, SCP01 needs "
                               "exactly %d", dlen, SCP01_INIT_RSP_LEN);
        return dlen < SCP01_INIT_RSP_LEN ? SCP_E_RSP_SHORT : SCP_E_RSP_LONG;
    }
    memcpy(out->key_div, rsp, 10);
    out->kvn = rsp[10];
    out->scp = rsp[11];
    memcpy(out->card_challenge, rsp + 12, 8);
    memcpy(out->card_cryptogram, rsp + 20, 8);
    return scp_check_protocol(out->scp, 0x01, why, why_len);
}

scp_err_t scp01_initialize_update(scp01_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd)
{
    if (ch->state != SCP01_CLOSED)
        scp01_close(ch);
    scp_err_t e = scp_initialize_update(ch->ks, kvn, host_challenge, ch->host_challenge, 8, cmd,
                                        ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    ch->kvn_requested = kvn;
    ch->state = SCP01_INIT_SENT;
    return SCP_OK;
}

/* S-ENC and S-MAC from the static keys, or from the card's static keys
 * diversified from the key set's master keys with its KDD. */
static scp_err_t derive_session_keys(scp01_t *ch)
{
    CK_OBJECT_HANDLE st[2] = {ch->static_enc, ch->static_mac};
    CK_OBJECT_HANDLE div[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_RV rv = CKR_OK;
    if (ch->div != KS_DIV_NONE) {
        for (int k = 0; k < 2 && rv == CKR_OK; k++)
            rv = ks_scp02_diversify(ch->ks, st[k], ch->div, ch->init.key_div, k + 1, &div[k]);
        st[0] = div[0];
        st[1] = div[1];
    }
    if (rv == CKR_OK)
        rv = ks_scp01_derive(ch->ks, st[0], st[1], ch->host_challenge, ch->init.card_challenge,
                             &ch->keys);
    for (int k = 0; k < 2; k++)
        ks_destroy(ch->ks, div[k]); /* the card's static keys are not kept */
    if (rv != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "session keys: %s", ks_session_error(ch->ks));
    return SCP_OK;
}

scp_err_t scp01_on_initialize_update(scp01_t *ch, const uint8_t *rsp, size_t len)
{
    if (ch->state != SCP01_INIT_SENT)
        return fail(ch, SCP_E_STATE, "INITIALIZE UPDATE response without a pending command");
    scp_err_t e = scp01_parse_init_update(rsp, len, &ch->init, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    e = scp_des_answer_checks(ch->kvn_requested, ch->init.kvn, ch->select_keys, ch->select_ctx,
                              ch->init.key_div, &ch->static_enc, &ch->static_mac,
                              &ch->static_dek, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    e = derive_session_keys(ch);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    uint8_t in[16], mac[8];
    memcpy(in, ch->host_challenge, 8);
    memcpy(in + 8, ch->init.card_challenge, 8);
    CK_RV rv = ks_mac_3des(ch->ks, ch->keys.enc, in, sizeof in, mac);
    e = scp_check_card_cryptogram(rv, ks_session_error(ch->ks), mac, ch->init.card_cryptogram, 8,
                                  ch->init.kvn, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    return SCP_OK;
}

static scp_err_t wrap(scp01_t *ch, const apdu_t *plain, apdu_t *out, int encrypt)
{
    if (plain->lc + 8 > APDU_MAX_DATA)
        return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes leaves no room for the 8-byte "
                                        "C-MAC (at most 247)", plain->lc);
    uint8_t buf[5 + APDU_MAX_DATA], data[APDU_MAX_DATA + 16];
    buf[0] = (uint8_t)(plain->cla | 0x04);
    buf[1] = plain->ins;
    buf[2] = plain->p1;
    buf[3] = plain->p2;
    buf[4] = (uint8_t)(plain->lc + 8);
    memcpy(buf + 5, plain->data, plain->lc);
    size_t dlen = plain->lc;
    memcpy(data, plain->data, plain->lc);
    if (encrypt && plain->lc) {
        /* the length byte, the data, and padding only when not whole blocks */
        data[0] = (uint8_t)plain->lc;
        memcpy(data + 1, plain->data, plain->lc);
        dlen = 1 + plain->lc;
        if (dlen % 8)
            dlen = ks_pad80(data, dlen, data, sizeof data);
        if (dlen == 0 || dlen + 8 > APDU_MAX_DATA)
            return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes is too long once its "
                                            "length byte is added and it is encrypted (at most "
                                            "239)", plain->lc);
    }
    uint8_t mac[8];
    if (ks_mac_3des_icv(ch->ks, ch->keys.mac, ch->last_cmac, buf, 5 + plain->lc, mac) != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "C-MAC: %s", ks_session_error(ch->ks));
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

scp_err_t scp01_external_authenticate(scp01_t *ch, apdu_t *cmd)
{
    if (ch->state != SCP01_INIT_SENT || ch->keys.enc == CK_INVALID_HANDLE)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE needs a verified card cryptogram");
    uint8_t in[16], host[8];
    memcpy(in, ch->init.card_challenge, 8);
    memcpy(in + 8, ch->host_challenge, 8);
    if (ks_mac_3des(ch->ks, ch->keys.enc, in, sizeof in, host) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "host cryptogram: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    apdu_t plain;
    apdu_set(&plain, 0x80, 0x82, ch->level, 0x00, host, 8, 0, 0);
    memset(ch->last_cmac, 0, 8); /* the first C-MAC's ICV is zero */
    scp_err_t e = wrap(ch, &plain, cmd, 0);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP01_AUTH_SENT;
    return SCP_OK;
}

scp_err_t scp01_on_external_authenticate(scp01_t *ch, uint16_t sw)
{
    if (ch->state != SCP01_AUTH_SENT)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE response without a pending command");
    ch->last_sw = sw;
    scp_err_t e = scp_external_authenticate_sw(sw, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP01_OPEN;
    return SCP_OK;
}

scp_err_t scp01_wrap(scp01_t *ch, const apdu_t *plain, apdu_t *wrapped)
{
    if (ch->state != SCP01_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    scp_err_t e = scp_check_plain(plain, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    return wrap(ch, plain, wrapped, (ch->level & SCP01_LEVEL_CDEC) != 0);
}

scp_err_t scp01_encrypt_key_data(scp01_t *ch, const uint8_t *in, size_t len, uint8_t *out)
{
    if (ch->state != SCP01_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    if (ks_encrypt(ch->ks, ch->static_dek, NULL, in, len, out) != CKR_OK)
        return fail(ch, SCP_E_UNSUPPORTED, "not offered over SCP01: SCP01 sends keys "
                    "encrypted under the static DEK, and the DEK of gp-p11's DES key sets only "
                    "derives session keys, it never encrypts (%s)", ks_session_error(ch->ks));
    return SCP_OK;
}

void scp01_close(scp01_t *ch)
{
    if (ch->ks)
        ks_scp01_destroy(ch->ks, &ch->keys);
    memset(ch->last_cmac, 0, sizeof ch->last_cmac);
    ch->state = SCP01_CLOSED;
}
