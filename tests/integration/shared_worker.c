/*
 * One process of the shared-reader test (tests/integration/shared.sh): ROUNDS
 * rounds of C_Login, secured reads (the CPLC object, CKM_GP_APDU GET DATA
 * 9F7F, the registry), C_Logout, on the card of slot 0, while another
 * process does the same and a third PC/SC client selects an applet and reads
 * in the clear. Every answer returned as success must be the security
 * domain's: the CPLC the card's (IC fabricator 4790), the APDU's answer the
 * same bytes and 9000, the registry with the ISD. A failure must be a CKR
 * from the expected set. Prints a summary; exit 1 on any wrong answer.
 * With GP_WORKER_REINIT=1 every round starts with C_Initialize and ends with
 * C_Finalize, so gp-p11 loads its keystore afresh each time
 * (tests/integration/keystore-race.sh).
 *
 *   shared_worker MODULE ROUNDS NAME
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "gp-p11/gp-p11.h"

static CK_FUNCTION_LIST_PTR f;
static const char *name;
static int wrong;

static void bad(const char *what)
{
    fprintf(stderr, "%s: WRONG: %s\n", name, what);
    wrong++;
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, t, 2) == CKR_OK) {
        f->C_FindObjects(s, &h, 1, &n);
        f->C_FindObjectsFinal(s);
    }
    return n == 1 ? h : CK_INVALID_HANDLE;
}

/* One round; returns the CKR of the first failing call, CKR_OK otherwise. */
static CK_RV round_once(CK_SLOT_ID slot, const char *pin)
{
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        return rv;
    rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK)
        goto out;
    /* C_Login succeeds only with the token's objects read */
    if (find(s, CKO_DATA, "A000000151000000") == CK_INVALID_HANDLE)
        bad("logged in, but the issuer security domain's registry object is missing");
    CK_OBJECT_HANDLE cplc = find(s, CKO_DATA, "CPLC");
    uint8_t v[300];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof v};
    if (cplc == CK_INVALID_HANDLE || f->C_GetAttributeValue(s, cplc, &a, 1) != CKR_OK) {
        bad("logged in, but no CPLC object");
    } else if (a.ulValueLen != 45 || memcmp(v, "\x9F\x7F\x2A\x47\x90", 5) != 0) {
        bad("the CPLC object is not the card's CPLC");
    }
    CK_OBJECT_HANDLE key = find(s, CKO_SECRET_KEY, "secure channel");
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    for (int i = 0; i < 5; i++) {
        uint8_t r[300];
        CK_ULONG rl = sizeof r;
        rv = f->C_SignInit(s, &m, key);
        if (rv == CKR_OK)
            rv = f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl);
        if (rv != CKR_OK)
            goto out;
        if (rl != a.ulValueLen + 2 || memcmp(r, v, a.ulValueLen) != 0 ||
            r[rl - 2] != 0x90 || r[rl - 1] != 0x00)
            bad("CKM_GP_APDU GET DATA 9F7F answered something other than the card's CPLC and 9000");
    }
    rv = f->C_Logout(s);
out:
    f->C_CloseSession(s);
    return rv;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    name = argv[3];
    int rounds = atoi(argv[2]);
    const char *pin = getenv("GP_TEST_PIN");
    const char *re = getenv("GP_WORKER_REINIT");
    int reinit = re && strcmp(re, "1") == 0;
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "%s: cannot load %s\n", name, argv[1]);
        return 2;
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < rounds; i++) {
        CK_SLOT_ID slot;
        CK_ULONG n = 1;
        if ((i == 0 || reinit) && f->C_Initialize(NULL) != CKR_OK) {
            fprintf(stderr, "%s: C_Initialize failed\n", name);
            return 2;
        }
        if (f->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n != 1) {
            fprintf(stderr, "%s: no card\n", name);
            return 2;
        }
        CK_RV rv = round_once(slot, pin);
        if (reinit && i + 1 < rounds)
            f->C_Finalize(NULL);
        if (rv == CKR_OK) {
            ok++;
            continue;
        }
        failed++;
        fprintf(stderr, "%s: round %d failed with 0x%lx\n", name, i, rv);
        /* the clear CKRs of a card another program holds too long */
        if (rv != CKR_DEVICE_ERROR)
            bad("a round failed with an unexpected CKR");
    }
    f->C_Finalize(NULL);
    printf("%s: %d rounds ok, %d failed, %d wrong answers\n", name, ok, failed, wrong);
    return wrong || ok == 0 ? 1 : 0;
}
