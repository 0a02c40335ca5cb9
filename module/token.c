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

/* Why the keystore instance is shared with other code in the process. */
static const char *shared_reason(void)
{
    return M.conf.keystore_shared ? "keystore_instance = shared"
                                  : "no private copy of the module could be loaded: is /proc "
                                    "mounted, and memfd allowed?";
}

/* The keystore layer restarts an instance that read its token half-written
 * by another process (SoftHSM's file store): said, since it explains a slower
 * login and points at the other process. */
static void say_reloads(unsigned before)
{
    unsigned n = ks_reloads(M.ks) - before;
    if (n)
        LOG_INFO("", "the keystore module read token \"%s\" while another process was writing it "
                     "and was started again (%u time%s)", M.conf.keystore_token, n,
                 n > 1 ? "s" : "");
}

static CK_RV keystore_load(void) /* M.lock held */
{
    if (M.ks)
        return CKR_OK;
    char err[KS_ERRLEN] = "", why[600];
    if (config_trusted_file("keystore module", M.conf.keystore_module, why, sizeof why) < 0) {
        LOG_ERR("", "%s", why);
        return CKR_DEVICE_ERROR;
    }
    if (ks_open_ex(&M.ks, M.conf.keystore_module, M.conf.keystore_shared, err) != CKR_OK) {
        LOG_ERR("", "%s", err);
        return CKR_DEVICE_ERROR;
    }
    if (!ks_private(M.ks))
        LOG_WARN("", "the keystore module %s is loaded as a shared instance (%s): other code in this "
                     "process that loads it shares its login and sessions", M.conf.keystore_module,
                 shared_reason());
    if (ks_select_token(M.ks, M.conf.keystore_token, err) != CKR_OK ||
        ks_session_open(M.ks, &M.ks_misc) != CKR_OK) {
        LOG_ERR("", "%s", err[0] ? err : "keystore: cannot open a session");
        ks_close(M.ks);
        M.ks = NULL;
        return CKR_DEVICE_ERROR;
    }
    say_reloads(0);
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
    int state = ks_logged_in(M.ks);
    if (M.ks_logins > 0 && state != 1) {
        /* other code with the shared instance logged out or closed our sessions */
        LOG_WARN("", "gp-p11's keystore login was taken away by other code in this process, "
                     "which shares the keystore instance: logging in again with this PIN");
        M.ks_logins = 0;
    }
    if (state < 0) { /* the sessions are gone: open new ones */
        char e2[KS_ERRLEN] = "";
        ks_session_close(M.ks_misc);
        M.ks_misc = NULL;
        if (ks_select_token(M.ks, M.conf.keystore_token, e2) != CKR_OK ||
            ks_session_open(M.ks, &M.ks_misc) != CKR_OK) {
            LOG_ERR("", "keystore: %s", e2[0] ? e2 : "cannot open a session");
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    }
    uint8_t digest[32];
    if (M.ks_logins == 0) {
        char err[KS_ERRLEN] = "";
        int already = 0;
        unsigned reloads = ks_reloads(M.ks);
        rv = ks_login_ex(M.ks, pin, pin_len, &already, err);
        say_reloads(reloads);
        if (rv != CKR_OK) {
            LOG_WARN("", "%s", err);
            goto out;
        }
        if (already) {
            /* someone else in this process logged the shared instance in:
             * the PIN was not checked, so it is not taken */
            LOG_ERR("", "the keystore token \"%s\" is already logged in by other code in this "
                        "process, which shares gp-p11's instance of %s (%s): gp-p11 cannot check "
                        "the PIN and refuses it", M.conf.keystore_token, M.conf.keystore_module,
                    shared_reason());
            rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
            goto out;
        }
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
    gp_session_init(&t->gp, pcsc_transport(t->card));
    t->gp.trace = trace_cb;
    t->gp.trace_ctx = t;
    return CKR_OK;
}

/* Holds the card (a PC/SC transaction) for what follows, so that no other
 * program's command comes between ours. While logged in the card stays held
 * until the logout: at SCP02's C-MAC levels nothing proves where an answer
 * came from, so only a card nobody else can reach guarantees that every
 * answer is the security domain's (README, "Sharing a reader"). */
static CK_RV card_hold(token_t *t)
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
static void card_unhold(token_t *t)
{
    if (t->card && !t->logged_in)
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

/* --- objects ------------------------------------------------------------------- */

static object_t *add_object(token_t *t, enum obj_type type, CK_OBJECT_CLASS cls, const char *label)
{
    if (t->n_objects >= MAX_OBJECTS) {
        LOG_WARN(t->reader, "more than %d objects on the card: the rest are not shown", MAX_OBJECTS);
        return NULL;
    }
    object_t *o = &t->objects[t->n_objects++];
    memset(o, 0, sizeof *o);
    o->type = type;
    o->cls = cls;
    snprintf(o->label, sizeof o->label, "%s", label);
    /* an object of the previous load keeps its handle when it comes back */
    for (int i = 0; i < t->n_prev_objects; i++)
        if (t->prev_objects[i].type == type && !strcmp(t->prev_objects[i].label, o->label)) {
            o->handle = t->prev_objects[i].handle;
            return o;
        }
    mutex_lock(M.lock);
    o->handle = ++M.next_object;
    mutex_unlock(M.lock);
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

/* Card key versions from the key information template (GET DATA E0). */
static void add_key_sets(token_t *t)
{
    for (int i = 0; i < t->n_objects; i++) {
        object_t *ki = &t->objects[i];
        if (ki->type != OBJ_GET_DATA || strcmp(ki->label, "key information"))
            continue;
        tlv_t e0, c0;
        if (tlv_find(ki->value, ki->value_len, 0xE0, &e0) != 1)
            return;
        size_t off = 0;
        uint8_t seen[256] = {0};
        while (tlv_next(e0.v, e0.len, &off, &c0) == 1) {
            if (c0.tag != 0xC0 || c0.len < 2 || seen[c0.v[1]])
                continue;
            seen[c0.v[1]] = 1;
            char label[32];
            snprintf(label, sizeof label, "key version %02X", c0.v[1]);
            object_t *o = add_object(t, OBJ_KEY_SET, CKO_GP_KEY_SET, label);
            if (o)
                o->kvn = c0.v[1];
        }
        return;
    }
}

/* What follows when the channel closed while the registry and card data
 * were read (an answer that did not verify, or the card closed it). */
static const char *closed_channel_words(const token_t *t)
{
    return t->logged_in ? "nothing more is read, and the card's objects are not shown: log in again"
                        : "nothing more is read, the login fails, and nothing read on this channel "
                          "is served";
}

CK_RV token_reload(token_t *t)
{
    object_t *fresh = calloc(MAX_OBJECTS, sizeof(object_t));
    if (!fresh)
        return CKR_HOST_MEMORY;
    t->prev_objects = t->objects;
    t->n_prev_objects = t->objects ? t->n_objects : 0;
    t->objects = fresh;
    t->n_objects = 0;
    CK_RV rv = CKR_OK;
    add_object(t, OBJ_CHANNEL, CKO_SECRET_KEY, "secure channel");
    static const uint8_t kinds[] = {GP_STATUS_ISD, GP_STATUS_APPS, GP_STATUS_ELF_MOD};
    for (size_t k = 0; k < sizeof kinds && rv == CKR_OK; k++) {
        if (read_registry(t, kinds[k]) < 0) {
            if (!t->card || !gp_channel_open(&t->gp)) {
                LOG_ERR(t->reader, "reading the card registry failed: %s; %s", gp_error(&t->gp),
                        closed_channel_words(t));
                rv = t->card ? CKR_FUNCTION_FAILED : CKR_DEVICE_REMOVED;
            } else {
                LOG_ERR(t->reader, "reading the card registry failed: %s", gp_error(&t->gp));
            }
        }
    }
    static const struct {
        uint16_t tag;
        const char *label;
    } data[] = {{0x9F7F, "CPLC"}, {0x0066, "card data"}, {0x00E0, "key information"}};
    for (size_t k = 0; k < sizeof data / sizeof data[0] && rv == CKR_OK; k++) {
        add_get_data(t, data[k].tag, data[k].label);
        if (!gp_channel_open(&t->gp)) {
            /* an answer that did not verify (R-MAC, R-ENC) or a channel the
             * card closed: nothing more is read, in the clear or otherwise */
            LOG_ERR(t->reader, "reading the card's \"%s\" (GET DATA %04X): %s; %s", data[k].label,
                    data[k].tag, gp_error(&t->gp), closed_channel_words(t));
            rv = t->card ? CKR_FUNCTION_FAILED : CKR_DEVICE_REMOVED;
        }
    }
    if (rv == CKR_OK)
        add_key_sets(t);
    if (t->prev_objects) {
        ks_wipe(t->prev_objects, sizeof(object_t) * MAX_OBJECTS);
        free(t->prev_objects);
    }
    t->prev_objects = NULL;
    t->n_prev_objects = 0;
    return rv;
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
    t->card_scp = 0;
    if (gp_get_data(&t->gp, 0x0066, r, sizeof r, &rl) != SCP_OK ||
        gp_card_data_scp(r, rl, &scp, &i) != 0) {
        LOG_INFO(t->reader, "the card does not announce its secure channel protocol: assuming "
                            "SCP02 i=15 for DES key sets, SCP03 for AES key sets");
    } else if (scp != 0x02 && scp != 0x03) {
        LOG_WARN(t->reader, "the card announces SCP%02X; gp-p11 speaks SCP02 and SCP03", scp);
    } else {
        t->card_scp = scp;
        if (scp == 0x02)
            t->scp_i = i;
    }
    return t->scp_i;
}

/* The protocol of this login: the configuration's, else the key set's kind
 * (AES keys speak SCP03, DES keys SCP02), else the card's announcement. */
static uint8_t login_scp(token_t *t)
{
    token_card_scp_i(t); /* reads the card's announcement once (t->card_scp) */
    uint8_t scp = M.conf.scp;
    if (!scp && t->keys.enc != CK_INVALID_HANDLE)
        scp = t->keys.aes ? 3 : 2;
    if (!scp)
        scp = t->card_scp ? t->card_scp : 2;
    if (t->card_scp && t->card_scp != scp)
        LOG_INFO(t->reader, "the card announces SCP%02X; this login uses SCP%02X (%s)", t->card_scp,
                 scp, M.conf.scp ? "scp in the configuration" : "the key set's kind");
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
    snprintf(name, sizeof name, "%s@%s", M.conf.key_set, hex);
    ks_keyset_t k;
    if (ks_find_keyset(t->kss, name, &k) != CKR_OK) {
        if (t->keys.enc == CK_INVALID_HANDLE)
            LOG_ERR(t->reader, "login refused: no key set \"%s\", \"%s@%s\" or \"%s\" in the "
                               "keystore (provision one with gp-p11-keys)", M.conf.key_set,
                    M.conf.key_set, t->cin_hex[0] ? t->cin_hex : "<CIN>", name);
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
        snprintf(name, sizeof name, "%s@%s", M.conf.key_set, hex);
        if (ks_find_keyset(t->kss, name, &t->keys) == CKR_OK) {
            LOG_INFO(t->reader, "using key set \"%s\", bound to this card's CIN", name);
            snprintf(t->keyset_name, sizeof t->keyset_name, "%s", name);
            return CKR_OK;
        }
    }
    snprintf(t->keyset_name, sizeof t->keyset_name, "%s", M.conf.key_set);
    if (ks_find_keyset(t->kss, M.conf.key_set, &t->keys) != CKR_OK) {
        /* maybe bound to the card's KDD, known after INITIALIZE UPDATE */
        LOG_INFO(t->reader, "%s", ks_session_error(t->kss));
        t->keys.enc = t->keys.mac = t->keys.dek = CK_INVALID_HANDLE;
    }
    return CKR_OK;
}

/* selected: the security domain was selected just before (no SELECT again) */
CK_RV token_open_channel(token_t *t, int selected)
{
    gp_channel_opts_t o = {.level = M.conf.security_level, .kvn = M.conf.key_version,
                           .isd_aid = M.conf.isd_aid, .isd_aid_len = M.conf.isd_aid_len,
                           .selected = 1, .div = (enum ks_diversification)M.conf.diversification,
                           .select_keys = bound_keys, .select_ctx = t,
                           .may_authenticate = token_may_authenticate};
    scp_err_t e = selected ? SCP_OK : gp_select(&t->gp, o.isd_aid, o.isd_aid_len);
    if (e == SCP_OK) {
        o.scp = login_scp(t);
        o.i_param = M.conf.scp_i ? M.conf.scp_i : token_card_scp_i(t);
        if (o.scp == 2 && !M.conf.scp_i && !scp02_variant_allowed(t, o.i_param))
            return CKR_FUNCTION_FAILED;
        if (o.scp == 2 && o.level == 0x33) {
            LOG_ERR(t->reader, "login refused: security level mac-enc-rmac-renc (33) is SCP03's; "
                               "this login speaks SCP02 (levels mac, mac-enc, mac-rmac, "
                               "mac-enc-rmac)");
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
    if (e == SCP_E_CARD_CRYPTOGRAM)
        LOG_ERR(t->reader, "login refused: the keys of key set \"%s\"%s do not match this card (%s)",
                t->keyset_name, o.div == KS_DIV_EMV ? " (diversified, EMV)" :
                o.div == KS_DIV_VISA2 ? " (diversified, VISA2)" : "", gp_error(&t->gp));
    else
        LOG_ERR(t->reader, "login failed: %s", gp_error(&t->gp));
    return token_map_scp(t, e);
}

CK_RV token_login(token_t *t, const uint8_t *pin, size_t pin_len)
{
    if (t->logged_in)
        return CKR_USER_ALREADY_LOGGED_IN;
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
    scp_err_t e = gp_select(&t->gp, M.conf.isd_aid, M.conf.isd_aid_len);
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "login failed: %s", gp_error(&t->gp));
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
        free_objects(t);
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
    free_objects(t);
    ks_session_close(t->kss);
    t->kss = NULL;
    t->logged_in = 0;
    card_unhold(t); /* other programs may use the card again */
    keystore_logout();
}

