/*
 * gp-p11 keystore: key custody through any PKCS#11 module.
 *
 * Every key used by gp-p11 lives in the keystore token as an object handle.
 * This API never reads a key's CKA_VALUE and never asks the keystore to hand
 * a key value out: derivation, encryption and MACs are PKCS#11 calls on
 * handles. (It reads the value of its own notes, data objects of text.)
 * The one exception is ks_import_key(), used by the provisioning tool, which
 * carries caller-supplied key bytes *into* the token and nothing else.
 */
#ifndef GP_KEYSTORE_H
#define GP_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

typedef struct ks ks_t;           /* a loaded keystore module and its token */
typedef struct ks_session ks_session_t; /* one PKCS#11 session on that token */

#define KS_ERRLEN 256

/* The three static keys of a key set: token objects labelled NAME/enc,
 * NAME/mac and NAME/dek, each CKO_SECRET_KEY: three CKK_DES2 keys (SCP02) or
 * three CKK_AES keys of one length (SCP03). A key set built by hand with
 * only the handles is DES (aes 0). */
typedef struct {
    CK_OBJECT_HANDLE enc, mac, dek;
    int aes;        /* CKK_AES rather than CKK_DES2 */
    size_t len;     /* key length in bytes: 16 for DES2; 16, 24 or 32 for AES (0: 16) */
} ks_keyset_t;

enum ks_role { KS_ROLE_ENC = 0, KS_ROLE_MAC = 1, KS_ROLE_DEK = 2 };

/* How a key set of master keys is diversified per card: EMV CPS 1.1 and
 * VISA2 for DES keys (scp02_crypto.h), KDF3 for AES keys (scp03_crypto.h). */
enum ks_diversification { KS_DIV_NONE = 0, KS_DIV_EMV, KS_DIV_VISA2, KS_DIV_KDF3 };
extern const char *const ks_role_names[3]; /* "enc", "mac", "dek" */

/* Loads the module and initialises it for multi-threaded use: an instance
 * of its own, loaded from a private copy of the file, so that nothing else in
 * the process shares its login state, sessions or objects; the shared
 * instance only where no copy can be loaded (ks_private tells). */
CK_RV ks_open(ks_t **out, const char *module_path, char *err, size_t err_len);
/* The same; shared asks for the instance other code in the process may have
 * loaded too (for a module that cannot run from a copy). */
CK_RV ks_open_ex(ks_t **out, const char *module_path, int shared, char *err, size_t err_len);
/* The same with a string for C_Initialize's pReserved (NULL or "": none),
 * which some modules read their configuration from: NSS's softoken takes
 * "configdir='sql:DIR' certPrefix='' keyPrefix='' secmod='secmod.db'". It
 * is kept for every start again. */
CK_RV ks_open_args(ks_t **out, const char *module_path, int shared, const char *init_args,
                   char *err, size_t err_len);
int ks_private(const ks_t *ks);
/* Is the token logged in? 1 yes, 0 no, -1 the login session is gone (other
 * code closed every session of a shared instance). */
int ks_logged_in(ks_t *ks);
void ks_close(ks_t *ks);
/* Finds the token by label (exact, blank-padded compare). An instance of
 * gp-p11's own that read the token half-written by another process (SoftHSM)
 * is finalised and started again (up to twelve times), here and at login. */
CK_RV ks_select_token(ks_t *ks, const char *label, char *err, size_t err_len);
/* Logs the user in (CKR_USER_ALREADY_LOGGED_IN is treated as success and
 * reported through *already when given). The PIN is passed straight to the
 * module; the caller wipes its copy. */
CK_RV ks_login(ks_t *ks, const uint8_t *pin, size_t pin_len, char *err, size_t err_len);
CK_RV ks_login_ex(ks_t *ks, const uint8_t *pin, size_t pin_len, int *already,
                  char *err, size_t err_len);
CK_RV ks_logout(ks_t *ks);
/* How many times the instance was started again (for the log). */
unsigned ks_reloads(const ks_t *ks);
CK_FUNCTION_LIST_PTR ks_functions(const ks_t *ks);

CK_RV ks_session_open(ks_t *ks, ks_session_t **out);
/* Closing a session destroys the session objects it created. */
void ks_session_close(ks_session_t *s);
/* The last error explained in words, for this session. */
const char *ks_session_error(const ks_session_t *s);
/* The raw PKCS#11 session handle (for tests that probe the keystore). */
CK_SESSION_HANDLE ks_session_handle(const ks_session_t *s);
/* How many PKCS#11 calls the session's key operations have made so far (a
 * keystore across a network pays a round trip for each). */
unsigned long ks_session_calls(const ks_session_t *s);

/* Looks up NAME/enc, NAME/mac, NAME/dek; a missing or wrongly typed key is
 * CKR_KEY_HANDLE_INVALID with a message naming it. */
CK_RV ks_find_keyset(ks_session_t *s, const char *name, ks_keyset_t *out);
CK_RV ks_random(ks_session_t *s, uint8_t *buf, size_t len);
/* SHA-256 of a || b computed by the keystore (CKM_SHA256). */
CK_RV ks_sha256(ks_session_t *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                uint8_t out[32]);
/* SHA-1 of public data (a load file's hash for INSTALL [for load]). */
CK_RV ks_sha1(ks_session_t *s, const uint8_t *data, size_t len, uint8_t out[20]);

/* Derives a CKK_DES2 session object (CKA_TOKEN=FALSE, sensitive, not
 * extractable) from base by 3DES-CBC (zero IV) or 3DES-ECB encryption of
 * 16 bytes of data. usage_wrap adds CKA_WRAP, usage_derive CKA_DERIVE. */
enum ks_derive_mode { KS_DERIVE_CBC, KS_DERIVE_ECB };
CK_RV ks_derive_des2(ks_session_t *s, CK_OBJECT_HANDLE base, enum ks_derive_mode mode,
                     const uint8_t data[16], int usage_wrap, int usage_derive,
                     CK_OBJECT_HANDLE *out);
/* 3DES encryption of len bytes (a multiple of 8) under key: CBC with iv, or
 * ECB when iv is NULL. out may equal in. */
CK_RV ks_encrypt(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t iv[8],
                 const uint8_t *in, size_t len, uint8_t *out);
CK_RV ks_destroy(ks_session_t *s, CK_OBJECT_HANDLE h);
/* One C_EncryptInit/C_Encrypt (or decrypt) pair with mechanism mech and an
 * IV of ivlen bytes (0: none), in and out of len bytes. out may equal in. */
CK_RV ks_cipher(ks_session_t *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, const uint8_t *iv,
                size_t ivlen, int encrypt, const uint8_t *in, size_t len, uint8_t *out);
/* One C_SignInit/C_Sign pair: a MAC of maclen bytes (CKM_AES_CMAC: 16). */
CK_RV ks_sign(ks_session_t *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, const uint8_t *data,
              size_t len, uint8_t *mac, size_t maclen);
/* Derives a CKK_AES session object of key_len bytes (sensitive, not
 * extractable) from base by CKM_AES_ECB_ENCRYPT_DATA over len bytes of data
 * (16 or 32; the key is the first key_len bytes of the encryption). use:
 * KS_USE_* bits, every other usage false. */
#define KS_USE_ENCRYPT 1u
#define KS_USE_DECRYPT 2u
#define KS_USE_SIGN    4u
#define KS_USE_VERIFY  8u
#define KS_USE_WRAP    16u
#define KS_USE_DERIVE  32u
CK_RV ks_derive_aes(ks_session_t *s, CK_OBJECT_HANDLE base, const uint8_t *data, size_t len,
                    size_t key_len, unsigned use, CK_OBJECT_HANDLE *out);
/* Does the keystore offer PKCS#11 3.0's CKM_SP800_108_COUNTER_KDF for
 * derivation (asked once)? SCP03's KDF then takes one C_DeriveKey per key
 * instead of an AES-ECB of public blocks and a CKM_AES_ECB_ENCRYPT_DATA.
 * ks_set_kdf108(ks, 0) keeps to the ECB path (tests compare both). */
int ks_kdf108(ks_session_t *s);
void ks_set_kdf108(ks_t *ks, int use);
/* An AES key of key_len bytes by the SP 800-108 counter KDF with AES-CMAC:
 * the fixed input of each block is label (label_len bytes, may be 0), then
 * with_length the key's length in bits (2 bytes), the counter (1 byte), then
 * ctx: SCP03's layout (Amendment D 4.1.5), and KDF3's with no label. */
CK_RV ks_derive_kdf108(ks_session_t *s, CK_OBJECT_HANDLE base, const uint8_t *label,
                       size_t label_len, int with_length, const uint8_t *ctx, size_t ctx_len,
                       size_t key_len, unsigned use, CK_OBJECT_HANDLE *out);
/* C_WrapKey of key under wrapping_key with mech (and iv of ivlen bytes);
 * *out_len: room in, bytes written out. */
CK_RV ks_wrap(ks_session_t *s, CK_MECHANISM_TYPE mech, const uint8_t *iv, size_t ivlen,
              CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len);
/* C_WrapKey with CKM_DES3_ECB: key (a CKK_DES2 key) under wrapping_key, 16
 * bytes of ciphertext. CKR_MECHANISM_INVALID where the keystore cannot
 * (SoftHSM 2.6). */
CK_RV ks_wrap_des3_ecb(ks_session_t *s, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                       uint8_t out[16]);
/* Key check value: first 3 bytes of 3DES-ECB of 8 zero bytes: the
 * keystore's CKA_CHECK_VALUE, else C_Encrypt (for a key that may encrypt).
 * For keys the keystore imported or generated only: SoftHSM 2.6.1 keeps a
 * wrong CKA_CHECK_VALUE on the DES keys it derives (keystore/doctor.c). */
CK_RV ks_kcv(ks_session_t *s, CK_OBJECT_HANDLE key, uint8_t kcv[3]);
/* Reads the security-relevant flags of a key (never its value). */
typedef struct {
    CK_BBOOL token, sensitive, extractable, always_sensitive, never_extractable;
    CK_KEY_TYPE key_type;
} ks_key_flags_t;
CK_RV ks_key_flags(ks_session_t *s, CK_OBJECT_HANDLE key, ks_key_flags_t *out);

/* Did the keystore accept CKA_DERIVE_TEMPLATE on the keys made so far (a
 * PKCS#11 3.0 keystore), so that keys derived from them stay sensitive? */
int ks_restricts_derivation(const ks_t *ks);

/* --- provisioning --- */
/* Stores 16 key bytes as token object NAME/ROLE (sensitive, non-extractable,
 * usable only to derive: every other usage false). Fails with CKR_ATTRIBUTE_VALUE_INVALID if
 * the object exists already. */
CK_RV ks_import_key(ks_session_t *s, const char *set, enum ks_role role,
                    const uint8_t value[16]);
/* Generates NAME/ROLE inside the keystore with C_GenerateKey. */
CK_RV ks_generate_key(ks_session_t *s, const char *set, enum ks_role role);
/* Creates the key set NAME as a whole, or not at all: refused (CKR_ATTRIBUTE_VALUE_INVALID)
 * when any of NAME/enc, NAME/mac, NAME/dek exists already, and on a failure
 * only the keys it made are destroyed. values: 48 bytes enc || mac || dek to
 * import, or NULL to generate inside the keystore. wrappable: the keys may be
 * wrapped (CKA_EXTRACTABLE, still sensitive: never readable in the clear), as
 * PUT KEY needs to send them to the card; ks_seal_keyset ends that. */
CK_RV ks_create_keyset(ks_session_t *s, const char *name, const uint8_t *values, int wrappable,
                       ks_keyset_t *out);
/* The same for a key set of the kind and length of 'like' (its aes and len;
 * handles ignored): AES keys of 16, 24 or 32 bytes for SCP03, values then
 * 3 * len bytes. An AES static key may derive and encrypt (SCP03's KDF runs
 * AES-ECB on public blocks with it, and its KCV is an encryption); the DEK
 * may encrypt and wrap (PUT KEY sends keys encrypted under it). */
CK_RV ks_create_keyset_like(ks_session_t *s, const char *name, const ks_keyset_t *like,
                            const uint8_t *values, int wrappable, ks_keyset_t *out);
/* As ks_create_keyset_like, for keys to send by PUT KEY: values NULL
 * generates them wrappable. sendable[r] is what C_WrapKey sends for key r:
 * the key itself, or for a generated AES-192 key its sendable form (the key
 * padded to 32 bytes inside the keystore, a session object; the key itself
 * is then never extractable). ks_drop_sendable destroys the forms. */
CK_RV ks_create_keyset_to_send(ks_session_t *s, const char *name, const ks_keyset_t *like,
                               const uint8_t *values, ks_keyset_t *out,
                               CK_OBJECT_HANDLE sendable[3]);
void ks_drop_sendable(ks_session_t *s, const ks_keyset_t *k, CK_OBJECT_HANDLE sendable[3]);
/* Makes the three keys unextractable for good (CKA_EXTRACTABLE TRUE -> FALSE). */
CK_RV ks_seal_keyset(ks_session_t *s, const ks_keyset_t *k);
/* Writes tag (text) into the CKA_ID of the three keys: what a key set made
 * wrappable is for, so that whoever finds it unsealed knows. */
CK_RV ks_tag_keyset(ks_session_t *s, const ks_keyset_t *k, const char *tag);
/* Calls fn for every key set with a key still extractable (made for a PUT
 * KEY that did not end: sealed keys are not), with its enc key's tag ("" if
 * none). At most 64 sets. */
/* Notes gp-p11 keeps beside the key sets: private CKO_DATA objects of
 * the token named by their CKA_APPLICATION (the kind) and CKA_LABEL (what
 * they are about). ks_note_find: 1 found (its text into value, cut to cap),
 * 0 none, -1 the keystore could not tell. */
/* The note of a card that refused EXTERNAL AUTHENTICATE, about its key
 * diversification data (hex): while it is there, no gp-p11 process sends
 * that card another EXTERNAL AUTHENTICATE. */
#define GP_REFUSAL_NOTE "gp-p11 refused EXTERNAL AUTHENTICATE"
/* The key check value of a DES key (about: its label, NAME/role), kept where
 * the keystore has no CKA_CHECK_VALUE: taken when the key is made, while it
 * may still encrypt (it only derives after), in hex. */
#define GP_KCV_NOTE "gp-p11 key check value"
CK_RV ks_note_put(ks_session_t *s, const char *kind, const char *about, const char *text);
int ks_note_find(ks_session_t *s, const char *kind, const char *about, char *value, size_t cap);
/* Deletes the notes of this kind about this (every one when about is NULL);
 * *n: how many. */
CK_RV ks_note_delete(ks_session_t *s, const char *kind, const char *about, int *n);
/* Calls fn for every note of this kind. */
CK_RV ks_note_list(ks_session_t *s, const char *kind,
                   void (*fn)(void *ctx, const char *about, const char *text), void *ctx);
CK_RV ks_list_unsealed(ks_session_t *s, void (*fn)(void *ctx, const char *name, const char *tag),
                       void *ctx);
/* Destroys exactly these three keys. */
void ks_destroy_keyset(ks_session_t *s, const ks_keyset_t *k);
/* Calls fn once per key set found (a label ending in /enc). */
CK_RV ks_list_keysets(ks_session_t *s, void (*fn)(void *ctx, const char *name), void *ctx);
/* Destroys NAME/enc, NAME/mac, NAME/dek; CKR_KEY_HANDLE_INVALID if none exists. */
CK_RV ks_delete_keyset(ks_session_t *s, const char *set);

/* Human-readable name of a CKR code ("CKR_PIN_INCORRECT"). */
const char *ks_rv_name(CK_RV rv);
/* Overwrites a buffer that held a secret in a way the compiler keeps. */
void ks_wipe(void *p, size_t n);
/* ISO/IEC 9797-1 padding method 2, which both protocols use: appends 80 and
 * zeros to a multiple of 8 (DES blocks). Returns the padded length, or 0
 * when it would exceed cap. */
size_t ks_pad80(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* The same to a multiple of block (16 for AES). */
size_t ks_pad80_to(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t block);

#endif
