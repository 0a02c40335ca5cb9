/* Tokens: a card's security domain seen as a PKCS#11 token. Every function
 * here runs with the token's lock held (see module.h). */
#include "config.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keystore/hex.h"
#include "scp/carddata.h"
#include "scp/tlv.h"

static void trace_cb(void *ctx, const apdu_t *plain, const uint8_t *wire, size_t wire_len,
                     const uint8_t *rsp, size_t rsp_len, int how)
{
    (void)wire;
    (void)wire_len;
    token_t *t = ctx;
    log_apdu(t->reader, plain, rsp, rsp_len, how);
}

/* --- the card ------------------------------------------------------------------ */

void token_forget_card(token_t *t)
{
    if (t->logged_in)
        token_logout(t);
    token_free_objects(t); /* what it showed before a login too */
    t->plain_holds = 0;      /* the sessions that held it are dead */
    if (t->card) {
        pcsc_disconnect(t->card); /* ends our transaction too */
        t->card = NULL;
    }
    /* a fresh PC/SC context next time: this one may be dead (pcscd restarted) */
    pcsc_close(t->pc);
    t->pc = NULL;
    t->info_loaded = 0;
    t->scp_i = 0;
    t->auth_refused_sw = 0; /* another card, or the same one put back: it may be tried again */
    t->cin_hex[0] = 0;
    t->generation++;
    /* the sessions of this card are dead: none of them counts any more */
    mutex_lock(M.lock);
    t->n_sessions = 0;
    mutex_unlock(M.lock);
}

CK_RV token_map_scp(token_t *t, scp_err_t e)
{
    if (e == SCP_E_RSP_SW)
        t->refused_sw = t->gp.sw;
    switch (e) {
    case SCP_OK: return CKR_OK;
    case SCP_E_REMOVED:
        token_forget_card(t);
        return CKR_DEVICE_REMOVED;
    case SCP_E_TRANSPORT: return CKR_DEVICE_ERROR;
    case SCP_E_BUSY: return CKR_DEVICE_ERROR;
    case SCP_E_CANCELED: return CKR_FUNCTION_CANCELED;
    case SCP_E_KEYSTORE:
        if (M.ks && ks_logged_in(M.ks) != 1 && t->logged_in) {
            LOG_ERR(t->reader, "gp-p11's keystore login was taken away by other code in this "
                               "process, which shares the keystore instance: this login ends; log "
                               "in again");
            token_logout(t);
            return CKR_USER_NOT_LOGGED_IN;
        }
        return CKR_FUNCTION_FAILED;
    default: return CKR_FUNCTION_FAILED;
    }
}

CK_RV token_command_rv(token_t *t, scp_err_t e)
{
    if (e != SCP_E_RSP_SW)
        return token_map_scp(t, e);
    t->refused_sw = t->gp.sw;
    switch (t->gp.sw) {
    case 0x6985: return CKR_ACTION_PROHIBITED; /* not now, or not to this object */
    case 0x6A84: return CKR_DEVICE_MEMORY;     /* not enough memory on the card */
    default: return CKR_FUNCTION_FAILED;
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Asking pcscd costs a round trip: at most every CHECK_MS per card. A card
 * taken out in between is found by the next command sent to it. */
#define CHECK_MS 100

/* Is the card we are connected to still there? Never waits for another
 * program: while we do not hold the card, pcscd would make a status request
 * wait for whoever holds it, so only its event count is asked. */
static int still_there(token_t *t)
{
    long long now = now_ms();
    if (now - t->checked_ms < CHECK_MS)
        return 1;
    int there = pcsc_held(t->card) ? pcsc_card_status(t->card) == SCP_OK
                                   : pcsc_still_there(t->card);
    if (there)
        t->checked_ms = now;
    return there;
}

CK_RV token_present(token_t *t)
{
    if (t->card) {
        if (still_there(t))
            return CKR_OK;
        LOG_INFO(t->reader, "the card was removed, reset or replaced: its sessions and login end");
        token_forget_card(t); /* and perhaps a card is in the reader again */
    }
    char err[320];
    if (!t->pc && pcsc_open(&t->pc, err, sizeof err) != SCP_OK) {
        LOG_ERR(t->reader, "%s", err);
        return CKR_DEVICE_ERROR;
    }
    int present = pcsc_card_present(t->pc, t->reader);
    if (present < 0) {
        pcsc_close(t->pc); /* stale (pcscd restarted): start afresh next time */
        t->pc = NULL;
    }
    return present > 0 ? CKR_OK : CKR_TOKEN_NOT_PRESENT;
}

CK_RV token_check(token_t *t)
{
    CK_RV rv = token_present(t);
    if (rv != CKR_OK || t->card)
        return rv;
    char err[400];
    scp_err_t e = pcsc_connect_wait(t->reader, M.conf.card_wait_ms, &t->card, err, sizeof err);
    if (e != SCP_OK) {
        t->card = NULL;
        if (e == SCP_E_REMOVED)
            return CKR_TOKEN_NOT_PRESENT;
        LOG_ERR(t->reader, "%s", err);
        return CKR_DEVICE_ERROR;
    }
    t->checked_ms = now_ms();
    gp_card_init(&t->gp, pcsc_transport(t->card));
    t->gp.trace = trace_cb;
    t->gp.trace_ctx = t;
    return CKR_OK;
}

/* Holds the card (a PC/SC transaction) for what follows, so that no other
 * program's command comes between ours. While logged in the card stays held
 * until the logout: at SCP02's C-MAC levels nothing proves where an answer
 * came from, so only a card nobody else can reach guarantees that every
 * answer is the security domain's (README, "Sharing a reader"). */
CK_RV card_hold(token_t *t)
{
    CK_RV rv = token_check(t);
    if (rv != CKR_OK)
        return rv;
    char err[400];
    int reset = 0;
    scp_err_t e = pcsc_hold(&t->card, M.conf.card_wait_ms, &reset, err, sizeof err);
    if (reset) {
        LOG_WARN(t->reader, "the card was reset by another program: its secure channel is gone");
        gp_close_channel(&t->gp);
        t->scp_i = 0;
    }
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "%s", err);
        if (!t->card)
            token_forget_card(t);
        return e == SCP_E_REMOVED ? CKR_DEVICE_REMOVED : CKR_DEVICE_ERROR;
    }
    /* (a logged-in card is held already: a reset under a login shows at its
     * next command, SCARD_W_RESET_CARD, and ends the login there) */
    return CKR_OK;
}

/* Lets other programs at the card again, unless a login keeps it. */
void card_unhold(token_t *t)
{
    if (t->card && !t->logged_in && !t->plain_holds)
        pcsc_release(t->card);
}

/* GET DATA value (inside the card's TLV), into v; returns its length or -1. */
static int get_data_value(token_t *t, uint16_t tag, uint8_t *v, size_t cap)
{
    uint8_t r[RESPONSE_MAX];
    size_t rl;
    if (gp_get_data(&t->gp, tag, r, sizeof r, &rl) != SCP_OK)
        return -1;
    tlv_t x;
    if (tlv_find(r, rl, tag, &x) != 1 || x.len > cap)
        return -1;
    memcpy(v, x.v, x.len);
    return (int)x.len;
}

CK_RV token_info(token_t *t, CK_TOKEN_INFO *info)
{
    CK_RV rv = token_present(t);
    if (rv != CKR_OK)
        return rv;
    if (!t->info_loaded) {
        rv = card_hold(t);
        if (rv != CKR_OK)
            return rv;
        CK_TOKEN_INFO *i = &t->info;
        memset(i, 0, sizeof *i);
        if (!t->logged_in)
            gp_select(&t->gp, M.conf.isd_aid, M.conf.isd_aid_len);
        uint8_t cplc[64], cin[32], iin[32];
        int cl = get_data_value(t, 0x9F7F, cplc, sizeof cplc);
        int nl = get_data_value(t, 0x0045, cin, sizeof cin);
        int il = get_data_value(t, 0x0042, iin, sizeof iin);
        t->cin_len = nl > 0 && nl <= (int)sizeof t->cin ? (size_t)nl : 0;
        memcpy(t->cin, cin, t->cin_len);
        int gone = pcsc_card_status(t->card) != SCP_OK;
        card_unhold(t);
        if (gone) {
            token_forget_card(t);
            return CKR_DEVICE_REMOVED;
        }
        char label[96], serial[96], manuf[64];
        char hex[80];
        if (nl > 0) {
            hex_encode(cin, (size_t)(nl > 13 ? 13 : nl), hex);
            snprintf(label, sizeof label, "GP ISD %s", hex);
        } else if (cl >= 16) {
            hex_encode(cplc + 12, 4, hex);
            snprintf(label, sizeof label, "GP ISD %s", hex);
        } else {
            snprintf(label, sizeof label, "GlobalPlatform card");
        }
        if (nl > 0) {
            hex_encode(cin, (size_t)nl, hex);
            size_t hl = strlen(hex);
            snprintf(serial, sizeof serial, "%s", hl > 16 ? hex + hl - 16 : hex);
        } else if (cl >= 18) {
            hex_encode(cplc + 12, 6, hex); /* IC serial number and batch */
            snprintf(serial, sizeof serial, "%s", hex);
        } else {
            snprintf(serial, sizeof serial, "unknown");
        }
        if (cl >= 2) {
            unsigned code = (unsigned)(cplc[0] << 8 | cplc[1]);
            const char *f = gp_ic_fabricator_name(code);
            if (f)
                snprintf(manuf, sizeof manuf, "%s", f);
            else
                snprintf(manuf, sizeof manuf, "IC fabricator %04X", code);
        } else if (il > 0) {
            hex_encode(iin, (size_t)(il > 12 ? 12 : il), hex);
            snprintf(manuf, sizeof manuf, "IIN %s", hex);
        } else {
            snprintf(manuf, sizeof manuf, "unknown");
        }
        pad_text(i->label, sizeof i->label, label);
        pad_text(i->manufacturerID, sizeof i->manufacturerID, manuf);
        pad_text(i->model, sizeof i->model, "GlobalPlatform");
        pad_text(i->serialNumber, sizeof i->serialNumber, serial);
        i->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
        i->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
        i->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
        i->ulMaxPinLen = 255;
        i->ulMinPinLen = 1;
        i->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
        i->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
        i->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
        i->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
        if (cl >= 10) { /* OS release level */
            i->firmwareVersion.major = cplc[8];
            i->firmwareVersion.minor = cplc[9];
        }
        t->info_loaded = 1;
    }
    *info = t->info;
    info->ulSessionCount = (CK_ULONG)t->n_sessions;
    info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
    return CKR_OK;
}

/* --- login ----------------------------------------------------------------------- */

/* The protocol and i the card announces in its recognition data (GET DATA
 * 66), read once per card; SCP02 i=15 when the card does not say. */
uint8_t token_card_scp_i(token_t *t)
{
    if (t->scp_i)
        return t->scp_i;
    uint8_t r[RESPONSE_MAX], scp = 0, i = 0;
    size_t rl;
    t->scp_i = 0x15;
    t->card_scp = t->card_i = 0;
    if (gp_get_data(&t->gp, 0x0066, r, sizeof r, &rl) != SCP_OK ||
        gp_card_data_scp(r, rl, &scp, &i) != 0) {
        LOG_INFO(t->reader, "the card does not announce its secure channel protocol: assuming "
                            "SCP02 i=15 for DES key sets, SCP03 for AES key sets");
    } else if (scp < 0x01 || scp > 0x03) {
        LOG_WARN(t->reader, "the card announces SCP%02X; gp-p11 speaks SCP01, SCP02 and SCP03", scp);
    } else {
        t->card_scp = scp;
        t->card_i = i;
        if (scp == 0x02)
            t->scp_i = i;
    }
    return t->scp_i;
}

/* The protocol of this login: the configuration's, else the key set's kind
 * (AES keys speak SCP03, DES keys SCP02, or SCP01 on a card that announces
 * it), else the card's announcement. */
static uint8_t login_scp(token_t *t)
{
    token_card_scp_i(t); /* reads the card's announcement once (t->card_scp) */
    uint8_t scp = t->login.scp;
    if (!scp && t->keys.enc != CK_INVALID_HANDLE) /* DES keys: SCP01 where the card says so */
        scp = t->keys.aes ? 3 : t->card_scp == 1 ? 1 : 2;
    if (!scp)
        scp = t->card_scp ? t->card_scp : 2;
    if (t->card_scp && t->card_scp != scp)
        LOG_INFO(t->reader, "the card announces SCP%02X; this login uses SCP%02X (%s)", t->card_scp,
                 scp, t->login.scp ? "the protocol asked for (scp)" : "the key set's kind");
    return scp;
}

/* No downgrade: the card's announcement (GET DATA 66) is read before any
 * authentication, so anyone between host and card can change it. In auto
 * mode it may not weaken the channel below explicit opening with ICV
 * encryption unless the configuration allows that (scp02_allow). */
static int scp02_variant_allowed(token_t *t, uint8_t i)
{
    const char *weak = NULL, *allow = NULL;
    if (!(i & SCP02_I_EXPLICIT) && !M.conf.allow_implicit) {
        weak = "implicit opening: neither the card nor gp-p11 is authenticated before the first "
               "command";
        allow = "implicit";
    } else if (!(i & SCP02_I_ICV_ENCRYPT) && !M.conf.allow_no_icv_encryption) {
        weak = "no ICV encryption: every C-MAC chains openly from the previous one";
        allow = "no-icv-encryption";
    }
    if (!weak)
        return 1;
    LOG_ERR(t->reader, "login refused: the card announces SCP02 i=%02X, with %s. The announcement "
                       "is read before any authentication and may not be the card's own; if this "
                       "card really speaks only this variant, allow it with scp02_allow = %s (or "
                       "name it with scp_i = %02X)", i, weak, allow, i);
    return 0;
}

/* A key set bound to this card: NAME@KDD (the key diversification data of
 * INITIALIZE UPDATE) wins over NAME@CIN, which wins over NAME. Called
 * before the card cryptogram is checked. */
static int bound_keys(void *ctx, const uint8_t key_div[10], ks_keyset_t *keys)
{
    token_t *t = ctx;
    char hex[21], name[96];
    hex_encode(key_div, 10, hex);
    snprintf(name, sizeof name, "%s@%s", t->login.key_set, hex);
    ks_keyset_t k;
    if (ks_find_keyset(t->kss, name, &k) != CKR_OK) {
        if (t->keys.enc == CK_INVALID_HANDLE) {
            t->login_failure = GP_LOGIN_KEY_SET_MISSING;
            LOG_ERR(t->reader, "login refused: no key set \"%s\", \"%s@%s\" or \"%s\" in the "
                               "keystore (provision one with gp-p11-keys)", t->login.key_set,
                    t->login.key_set, t->cin_hex[0] ? t->cin_hex : "<CIN>", name);
        }
        return -1;
    }
    LOG_INFO(t->reader, "using key set \"%s\", bound to this card's key diversification data", name);
    snprintf(t->keyset_name, sizeof t->keyset_name, "%s", name);
    *keys = k;
    return 0;
}

static CK_RV find_keys(token_t *t)
{
    uint8_t cin[32];
    /* the CIN token_info read already, if it did: not asked twice */
    int nl = t->info_loaded ? (int)t->cin_len : get_data_value(t, 0x0045, cin, sizeof cin);
    if (t->info_loaded)
        memcpy(cin, t->cin, t->cin_len);
    if (nl > 0 && nl <= 16) {
        char hex[33], name[96];
        hex_encode(cin, (size_t)nl, hex);
        snprintf(t->cin_hex, sizeof t->cin_hex, "%s", hex);
        snprintf(name, sizeof name, "%s@%s", t->login.key_set, hex);
        if (ks_find_keyset(t->kss, name, &t->keys) == CKR_OK) {
            LOG_INFO(t->reader, "using key set \"%s\", bound to this card's CIN", name);
            snprintf(t->keyset_name, sizeof t->keyset_name, "%s", name);
            return CKR_OK;
        }
    }
    snprintf(t->keyset_name, sizeof t->keyset_name, "%s", t->login.key_set);
    if (ks_find_keyset(t->kss, t->login.key_set, &t->keys) != CKR_OK) {
        /* maybe bound to the card's KDD, known after INITIALIZE UPDATE */
        LOG_INFO(t->reader, "%s", ks_session_error(t->kss));
        t->keys.enc = t->keys.mac = t->keys.dek = CK_INVALID_HANDLE;
    }
    return CKR_OK;
}

/* why a channel did not open, for ulDeviceError (GP_LOGIN_*) */
static uint8_t login_failure(const token_t *t, scp_err_t e)
{
    if (e == SCP_E_HELD)
        return GP_LOGIN_AUTH_HELD;
    if (t->gp.auth_refused)
        return GP_LOGIN_AUTH_REFUSED;
    switch (e) {
    case SCP_E_CARD_CRYPTOGRAM: return GP_LOGIN_KEYS_MISMATCH;
    case SCP_E_KEY_VERSION: return GP_LOGIN_KEY_VERSION;
    case SCP_E_OTHER_SCP:
    case SCP_E_UNSUPPORTED: return GP_LOGIN_PROTOCOL;
    case SCP_E_RSP_SW: return t->gp.sw == 0x6A88 ? GP_LOGIN_KEY_VERSION : GP_LOGIN_CARD_REFUSED;
    default: return 0; /* the CK_RV says: a card taken out, a reader's failure */
    }
}

/* selected: the security domain was selected just before (no SELECT again) */
CK_RV token_open_channel(token_t *t, int selected)
{
    gp_channel_opts_t o = {.level = t->login.security_level, .kvn = t->login.key_version,
                           .isd_aid = t->login.isd_aid, .isd_aid_len = t->login.isd_aid_len,
                           .selected = 1, .div = (enum ks_diversification)t->login.diversification,
                           .select_keys = bound_keys, .select_ctx = t,
                           .may_authenticate = token_may_authenticate};
    scp_err_t e = selected ? SCP_OK : gp_select(&t->gp, o.isd_aid, o.isd_aid_len);
    if (e == SCP_OK) {
        o.scp = login_scp(t);
        o.i_param = M.conf.scp_i ? M.conf.scp_i : token_card_scp_i(t);
        /* S16 where the card announces it; else S8, then S16 after 6700 */
        o.s16 = o.scp == 3 && t->card_scp == 3 && (t->card_i & SCP03_I_S16);
        if (o.scp == 2 && !M.conf.scp_i && !scp02_variant_allowed(t, o.i_param)) {
            t->login_failure = GP_LOGIN_PROTOCOL;
            return CKR_FUNCTION_FAILED;
        }
        if (o.scp == 1 && !t->login.scp && !M.conf.allow_scp01) {
            /* no downgrade: the announcement is read before any authentication */
            LOG_ERR(t->reader, "login refused: the card announces SCP01 (GlobalPlatform 2.1.1), "
                               "weaker than SCP02 and SCP03: no R-MAC, and every C-MAC chains "
                               "openly from the one before. The announcement is read before any "
                               "authentication and may not be the card's own; if this card "
                               "really speaks only SCP01, allow it with scp01_allow = yes (or "
                               "scp = 01)");
            t->login_failure = GP_LOGIN_PROTOCOL;
            return CKR_FUNCTION_FAILED;
        }
        char why[200];
        if (!gp_level_allowed(o.scp, o.level, why, sizeof why)) {
            LOG_ERR(t->reader, "login refused: %s; this login speaks SCP%02X (security_level)", why,
                    o.scp);
            t->login_failure = GP_LOGIN_PROTOCOL;
            return CKR_FUNCTION_FAILED;
        }
        e = gp_open_channel(&t->gp, t->kss, &t->keys, &o);
    }
    if (e == SCP_OK) {
        LOG_INFO(t->reader, "secure channel open: SCP%02X i=%02X, security level %02X, key "
                            "version %u", gp_channel_scp(&t->gp), gp_channel_i(&t->gp), o.level,
                 gp_channel_kvn(&t->gp));
        return CKR_OK;
    }
    if (t->gp.auth_refused && !t->auth_refused_sw) {
        t->auth_refused_sw = t->gp.sw ? t->gp.sw : 0x6F00;
        token_note_refusal(t, t->auth_refused_sw);
    }
    if (!t->login_failure)
        t->login_failure = login_failure(t, e);
    if (e == SCP_E_CARD_CRYPTOGRAM)
        LOG_ERR(t->reader, "login refused: the keys of key set \"%s\"%s do not match this card (%s)",
                t->keyset_name, o.div == KS_DIV_EMV ? " (diversified, EMV)" :
                o.div == KS_DIV_VISA2 ? " (diversified, VISA2)" : "", gp_error(&t->gp));
    else if (e == SCP_E_OTHER_SCP && o.scp == 2 && t->gp.ch.init.scp == 0x01)
        LOG_ERR(t->reader, "login failed: %s. This card speaks SCP01 (GlobalPlatform 2.1.1) "
                "without saying so in its card data; if that is right, set scp = 01 in "
                "gp-p11.conf. EXTERNAL AUTHENTICATE was not sent", gp_error(&t->gp));
    else
        LOG_ERR(t->reader, "login failed: %s", gp_error(&t->gp));
    return token_map_scp(t, e);
}

CK_RV token_login(token_t *t, const uint8_t *pin, size_t pin_len, const run_opts_t *run)
{
    if (t->logged_in)
        return CKR_USER_ALREADY_LOGGED_IN;
    login_opts_conf(&t->login);
    login_opts_apply(&t->login, run);
    CK_RV rv = token_check(t);
    if (rv != CKR_OK)
        return rv;
    if (t->auth_refused_sw) {
        t->refused_sw = t->auth_refused_sw;
        LOG_ERR(t->reader, "login refused: this card refused EXTERNAL AUTHENTICATE (%04X) although "
                           "its card cryptogram verified, and counted a failed authentication. "
                           "gp-p11 does not try again while the card stays in the reader, since "
                           "every refusal brings it nearer to locking; find out why (another host, "
                           "a card that counts differently), then allow a new try with gp-p11 keys "
                           "forget-refusal (the keystore keeps the refusal for every process) and "
                           "take the card out and put it back", t->auth_refused_sw);
        t->login_failure = GP_LOGIN_AUTH_HELD;
        return CKR_FUNCTION_FAILED;
    }
    rv = keystore_login(pin, pin_len);
    if (rv != CKR_OK)
        return rv;
    if (ks_session_open(M.ks, &t->kss) != CKR_OK) {
        LOG_ERR(t->reader, "keystore: cannot open a session");
        keystore_logout();
        return CKR_DEVICE_ERROR;
    }
    rv = card_hold(t); /* from here to the logout, the card is ours alone */
    if (rv != CKR_OK) {
        ks_session_close(t->kss);
        t->kss = NULL;
        keystore_logout();
        return rv;
    }
    scp_err_t e = gp_select(&t->gp, t->login.isd_aid, t->login.isd_aid_len);
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "login failed: %s", gp_error(&t->gp));
        if (e == SCP_E_RSP_SW)
            t->login_failure = GP_LOGIN_CARD_REFUSED;
        rv = token_map_scp(t, e);
    }
    if (rv == CKR_OK)
        rv = find_keys(t);
    if (rv == CKR_OK)
        rv = token_open_channel(t, 1);
    if (rv == CKR_OK)
        rv = token_settle_unsealed(t);
    if (rv == CKR_OK)
        rv = token_reload(t);
    if (rv != CKR_OK) {
        if (t->card)
            gp_close_channel(&t->gp);
        token_free_objects(t);
        ks_session_close(t->kss); /* a logged-out keystore has no session of ours */
        t->kss = NULL;
        card_unhold(t);
        keystore_logout();
        return rv;
    }
    t->logged_in = 1;
    return CKR_OK;
}

void token_logout(token_t *t)
{
    if (!t->logged_in)
        return;
    gp_close_channel(&t->gp); /* destroys the session keys in the keystore */
    token_free_objects(t);
    ks_session_close(t->kss);
    t->kss = NULL;
    t->logged_in = 0;
    card_unhold(t); /* other programs may use the card again */
    keystore_logout();
}

