/* Tokens: a card's security domain seen as a PKCS#11 token. Every function
 * here runs with the token's lock held (see module.h). */
#include "config.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/hex.h"
#include "scp/tlv.h"

static void pad(CK_UTF8CHAR *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n > cap)
        n = cap;
    memset(dst, ' ', cap);
    memcpy(dst, src, n);
}

static void trace_cb(void *ctx, const apdu_t *plain, const uint8_t *wire, size_t wire_len,
                     const uint8_t *rsp, size_t rsp_len, int secured)
{
    (void)wire;
    (void)wire_len;
    token_t *t = ctx;
    log_apdu(t->reader, plain, rsp, rsp_len, secured);
}

static void free_objects(token_t *t)
{
    if (t->objects) {
        ks_wipe(t->objects, sizeof(object_t) * MAX_OBJECTS);
        free(t->objects);
    }
    t->objects = NULL;
    t->n_objects = 0;
}

/* --- keystore: loaded once, logged in while any token is -------------------- */

static CK_RV keystore_load(void) /* M.lock held */
{
    if (M.ks)
        return CKR_OK;
    char err[KS_ERRLEN] = "";
    if (ks_open(&M.ks, M.conf.keystore_module, err) != CKR_OK) {
        LOG_ERR("", "%s", err);
        return CKR_DEVICE_ERROR;
    }
    if (ks_select_token(M.ks, M.conf.keystore_token, err) != CKR_OK ||
        ks_session_open(M.ks, &M.ks_misc) != CKR_OK) {
        LOG_ERR("", "%s", err[0] ? err : "keystore: cannot open a session");
        ks_close(M.ks);
        M.ks = NULL;
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

CK_RV keystore_random(uint8_t *buf, size_t len)
{
    mutex_lock(M.lock);
    CK_RV rv = keystore_load();
    if (rv == CKR_OK && ks_random(M.ks_misc, buf, len) != CKR_OK) {
        LOG_ERR("", "%s", ks_session_error(M.ks_misc));
        rv = CKR_DEVICE_ERROR;
    }
    mutex_unlock(M.lock);
    return rv;
}

/* The keystore's login is the application's, not a card's: the first token
 * logs in with the PIN and keeps a salted SHA-256 verifier (computed by the
 * keystore), against which the next tokens' PINs are checked. */
static CK_RV keystore_login(const uint8_t *pin, size_t pin_len)
{
    mutex_lock(M.lock);
    CK_RV rv = keystore_load();
    if (rv != CKR_OK)
        goto out;
    uint8_t digest[32];
    if (M.ks_logins == 0) {
        char err[KS_ERRLEN] = "";
        int already = 0;
        rv = ks_login_ex(M.ks, pin, pin_len, &already, err);
        if (rv != CKR_OK) {
            LOG_WARN("", "%s", err);
            goto out;
        }
        if (already)
            LOG_WARN("", "the keystore token \"%s\" was already logged in by this application: "
                         "the PIN could not be checked against it", M.conf.keystore_token);
        if (ks_random(M.ks_misc, M.pin_salt, sizeof M.pin_salt) != CKR_OK ||
            ks_sha256(M.ks_misc, M.pin_salt, sizeof M.pin_salt, pin, pin_len, M.pin_verifier) !=
                CKR_OK) {
            LOG_ERR("", "%s", ks_session_error(M.ks_misc));
            ks_logout(M.ks);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    } else {
        if (ks_sha256(M.ks_misc, M.pin_salt, sizeof M.pin_salt, pin, pin_len, digest) != CKR_OK) {
            LOG_ERR("", "%s", ks_session_error(M.ks_misc));
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        uint8_t d = 0;
        for (int i = 0; i < 32; i++)
            d |= (uint8_t)(digest[i] ^ M.pin_verifier[i]);
        ks_wipe(digest, sizeof digest);
        if (d) {
            LOG_WARN("", "keystore refused the PIN (CKR_PIN_INCORRECT)");
            rv = CKR_PIN_INCORRECT;
            goto out;
        }
    }
    M.ks_logins++;
out:
    mutex_unlock(M.lock);
    return rv;
}

static void keystore_logout(void)
{
    mutex_lock(M.lock);
    if (M.ks_logins > 0 && --M.ks_logins == 0) {
        ks_logout(M.ks);
        ks_wipe(M.pin_salt, sizeof M.pin_salt);
        ks_wipe(M.pin_verifier, sizeof M.pin_verifier);
    }
    mutex_unlock(M.lock);
}

/* --- the card ------------------------------------------------------------------ */

void token_forget_card(token_t *t)
{
    if (t->logged_in)
        token_logout(t);
    if (t->card) {
        pcsc_disconnect(t->card);
        t->card = NULL;
    }
    t->info_loaded = 0;
    t->scp_i = 0;
    t->generation++;
}

static CK_RV map_scp(token_t *t, scp_err_t e)
{
    switch (e) {
    case SCP_OK: return CKR_OK;
    case SCP_E_REMOVED:
        token_forget_card(t);
        return CKR_DEVICE_REMOVED;
    case SCP_E_TRANSPORT: return CKR_DEVICE_ERROR;
    default: return CKR_FUNCTION_FAILED;
    }
}

CK_RV token_check(token_t *t)
{
    if (t->card) {
        scp_err_t e = pcsc_card_status(t->card);
        if (e == SCP_OK)
            return CKR_OK;
        LOG_INFO(t->reader, "the card was removed or reset");
        token_forget_card(t);
        return CKR_DEVICE_REMOVED;
    }
    char err[320];
    if (!t->pc && pcsc_open(&t->pc, err, sizeof err) != SCP_OK) {
        LOG_ERR(t->reader, "%s", err);
        return CKR_DEVICE_ERROR;
    }
    scp_err_t e = pcsc_connect(t->pc, t->reader, &t->card, err, sizeof err);
    if (e == SCP_E_TRANSPORT && !pcsc_card_present(t->pc, t->reader))
        e = SCP_E_REMOVED; /* no card in the reader */
    if (e != SCP_OK) {
        t->card = NULL;
        if (e == SCP_E_REMOVED)
            return CKR_TOKEN_NOT_PRESENT;
        LOG_ERR(t->reader, "%s", err);
        /* the context may be stale (pcscd restarted): start afresh next time */
        pcsc_close(t->pc);
        t->pc = NULL;
        return CKR_DEVICE_ERROR;
    }
    gp_session_init(&t->gp, pcsc_transport(t->card));
    t->gp.trace = trace_cb;
    t->gp.trace_ctx = t;
    return CKR_OK;
}

static const char *fabricator(unsigned code)
{
    switch (code) {
    case 0x4790: return "NXP";
    case 0x4090: return "Infineon";
    case 0x4180: return "Atmel";
    case 0x4250: return "Samsung";
    case 0x3060: return "Renesas";
    case 0x4070: return "Oberthur";
    case 0x5345: return "Giesecke+Devrient";
    default: return NULL;
    }
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
    CK_RV rv = token_check(t);
    if (rv != CKR_OK)
        return rv;
    if (!t->info_loaded) {
        CK_TOKEN_INFO *i = &t->info;
        memset(i, 0, sizeof *i);
        if (!t->logged_in)
            gp_select(&t->gp, M.conf.isd_aid, M.conf.isd_aid_len);
        uint8_t cplc[64], cin[32], iin[32];
        int cl = get_data_value(t, 0x9F7F, cplc, sizeof cplc);
        int nl = get_data_value(t, 0x0045, cin, sizeof cin);
        int il = get_data_value(t, 0x0042, iin, sizeof iin);
        if (pcsc_card_status(t->card) != SCP_OK) {
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
            const char *f = fabricator(code);
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
        pad(i->label, sizeof i->label, label);
        pad(i->manufacturerID, sizeof i->manufacturerID, manuf);
        pad(i->model, sizeof i->model, "GlobalPlatform");
        pad(i->serialNumber, sizeof i->serialNumber, serial);
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

/* --- objects ------------------------------------------------------------------- */

static object_t *add_object(token_t *t, enum obj_type type, CK_OBJECT_CLASS cls, const char *label)
{
    if (t->n_objects >= MAX_OBJECTS) {
        LOG_WARN(t->reader, "more than %d objects on the card: the rest are not shown", MAX_OBJECTS);
        return NULL;
    }
    object_t *o = &t->objects[t->n_objects++];
    memset(o, 0, sizeof *o);
    mutex_lock(M.lock);
    o->handle = ++M.next_object;
    mutex_unlock(M.lock);
    o->type = type;
    o->cls = cls;
    snprintf(o->label, sizeof o->label, "%s", label);
    return o;
}

object_t *token_object(token_t *t, CK_OBJECT_HANDLE h)
{
    for (int i = 0; i < t->n_objects; i++)
        if (t->objects[i].handle == h)
            return &t->objects[i];
    return NULL;
}

/* One kind of registry entry; TLV format first, the legacy one if the card
 * does not know it. Returns the number of entries or -1. */
static int read_registry(token_t *t, uint8_t p1)
{
    gp_entry_t *e = calloc(MAX_OBJECTS, sizeof *e);
    if (!e)
        return -1;
    int n = gp_get_status(&t->gp, p1, 1, e, MAX_OBJECTS);
    if (n < 0 && gp_channel_open(&t->gp) && (t->gp.sw == 0x6A86 || t->gp.sw == 0x6A80))
        n = gp_get_status(&t->gp, p1, 0, e, MAX_OBJECTS);
    if (n < 0 && p1 == GP_STATUS_ELF_MOD && gp_channel_open(&t->gp))
        n = gp_get_status(&t->gp, GP_STATUS_ELF, 1, e, MAX_OBJECTS);
    for (int i = 0; i < n; i++) {
        char label[40];
        hex_encode(e[i].aid, e[i].aid_len, label);
        object_t *o = add_object(t, OBJ_REGISTRY, CKO_DATA, label);
        if (o)
            object_from_entry(o, &e[i]);
    }
    free(e);
    return n;
}

static void add_get_data(token_t *t, uint16_t tag, const char *label)
{
    uint8_t r[RESPONSE_MAX];
    size_t rl;
    scp_err_t e = gp_get_data(&t->gp, tag, r, sizeof r, &rl);
    if (e != SCP_OK) {
        LOG_INFO(t->reader, "no \"%s\" object: %s", label, gp_error(&t->gp));
        return;
    }
    object_t *o = add_object(t, OBJ_GET_DATA, CKO_DATA, label);
    if (!o)
        return;
    snprintf(o->application, sizeof o->application, "GET DATA %04X", tag);
    memcpy(o->value, r, rl);
    o->value_len = rl;
}

static CK_RV load_objects(token_t *t)
{
    free_objects(t);
    t->objects = calloc(MAX_OBJECTS, sizeof(object_t));
    if (!t->objects)
        return CKR_HOST_MEMORY;
    object_t *ch = add_object(t, OBJ_CHANNEL, CKO_SECRET_KEY, "secure channel");
    (void)ch;
    static const uint8_t kinds[] = {GP_STATUS_ISD, GP_STATUS_APPS, GP_STATUS_ELF_MOD};
    for (size_t k = 0; k < sizeof kinds; k++) {
        if (read_registry(t, kinds[k]) < 0) {
            LOG_ERR(t->reader, "reading the card registry failed: %s", gp_error(&t->gp));
            if (!t->card || !gp_channel_open(&t->gp))
                return t->card ? CKR_FUNCTION_FAILED : CKR_DEVICE_REMOVED;
        }
    }
    add_get_data(t, 0x9F7F, "CPLC");
    add_get_data(t, 0x0066, "card data");
    add_get_data(t, 0x00E0, "key information");
    return CKR_OK;
}

/* --- login ----------------------------------------------------------------------- */

/* The SCP02 variant the card announces in its recognition data (GET DATA
 * 66), read once per card; i=15 when the card does not say. */
static uint8_t card_scp_i(token_t *t)
{
    if (t->scp_i)
        return t->scp_i;
    uint8_t r[RESPONSE_MAX], scp = 0, i = 0;
    size_t rl;
    t->scp_i = 0x15;
    if (gp_get_data(&t->gp, 0x0066, r, sizeof r, &rl) != SCP_OK ||
        gp_card_data_scp(r, rl, &scp, &i) != 0)
        LOG_INFO(t->reader, "the card does not announce its SCP02 options: assuming i=15");
    else if (scp != 0x02)
        LOG_WARN(t->reader, "the card announces SCP%02X; gp-p11 speaks SCP02", scp);
    else
        t->scp_i = i;
    return t->scp_i;
}

static CK_RV open_channel(token_t *t)
{
    gp_channel_opts_t o = {.level = M.conf.security_level, .kvn = M.conf.key_version,
                           .isd_aid = M.conf.isd_aid, .isd_aid_len = M.conf.isd_aid_len,
                           .selected = 1};
    scp_err_t e = gp_select(&t->gp, o.isd_aid, o.isd_aid_len);
    if (e == SCP_OK) {
        o.i_param = card_scp_i(t);
        e = gp_open_channel(&t->gp, t->kss, &t->keys, &o);
    }
    if (e == SCP_OK) {
        LOG_INFO(t->reader, "secure channel open: SCP02 i=%02X, security level %02X, key version "
                            "%u", o.i_param, o.level, t->gp.ch.init.kvn);
        return CKR_OK;
    }
    if (e == SCP_E_CARD_CRYPTOGRAM)
        LOG_ERR(t->reader, "login refused: the keys of key set \"%s\" do not match this card (%s)",
                M.conf.key_set, gp_error(&t->gp));
    else
        LOG_ERR(t->reader, "login failed: %s", gp_error(&t->gp));
    return map_scp(t, e);
}

CK_RV token_login(token_t *t, const uint8_t *pin, size_t pin_len)
{
    if (t->logged_in)
        return CKR_USER_ALREADY_LOGGED_IN;
    CK_RV rv = token_check(t);
    if (rv != CKR_OK)
        return rv;
    rv = keystore_login(pin, pin_len);
    if (rv != CKR_OK)
        return rv;
    if (!t->kss && ks_session_open(M.ks, &t->kss) != CKR_OK) {
        LOG_ERR(t->reader, "keystore: cannot open a session");
        keystore_logout();
        return CKR_DEVICE_ERROR;
    }
    if (ks_find_keyset(t->kss, M.conf.key_set, &t->keys) != CKR_OK) {
        LOG_ERR(t->reader, "login refused: %s", ks_session_error(t->kss));
        keystore_logout();
        return CKR_FUNCTION_FAILED;
    }
    rv = open_channel(t);
    if (rv == CKR_OK)
        rv = load_objects(t);
    if (rv != CKR_OK) {
        if (t->card)
            gp_close_channel(&t->gp);
        free_objects(t);
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
    free_objects(t);
    ks_session_close(t->kss);
    t->kss = NULL;
    t->logged_in = 0;
    keystore_logout();
}

/* --- card management ----------------------------------------------------------- */

/* The card closed its side of the channel (6982 to a secured command): the
 * keys are still in the keystore, so the channel is opened again. */
static CK_RV ensure_channel(token_t *t)
{
    if (gp_channel_open(&t->gp))
        return CKR_OK;
    LOG_WARN(t->reader, "the secure channel was closed by the card; opening it again");
    return open_channel(t);
}

CK_RV token_destroy_object(token_t *t, object_t *o)
{
    if (o->type != OBJ_REGISTRY || o->kind == GP_KIND_ISD) {
        LOG_WARN(t->reader, "\"%s\" cannot be destroyed%s", o->label,
                 o->kind == GP_KIND_ISD ? ": it is the issuer security domain" : "");
        return CKR_ACTION_PROHIBITED;
    }
    CK_RV rv = ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    scp_err_t e = gp_delete(&t->gp, o->entry.aid, o->entry.aid_len, 0);
    if (e == SCP_E_RSP_SW) {
        LOG_ERR(t->reader, "deleting %s: %s", o->label, gp_error(&t->gp));
        if (t->gp.sw == 0x6985)
            return CKR_ACTION_PROHIBITED;
        if (t->gp.sw == 0x6A88)
            rv = CKR_OBJECT_HANDLE_INVALID; /* gone already: forget it too */
        else
            return CKR_FUNCTION_FAILED;
    } else if (e != SCP_OK) {
        LOG_ERR(t->reader, "deleting %s: %s", o->label, gp_error(&t->gp));
        return map_scp(t, e);
    } else {
        LOG_INFO(t->reader, "deleted %s %s", gp_entry_kind(&o->entry), o->label);
    }
    /* the registry changed: load it again (dependents may have gone too) */
    CK_RV lr = load_objects(t);
    return rv != CKR_OK ? rv : lr;
}

CK_RV token_apdu(token_t *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rsp_len)
{
    apdu_t a;
    if (apdu_parse(cmd, len, &a) != 0) {
        LOG_WARN(t->reader, "CKM_GP_APDU: %zu bytes are not a short command APDU", len);
        return CKR_DATA_INVALID;
    }
    if (a.cla & 0x04) {
        LOG_WARN(t->reader, "CKM_GP_APDU: pass the plain command (CLA %02X announces secure "
                            "messaging; gp-p11 adds it)", a.cla);
        return CKR_DATA_INVALID;
    }
    if (a.ins == 0xA4 || a.ins == 0x50 || a.ins == 0x82 || a.ins == 0xC0) {
        LOG_WARN(t->reader, "CKM_GP_APDU: %s is not passed through: it would end or confuse the "
                            "secure channel gp-p11 keeps open", gp_ins_name(a.cla, a.ins));
        return CKR_DATA_INVALID;
    }
    CK_RV rv = ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    uint16_t sw;
    size_t dl;
    scp_err_t e = gp_send(&t->gp, &a, rsp, RESPONSE_MAX - 2, &dl, &sw);
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "CKM_GP_APDU: %s", gp_error(&t->gp));
        return map_scp(t, e);
    }
    rsp[dl] = (uint8_t)(sw >> 8);
    rsp[dl + 1] = (uint8_t)sw;
    *rsp_len = dl + 2;
    return CKR_OK;
}
