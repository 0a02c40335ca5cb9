/*
 * nss-token DIR PIN: makes DIR a fresh NSS softoken database (libsoftokn3,
 * from libnss3) whose token "NSS Certificate DB" has the user PIN PIN, so
 * that tests can use NSS's softoken as gp-p11's keystore. Prints the
 * keystore_init_args string that loads it. Needs no NSS tools (certutil):
 * the softoken itself creates the database at C_Initialize, and C_InitPIN
 * after a security officer login with the empty initial password sets PIN.
 *
 * nss-token DIR PIN LABEL: prints the flags of the secret key labelled LABEL
 * ("sensitive always-sensitive extractable never-extractable encrypt
 * decrypt sign verify wrap unwrap derive", each "no-..." when false), since
 * pkcs11-tool cannot pass NSS its configuration string.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#ifndef NSS_SOFTOKEN
#define NSS_SOFTOKEN "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"
#endif

static int show(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const char *pin, const char *label)
{
    CK_RV rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    if (rv == CKR_OK)
        rv = f->C_FindObjectsInit(s, t, 2);
    if (rv == CKR_OK) {
        rv = f->C_FindObjects(s, &h, 1, &n);
        f->C_FindObjectsFinal(s);
    }
    if (rv != CKR_OK || n != 1) {
        fprintf(stderr, "nss-token: no key %s (0x%lX)\n", label, (unsigned long)rv);
        f->C_Finalize(NULL);
        return 1;
    }
    static const struct { CK_ATTRIBUTE_TYPE type; const char *name; } a[] = {
        {CKA_SENSITIVE, "sensitive"}, {CKA_ALWAYS_SENSITIVE, "always-sensitive"},
        {CKA_EXTRACTABLE, "extractable"}, {CKA_NEVER_EXTRACTABLE, "never-extractable"},
        {CKA_ENCRYPT, "encrypt"}, {CKA_DECRYPT, "decrypt"}, {CKA_SIGN, "sign"},
        {CKA_VERIFY, "verify"}, {CKA_WRAP, "wrap"}, {CKA_UNWRAP, "unwrap"}, {CKA_DERIVE, "derive"},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        CK_BBOOL v = CK_FALSE;
        CK_ATTRIBUTE q = {a[i].type, &v, sizeof v};
        f->C_GetAttributeValue(s, h, &q, 1);
        printf("%s%s%s", i ? " " : "", v ? "" : "no-", a[i].name);
    }
    printf("\n");
    f->C_Finalize(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: nss-token DIR PIN [LABEL]\n");
        return 2;
    }
    void *dl = dlopen(NSS_SOFTOKEN, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "nss-token: cannot load %s\n", NSS_SOFTOKEN);
        return 1;
    }
    char params[1200];
    snprintf(params, sizeof params,
             "configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' flags=", argv[1]);
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    a.flags = CKF_OS_LOCKING_OK;
    a.pReserved = params;
    CK_RV rv = f->C_Initialize(&a);
    CK_SLOT_ID slots[8], slot = 0;
    CK_ULONG n = 8;
    int found = 0;
    if (rv == CKR_OK)
        rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            !memcmp(ti.label, "NSS Certificate DB", 18)) {
            slot = slots[i];
            found = 1;
        }
    }
    CK_SESSION_HANDLE s = 0;
    if (rv == CKR_OK && !found)
        rv = CKR_TOKEN_NOT_PRESENT;
    if (rv == CKR_OK)
        rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv == CKR_OK && argc == 4) /* show a key's flags */
        return show(f, s, argv[2], argv[3]);
    if (rv == CKR_OK)
        rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) "", 0);
    if (rv == CKR_OK)
        rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]));
    if (rv == CKR_OK)
        f->C_Logout(s);
    f->C_Finalize(NULL);
    if (rv != CKR_OK) {
        fprintf(stderr, "nss-token: %s: 0x%lX\n", argv[1], (unsigned long)rv);
        return 1;
    }
    printf("%s\n", params);
    return 0;
}
