/* Objects: a logged-in token's table, built from the card's registry and
 * GET DATA answers (handles kept across reloads), and their attributes,
 * exactly as PKCS#11 2.40 section 5.7 says C_GetAttributeValue behaves. */
#include "config.h"
#include "module.h"

#include "keystore/hex.h"
#include "scp/tlv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void object_from_entry(object_t *o, const gp_entry_t *e)
{
    o->entry = *e;
    switch (e->p1) {
    case GP_STATUS_ISD: o->kind = GP_KIND_ISD; break;
    case GP_STATUS_APPS: o->kind = (e->priv[0] & 0x80) ? GP_KIND_SSD : GP_KIND_APP; break;
    default: o->kind = GP_KIND_LOAD_FILE; break;
    }
    snprintf(o->application, sizeof o->application, "%s", gp_entry_kind(e));
    memcpy(o->value, e->raw, e->raw_len);
    o->value_len = e->raw_len;
}

/* One attribute of an object: where its bytes are, or why there are none. */
typedef struct {
    const void *p;
    CK_ULONG len;
    int sensitive;
} attr_t;

static CK_BBOOL T = CK_TRUE, F = CK_FALSE;
static const CK_MECHANISM_TYPE apdu_mech = CKM_GP_APDU, plain_mech = CKM_GP_APDU_PLAIN;
static const CK_KEY_TYPE channel_key_type = CKK_GP_SECURE_CHANNEL,
                         plain_key_type = CKK_GP_PLAIN_CHANNEL;
static const CK_ULONG unavailable = CK_UNAVAILABLE_INFORMATION;

/* Returns 1 and fills a when the object has the attribute. */
static int lookup(const object_t *o, CK_ATTRIBUTE_TYPE type, attr_t *a, uint8_t *scratch)
{
    a->sensitive = 0;
#define BYTES(ptr, n) do { a->p = (ptr); a->len = (CK_ULONG)(n); return 1; } while (0)
    switch (type) {
    case CKA_CLASS: BYTES(&o->cls, sizeof o->cls);
    case CKA_TOKEN: BYTES(o->type == OBJ_CHANNEL || o->type == OBJ_PLAIN ? &F : &T, sizeof(CK_BBOOL));
    case CKA_PRIVATE: BYTES(o->public_obj ? &F : &T, sizeof(CK_BBOOL));
    case CKA_MODIFIABLE: /* lifecycle (SET STATUS), STORE DATA, a load file's DELETE choice */
        BYTES(o->type == OBJ_REGISTRY ? &T : &F, sizeof(CK_BBOOL));
    case CKA_COPYABLE: BYTES(&F, sizeof(CK_BBOOL));
    case CKA_DESTROYABLE: /* DELETE; a card key version: DELETE [key] (manage.c) */
        BYTES((o->type == OBJ_REGISTRY && o->kind != GP_KIND_ISD) || o->type == OBJ_KEY_SET ? &T
                                                                                         : &F,
              sizeof(CK_BBOOL));
    case CKA_LABEL: BYTES(o->label, strlen(o->label));
    default: break;
    }
    if (o->cls == CKO_DATA) {
        switch (type) {
        case CKA_APPLICATION: BYTES(o->application, strlen(o->application));
        case CKA_VALUE: BYTES(o->value, o->value_len);
        case CKA_OBJECT_ID: BYTES("", 0);
        default: break;
        }
    }
    if (o->type == OBJ_REGISTRY) {
        const gp_entry_t *e = &o->entry;
        switch (type) {
        case CKA_GP_AID: BYTES(e->aid, e->aid_len);
        case CKA_GP_LIFECYCLE: BYTES(&e->lifecycle, 1);
        case CKA_GP_PRIVILEGES: BYTES(e->priv, e->priv_len);
        case CKA_GP_KIND: BYTES(&o->kind, sizeof o->kind);
        case CKA_GP_LOAD_FILE:
            if (!e->elf_len)
                return 0;
            BYTES(e->elf, e->elf_len);
        case CKA_GP_MODULES: {
            if (o->kind != GP_KIND_LOAD_FILE)
                return 0;
            size_t n = 0;
            for (int m = 0; m < e->n_modules; m++) {
                scratch[n++] = (uint8_t)e->module_len[m];
                memcpy(scratch + n, e->module[m], e->module_len[m]);
                n += e->module_len[m];
            }
            BYTES(scratch, n);
        }
        default: break;
        }
    }
    if (o->type == OBJ_KEY_SET && type == CKA_GP_KEY_VERSION)
        BYTES(&o->kvn, 1);
    if (o->type == OBJ_CHANNEL || o->type == OBJ_PLAIN) {
        int plain = o->type == OBJ_PLAIN;
        switch (type) {
        case CKA_KEY_TYPE:
            BYTES(plain ? &plain_key_type : &channel_key_type, sizeof channel_key_type);
        case CKA_ID: BYTES("", 0);
        case CKA_START_DATE: case CKA_END_DATE: BYTES("", 0);
        case CKA_SIGN: BYTES(&T, sizeof(CK_BBOOL));
        case CKA_SENSITIVE: case CKA_ALWAYS_SENSITIVE: case CKA_NEVER_EXTRACTABLE:
            BYTES(&T, sizeof(CK_BBOOL));
        case CKA_EXTRACTABLE: case CKA_DERIVE: case CKA_LOCAL: case CKA_ENCRYPT: case CKA_DECRYPT:
        case CKA_VERIFY: case CKA_WRAP: case CKA_UNWRAP: case CKA_SIGN_RECOVER:
        case CKA_VERIFY_RECOVER: case CKA_WRAP_WITH_TRUSTED: case CKA_TRUSTED:
            BYTES(&F, sizeof(CK_BBOOL));
        case CKA_KEY_GEN_MECHANISM: BYTES(&unavailable, sizeof unavailable);
        case CKA_ALLOWED_MECHANISMS: BYTES(plain ? &plain_mech : &apdu_mech, sizeof apdu_mech);
        case CKA_VALUE: case CKA_CHECK_VALUE:
            a->sensitive = 1; /* the channel's keys live in the keystore only */
            a->p = NULL;
            a->len = 0;
            return 1;
        default: break;
        }
    }
#undef BYTES
    return 0;
}

CK_RV object_get_attributes(const object_t *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < n; i++) {
        attr_t a;
        uint8_t scratch[GP_MODULES_MAX * (GP_AID_MAX + 1)];
        if (!lookup(o, tmpl[i].type, &a, scratch)) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (a.sensitive) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_SENSITIVE;
        } else if (!tmpl[i].pValue) {
            tmpl[i].ulValueLen = a.len;
        } else if (tmpl[i].ulValueLen < a.len) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            if (a.len)
                memcpy(tmpl[i].pValue, a.p, a.len);
            tmpl[i].ulValueLen = a.len;
        }
    }
    return rv;
}

int object_matches(const object_t *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        attr_t a;
        uint8_t scratch[GP_MODULES_MAX * (GP_AID_MAX + 1)];
        if (!lookup(o, tmpl[i].type, &a, scratch) || a.sensitive || a.len != tmpl[i].ulValueLen)
            return 0;
        if (a.len && (!tmpl[i].pValue || memcmp(a.p, tmpl[i].pValue, a.len) != 0))
            return 0;
    }
    return 1;
}

/* --- the object table of a logged-in token, built from the card ------------------ */

void token_free_objects(token_t *t)
{
    if (t->objects) {
        ks_wipe(t->objects, sizeof(object_t) * MAX_OBJECTS);
        free(t->objects);
    }
    t->objects = NULL;
    t->n_objects = 0;
}

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
    o->public_obj = t->loading_public;
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

/* A refusal that says "not this way": the card does not know that P1 or
 * that format (6A80, 6A81, 6A86), and another way may still work. */
static int not_this_way(uint16_t sw)
{
    return sw == 0x6A80 || sw == 0x6A81 || sw == 0x6A86;
}

/* One kind of registry entry, asked every way a card may answer: the tag
 * format (P2 02) and then the legacy one (00); load files with their
 * modules (P1 10) then load files alone (20), each both ways. A card that
 * refuses one way "not this way" is asked the next; any other failure ends
 * it. Returns the number of entries, -1 (failed: gp_error says how) or -2
 * (the card lists this kind no way: said in words in gp_error). */
static int read_registry(token_t *t, uint8_t p1)
{
    typedef struct { uint8_t p1; int tlv; } way_t;
    static const way_t isd[] = {{GP_STATUS_ISD, 1}, {GP_STATUS_ISD, 0}},
                       apps[] = {{GP_STATUS_APPS, 1}, {GP_STATUS_APPS, 0}},
                       elf[] = {{GP_STATUS_ELF_MOD, 1}, {GP_STATUS_ELF_MOD, 0}, {GP_STATUS_ELF, 1},
                                {GP_STATUS_ELF, 0}};
    const way_t *ways = p1 == GP_STATUS_ISD ? isd : p1 == GP_STATUS_APPS ? apps : elf;
    int n_ways = p1 == GP_STATUS_ELF_MOD ? 4 : 2;
    gp_entry_t *e = calloc(MAX_OBJECTS, sizeof *e);
    if (!e)
        return -1;
    int n = -1;
    char tried[160] = "";
    size_t tl = 0;
    for (int w = 0; w < n_ways; w++) {
        n = gp_get_status(&t->gp, ways[w].p1, ways[w].tlv, e, MAX_OBJECTS);
        if (n >= 0 || !gp_channel_open(&t->gp) || !not_this_way(t->gp.sw))
            break;
        tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "%sP1=%02X P2=%02X: %04X",
                               w ? ", " : "", ways[w].p1, ways[w].tlv ? 2 : 0, t->gp.sw);
        if (tl >= sizeof tried)
            tl = sizeof tried - 1;
        if (w == n_ways - 1) {
            gp_fail(&t->gp, SCP_E_RSP_SW, "the card lists no %s in any way it was asked (GET "
                    "STATUS %s: each refused as unknown); the other kinds are shown",
                    p1 == GP_STATUS_ISD ? "issuer security domain" : p1 == GP_STATUS_APPS
                    ? "applications or security domains" : "load files", tried);
            n = -2;
        }
    }
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

/* The "plain channel": public, with or without a login (CKM_GP_APDU_PLAIN). */
static void add_plain(token_t *t)
{
    object_t *o = add_object(t, OBJ_PLAIN, CKO_SECRET_KEY, "plain channel");
    if (o)
        o->public_obj = 1;
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
    add_plain(t);
    static const uint8_t kinds[] = {GP_STATUS_ISD, GP_STATUS_APPS, GP_STATUS_ELF_MOD};
    for (size_t k = 0; k < sizeof kinds && rv == CKR_OK; k++) {
        int n = read_registry(t, kinds[k]);
        if (n == -2) {
            LOG_WARN(t->reader, "%s", gp_error(&t->gp));
        } else if (n < 0) {
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


CK_RV token_load_public(token_t *t)
{
    if (t->logged_in || t->objects)
        return CKR_OK;
    CK_RV rv = card_hold(t);
    if (rv != CKR_OK)
        return rv;
    t->objects = calloc(MAX_OBJECTS, sizeof(object_t));
    if (!t->objects) {
        card_unhold(t);
        return CKR_HOST_MEMORY;
    }
    t->n_objects = 0;
    t->loading_public = 1;
    add_plain(t);
    scp_err_t e = gp_select(&t->gp, M.conf.isd_aid, M.conf.isd_aid_len);
    if (e == SCP_OK) {
        static const uint8_t kinds[] = {GP_STATUS_ISD, GP_STATUS_APPS, GP_STATUS_ELF_MOD};
        for (size_t k = 0; k < sizeof kinds; k++)
            if (read_registry(t, kinds[k]) < 0) {
                LOG_INFO(t->reader, "before a login, the card shows no registry (%s): it shows "
                                    "it over a secure channel, after C_Login", gp_error(&t->gp));
                break;
            }
        add_get_data(t, 0x9F7F, "CPLC");
        add_get_data(t, 0x0066, "card data");
        add_get_data(t, 0x00E0, "key information");
        add_key_sets(t);
    }
    t->loading_public = 0;
    int gone = !t->card || pcsc_card_status(t->card) != SCP_OK;
    card_unhold(t);
    if (e != SCP_OK) {
        LOG_WARN(t->reader, "before a login: %s", gp_error(&t->gp));
        token_free_objects(t);
        return token_map_scp(t, e);
    }
    if (gone) {
        token_forget_card(t);
        return CKR_DEVICE_REMOVED;
    }
    return CKR_OK;
}

void object_say_read_only(token_t *t, const object_t *o)
{
    static const char *const what[] = {
        [GP_KIND_ISD] = "the issuer security domain: it takes a lifecycle (CKA_GP_LIFECYCLE) only",
        [GP_KIND_APP] = "an application: it takes a lifecycle (CKA_GP_LIFECYCLE) and "
                        "CKA_GP_STORE_DATA (with CKA_GP_STORE_DATA_FORMAT)",
        [GP_KIND_SSD] = "a security domain: it takes a lifecycle (CKA_GP_LIFECYCLE) only",
        [GP_KIND_LOAD_FILE] = "a load file: it takes CKA_GP_DELETE_RELATED only (CKA_GP_STORE_DATA "
                              "goes to an application installed from it)",
    };
    LOG_WARN(t->reader, "%s is %s", o->label,
             o->kind <= GP_KIND_LOAD_FILE && what[o->kind] ? what[o->kind] : "not changeable");
}
