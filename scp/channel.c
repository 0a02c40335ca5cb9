/* The instances of the channel interface (gp.h, gp_channel_ops_t): SCP01
 * (scp01.c), SCP02 (scp02.c) and SCP03 (scp03.c), each step in the
 * interface's shape. Adding a protocol is adding an instance here. */
#include "config.h"
#include "gp.h"
#include "tlv.h"

#include <stdio.h>
#include <string.h>

/* --- SCP01 ------------------------------------------------------------------------ */

static scp_err_t s01_init(gp_card_t *g, ks_session_t *ks, const ks_keyset_t *keys,
                          const gp_channel_opts_t *o)
{
    scp_err_t e = scp01_init(&g->ch1, ks, keys, o->level);
    if (e == SCP_OK && o->div == KS_DIV_KDF3)
        return SCP_FAIL(&g->ch1, SCP_E_UNSUPPORTED, "kdf3 diversifies AES master keys (SCP03); "
                        "SCP01's DES keys are diversified by emv or visa2");
    g->ch1.div = o->div;
    g->ch1.select_keys = o->select_keys;
    g->ch1.select_ctx = o->select_ctx;
    return e;
}

static scp_err_t s01_initialize_update(gp_card_t *g, uint8_t kvn, apdu_t *cmd)
{
    return scp01_initialize_update(&g->ch1, kvn, NULL, cmd);
}

static scp_err_t s01_on_initialize_update(gp_card_t *g, const uint8_t *rsp, size_t len)
{
    return scp01_on_initialize_update(&g->ch1, rsp, len);
}

static scp_err_t s01_external_authenticate(gp_card_t *g, apdu_t *cmd)
{
    return scp01_external_authenticate(&g->ch1, cmd);
}

static scp_err_t s01_on_external_authenticate(gp_card_t *g, uint16_t sw)
{
    return scp01_on_external_authenticate(&g->ch1, sw);
}

static scp_err_t s01_wrap(gp_card_t *g, const apdu_t *plain, apdu_t *wire)
{
    return scp01_wrap(&g->ch1, plain, wire);
}

/* SCP01 has no R-MAC: every answer comes as it is */
static int s01_answer_has_rmac(uint16_t sw, size_t data_len)
{
    (void)sw;
    (void)data_len;
    return 0;
}

static scp_err_t s01_unwrap(gp_card_t *g, const uint8_t *rsp, size_t len, uint8_t *out,
                            size_t *out_len)
{
    (void)g;
    memmove(out, rsp, len);
    *out_len = len;
    return SCP_OK;
}

/* the static DEK, 3DES-ECB: 16 bytes; a key held in the keystore cannot
 * go (gp-p11's DES keys are never wrapped: SoftHSM wraps none) */
static scp_err_t s01_encrypt_key(gp_card_t *g, const uint8_t *in, size_t len,
                                 CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len)
{
    (void)key;
    if (*out_len < 16)
        return gp_fail(g, SCP_E_ARGS, "no room for the encrypted key");
    if (!in)
        return SCP_FAIL(&g->ch1, SCP_E_UNSUPPORTED, "not offered over SCP01: SCP01 "
                        "sends keys encrypted under the static DEK, and the DEK of gp-p11's DES "
                        "key sets only derives session keys, it never encrypts");
    *out_len = 16;
    return scp01_encrypt_key_data(&g->ch1, in, len, out);
}

static void s01_close(gp_card_t *g)
{
    if (g->ch1.state != SCP01_CLOSED)
        scp01_close(&g->ch1);
}

static int s01_is_open(const gp_card_t *g) { return g->ch1.state == SCP01_OPEN; }
static const char *s01_error(const gp_card_t *g) { return scp01_error(&g->ch1); }

static void s01_info(const gp_card_t *g, gp_channel_info_t *i)
{
    i->level = g->ch1.level;
    i->kvn = g->ch1.init.kvn;
    i->i = 0x05; /* GP 2.1.1's only SCP01 option: i=05, no ICV encryption */
    i->kdd = g->ch1.init.key_div;
    i->cdec = (g->ch1.level & SCP01_LEVEL_CDEC) != 0;
    i->rmac = i->renc = 0;
    i->mac_len = 8;
    ks_keyset_t k = {g->ch1.static_enc, g->ch1.static_mac, g->ch1.static_dek, 0, 16};
    i->keys = k;
    i->ks_calls = 0;
}

static int s01_level_ok(uint8_t level, char *why, size_t why_len)
{
    if (level == 0x01 || level == 0x03)
        return 1;
    snprintf(why, why_len, "security level %02X is not SCP01's: SCP01 has mac (01) and mac-enc "
             "(03), and no R-MAC", level);
    return 0;
}

static const gp_channel_ops_t scp01_ops = {
    .scp = 0x01,
    .block = 8,
    .init = s01_init,
    .initialize_update = s01_initialize_update,
    .on_initialize_update = s01_on_initialize_update,
    .external_authenticate = s01_external_authenticate,
    .on_external_authenticate = s01_on_external_authenticate,
    .wrap = s01_wrap,
    .answer_has_rmac = s01_answer_has_rmac,
    .unwrap = s01_unwrap,
    .encrypt_key = s01_encrypt_key,
    .close = s01_close,
    .is_open = s01_is_open,
    .error = s01_error,
    .info = s01_info,
    .level_ok = s01_level_ok,
};

/* --- SCP02 ------------------------------------------------------------------------ */

static scp_err_t s02_init(gp_card_t *g, ks_session_t *ks, const ks_keyset_t *keys,
                          const gp_channel_opts_t *o)
{
    scp_err_t e = scp02_init(&g->ch, ks, keys, o->i_param, o->level);
    if (e == SCP_OK && o->div == KS_DIV_KDF3)
        return SCP_FAIL(&g->ch, SCP_E_UNSUPPORTED, "kdf3 diversifies AES master keys (SCP03); "
                        "SCP02's DES keys are diversified by emv or visa2");
    g->ch.div = o->div;
    g->ch.select_keys = o->select_keys;
    g->ch.select_ctx = o->select_ctx;
    return e;
}

static int s02_implicit(const gp_channel_opts_t *o) { return !(o->i_param & SCP02_I_EXPLICIT); }

/* Implicit opening: the card's sequence counter (GET DATA C1), then the
 * first C-MAC opens the channel. */
static scp_err_t s02_open_implicit(gp_card_t *g, const gp_channel_opts_t *o)
{
    (void)o;
    uint8_t r[APDU_MAX_RSP], seq[2];
    size_t rl;
    if (gp_get_data(g, 0x00C1, r, sizeof r, &rl) != SCP_OK)
        return SCP_E_RSP_SW;
    tlv_t c1;
    if (tlv_find(r, rl, 0xC1, &c1) == 1 && c1.len == 2)
        memcpy(seq, c1.v, 2);
    else if (rl == 2)
        memcpy(seq, r, 2);
    else
        return gp_fail(g, SCP_E_RSP_SHORT, "GET DATA 00C1: no 2-byte sequence counter");
    scp_err_t e = scp02_implicit_open(&g->ch, seq, g->selected_aid, g->selected_aid_len);
    return e == SCP_OK ? SCP_OK : gp_fail(g, e, "%s", scp02_error(&g->ch));
}

static scp_err_t s02_initialize_update(gp_card_t *g, uint8_t kvn, apdu_t *cmd)
{
    return scp02_initialize_update(&g->ch, kvn, NULL, cmd);
}

static scp_err_t s02_on_initialize_update(gp_card_t *g, const uint8_t *rsp, size_t len)
{
    return scp02_on_initialize_update(&g->ch, rsp, len);
}

static scp_err_t s02_external_authenticate(gp_card_t *g, apdu_t *cmd)
{
    return scp02_external_authenticate(&g->ch, cmd);
}

static scp_err_t s02_on_external_authenticate(gp_card_t *g, uint16_t sw)
{
    return scp02_on_external_authenticate(&g->ch, sw);
}

static scp_err_t s02_wrap(gp_card_t *g, const apdu_t *plain, apdu_t *wire)
{
    return scp02_wrap(&g->ch, plain, wire);
}

/* a card that closed its side answers 6982 without R-MAC; every other
 * answer carries one */
static int s02_answer_has_rmac(uint16_t sw, size_t data_len)
{
    return !(data_len == 0 && sw == 0x6982);
}

static scp_err_t s02_unwrap(gp_card_t *g, const uint8_t *rsp, size_t len, uint8_t *out,
                            size_t *out_len)
{
    return scp02_unwrap(&g->ch, rsp, len, out, out_len);
}

/* the session DEK, 3DES-ECB: 16 bytes */
static scp_err_t s02_encrypt_key(gp_card_t *g, const uint8_t *in, size_t len,
                                 CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len)
{
    if (*out_len < 16)
        return gp_fail(g, SCP_E_ARGS, "no room for the encrypted key");
    *out_len = 16;
    return in ? scp02_encrypt_key_data(&g->ch, in, len, out) : scp02_wrap_key(&g->ch, key, out);
}

static void s02_close(gp_card_t *g)
{
    if (g->ch.state != SCP02_CLOSED)
        scp02_close(&g->ch);
}

static int s02_is_open(const gp_card_t *g) { return g->ch.state == SCP02_OPEN; }
static const char *s02_error(const gp_card_t *g) { return scp02_error(&g->ch); }

static void s02_info(const gp_card_t *g, gp_channel_info_t *i)
{
    i->level = g->ch.level;
    i->kvn = g->ch.init.kvn;
    i->i = g->ch.i_param;
    i->kdd = g->ch.init.key_div;
    i->cdec = (g->ch.level & SCP02_LEVEL_CDEC) != 0;
    i->rmac = (g->ch.level & SCP02_LEVEL_RMAC) != 0;
    i->renc = 0;
    i->mac_len = 8;
    ks_keyset_t k = {g->ch.static_enc, g->ch.static_mac, g->ch.static_dek, 0, 16};
    i->keys = k;
    i->ks_calls = 0;
}

static int s02_level_ok(uint8_t level, char *why, size_t why_len)
{
    if (level == 0x01 || level == 0x03 || level == 0x11 || level == 0x13)
        return 1;
    snprintf(why, why_len, "security level %s%02X is not SCP02's (levels mac, mac-enc, mac-rmac, "
             "mac-enc-rmac)%s", level == 0x33 ? "mac-enc-rmac-renc, " : "", level,
             level == 0x33 ? ": it is SCP03's" : "");
    return 0;
}

static const gp_channel_ops_t scp02_ops = {
    .scp = 0x02,
    .block = 8,
    .init = s02_init,
    .implicit = s02_implicit,
    .open_implicit = s02_open_implicit,
    .initialize_update = s02_initialize_update,
    .on_initialize_update = s02_on_initialize_update,
    .external_authenticate = s02_external_authenticate,
    .on_external_authenticate = s02_on_external_authenticate,
    .wrap = s02_wrap,
    .answer_has_rmac = s02_answer_has_rmac,
    .unwrap = s02_unwrap,
    .encrypt_key = s02_encrypt_key,
    .close = s02_close,
    .is_open = s02_is_open,
    .error = s02_error,
    .info = s02_info,
    .level_ok = s02_level_ok,
};

/* --- SCP03 ------------------------------------------------------------------------ */

static scp_err_t s03_init(gp_card_t *g, ks_session_t *ks, const ks_keyset_t *keys,
                          const gp_channel_opts_t *o)
{
    scp_err_t e = scp03_init(&g->ch3, ks, keys, o->level);
    if (e == SCP_OK && o->div != KS_DIV_NONE && o->div != KS_DIV_KDF3)
        return SCP_FAIL(&g->ch3, SCP_E_UNSUPPORTED, "EMV and VISA2 diversify DES keys (SCP01, "
                        "SCP02); AES master keys for SCP03 are diversified by kdf3");
    g->ch3.div = o->div;
    g->ch3.s = o->s16 ? 16 : 8;
    g->ch3.select_keys = o->select_keys;
    g->ch3.select_ctx = o->select_ctx;
    return e;
}

/* A card in S16 mode refuses S8's 8-byte host challenge with 6700 (wrong
 * length) when it did not announce its mode: once, S16 is asked instead. */
static int s03_another_mode(gp_card_t *g, uint16_t sw)
{
    if (sw != 0x6700 || g->ch3.s != 8)
        return 0;
    g->ch3.s = 16;
    return 1;
}

static scp_err_t s03_initialize_update(gp_card_t *g, uint8_t kvn, apdu_t *cmd)
{
    return scp03_initialize_update(&g->ch3, kvn, NULL, cmd);
}

static scp_err_t s03_on_initialize_update(gp_card_t *g, const uint8_t *rsp, size_t len)
{
    return scp03_on_initialize_update(&g->ch3, rsp, len);
}

static scp_err_t s03_external_authenticate(gp_card_t *g, apdu_t *cmd)
{
    return scp03_external_authenticate(&g->ch3, cmd);
}

static scp_err_t s03_on_external_authenticate(gp_card_t *g, uint16_t sw)
{
    return scp03_on_external_authenticate(&g->ch3, sw);
}

static scp_err_t s03_wrap(gp_card_t *g, const apdu_t *plain, apdu_t *wire)
{
    return scp03_wrap(&g->ch3, plain, wire);
}

/* 9000 and the warnings carry an R-MAC; errors go out alone (Amendment D 6.2.5) */
static int s03_answer_has_rmac(uint16_t sw, size_t data_len)
{
    (void)data_len;
    return scp03_sw_protected(sw);
}

static scp_err_t s03_unwrap(gp_card_t *g, const uint8_t *rsp, size_t len, uint8_t *out,
                            size_t *out_len)
{
    return scp03_unwrap(&g->ch3, rsp, len, out, out_len);
}

/* the static DEK, AES-CBC with a zero IV, in whole blocks */
static scp_err_t s03_encrypt_key(gp_card_t *g, const uint8_t *in, size_t len,
                                 CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len)
{
    if (!in)
        return scp03_wrap_key(&g->ch3, key, len, out, out_len);
    size_t n = gp_key_data_len(1, len);
    if (*out_len < n)
        return gp_fail(g, SCP_E_ARGS, "no room for the encrypted key");
    *out_len = n;
    return scp03_encrypt_key_data(&g->ch3, in, len, out);
}

static void s03_close(gp_card_t *g)
{
    if (g->ch3.state != SCP03_CLOSED)
        scp03_close(&g->ch3);
}

static int s03_is_open(const gp_card_t *g) { return g->ch3.state == SCP03_OPEN; }
static const char *s03_error(const gp_card_t *g) { return scp03_error(&g->ch3); }

static void s03_info(const gp_card_t *g, gp_channel_info_t *i)
{
    i->level = g->ch3.level;
    i->kvn = g->ch3.init.kvn;
    i->i = g->ch3.init.i;
    i->kdd = g->ch3.init.key_div;
    i->cdec = (g->ch3.level & SCP03_LEVEL_CDEC) != 0;
    i->rmac = (g->ch3.level & SCP03_LEVEL_RMAC) != 0;
    i->renc = (g->ch3.level & SCP03_LEVEL_RENC) != 0;
    i->mac_len = g->ch3.s ? g->ch3.s : 8;
    i->keys = g->ch3.statics;
    i->ks_calls = g->ch3.ks_calls;
}

static int s03_level_ok(uint8_t level, char *why, size_t why_len)
{
    if (level == 0x01 || level == 0x03 || level == 0x11 || level == 0x13 || level == 0x33)
        return 1;
    snprintf(why, why_len, "security level %02X is not SCP03's (01, 03, 11, 13 or 33)", level);
    return 0;
}

static const gp_channel_ops_t scp03_ops = {
    .scp = 0x03,
    .block = 16,
    .init = s03_init,
    .initialize_update = s03_initialize_update,
    .on_initialize_update = s03_on_initialize_update,
    .another_mode = s03_another_mode,
    .external_authenticate = s03_external_authenticate,
    .on_external_authenticate = s03_on_external_authenticate,
    .wrap = s03_wrap,
    .answer_has_rmac = s03_answer_has_rmac,
    .unwrap = s03_unwrap,
    .encrypt_key = s03_encrypt_key,
    .close = s03_close,
    .is_open = s03_is_open,
    .error = s03_error,
    .info = s03_info,
    .level_ok = s03_level_ok,
};

const gp_channel_ops_t *gp_channel_ops(uint8_t scp)
{
    switch (scp) {
    case 0x01: return &scp01_ops;
    case 0x02: return &scp02_ops;
    case 0x03: return &scp03_ops;
    default: return NULL;
    }
}
