/* One template reader: see template.h. */
#include "config.h"
#include "module.h"
#include "template.h"

#include <string.h>

int template_null(const CK_ATTRIBUTE *a) { return !a->pValue && a->ulValueLen; }

int template_is(const CK_ATTRIBUTE *a, const char *text)
{
    size_t n = strlen(text);
    return a->ulValueLen == n && (!n || memcmp(a->pValue, text, n) == 0);
}

CK_RV template_bool(const CK_ATTRIBUTE *a, int *out)
{
    if (a->ulValueLen != sizeof(CK_BBOOL))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    *out = *(const CK_BBOOL *)a->pValue == CK_TRUE;
    return CKR_OK;
}

CK_RV template_byte(const CK_ATTRIBUTE *a, uint8_t *out)
{
    if (a->ulValueLen != 1)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    *out = *(const CK_BYTE *)a->pValue;
    return CKR_OK;
}

CK_RV template_bytes(const CK_ATTRIBUTE *a, size_t min, size_t max, uint8_t *out, size_t *len)
{
    if (a->ulValueLen < min || a->ulValueLen > max)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    if (a->ulValueLen)
        memcpy(out, a->pValue, a->ulValueLen);
    *len = a->ulValueLen;
    return CKR_OK;
}

CK_RV template_aid(const CK_ATTRIBUTE *a, uint8_t *out, size_t *len)
{
    return template_bytes(a, 5, GP_AID_MAX, out, len);
}

/* --- a CAP file to load (and install): C_CreateObject of CKO_DATA ----------------- */

CK_RV applet_parse(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, applet_req_t *r)
{
    memset(r, 0, sizeof *r);
    r->descriptor = r->selectable = 1;
    int have_app = 0;
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++) {
        const CK_ATTRIBUTE *a = &tmpl[i];
        if (template_null(a))
            return CKR_ARGUMENTS_BAD;
        switch (a->type) {
        case CKA_CLASS:
            break; /* CKO_DATA: C_CreateObject chose this path by it */
        case CKA_APPLICATION:
            if (template_is(a, "load file"))
                r->install = 0;
            else if (template_is(a, "application"))
                r->install = 1;
            else
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            have_app = 1;
            break;
        case CKA_VALUE:
            r->cap = a->pValue;
            r->cap_len = a->ulValueLen;
            break;
        case CKA_TOKEN: case CKA_PRIVATE: case CKA_LABEL: case CKA_MODIFIABLE:
            break; /* what pkcs11-tool adds; the object is the card's entry */
        case CKA_GP_LOAD_FILE: rv = template_aid(a, r->elf, &r->elf_len); break;
        case CKA_GP_MODULE: rv = template_aid(a, r->module, &r->module_len); break;
        case CKA_GP_AID: rv = template_aid(a, r->app, &r->app_len); break;
        case CKA_GP_SECURITY_DOMAIN: rv = template_aid(a, r->sd, &r->sd_len); break;
        case CKA_GP_PRIVILEGES:
            if (a->ulValueLen != 1 && a->ulValueLen != 3)
                return CKR_ATTRIBUTE_VALUE_INVALID;
            rv = template_bytes(a, 1, 3, r->priv, &r->priv_len);
            break;
        case CKA_GP_INSTALL_PARAMS:
            rv = template_bytes(a, 0, sizeof r->params, r->params, &r->params_len);
            break;
        case CKA_GP_LOAD_DESCRIPTOR: rv = template_bool(a, &r->descriptor); break;
        case CKA_GP_LOAD_HASH: rv = template_bool(a, &r->hash); break;
        case CKA_GP_SELECTABLE: rv = template_bool(a, &r->selectable); break;
        case CKA_GP_INSTALL_ONLY: rv = template_bool(a, &r->install_only); break;
        case CKA_GP_PROGRESS:
            if (a->ulValueLen != 2 * sizeof(CK_ULONG))
                return CKR_ATTRIBUTE_VALUE_INVALID;
            r->progress = a->pValue;
            r->progress[0] = r->progress[1] = 0;
            break;
        default:
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
    }
    if (rv != CKR_OK)
        return rv;
    if (!have_app)
        return CKR_TEMPLATE_INCOMPLETE;
    if (!r->cap && !r->install)
        return CKR_TEMPLATE_INCOMPLETE; /* "load file" and nothing to load */
    if (!r->cap)
        r->install_only = 1;
    if (r->install_only && !r->install)
        return CKR_TEMPLATE_INCONSISTENT; /* "load file" and install only */
    if (r->install_only && !r->cap && (!r->elf_len || !r->module_len))
        return CKR_TEMPLATE_INCOMPLETE;
    if (!r->install && (r->module_len || r->app_len || r->priv_len || r->params_len))
        return CKR_TEMPLATE_INCONSISTENT; /* install choices for a load only */
    return CKR_OK;
}


/* --- a PUT KEY: C_CreateObject of CKO_GP_KEY_SET, C_GenerateKey(CKM_GP_PUT_KEY) ---- */

CK_RV template_put_key(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, put_key_t *p)
{
    memset(p, 0, sizeof *p);
    int have_label = 0, have_kvn = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE *a = &tmpl[i];
        if (template_null(a))
            return CKR_ARGUMENTS_BAD;
        CK_RV rv = CKR_OK;
        size_t len;
        switch (a->type) {
        case CKA_CLASS:
            if (a->ulValueLen != sizeof(CK_OBJECT_CLASS) || *(CK_OBJECT_CLASS *)a->pValue != CKO_GP_KEY_SET)
                return CKR_TEMPLATE_INCONSISTENT;
            break;
        case CKA_TOKEN:
            break; /* the key set is stored in the keystore either way */
        case CKA_LABEL: /* the key set's name: text, without a zero byte in it */
            rv = template_bytes(a, 1, sizeof p->name - 1, (uint8_t *)p->name, &len);
            if (rv == CKR_OK && strlen(p->name) != len)
                rv = CKR_ATTRIBUTE_VALUE_INVALID; /* found by fuzz_template */
            have_label = 1;
            break;
        case CKA_GP_KEY_VERSION:
            rv = template_byte(a, &p->kvn);
            if (rv == CKR_OK && (p->kvn == 0 || p->kvn > 0x7F))
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            have_kvn = 1;
            break;
        case CKA_GP_REPLACE_KEY_VERSION:
            rv = template_byte(a, &p->replace);
            break;
        case CKA_GP_KEY_VALUES:
            if (a->ulValueLen != 48 && a->ulValueLen != 72 && a->ulValueLen != 96)
                return CKR_ATTRIBUTE_VALUE_INVALID;
            rv = template_bytes(a, 48, 96, p->values, &p->values_len);
            p->have_values = 1;
            break;
        default:
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        if (rv != CKR_OK)
            return rv;
    }
    return have_label && have_kvn ? CKR_OK : CKR_TEMPLATE_INCOMPLETE;
}

/* --- a change to a registry object: C_SetAttributeValue --------------------------- */

CK_RV template_set(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, int registry, CK_ULONG kind, set_req_t *q)
{
    memset(q, 0, sizeof *q);
    q->related = -1;
    /* the lifecycle changes (SET STATUS, INSTALL [for make selectable]), an
     * application takes STORE DATA, a load file a DELETE choice */
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE *a = &tmpl[i];
        if (template_null(a))
            return CKR_ARGUMENTS_BAD;
        CK_RV rv;
        int related;
        if (a->type == CKA_GP_LIFECYCLE) {
            rv = template_byte(a, &q->lifecycle);
            q->have_lifecycle = 1;
        } else if (a->type == CKA_GP_CONFIRM_TERMINATE) {
            rv = template_bool(a, &q->confirm);
        } else if (a->type == CKA_GP_DELETE_RELATED && registry && kind == GP_KIND_LOAD_FILE) {
            rv = template_bool(a, &related);
            if (rv == CKR_OK)
                q->related = related;
        } else if (a->type == CKA_GP_STORE_DATA && registry && kind == GP_KIND_APP) {
            if (a->ulValueLen == 0)
                return CKR_ATTRIBUTE_VALUE_INVALID;
            q->store = a->pValue;
            q->store_len = a->ulValueLen;
            q->have_store = 1;
            rv = CKR_OK;
        } else if (a->type == CKA_GP_STORE_DATA_FORMAT && registry && kind == GP_KIND_APP) {
            rv = template_byte(a, &q->format);
            if (rv == CKR_OK && (q->format & 0x80))
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
        } else {
            /* PKCS#11 2.40 4.4.1: an object that cannot be modified at all
             * answers CKR_ACTION_PROHIBITED; a read-only attribute of one that
             * can, CKR_ATTRIBUTE_READ_ONLY */
            return registry ? CKR_ATTRIBUTE_READ_ONLY : CKR_ACTION_PROHIBITED;
        }
        if (rv != CKR_OK)
            return rv;
    }
    return CKR_OK;
}

int template_class(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_CLASS *cls)
{
    int have = 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (tmpl[i].type == CKA_CLASS) { /* the last one counts, as before */
            have = 1;
            *cls = tmpl[i].pValue && tmpl[i].ulValueLen == sizeof(CK_OBJECT_CLASS)
                       ? *(const CK_OBJECT_CLASS *)tmpl[i].pValue
                       : CK_UNAVAILABLE_INFORMATION;
        }
    return have;
}
