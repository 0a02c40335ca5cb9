/* SCP03 secure channel: see scp03.h. */
#include "config.h"
#include "scp03.h"
#include "sw.h"

#include <stdio.h>
#include <string.h>

#define fail SCP_FAIL

static scp_err_t abort_channel(scp03_t *ch, scp_err_t e)
{
    scp03_close(ch);
    return e;
}

const char *scp03_error(const scp03_t *ch) { return ch->err; }

static int level_valid(uint8_t level)
{
    return level == 0x01 || level == 0x03 || level == 0x11 || level == 0x13 || level == 0x33;
}

scp_err_t scp03_init(scp03_t *ch, ks_session_t *ks, const ks_keyset_t *keys, uint8_t level)
{
    memset(ch, 0, sizeof *ch);
    ch->ks = ks;
    if (!ks || !keys)
        return fail(ch, SCP_E_ARGS, "no keystore session or key set");
    ch->statics = *keys;
    ch->level = level;
    if (!level_valid(level))
        return fail(ch, SCP_E_UNSUPPORTED, "security level %02X is not an SCP03 level (01 C-MAC, "
                                           "03 C-DEC, 11 R-MAC, 13 C-DEC + R-MAC, 33 C-DEC + "
                                           "R-MAC + R-ENC)", level);
    return SCP_OK;
}

scp_err_t scp03_parse_init_update(const uint8_t *rsp, size_t len, scp03_init_rsp_t *out, char *why,
                                  size_t why_len)
{
    size_t dlen;
    memset(out, 0, sizeof *out);
    scp_err_t e = scp_init_update_data(rsp, len, &dlen, why, why_len);
    if (e != SCP_OK)
        return e;
    if (dlen >= 12 && rsp[11] != 0x03) {
        snprintf(why, why_len, "the card answered INITIALIZE UPDATE as secure channel protocol "
                               "%02X, not SCP03 (03)%s", rsp[11],
                 rsp[11] == 0x02 ? ": use its SCP02 keys, or scp = 02" : "");
        return SCP_E_OTHER_SCP;
    }
    if (dlen < SCP03_INIT_RSP_LEN) {
        snprintf(why, why_len, "INITIALIZE UPDATE response has %zu data bytes, SCP03 needs 29 "
                               "or 32", dlen);
        return SCP_E_RSP_SHORT;
    }
    uint8_t i = rsp[12];
    size_t m = (i & SCP03_I_S16) ? 16 : 8; /* the mode the card answers in */
    size_t want = 13 + 2 * m + ((i & SCP03_I_PSEUDO_RANDOM) ? 3 : 0);
    if (dlen != want) {
        snprintf(why, why_len, "INITIALIZE UPDATE response has %zu data bytes; with i=%02X "
                               "(%s card challenge, S%zu mode) SCP03 answers exactly %zu", dlen, i,
                 (i & SCP03_I_PSEUDO_RANDOM) ? "pseudo-random" : "random", m, want);
        return dlen < want ? SCP_E_RSP_SHORT : SCP_E_RSP_LONG;
    }
    memcpy(out->key_div, rsp, 10);
    out->kvn = rsp[10];
    out->scp = rsp[11];
    out->i = i;
    out->s = m;
    memcpy(out->card_challenge, rsp + 13, m);
    memcpy(out->card_cryptogram, rsp + 13 + m, m);
    if (i & SCP03_I_PSEUDO_RANDOM) {
        memcpy(out->seq, rsp + 13 + 2 * m, 3);
        out->has_seq = 1;
    }
    if (i & 0x8E) {
        snprintf(why, why_len, "the card answered SCP03 i=%02X, with bits gp-p11 does not know "
                               "(later options): only S8 and S16 with random or pseudo-random "
                               "challenges, R-MAC and R-ENC are spoken", i);
        return SCP_E_UNSUPPORTED;
    }
    return SCP_OK;
}

scp_err_t scp03_initialize_update(scp03_t *ch, uint8_t kvn, const uint8_t *host_challenge,
                                  apdu_t *cmd)
{
    if (ch->state != SCP03_CLOSED)
        scp03_close(ch);
    if (!ch->s)
        ch->s = 8;
    scp_err_t e = scp_initialize_update(ch->ks, kvn, host_challenge, ch->host_challenge, ch->s,
                                        cmd, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    ch->kvn_requested = kvn;
    ch->state = SCP03_INIT_SENT;
    return SCP_OK;
}

/* What the card's i allows: R-MAC levels need i bit 20, R-ENC needs 40. */
static const char *level_refused(uint8_t level, uint8_t i)
{
    if ((level & SCP03_LEVEL_RMAC) && !(i & SCP03_I_RMAC))
        return "R-MAC";
    if ((level & SCP03_LEVEL_RENC) && !(i & SCP03_I_RENC))
        return "R-ENCRYPTION";
    return NULL;
}

/* S-ENC, S-MAC and S-RMAC from the static keys, or from the card's static
 * keys diversified from the key set's master keys by KDF3 (destroyed once
 * the session keys exist: the card's keys are not kept). */
/* host challenge || card challenge: 16 bytes (S8) or 32 (S16) */
static size_t host_card_context(const scp03_t *ch, uint8_t out[32])
{
    memcpy(out, ch->host_challenge, ch->s);
    memcpy(out + ch->s, ch->init.card_challenge, ch->s);
    return 2 * ch->s;
}

static CK_RV derive_session_keys(scp03_t *ch, size_t klen, const uint8_t *context, size_t cl)
{
    if (ch->div != KS_DIV_KDF3)
        return ks_scp03_derive(ch->ks, ch->statics.enc, ch->statics.mac, klen, context, cl,
                               &ch->keys);
    CK_OBJECT_HANDLE card[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_OBJECT_HANDLE master[2] = {ch->statics.enc, ch->statics.mac};
    CK_RV rv = CKR_OK;
    for (int k = 0; k < 2 && rv == CKR_OK; k++)
        rv = ks_scp03_kdf3(ch->ks, master[k], klen, ch->init.key_div, k + 1,
                           KS_USE_DERIVE | KS_USE_ENCRYPT, &card[k]);
    if (rv == CKR_OK)
        rv = ks_scp03_derive(ch->ks, card[0], card[1], klen, context, cl, &ch->keys);
    for (int k = 0; k < 2; k++)
        ks_destroy(ch->ks, card[k]);
    return rv;
}

scp_err_t scp03_on_initialize_update(scp03_t *ch, const uint8_t *rsp, size_t len)
{
    if (ch->state != SCP03_INIT_SENT)
        return fail(ch, SCP_E_STATE, "INITIALIZE UPDATE response without a pending command");
    scp_err_t e = scp03_parse_init_update(rsp, len, &ch->init, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    e = scp_check_kvn(ch->kvn_requested, ch->init.kvn, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    if (ch->init.s != ch->s) {
        fail(ch, SCP_E_UNSUPPORTED, "the card answered in S%zu mode (i=%02X) to a %zu-byte host "
             "challenge (S%zu); EXTERNAL AUTHENTICATE was not sent", ch->init.s, ch->init.i,
             ch->s, ch->s);
        return abort_channel(ch, SCP_E_UNSUPPORTED);
    }
    const char *missing = level_refused(ch->level, ch->init.i);
    if (missing) {
        fail(ch, SCP_E_UNSUPPORTED, "security level %02X asks for %s, which this card (SCP03 "
                                    "i=%02X) does not offer; EXTERNAL AUTHENTICATE was not sent",
             ch->level, missing, ch->init.i);
        return abort_channel(ch, SCP_E_UNSUPPORTED);
    }
    if (ch->select_keys) {
        ks_keyset_t k = ch->statics;
        if (ch->select_keys(ch->select_ctx, ch->init.key_div, &k) == 0 && k.aes)
            ch->statics = k;
    }
    e = scp_check_keys_found(ch->statics.enc, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    if (!ch->statics.aes) {
        fail(ch, SCP_E_UNSUPPORTED, "the card speaks SCP03, which needs an AES key set; the key "
                                    "set found holds DES keys (SCP02). EXTERNAL AUTHENTICATE was "
                                    "not sent");
        return abort_channel(ch, SCP_E_UNSUPPORTED);
    }
    size_t klen = ch->statics.len ? ch->statics.len : 16;
    if (ks_scp03_supported(ch->ks, klen) != CKR_OK) {
        fail(ch, SCP_E_UNSUPPORTED, "the key set holds keys of %zu bytes: SCP03 keys are AES-128, "
             "AES-192 or AES-256 (16, 24 or 32 bytes); EXTERNAL AUTHENTICATE was not sent", klen);
        return abort_channel(ch, SCP_E_UNSUPPORTED);
    }
    uint8_t context[32];
    size_t cl = host_card_context(ch, context);
    if (derive_session_keys(ch, klen, context, cl) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "session keys: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    uint8_t card[16];
    CK_RV rv = ks_scp03_cryptogram(ch->ks, ch->keys.mac, SCP03_DDC_CARD_CRYPTOGRAM, context, cl,
                                   card, ch->s);
    e = scp_check_card_cryptogram(rv, ks_session_error(ch->ks), card, ch->init.card_cryptogram,
                                  ch->s, ch->init.kvn, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    return SCP_OK;
}

/* C-MAC of a command whose (encrypted) data is final: CMAC(S-MAC, chaining
 * value || CLA' INS P1 P2 Lc' || data), Lc' counting the C-MAC; the full
 * CMAC becomes the chaining value, its first 8 bytes (S8) or all 16 (S16)
 * the C-MAC. */
static scp_err_t cmac(scp03_t *ch, const apdu_t *plain, const uint8_t *data, size_t dlen,
                      uint8_t mac[16])
{
    uint8_t buf[16 + 5 + APDU_MAX_DATA];
    memcpy(buf, ch->chain, 16);
    buf[16] = (uint8_t)(plain->cla | 0x04);
    buf[17] = plain->ins;
    buf[18] = plain->p1;
    buf[19] = plain->p2;
    buf[20] = (uint8_t)(dlen + ch->s);
    memcpy(buf + 21, data, dlen);
    uint8_t full[16];
    if (ks_aes_cmac(ch->ks, ch->keys.mac, buf, 21 + dlen, full) != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "C-MAC: %s", ks_session_error(ch->ks));
    memcpy(ch->chain, full, 16);
    memcpy(mac, full, ch->s);
    return SCP_OK;
}

/* The counter as a 16-byte block; top: 80 for a response's ICV. */
static void counter_block(uint32_t counter, uint8_t top, uint8_t b[16])
{
    memset(b, 0, 16);
    b[0] = top;
    b[12] = (uint8_t)(counter >> 24);
    b[13] = (uint8_t)(counter >> 16);
    b[14] = (uint8_t)(counter >> 8);
    b[15] = (uint8_t)counter;
}

static scp_err_t wrap(scp03_t *ch, const apdu_t *plain, apdu_t *out, int encrypt)
{
    if (plain->lc + ch->s > APDU_MAX_DATA)
        return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes leaves no room for the %zu-byte "
                                        "C-MAC (at most %zu)", plain->lc, ch->s,
                    APDU_MAX_DATA - ch->s);
    /* room for the counter block in front: one encryption gives the ICV
     * (AES(S-ENC, counter)) and the CBC chain after it */
    uint8_t buf[16 + APDU_MAX_DATA + 16];
    uint8_t *data = buf + 16;
    size_t dlen = plain->lc;
    memcpy(data, plain->data, plain->lc);
    /* the counter moves on for every command sent, with data or without
     * (Amendment D 6.2.6), and only for those: one refused here is not */
    uint32_t counter = ch->counter + 1;
    if (encrypt) {
        if (plain->lc) {
            dlen = ks_pad80_to(plain->data, plain->lc, data, APDU_MAX_DATA + 16, 16);
            if (dlen == 0 || dlen + ch->s > APDU_MAX_DATA)
                return fail(ch, SCP_E_TOO_LONG, "command data of %zu bytes is too long once "
                                                "padded and encrypted (at most %zu)", plain->lc,
                            (APDU_MAX_DATA - ch->s) / 16 * 16 - 1);
            static const uint8_t zero[16];
            counter_block(counter, 0x00, buf);
            if (ks_cipher(ch->ks, CKM_AES_CBC, ch->keys.enc, zero, 16, 1, buf, 16 + dlen, buf) !=
                CKR_OK)
                return fail(ch, SCP_E_KEYSTORE, "C-DECRYPTION: %s", ks_session_error(ch->ks));
            ks_wipe(buf, 16); /* the ICV */
        }
    }
    uint8_t mac[16] = {0};
    scp_err_t e = cmac(ch, plain, data, dlen, mac);
    if (e != SCP_OK)
        return e;
    if (encrypt)
        ch->counter = counter;
    memcpy(data + dlen, mac, ch->s);
    apdu_set(out, (uint8_t)(plain->cla | 0x04), plain->ins, plain->p1, plain->p2, data,
             dlen + ch->s, plain->has_le, plain->le);
    return SCP_OK;
}

scp_err_t scp03_external_authenticate(scp03_t *ch, apdu_t *cmd)
{
    if (ch->state != SCP03_INIT_SENT || ch->keys.mac == CK_INVALID_HANDLE)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE needs a verified card cryptogram");
    uint8_t context[32], host[16];
    size_t cl = host_card_context(ch, context);
    if (ks_scp03_cryptogram(ch->ks, ch->keys.mac, SCP03_DDC_HOST_CRYPTOGRAM, context, cl, host,
                            ch->s) != CKR_OK) {
        fail(ch, SCP_E_KEYSTORE, "host cryptogram: %s", ks_session_error(ch->ks));
        return abort_channel(ch, SCP_E_KEYSTORE);
    }
    memset(ch->chain, 0, sizeof ch->chain);
    apdu_t plain;
    apdu_set(&plain, 0x80, 0x82, ch->level, 0x00, host, ch->s, 0, 0);
    scp_err_t e = wrap(ch, &plain, cmd, 0);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP03_AUTH_SENT;
    return SCP_OK;
}

scp_err_t scp03_on_external_authenticate(scp03_t *ch, uint16_t sw)
{
    if (ch->state != SCP03_AUTH_SENT)
        return fail(ch, SCP_E_STATE, "EXTERNAL AUTHENTICATE response without a pending command");
    ch->last_sw = sw;
    scp_err_t e = scp_external_authenticate_sw(sw, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return abort_channel(ch, e);
    ch->state = SCP03_OPEN;
    ch->counter = 0; /* the first command encrypts with counter 1 */
    return SCP_OK;
}

scp_err_t scp03_wrap(scp03_t *ch, const apdu_t *plain, apdu_t *wrapped)
{
    if (ch->state != SCP03_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    scp_err_t e = scp_check_plain(plain, ch->err, sizeof ch->err);
    if (e != SCP_OK)
        return e;
    unsigned long before = ks_session_calls(ch->ks);
    e = wrap(ch, plain, wrapped, (ch->level & SCP03_LEVEL_CDEC) != 0);
    ch->ks_calls = ks_session_calls(ch->ks) - before;
    return e;
}

/* 9000 and the warnings 62xx and 63xx carry an R-MAC; any other status
 * word is an error, answered with the SW alone (Amendment D 6.2.5). */
int scp03_sw_protected(uint16_t sw)
{
    uint8_t sw1 = (uint8_t)(sw >> 8);
    return sw == 0x9000 || sw1 == 0x62 || sw1 == 0x63;
}

scp_err_t scp03_unwrap(scp03_t *ch, const uint8_t *rsp, size_t len, uint8_t *out, size_t *out_len)
{
    *out_len = 0;
    if (!(ch->level & SCP03_LEVEL_RMAC) || ch->state != SCP03_OPEN) {
        memmove(out, rsp, len);
        *out_len = len;
        return SCP_OK;
    }
    if (len < 2)
        return fail(ch, SCP_E_RMAC, "the card's answer has no status word");
    uint8_t sw1 = rsp[len - 2], sw2 = rsp[len - 1];
    if (!scp03_sw_protected((uint16_t)(sw1 << 8 | sw2))) {
        /* an error has no R-MAC and no data to trust: the SW alone */
        out[0] = sw1;
        out[1] = sw2;
        *out_len = 2;
        return SCP_OK;
    }
    if (len < 2 + ch->s)
        return fail(ch, SCP_E_RMAC, "the card's answer (%zu bytes) carries no R-MAC: it is not "
                                    "trusted", len);
    unsigned long before = ks_session_calls(ch->ks);
    size_t dl = len - 2 - ch->s;
    uint8_t buf[16 + APDU_MAX_RSP + 2];
    memcpy(buf, ch->chain, 16);
    memcpy(buf + 16, rsp, dl);
    buf[16 + dl] = sw1;
    buf[17 + dl] = sw2;
    uint8_t mac[16];
    if (ks_aes_cmac(ch->ks, ch->keys.rmac, buf, 18 + dl, mac) != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "R-MAC: %s", ks_session_error(ch->ks));
    if (!scp_equal(mac, rsp + dl, ch->s))
        return fail(ch, SCP_E_RMAC, "the R-MAC of the card's answer does not verify: the answer "
                                    "was changed or does not come from the card, and is not "
                                    "returned");
    uint8_t plain[APDU_MAX_RSP];
    size_t pl = dl;
    memcpy(plain, rsp, dl);
    if ((ch->level & SCP03_LEVEL_RENC) && dl) {
        uint8_t icv[16];
        if (dl % 16) {
            ks_wipe(plain, sizeof plain);
            return fail(ch, SCP_E_RMAC, "the card's encrypted answer has %zu bytes, not whole AES "
                                        "blocks: it is not returned", dl);
        }
        counter_block(ch->counter, 0x80, icv);
        if (ks_cipher(ch->ks, CKM_AES_ECB, ch->keys.enc, NULL, 0, 1, icv, 16, icv) != CKR_OK ||
            ks_cipher(ch->ks, CKM_AES_CBC, ch->keys.enc, icv, 16, 0, rsp, dl, plain) != CKR_OK) {
            ks_wipe(plain, sizeof plain);
            return fail(ch, SCP_E_KEYSTORE, "R-ENCRYPTION: %s", ks_session_error(ch->ks));
        }
        ks_wipe(icv, sizeof icv);
        while (pl && plain[pl - 1] == 0x00)
            pl--;
        if (!pl || plain[pl - 1] != 0x80 || dl - pl >= 16) {
            ks_wipe(plain, sizeof plain);
            return fail(ch, SCP_E_RMAC, "the card's answer decrypts without valid padding: it is "
                                        "not returned");
        }
        pl--;
    }
    memcpy(out, plain, pl);
    ks_wipe(plain, sizeof plain);
    out[pl] = sw1;
    out[pl + 1] = sw2;
    *out_len = pl + 2;
    ch->ks_calls += ks_session_calls(ch->ks) - before;
    return SCP_OK;
}

/* PUT KEY sends keys under the card's static DEK: with KDF3 that is the
 * DEK master's diversification, which the master (encrypt and wrap only)
 * cannot make. */
static scp_err_t put_key_possible(scp03_t *ch)
{
    if (ch->state != SCP03_OPEN)
        return fail(ch, SCP_E_STATE, "no open secure channel");
    if (ch->div != KS_DIV_NONE)
        return fail(ch, SCP_E_UNSUPPORTED, "not offered with diversified keys: PUT KEY encrypts "
                    "under the card's own DEK, which gp-p11 does not derive from the DEK master "
                    "(it only encrypts and wraps)");
    return SCP_OK;
}

scp_err_t scp03_encrypt_key_data(scp03_t *ch, const uint8_t *in, size_t len, uint8_t *out)
{
    static const uint8_t zero[16];
    scp_err_t pe = put_key_possible(ch);
    if (pe != SCP_OK)
        return pe;
    if (len != 16 && len != 24 && len != 32)
        return fail(ch, SCP_E_ARGS, "AES key data of %zu bytes: AES keys have 16, 24 or 32", len);
    uint8_t b[32];
    size_t n = (len + 15) / 16 * 16;
    memcpy(b, in, len);
    memset(b + len, (int)(n - len), n - len); /* as CKM_AES_CBC_PAD pads */
    CK_RV rv = ks_cipher(ch->ks, CKM_AES_CBC, ch->statics.dek, zero, 16, 1, b, n, out);
    ks_wipe(b, sizeof b);
    if (rv != CKR_OK)
        return fail(ch, SCP_E_KEYSTORE, "key encryption under the DEK: %s",
                    ks_session_error(ch->ks));
    return SCP_OK;
}

scp_err_t scp03_wrap_key(scp03_t *ch, CK_OBJECT_HANDLE key, size_t key_len, uint8_t *out,
                         size_t *out_len)
{
    static const uint8_t zero[16];
    scp_err_t pe = put_key_possible(ch);
    if (pe != SCP_OK)
        return pe;
    (void)key_len; /* an AES-192 key comes as its 32-byte sendable form (ks_keyset_t) */
    CK_RV rv = ks_wrap(ch->ks, CKM_AES_CBC, zero, 16, ch->statics.dek, key, out, out_len);
    if (rv != CKR_OK)
        return fail(ch, rv == CKR_MECHANISM_INVALID ? SCP_E_UNSUPPORTED : SCP_E_KEYSTORE,
                    "wrapping the new key under the DEK: %s", ks_session_error(ch->ks));
    return SCP_OK;
}

void scp03_close(scp03_t *ch)
{
    if (ch->ks)
        ks_scp03_destroy(ch->ks, &ch->keys);
    ks_wipe(ch->chain, sizeof ch->chain);
    ks_wipe(ch->host_challenge, sizeof ch->host_challenge);
    ch->counter = 0;
    ch->state = SCP03_CLOSED;
}
