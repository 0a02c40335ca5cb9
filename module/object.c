/* Objects and their attributes, exactly as PKCS#11 2.40 section 5.7 says
 * C_GetAttributeValue behaves. */
#include "config.h"
#include "module.h"

#include <stdio.h>
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
static const CK_MECHANISM_TYPE apdu_mech = CKM_GP_APDU;
static const CK_KEY_TYPE channel_key_type = CKK_GP_SECURE_CHANNEL;
static const CK_ULONG unavailable = CK_UNAVAILABLE_INFORMATION;

/* Returns 1 and fills a when the object has the attribute. */
static int lookup(const object_t *o, CK_ATTRIBUTE_TYPE type, attr_t *a, uint8_t *scratch)
{
    a->sensitive = 0;
#define BYTES(ptr, n) do { a->p = (ptr); a->len = (CK_ULONG)(n); return 1; } while (0)
    switch (type) {
    case CKA_CLASS: BYTES(&o->cls, sizeof o->cls);
    case CKA_TOKEN: BYTES(o->type == OBJ_CHANNEL ? &F : &T, sizeof(CK_BBOOL));
    case CKA_PRIVATE: BYTES(&T, sizeof(CK_BBOOL));
    case CKA_MODIFIABLE: /* lifecycle (SET STATUS), STORE DATA, a load file's DELETE choice */
        BYTES(o->type == OBJ_REGISTRY ? &T : &F, sizeof(CK_BBOOL));
    case CKA_COPYABLE: BYTES(&F, sizeof(CK_BBOOL));
    case CKA_DESTROYABLE:
        BYTES(o->type == OBJ_REGISTRY && o->kind != GP_KIND_ISD ? &T : &F, sizeof(CK_BBOOL));
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
    if (o->type == OBJ_CHANNEL) {
        switch (type) {
        case CKA_KEY_TYPE: BYTES(&channel_key_type, sizeof channel_key_type);
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
        case CKA_ALLOWED_MECHANISMS: BYTES(&apdu_mech, sizeof apdu_mech);
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
