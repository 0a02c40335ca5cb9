/* gp-p11 keystore: key sets (three keys of one kind, found by name, created
 * whole or not at all, with only their role's usages, sealed once the card
 * has them) and the notes kept beside them. */
#include "config.h"
#include "keystore.h"
#include "internal.h"
#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds objects of class CKO_SECRET_KEY with this label on the token. */
static CK_RV find_secret_by_label(ks_session_t *s, const char *label, CK_OBJECT_HANDLE *hs,
                                  CK_ULONG max, CK_ULONG *count)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL tok = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_TOKEN, &tok, sizeof tok},
        {CKA_LABEL, (void *)label, label ? strlen(label) : 0},
    };
    return ks_find_objects(s, t, label ? 3 : 2, hs, max, count);
}

static int valid_set_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > KS_LABEL_MAX - 5)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || (unsigned char)name[i] < 0x20)
            return 0;
    return 1;
}

CK_RV ks_find_keyset(ks_session_t *s, const char *name, ks_keyset_t *out)
{
    if (!valid_set_name(name)) {
        msg_set(s->err, sizeof s->err, "invalid key set name \"%s\"", name ? name : "");
        return CKR_ARGUMENTS_BAD;
    }
    CK_OBJECT_HANDLE *slots[3] = {&out->enc, &out->mac, &out->dek};
    for (int r = 0; r < 3; r++) {
        char label[KS_LABEL_MAX];
        snprintf(label, sizeof label, "%s/%s", name, ks_role_names[r]);
        CK_OBJECT_HANDLE h[2];
        CK_ULONG n = 0;
        CK_RV rv = find_secret_by_label(s, label, h, 2, &n);
        if (rv != CKR_OK) {
            msg_set(s->err, sizeof s->err, "keystore: searching for key %s failed: %s", label, ks_rv_name(rv));
            return rv;
        }
        if (n == 0) {
            msg_set(s->err, sizeof s->err, "key set \"%s\" has no key \"%s\" in the keystore (provision it with "
                           "gp-p11-keys)", name, label);
            return CKR_KEY_HANDLE_INVALID;
        }
        if (n > 1) {
            msg_set(s->err, sizeof s->err, "key \"%s\" exists more than once in the keystore: delete the extra copy",
                   label);
            return CKR_KEY_HANDLE_INVALID;
        }
        CK_KEY_TYPE kt = 0;
        CK_ULONG vl = 0;
        CK_ATTRIBUTE a[2] = {{CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_VALUE_LEN, &vl, sizeof vl}};
        rv = s->ks->f->C_GetAttributeValue(s->h, h[0], a, 1);
        if (rv == CKR_OK && kt == CKK_AES)
            rv = s->ks->f->C_GetAttributeValue(s->h, h[0], a + 1, 1);
        if (rv != CKR_OK || (kt != CKK_DES2 && kt != CKK_AES) ||
            (kt == CKK_AES && vl != 16 && vl != 24 && vl != 32)) {
            msg_set(s->err, sizeof s->err, "key \"%s\" is neither a double-length DES key (CKK_DES2, SCP02) nor "
                           "an AES key of 128, 192 or 256 bits (CKK_AES, SCP03)", label);
            return CKR_KEY_TYPE_INCONSISTENT;
        }
        int aes = kt == CKK_AES;
        size_t len = aes ? (size_t)vl : 16;
        if (r > 0 && (aes != out->aes || len != out->len)) {
            msg_set(s->err, sizeof s->err, "key set \"%s\" mixes key types or lengths: %s is %s-%zu, %s/enc "
                           "%s-%zu; the three keys of a set are of one kind", name, label,
                   aes ? "AES" : "DES", len * 8, name, out->aes ? "AES" : "DES", out->len * 8);
            return CKR_KEY_TYPE_INCONSISTENT;
        }
        out->aes = aes;
        out->len = len;
        *slots[r] = h[0];
    }
    return CKR_OK;
}

/* --- provisioning --- */

/* The usages a static key of this kind and role carries, every other one
 * false: a DES key (SCP02) only derives (session keys, diversified card
 * keys); an AES key (SCP03) derives and encrypts (the KDF's public blocks,
 * its KCV), and the DEK encrypts and wraps (PUT KEY) instead of deriving. */
static unsigned role_usage(int aes, enum ks_role role)
{
    if (!aes)
        return KS_USE_DERIVE;
    return role == KS_ROLE_DEK ? KS_USE_ENCRYPT | KS_USE_WRAP : KS_USE_DERIVE | KS_USE_ENCRYPT;
}

/* A secret key of little use: sensitive, every usage false but derive (if
 * derive), generated (base CK_INVALID_HANDLE) or derived from base with m;
 * a token object when label is given (with id, id_len). */
typedef struct {
    CK_KEY_TYPE type;
    CK_ULONG len;
    CK_BBOOL derive, extractable;
    const char *label;
    const void *id;
    size_t id_len;
} plain_key_t;

static CK_RV plain_key(ks_session_t *s, CK_MECHANISM *m, CK_OBJECT_HANDLE base, const plain_key_t *k,
                       CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = k->type;
    CK_ULONG len = k->len;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE, token = k->label ? CK_TRUE : CK_FALSE;
    CK_BBOOL derive = k->derive, extractable = k->extractable;
    CK_ATTRIBUTE a[16] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &token, sizeof token},   {CKA_PRIVATE, &t, sizeof t},
        {CKA_SENSITIVE, &t, sizeof t},       {CKA_EXTRACTABLE, &extractable, sizeof extractable},
        {CKA_DERIVE, &derive, sizeof derive}, {CKA_ENCRYPT, &f, sizeof f},
        {CKA_DECRYPT, &f, sizeof f},         {CKA_SIGN, &f, sizeof f},
        {CKA_VERIFY, &f, sizeof f},          {CKA_WRAP, &f, sizeof f},
        {CKA_UNWRAP, &f, sizeof f},          {CKA_VALUE_LEN, &len, sizeof len},
    };
    CK_ULONG n = 14;
    if (k->label) {
        a[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)k->label, strlen(k->label)};
        a[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)k->id, k->id_len};
    }
    s->calls++;
    return base == CK_INVALID_HANDLE ? s->ks->f->C_GenerateKey(s->h, m, a, n, out)
                                     : s->ks->f->C_DeriveKey(s->h, m, base, a, n, out);
}

/* A 32-byte AES session object, sensitive, no usage but derive (or none):
 * generated (base CK_INVALID_HANDLE) or derived from base with m. */
static CK_RV session_aes32(ks_session_t *s, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_BBOOL derive,
                           CK_BBOOL extractable, CK_OBJECT_HANDLE *out)
{
    plain_key_t k = {CKK_AES, 32, derive, extractable, NULL, NULL, 0};
    return plain_key(s, m, base, &k, out);
}

/* An AES-192 key generated to be sent by PUT KEY. SCP03 sends an AES key
 * encrypted in whole blocks, and SoftHSM wraps no 24-byte key into 32 bytes
 * (CKM_AES_CBC needs whole blocks, CKM_AES_CBC_PAD it does not wrap with).
 * So the key and its sendable form come from one secret inside the
 * keystore: with B a fresh AES-256 session key that only derives and D 32
 * random bytes, E = AES-ECB(B, D) (CKM_AES_ECB_ENCRYPT_DATA); the key is E's
 * first 24 bytes (tmpl: CKA_VALUE_LEN 24, not extractable), its sendable
 * form all 32 (*form: a session object, extractable, for C_WrapKey under
 * the DEK only). The card decrypts 32 bytes and keeps the key's length: the
 * last 8 are padding it ignores. Two more keystore calls than a C_GenerateKey
 * and a C_GenerateRandom; B is destroyed. */
static CK_RV generate_sendable_aes192(ks_session_t *s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                                      CK_OBJECT_HANDLE *key, CK_OBJECT_HANDLE *form)
{
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE b = CK_INVALID_HANDLE;
    CK_RV rv = session_aes32(s, &gen, CK_INVALID_HANDLE, CK_TRUE, CK_FALSE, &b);
    uint8_t d[32];
    if (rv == CKR_OK)
        rv = ks_random(s, d, sizeof d);
    CK_KEY_DERIVATION_STRING_DATA p = {d, sizeof d};
    CK_MECHANISM m = {CKM_AES_ECB_ENCRYPT_DATA, &p, sizeof p};
    if (rv == CKR_OK) {
        s->calls++;
        rv = s->ks->f->C_DeriveKey(s->h, &m, b, tmpl, n, key);
    }
    if (rv == CKR_OK) {
        rv = session_aes32(s, &m, b, CK_FALSE, CK_TRUE, form);
        if (rv != CKR_OK) {
            s->ks->f->C_DestroyObject(s->h, *key);
            *key = CK_INVALID_HANDLE;
        }
    }
    ks_wipe(d, sizeof d);
    ks_destroy(s, b);
    return rv;
}

/* A new DES key's check value: 0 when the keystore keeps it (CKA_CHECK_VALUE)
 * or, with by_encrypt, once it is taken by one encryption, kept as a note
 * and the key's CKA_ENCRYPT cleared (read back); 1 when the keystore keeps
 * none and the key cannot encrypt (make it again with by_encrypt); -1 on a
 * failure, said in s->err (the caller destroys the key). */
static int des_check_value(ks_session_t *s, CK_OBJECT_HANDLE h, const char *label, int by_encrypt)
{
    uint8_t cv[3];
    CK_ATTRIBUTE a = {CKA_CHECK_VALUE, cv, sizeof cv};
    if (s->ks->f->C_GetAttributeValue(s->h, h, &a, 1) == CKR_OK && a.ulValueLen == 3)
        return 0;
    if (!by_encrypt)
        return 1;
    uint8_t z[8] = {0};
    char hex[7];
    CK_BBOOL f = CK_FALSE, now = CK_TRUE;
    CK_ATTRIBUTE e = {CKA_ENCRYPT, &f, sizeof f}, back = {CKA_ENCRYPT, &now, sizeof now};
    CK_RV rv = ks_encrypt(s, h, NULL, z, 8, z);
    if (rv == CKR_OK) {
        hex_encode(z, 3, hex);
        rv = ks_note_put(s, GP_KCV_NOTE, label, hex);
    }
    if (rv == CKR_OK)
        rv = s->ks->f->C_SetAttributeValue(s->h, h, &e, 1);
    if (rv == CKR_OK)
        rv = s->ks->f->C_GetAttributeValue(s->h, h, &back, 1);
    if (rv != CKR_OK || now != CK_FALSE) {
        int n;
        ks_note_delete(s, GP_KCV_NOTE, label, &n);
        msg_set(s->err, sizeof s->err, "the keystore keeps no check value for DES keys, and key %s "
                "could not be left to derive only once its check value was taken (%s): it is "
                "not kept", label, ks_rv_name(rv));
        return -1;
    }
    return 0;
}

static CK_RV create_or_generate(ks_session_t *s, const char *set, enum ks_role role,
                                const uint8_t *value, int wrappable, int aes, size_t len,
                                CK_OBJECT_HANDLE *out, CK_OBJECT_HANDLE *form)
{
    if (!valid_set_name(set)) {
        msg_set(s->err, sizeof s->err, "invalid key set name \"%s\": 1 to %d characters, no '/'", set ? set : "",
               KS_LABEL_MAX - 5);
        return CKR_ARGUMENTS_BAD;
    }
    if (!aes)
        len = 16;
    if (aes && len != 16 && len != 24 && len != 32) {
        msg_set(s->err, sizeof s->err, "an AES key has 16, 24 or 32 bytes, not %zu", len);
        return CKR_KEY_SIZE_RANGE;
    }
    char label[KS_LABEL_MAX];
    snprintf(label, sizeof label, "%s/%s", set, ks_role_names[role]);
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    CK_RV rv = find_secret_by_label(s, label, &h, 1, &n);
    if (rv != CKR_OK) {
        msg_set(s->err, sizeof s->err, "keystore: search for %s failed: %s", label, ks_rv_name(rv));
        return rv;
    }
    if (n) {
        msg_set(s->err, sizeof s->err, "key \"%s\" already exists in the keystore: delete the key set first", label);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    /* Least privilege (role_usage): every usage is set, not left to the
     * keystore's defaults. Where the keystore knows PKCS#11 3.0's
     * CKA_DERIVE_TEMPLATE, whatever is derived from the key must be sensitive
     * and unextractable too. */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = aes ? CKK_AES : CKK_DES2;
    CK_ULONG vl = len;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    /* an AES-192 key to send is never extractable: its sendable form is */
    int sendable192 = !value && aes && len == 24 && wrappable && form;
    /* a keystore without CKA_CHECK_VALUE: a DES key may encrypt until its KCV
     * is taken (and kept as a note), then only derives */
    int kcv_by_encrypt = !aes && s->ks->no_check_value;
    CK_BBOOL extractable = wrappable && !sendable192 ? CK_TRUE : CK_FALSE;
    unsigned use = role_usage(aes, role) | (kcv_by_encrypt ? KS_USE_ENCRYPT : 0);
    CK_BBOOL u[6];
    for (int i = 0; i < 6; i++)
        u[i] = (use >> i) & 1 ? CK_TRUE : CK_FALSE;
    uint8_t copy[32];
    CK_ATTRIBUTE derived[] = {
        {CKA_SENSITIVE, &t, sizeof t},
        {CKA_EXTRACTABLE, &f, sizeof f},
    };
    CK_ATTRIBUTE tmpl[20] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &t, sizeof t},
        {CKA_PRIVATE, &t, sizeof t},
        {CKA_LABEL, label, strlen(label)},
        {CKA_SENSITIVE, &t, sizeof t},
        {CKA_EXTRACTABLE, &extractable, sizeof extractable},
        {CKA_ENCRYPT, &u[0], 1},
        {CKA_DECRYPT, &u[1], 1},
        {CKA_SIGN, &u[2], 1},
        {CKA_VERIFY, &u[3], 1},
        {CKA_WRAP, &u[4], 1},
        {CKA_DERIVE, &u[5], 1},
        {CKA_UNWRAP, &f, sizeof f},
    };
    CK_ULONG base = 14;
    if (value) {
        memcpy(copy, value, len);
        tmpl[base++] = (CK_ATTRIBUTE){CKA_VALUE, copy, len}; /* import only: key bytes go in */
    } else if (aes) {
        tmpl[base++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, &vl, sizeof vl};
    }
    tmpl[base] = (CK_ATTRIBUTE){CKA_DERIVE_TEMPLATE, derived, sizeof derived};
    for (int with_template = s->ks->no_derive_template ? 0 : 1;; with_template = 0) {
        CK_ULONG na = with_template ? base + 1 : base;
        if (value) {
            rv = s->ks->f->C_CreateObject(s->h, tmpl, na, &h);
        } else {
            if (form)
                *form = CK_INVALID_HANDLE;
            CK_MECHANISM m = {aes ? CKM_AES_KEY_GEN : CKM_DES2_KEY_GEN, NULL, 0};
            if (sendable192) {
                rv = generate_sendable_aes192(s, tmpl, na, &h, form);
            } else {
                rv = s->ks->f->C_GenerateKey(s->h, &m, tmpl, na, &h);
            }
        }
        if (!with_template || (rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_TEMPLATE_INCONSISTENT &&
                               rv != CKR_ATTRIBUTE_VALUE_INVALID))
            break;
        s->ks->no_derive_template = 1; /* it cannot restrict derivation after all */
    }
    ks_wipe(copy, sizeof copy);
    if (rv == CKR_OK) {
        /* a keystore that ignores part of a template is not trusted with a key */
        CK_BBOOL got[8];
        CK_ATTRIBUTE_TYPE types[8] = {CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_DERIVE, CKA_ENCRYPT,
                                      CKA_DECRYPT, CKA_SIGN, CKA_WRAP, CKA_UNWRAP};
        CK_BBOOL want[8] = {CK_TRUE, extractable, u[5], u[0], CK_FALSE, CK_FALSE, u[4], CK_FALSE};
        CK_ATTRIBUTE back[8];
        for (int i = 0; i < 8; i++) {
            back[i].type = types[i];
            back[i].pValue = &got[i];
            back[i].ulValueLen = sizeof got[i];
        }
        CK_RV gr = s->ks->f->C_GetAttributeValue(s->h, h, back, 8);
        int same = gr == CKR_OK;
        for (int i = 0; same && i < 8; i++)
            same = back[i].ulValueLen == sizeof got[i] && got[i] == want[i];
        if (!same) {
            s->ks->f->C_DestroyObject(s->h, h);
            if (form && *form != CK_INVALID_HANDLE)
                s->ks->f->C_DestroyObject(s->h, *form);
            msg_set(s->err, sizeof s->err, "the keystore did not give key %s the usages asked for (sensitive, "
                           "%s only): it is not kept", label,
                   !aes ? "derive" : role == KS_ROLE_DEK ? "encrypt and wrap" : "derive and encrypt");
            return CKR_GENERAL_ERROR;
        }
    }
    if (rv == CKR_OK && !aes) {
        int k = des_check_value(s, h, label, kcv_by_encrypt);
        if (k == 1) { /* the keystore keeps none: made again, the KCV taken on the way */
            s->ks->f->C_DestroyObject(s->h, h);
            s->ks->no_check_value = 1;
            return create_or_generate(s, set, role, value, wrappable, aes, len, out, form);
        }
        if (k < 0) {
            s->ks->f->C_DestroyObject(s->h, h);
            return CKR_GENERAL_ERROR;
        }
    }
    /* a refusal of what was asked, not of the moment: the keystore cannot */
    int cannot = rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
                 rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_MECHANISM_INVALID ||
                 rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_KEY_TYPE_INCONSISTENT;
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore refused to %s key %s: %s%s", value ? "store" : "generate",
               label, ks_rv_name(rv),
               cannot ? " (\"gp-p11 keys doctor\" tells what this keystore can do)" : "");
    else if (out)
        *out = h;
    return rv;
}

CK_RV ks_import_key(ks_session_t *s, const char *set, enum ks_role role, const uint8_t value[16])
{
    return create_or_generate(s, set, role, value, 0, 0, 16, NULL, NULL);
}

CK_RV ks_generate_key(ks_session_t *s, const char *set, enum ks_role role)
{
    return create_or_generate(s, set, role, NULL, 0, 0, 16, NULL, NULL);
}

CK_RV ks_create_keyset(ks_session_t *s, const char *name, const uint8_t *values, int wrappable,
                       ks_keyset_t *out)
{
    ks_keyset_t des = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE, 0, 16};
    return ks_create_keyset_like(s, name, &des, values, wrappable, out);
}

static CK_RV create_keyset(ks_session_t *s, const char *name, const ks_keyset_t *like,
                           const uint8_t *values, int wrappable, ks_keyset_t *out,
                           CK_OBJECT_HANDLE *sendable);

CK_RV ks_create_keyset_like(ks_session_t *s, const char *name, const ks_keyset_t *like,
                            const uint8_t *values, int wrappable, ks_keyset_t *out)
{
    return create_keyset(s, name, like, values, wrappable, out, NULL);
}

CK_RV ks_create_keyset_to_send(ks_session_t *s, const char *name, const ks_keyset_t *like,
                               const uint8_t *values, ks_keyset_t *out,
                               CK_OBJECT_HANDLE sendable[3])
{
    CK_RV rv = create_keyset(s, name, like, values, values == NULL, out, sendable);
    CK_OBJECT_HANDLE h[3] = {out->enc, out->mac, out->dek};
    for (int r = 0; r < 3; r++)
        if (rv != CKR_OK)
            sendable[r] = CK_INVALID_HANDLE;
        else if (sendable[r] == CK_INVALID_HANDLE)
            sendable[r] = h[r];
    return rv;
}

static CK_RV create_keyset(ks_session_t *s, const char *name, const ks_keyset_t *like,
                           const uint8_t *values, int wrappable, ks_keyset_t *out,
                           CK_OBJECT_HANDLE *sendable)
{
    size_t len = like->aes ? (like->len ? like->len : 16) : 16;
    CK_OBJECT_HANDLE h[3] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    if (!valid_set_name(name)) {
        msg_set(s->err, sizeof s->err, "invalid key set name \"%s\": 1 to %d characters, no '/'",
               name ? name : "", KS_LABEL_MAX - 5);
        return CKR_ARGUMENTS_BAD;
    }
    /* first make sure no key of that name exists: nothing there before is touched */
    for (int r = 0; r < 3; r++) {
        char label[KS_LABEL_MAX];
        snprintf(label, sizeof label, "%s/%s", name, ks_role_names[r]);
        CK_ULONG n = 0;
        CK_RV rv = find_secret_by_label(s, label, h, 1, &n);
        if (rv != CKR_OK) {
            msg_set(s->err, sizeof s->err, "keystore: search for %s failed: %s", label, ks_rv_name(rv));
            return rv;
        }
        if (n) {
            msg_set(s->err, sizeof s->err, "key \"%s\" already exists in the keystore: choose another name for "
                           "the new key set", label);
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    h[0] = CK_INVALID_HANDLE;
    CK_RV rv = CKR_OK;
    CK_OBJECT_HANDLE forms[3] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    for (int r = 0; r < 3 && rv == CKR_OK; r++)
        rv = create_or_generate(s, name, (enum ks_role)r, values ? values + len * r : NULL,
                                wrappable, like->aes, len, &h[r], sendable ? &forms[r] : NULL);
    out->enc = h[0];
    out->mac = h[1];
    out->dek = h[2];
    out->aes = like->aes;
    out->len = len;
    if (rv == CKR_OK) {
        /* whole or nothing: the set counts once it reads back as what was
         * made (type and length), as every later use will read it */
        ks_keyset_t back;
        CK_RV fr = ks_find_keyset(s, name, &back);
        if (fr != CKR_OK || back.aes != out->aes || (out->aes && back.len != len)) {
            char why[KS_ERRLEN];
            snprintf(why, sizeof why, "%s", fr != CKR_OK ? s->err : "it reads back as another kind");
            msg_set(s->err, sizeof s->err, "the keystore does not keep key set \"%s\" as it was "
                    "made (%s): it is not kept", name, why);
            rv = CKR_GENERAL_ERROR;
        }
    }
    if (rv != CKR_OK) {
        char why[KS_ERRLEN];
        memcpy(why, s->err, sizeof why);
        ks_destroy_keyset(s, out); /* only what this call made */
        for (int r = 0; r < 3; r++)
            ks_destroy(s, forms[r]);
        memcpy(s->err, why, sizeof why);
    } else if (sendable) {
        memcpy(sendable, forms, sizeof forms);
    }
    return rv;
}

CK_RV ks_seal_keyset(ks_session_t *s, const ks_keyset_t *k)
{
    CK_OBJECT_HANDLE h[3] = {k->enc, k->mac, k->dek};
    CK_BBOOL f = CK_FALSE;
    CK_RV rv = CKR_OK;
    for (int r = 0; r < 3 && rv == CKR_OK; r++) {
        CK_ATTRIBUTE a = {CKA_EXTRACTABLE, &f, sizeof f};
        rv = s->ks->f->C_SetAttributeValue(s->h, h[r], &a, 1);
        if (rv == CKR_ATTRIBUTE_READ_ONLY) {
            /* SoftHSM refuses to set it to false when it is false already
             * (a generated AES-192 key never was extractable): that is sealed */
            CK_BBOOL now = CK_TRUE;
            CK_ATTRIBUTE q = {CKA_EXTRACTABLE, &now, sizeof now};
            if (s->ks->f->C_GetAttributeValue(s->h, h[r], &q, 1) == CKR_OK && now == CK_FALSE)
                rv = CKR_OK;
        }
    }
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore refused to make the new keys unextractable: %s", ks_rv_name(rv));
    return rv;
}

CK_RV ks_tag_keyset(ks_session_t *s, const ks_keyset_t *k, const char *tag)
{
    CK_OBJECT_HANDLE h[3] = {k->enc, k->mac, k->dek};
    CK_RV rv = CKR_OK;
    for (int r = 0; r < 3 && rv == CKR_OK; r++) {
        CK_ATTRIBUTE a = {CKA_ID, (void *)tag, strlen(tag)};
        rv = s->ks->f->C_SetAttributeValue(s->h, h[r], &a, 1);
    }
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore refused to mark the new keys with what they are for: %s",
               ks_rv_name(rv));
    return rv;
}

/* Up to max notes of a kind (about NULL: any), their handles into hs. */
static CK_RV find_notes(ks_session_t *s, const char *kind, const char *about, CK_OBJECT_HANDLE *hs,
                        CK_ULONG max, CK_ULONG *n)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_APPLICATION, (void *)kind, strlen(kind)},
        {CKA_LABEL, (void *)about, about ? strlen(about) : 0},
    };
    return ks_find_objects(s, t, about ? 4 : 3, hs, max, n);
}

/* A keystore that keeps no data objects (NSS's softoken refuses CKO_DATA)
 * keeps notes as secret keys of no use: CKK_GENERIC_SECRET, sensitive, not
 * extractable, every usage false, labelled NOTE_KEY_LABEL (no '/': never a
 * key set's), and the note in CKA_ID, kind 00 about 00 text. */
#define NOTE_KEY_LABEL "gp-p11 note"

/* Note keys of this kind (about NULL: every one), their handles into hs and,
 * when texts is given, each one's text (cap bytes each). */
static CK_RV find_note_keys(ks_session_t *s, const char *kind, const char *about,
                            CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n, char (*abouts)[96],
                            char (*texts)[256])
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_LABEL, NOTE_KEY_LABEL, sizeof NOTE_KEY_LABEL - 1},
    };
    CK_OBJECT_HANDLE all[64];
    CK_ULONG found = 0;
    *n = 0;
    CK_RV rv = ks_find_objects(s, t, 4, all, 64, &found);
    for (CK_ULONG i = 0; rv == CKR_OK && i < found && *n < max; i++) {
        char id[400];
        CK_ATTRIBUTE a = {CKA_ID, id, sizeof id - 1};
        if (s->ks->f->C_GetAttributeValue(s->h, all[i], &a, 1) != CKR_OK || a.ulValueLen >= sizeof id)
            continue;
        id[a.ulValueLen] = 0;
        size_t kl = strlen(id);
        if (kl == a.ulValueLen || strcmp(id, kind) != 0)
            continue; /* not a note of this kind */
        const char *ab = id + kl + 1;
        size_t al = strnlen(ab, a.ulValueLen - kl - 1);
        if (kl + 1 + al >= a.ulValueLen || (about && strcmp(ab, about) != 0))
            continue;
        if (abouts)
            snprintf(abouts[*n], 96, "%s", ab);
        if (texts)
            snprintf(texts[*n], 256, "%.*s", (int)(a.ulValueLen - kl - al - 2), ab + al + 1);
        hs[(*n)++] = all[i];
    }
    return rv;
}

static CK_RV put_note_key(ks_session_t *s, const char *kind, const char *about, const char *text)
{
    char id[400];
    size_t kl = strlen(kind), al = strlen(about), tl = strlen(text);
    if (kl + al + tl + 2 > sizeof id)
        return CKR_ARGUMENTS_BAD;
    memcpy(id, kind, kl + 1);
    memcpy(id + kl + 1, about, al + 1);
    memcpy(id + kl + al + 2, text, tl);
    CK_MECHANISM m = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    plain_key_t k = {CKK_GENERIC_SECRET, 16, CK_FALSE, CK_FALSE, NOTE_KEY_LABEL, id, kl + al + tl + 2};
    CK_OBJECT_HANDLE h;
    return plain_key(s, &m, CK_INVALID_HANDLE, &k, &h);
}

CK_RV ks_note_put(ks_session_t *s, const char *kind, const char *about, const char *text)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_MODIFIABLE, &no, sizeof no},
        {CKA_APPLICATION, (void *)kind, strlen(kind)},
        {CKA_LABEL, (void *)about, strlen(about)},
        {CKA_VALUE, (void *)text, strlen(text)}, /* a data object's text, never a key */
    };
    CK_OBJECT_HANDLE h;
    CK_RV rv = s->ks->f->C_CreateObject(s->h, t, sizeof t / sizeof t[0], &h);
    if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
        rv == CKR_TEMPLATE_INCONSISTENT)
        rv = put_note_key(s, kind, about, text); /* no data objects here */
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore refused to keep the note \"%s\" about %s: %s", kind, about,
               ks_rv_name(rv));
    return rv;
}

int ks_note_find(ks_session_t *s, const char *kind, const char *about, char *value, size_t cap)
{
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    CK_RV rv = find_notes(s, kind, about, &h, 1, &n);
    if (rv == CKR_OK && !n) {
        char texts[1][256];
        rv = find_note_keys(s, kind, about, &h, 1, &n, NULL, texts);
        if (rv == CKR_OK && n) {
            if (value && cap)
                snprintf(value, cap, "%s", texts[0]);
            return 1;
        }
    }
    if (rv != CKR_OK) {
        msg_set(s->err, sizeof s->err, "keystore: searching for the note \"%s\" failed: %s", kind, ks_rv_name(rv));
        return -1;
    }
    if (!n)
        return 0;
    if (value && cap) {
        CK_ATTRIBUTE a = {CKA_VALUE, value, cap - 1}; /* the data object's text */
        if (s->ks->f->C_GetAttributeValue(s->h, h, &a, 1) != CKR_OK || a.ulValueLen >= cap)
            a.ulValueLen = 0;
        value[a.ulValueLen] = 0;
    }
    return 1;
}

CK_RV ks_note_delete(ks_session_t *s, const char *kind, const char *about, int *n)
{
    CK_OBJECT_HANDLE hs[64], ks[64];
    CK_ULONG found = 0, kn = 0;
    *n = 0;
    CK_RV rv = find_notes(s, kind, about, hs, 64, &found);
    if (rv == CKR_OK)
        rv = find_note_keys(s, kind, about, ks, 64, &kn, NULL, NULL);
    for (CK_ULONG i = 0; rv == CKR_OK && i < kn && found < 64; i++)
        hs[found++] = ks[i];
    for (CK_ULONG i = 0; rv == CKR_OK && i < found; i++) {
        rv = s->ks->f->C_DestroyObject(s->h, hs[i]);
        if (rv == CKR_OK)
            (*n)++;
    }
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: deleting the note \"%s\" failed: %s", kind, ks_rv_name(rv));
    return rv;
}

CK_RV ks_note_list(ks_session_t *s, const char *kind,
                   void (*fn)(void *ctx, const char *about, const char *text), void *ctx)
{
    CK_OBJECT_HANDLE hs[64];
    CK_ULONG n = 0;
    CK_RV rv = find_notes(s, kind, NULL, hs, 64, &n);
    if (rv != CKR_OK) {
        msg_set(s->err, sizeof s->err, "keystore: listing the notes \"%s\" failed: %s", kind, ks_rv_name(rv));
        return rv;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        char about[96], text[256];
        /* a note is a data object: its value is text, never a key */
        CK_ATTRIBUTE a[2] = {{CKA_LABEL, about, sizeof about - 1},
                             {CKA_VALUE, text, sizeof text - 1}}; /* the data object's text */
        if (s->ks->f->C_GetAttributeValue(s->h, hs[i], a, 2) != CKR_OK)
            continue;
        about[a[0].ulValueLen] = 0;
        text[a[1].ulValueLen] = 0;
        fn(ctx, about, text);
    }
    char (*abouts)[96] = calloc(64, sizeof *abouts);
    char (*texts)[256] = calloc(64, sizeof *texts);
    if (abouts && texts)
        rv = find_note_keys(s, kind, NULL, hs, 64, &n, abouts, texts);
    for (CK_ULONG i = 0; abouts && texts && rv == CKR_OK && i < n; i++)
        fn(ctx, abouts[i], texts[i]);
    free(abouts);
    free(texts);
    return CKR_OK;
}

CK_RV ks_list_unsealed(ks_session_t *s, void (*fn)(void *ctx, const char *name, const char *tag),
                       void *ctx)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &yes, sizeof yes},
    };
    CK_OBJECT_HANDLE hs[192];
    CK_ULONG n = 0;
    CK_FUNCTION_LIST_PTR f = s->ks->f;
    CK_RV rv = ks_find_objects(s, t, 3, hs, 192, &n);
    if (rv != CKR_OK) {
        msg_set(s->err, sizeof s->err, "keystore: searching for unsealed keys failed: %s", ks_rv_name(rv));
        return rv;
    }
    char seen[64][KS_LABEL_MAX + 1];
    int n_seen = 0;
    for (CK_ULONG i = 0; i < n && n_seen < 64; i++) {
        char label[KS_LABEL_MAX + 1], tag[128];
        CK_ATTRIBUTE a[2] = {{CKA_LABEL, label, KS_LABEL_MAX}, {CKA_ID, tag, sizeof tag - 1}};
        if (f->C_GetAttributeValue(s->h, hs[i], a, 1) != CKR_OK || a[0].ulValueLen == (CK_ULONG)-1)
            continue;
        label[a[0].ulValueLen] = 0;
        char *slash = strrchr(label, '/');
        if (!slash)
            continue; /* not a key of a key set */
        *slash = 0;
        int dup = 0;
        for (int k = 0; k < n_seen && !dup; k++)
            dup = !strcmp(seen[k], label);
        if (dup)
            continue;
        snprintf(seen[n_seen++], sizeof seen[0], "%s", label);
        if (f->C_GetAttributeValue(s->h, hs[i], a + 1, 1) != CKR_OK ||
            a[1].ulValueLen == (CK_ULONG)-1)
            a[1].ulValueLen = 0;
        tag[a[1].ulValueLen] = 0;
        fn(ctx, label, tag);
    }
    return CKR_OK;
}

/* Deletes the check-value note of key h (by its label), if the keystore
 * keeps them so. */
static void drop_kcv_note(ks_session_t *s, CK_OBJECT_HANDLE h)
{
    char label[KS_LABEL_MAX + 1] = "";
    CK_ATTRIBUTE a = {CKA_LABEL, label, KS_LABEL_MAX};
    int n;
    if (s->ks->no_check_value && h != CK_INVALID_HANDLE &&
        s->ks->f->C_GetAttributeValue(s->h, h, &a, 1) == CKR_OK && a.ulValueLen < sizeof label) {
        label[a.ulValueLen] = 0;
        ks_note_delete(s, GP_KCV_NOTE, label, &n);
    }
}

void ks_destroy_keyset(ks_session_t *s, const ks_keyset_t *k)
{
    CK_OBJECT_HANDLE h[3] = {k->enc, k->mac, k->dek};
    for (int r = 0; r < 3; r++) {
        drop_kcv_note(s, h[r]);
        ks_destroy(s, h[r]);
    }
}

void ks_drop_sendable(ks_session_t *s, const ks_keyset_t *k, CK_OBJECT_HANDLE sendable[3])
{
    CK_OBJECT_HANDLE h[3] = {k->enc, k->mac, k->dek};
    for (int r = 0; r < 3; r++) {
        if (sendable[r] != CK_INVALID_HANDLE && sendable[r] != h[r])
            ks_destroy(s, sendable[r]);
        sendable[r] = h[r];
    }
}

CK_RV ks_list_keysets(ks_session_t *s, void (*fn)(void *ctx, const char *name), void *ctx)
{
    CK_OBJECT_HANDLE hs[1024];
    CK_ULONG n = 0;
    CK_RV rv = find_secret_by_label(s, NULL, hs, 1024, &n);
    if (rv != CKR_OK) {
        msg_set(s->err, sizeof s->err, "keystore: listing keys failed: %s", ks_rv_name(rv));
        return rv;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        char label[KS_LABEL_MAX + 1];
        CK_ATTRIBUTE a = {CKA_LABEL, label, KS_LABEL_MAX};
        if (s->ks->f->C_GetAttributeValue(s->h, hs[i], &a, 1) != CKR_OK ||
            a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen < 5)
            continue;
        label[a.ulValueLen] = 0;
        if (strcmp(label + a.ulValueLen - 4, "/enc") != 0)
            continue;
        label[a.ulValueLen - 4] = 0;
        fn(ctx, label);
    }
    return CKR_OK;
}

CK_RV ks_delete_keyset(ks_session_t *s, const char *set)
{
    if (!valid_set_name(set)) {
        msg_set(s->err, sizeof s->err, "invalid key set name \"%s\"", set ? set : "");
        return CKR_ARGUMENTS_BAD;
    }
    int deleted = 0;
    for (int r = 0; r < 3; r++) {
        char label[KS_LABEL_MAX];
        snprintf(label, sizeof label, "%s/%s", set, ks_role_names[r]);
        CK_OBJECT_HANDLE hs[8];
        CK_ULONG n = 0;
        CK_RV rv = find_secret_by_label(s, label, hs, 8, &n);
        if (rv != CKR_OK)
            return rv;
        for (CK_ULONG i = 0; i < n; i++) {
            rv = s->ks->f->C_DestroyObject(s->h, hs[i]);
            if (rv != CKR_OK) {
                msg_set(s->err, sizeof s->err, "keystore refused to delete %s: %s", label, ks_rv_name(rv));
                return rv;
            }
            deleted++;
        }
        int nn;
        if (s->ks->no_check_value || n)
            ks_note_delete(s, GP_KCV_NOTE, label, &nn); /* its check value, if kept */
    }
    if (!deleted) {
        msg_set(s->err, sizeof s->err, "no key set \"%s\" in the keystore", set);
        return CKR_KEY_HANDLE_INVALID;
    }
    return CKR_OK;
}
