/*
 * TEST DOUBLE, not for production: a PKCS#11 module that forwards every call
 * to a real keystore module (SoftHSM2) and adds the one thing no Debian soft
 * token offers together with SCP02's derivations: C_WrapKey with CKM_DES3_ECB
 * of a double-length DES key (SoftHSM 2.6.1 wraps no DES key at all).
 *
 * To wrap without a key value leaving the keystore, DES2 keys must be
 * generated through this module: C_GenerateKey(CKM_DES2_KEY_GEN) makes the
 * key bytes here, stores them in the real keystore with C_CreateObject and
 * keeps a copy in this module's memory, which is the double's stand-in for an
 * HSM's inside. C_WrapKey encrypts that copy under the wrapping key with the
 * real keystore's C_Encrypt, after the checks PKCS#11 requires
 * (CKA_EXTRACTABLE of the key, CKA_WRAP of the wrapping key). Every other call
 * is the real keystore's.
 *
 * The real module is named by GP_WRAP_DOUBLE_TARGET (default: SoftHSM2's).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST mine;

#define MAX_KEYS 256
static struct {
    CK_OBJECT_HANDLE h;
    CK_BYTE v[16];
} keys[MAX_KEYS];

static int find_key(CK_OBJECT_HANDLE h)
{
    for (int i = 0; i < MAX_KEYS; i++)
        if (keys[i].h == h && h != CK_INVALID_HANDLE)
            return i;
    return -1;
}

static CK_RV wd_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                            CK_OBJECT_HANDLE_PTR ph)
{
    if (!m || m->mechanism != CKM_DES2_KEY_GEN || n > 30)
        return real->C_GenerateKey(s, m, t, n, ph);
    int slot = find_key(CK_INVALID_HANDLE);
    for (int i = 0; i < MAX_KEYS && slot < 0; i++)
        if (keys[i].h == CK_INVALID_HANDLE)
            slot = i;
    if (slot < 0)
        return CKR_DEVICE_MEMORY;
    CK_BYTE v[16];
    CK_RV rv = real->C_GenerateRandom(s, v, sizeof v);
    if (rv != CKR_OK)
        return rv;
    CK_ATTRIBUTE all[32];
    memcpy(all, t, n * sizeof *t);
    all[n].type = CKA_VALUE;
    all[n].pValue = v;
    all[n].ulValueLen = sizeof v;
    rv = real->C_CreateObject(s, all, n + 1, ph);
    if (rv == CKR_OK) {
        keys[slot].h = *ph;
        memcpy(keys[slot].v, v, sizeof v);
    }
    memset(v, 0, sizeof v);
    return rv;
}

static CK_RV wd_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping,
                        CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    int k = find_key(key);
    if (!m || m->mechanism != CKM_DES3_ECB || k < 0)
        return real->C_WrapKey(s, m, wrapping, key, out, out_len);
    if (!out_len)
        return CKR_ARGUMENTS_BAD;
    CK_BBOOL extractable = CK_FALSE, can_wrap = CK_FALSE;
    CK_ATTRIBUTE a = {CKA_EXTRACTABLE, &extractable, sizeof extractable};
    CK_ATTRIBUTE w = {CKA_WRAP, &can_wrap, sizeof can_wrap};
    CK_RV rv = real->C_GetAttributeValue(s, key, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (!extractable)
        return CKR_KEY_UNEXTRACTABLE;
    rv = real->C_GetAttributeValue(s, wrapping, &w, 1);
    if (rv != CKR_OK)
        return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID : rv;
    if (!can_wrap)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    if (!out) {
        *out_len = 16;
        return CKR_OK;
    }
    if (*out_len < 16) {
        *out_len = 16;
        return CKR_BUFFER_TOO_SMALL;
    }
    CK_MECHANISM ecb = {CKM_DES3_ECB, NULL, 0};
    rv = real->C_EncryptInit(s, &ecb, wrapping);
    if (rv == CKR_OK)
        rv = real->C_Encrypt(s, keys[k].v, 16, out, out_len);
    return rv;
}

static CK_RV wd_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
    CK_RV rv = real->C_DestroyObject(s, h);
    int k = find_key(h);
    if (rv == CKR_OK && k >= 0) {
        memset(keys[k].v, 0, sizeof keys[k].v);
        keys[k].h = CK_INVALID_HANDLE;
    }
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
    if (!pp)
        return CKR_ARGUMENTS_BAD;
    if (!real) {
        const char *target = getenv("GP_WRAP_DOUBLE_TARGET");
        void *dl = dlopen(target && *target ? target : GP_DEFAULT_KEYSTORE_MODULE, RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
        if (!gfl || gfl(&real) != CKR_OK || !real)
            return CKR_GENERAL_ERROR;
        mine = *real;
        mine.C_GenerateKey = wd_GenerateKey;
        mine.C_WrapKey = wd_WrapKey;
        mine.C_DestroyObject = wd_DestroyObject;
    }
    *pp = &mine;
    return CKR_OK;
}
