/*
 * libFuzzer target: the template reader (module/template.c) on templates of
 * any shape an application could pass: attribute types, lengths and NULL
 * values taken from the input. It must never read past a value, and every
 * refusal must be one of the CKR codes C_CreateObject and C_SetAttributeValue
 * may return.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "module/module.h"

static const CK_ATTRIBUTE_TYPE types[] = {
    CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_APPLICATION, CKA_VALUE, CKA_MODIFIABLE,
    CKA_ID, CKA_GP_AID, CKA_GP_LOAD_FILE, CKA_GP_MODULE, CKA_GP_SECURITY_DOMAIN,
    CKA_GP_PRIVILEGES, CKA_GP_INSTALL_PARAMS, CKA_GP_LOAD_DESCRIPTOR, CKA_GP_LOAD_HASH,
    CKA_GP_SELECTABLE, CKA_GP_INSTALL_ONLY, CKA_GP_PROGRESS, CKA_GP_KEY_VERSION,
    CKA_GP_REPLACE_KEY_VERSION, CKA_GP_KEY_VALUES, CKA_GP_LIFECYCLE, CKA_GP_CONFIRM_TERMINATE,
    CKA_GP_DELETE_RELATED, CKA_GP_STORE_DATA, CKA_GP_STORE_DATA_FORMAT,
};

static int allowed(CK_RV rv)
{
    switch (rv) {
    case CKR_OK: case CKR_ARGUMENTS_BAD: case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_ATTRIBUTE_TYPE_INVALID: case CKR_TEMPLATE_INCOMPLETE: case CKR_TEMPLATE_INCONSISTENT:
    case CKR_ATTRIBUTE_READ_ONLY: case CKR_ACTION_PROHIBITED:
        return 1;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    /* each attribute: type index, length, a NULL flag, then that many bytes
     * (each value in a buffer of its own, so that ASan sees any overread) */
    CK_ATTRIBUTE t[16];
    void *bufs[16];
    CK_ULONG k = 0;
    size_t i = 0;
    while (k < 16 && i + 3 <= n) {
        CK_ATTRIBUTE_TYPE type = types[d[i] % (sizeof types / sizeof types[0])];
        size_t len = d[i + 1];
        int null = d[i + 2] & 1;
        i += 3;
        if (len > n - i)
            len = n - i;
        bufs[k] = NULL;
        if (!null) {
            /* CKA_GP_PROGRESS is written: give it room the length promises */
            bufs[k] = malloc(len ? len : 1);
            if (len)
                memcpy(bufs[k], d + i, len);
        }
        t[k].type = type;
        t[k].pValue = bufs[k];
        t[k].ulValueLen = len;
        i += len;
        k++;
    }
    applet_req_t r;
    put_key_t p;
    set_req_t q;
    CK_RV a = applet_parse(t, k, &r);
    CK_RV b = template_put_key(t, k, &p);
    CK_RV c = template_set(t, k, 1, GP_KIND_APP, &q);
    CK_RV e = template_set(t, k, 0, (CK_ULONG)-1, &q);
    CK_OBJECT_CLASS cls = 0;
    int have_class = template_class(t, k, &cls), any = 0;
    for (CK_ULONG j = 0; j < k; j++)
        any |= t[j].type == CKA_CLASS;
    if (have_class != any)
        abort(); /* a class is found exactly when the template has one */
    if (!allowed(a) || !allowed(b) || !allowed(c) || !allowed(e))
        abort();
    if (b == CKR_OK && (p.kvn == 0 || p.kvn > 0x7F || !p.name[0]))
        abort(); /* a PUT KEY accepted must name a key set and a key version 1 to 7F */
    for (CK_ULONG j = 0; j < k; j++)
        free(bufs[j]);
    return 0;
}
