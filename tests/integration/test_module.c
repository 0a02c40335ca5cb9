/*
 * The gp-p11 module loaded as an application loads it (dlopen), against two
 * simulated cards on a private pcscd and a SoftHSM keystore. Runs inside
 * tests/harness/gp-env.sh (tests/integration/module.sh).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <p11-kit/pkcs11.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "sim_files.h"

static CK_FUNCTION_LIST_PTR f;
static void *dl;
static const char *pin;

/* --- application-supplied locks (the module must use them) ------------------------ */

static int app_mutexes;
static CK_RV app_create(void **m)
{
    pthread_mutex_t *p = malloc(sizeof *p);
    pthread_mutex_init(p, NULL);
    *m = p;
    __atomic_add_fetch(&app_mutexes, 1, __ATOMIC_SEQ_CST);
    return CKR_OK;
}
static CK_RV app_destroy(void *m)
{
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}
static CK_RV app_lock(void *m) { return pthread_mutex_lock(m) ? CKR_GENERAL_ERROR : CKR_OK; }
static CK_RV app_unlock(void *m) { return pthread_mutex_unlock(m) ? CKR_GENERAL_ERROR : CKR_OK; }

static int setup(void **state)
{
    (void)state;
    pin = getenv("GP_TEST_PIN");
    dl = dlopen(getenv("GP_P11_MODULE"), RTLD_NOW);
    if (!dl) {
        fprintf(stderr, "%s\n", dlerror());
        return -1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    if (!gfl || gfl(&f) != CKR_OK)
        return -1;
    CK_C_INITIALIZE_ARGS args = {app_create, app_destroy, app_lock, app_unlock, 0, NULL};
    return f->C_Initialize(&args) == CKR_OK && app_mutexes > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    dlclose(dl);
    return 0;
}

/* --- helpers ----------------------------------------------------------------------- */

static CK_SLOT_ID slot_of(int card)
{
    char var[32];
    snprintf(var, sizeof var, "GP_READER_%d", card);
    const char *reader = getenv(var);
    CK_SLOT_ID ids[16];
    CK_ULONG n = 16;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    n = 16;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_SLOT_INFO si;
        assert_int_equal(f->C_GetSlotInfo(ids[i], &si), CKR_OK);
        if (memcmp(si.slotDescription, reader, strlen(reader)) == 0)
            return ids[i];
    }
    fail_msg("no slot for %s", reader);
    return 0;
}

static CK_SESSION_HANDLE login(int card)
{
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot_of(card), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    CK_RV rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    return s;
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    assert_int_equal(f->C_FindObjectsInit(s, t, 2), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, h, 2, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

static CK_RV apdu(CK_SESSION_HANDLE s, const char *hex, uint8_t *rsp, CK_ULONG *rl)
{
    uint8_t cmd[300];
    int n = hex_decode(hex, cmd, sizeof cmd);
    assert_true(n > 0);
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    CK_OBJECT_HANDLE key = find(s, CKO_SECRET_KEY, "secure channel");
    CK_RV rv = f->C_SignInit(s, &m, key);
    if (rv != CKR_OK)
        return rv;
    return f->C_Sign(s, cmd, (CK_ULONG)n, rsp, rl);
}

static int contains(const uint8_t *hay, size_t n, const char *hex)
{
    uint8_t needle[32];
    int m = hex_decode(hex, needle, sizeof needle);
    assert_true(m > 0);
    for (size_t i = 0; i + (size_t)m <= n; i++)
        if (memcmp(hay + i, needle, (size_t)m) == 0)
            return 1;
    return 0;
}

/* --- tests ---------------------------------------------------------------------------- */

/* A run's channel choices as a CKO_GP_LOGIN_OPTIONS session object before
 * C_Login (gp-p11.h): in a read-only public session, read back, not listed,
 * bad values refused, the next login of that session using them, forgotten
 * by C_DestroyObject. */
static void test_login_options(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot_of(1), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    CK_OBJECT_CLASS cls = CKO_GP_LOGIN_OPTIONS;
    CK_BBOOL yes = CK_TRUE;
    uint8_t level = 0x03, bad_level = 0x05;
    CK_ULONG bad_div = 7;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, x;
    CK_ATTRIBUTE good[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KEY_SET_NAME, "default", 7},
                           {CKA_GP_SECURITY_LEVEL, &level, 1}};
    struct { CK_ATTRIBUTE a; CK_RV rv; } bad[] = {
        {{CKA_TOKEN, &yes, sizeof yes}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_VALUE, "x", 1}, CKR_ATTRIBUTE_TYPE_INVALID},
        {{CKA_GP_SECURITY_LEVEL, &bad_level, 1}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_GP_DIVERSIFICATION, &bad_div, sizeof bad_div}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_GP_KEY_SET_NAME, "", 0}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_GP_AID, "\xA0\x00", 2}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_GP_KEY_VERSION, NULL, 1}, CKR_ARGUMENTS_BAD},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, bad[i].a};
        assert_int_equal(f->C_CreateObject(s, t, 2, &x), bad[i].rv);
    }
    assert_int_equal(f->C_CreateObject(s, good, 3, &h), CKR_OK);
    uint8_t got = 0;
    CK_ATTRIBUTE q = {CKA_GP_SECURITY_LEVEL, &got, 1};
    assert_int_equal(f->C_GetAttributeValue(s, h, &q, 1), CKR_OK);
    assert_int_equal(got, 0x03);
    CK_ATTRIBUTE unset = {CKA_GP_SCP, &got, 1};
    assert_int_equal(f->C_GetAttributeValue(s, h, &unset, 1), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(find(s, CKO_GP_LOGIN_OPTIONS, ""), CK_INVALID_HANDLE);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(sim_state(1, "level"), 0x03); /* the configuration says mac (01) */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    assert_int_equal(f->C_DestroyObject(s, h), CKR_OK);
    assert_int_equal(f->C_GetAttributeValue(s, h, &q, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(sim_state(1, "level"), 0x01); /* the configuration's again */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    /* a failed login says why in ulDeviceError (GP_LOGIN_*), beside the card's SW */
    uint8_t kvn = 0x07;
    CK_ATTRIBUTE no_kvn[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KEY_VERSION, &kvn, 1}};
    assert_int_equal(f->C_CreateObject(s, no_kvn, 2, &h), CKR_OK);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_FUNCTION_FAILED);
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(GP_DEVICE_ERROR_SW(si.ulDeviceError), 0x6A88);
    assert_int_equal(GP_DEVICE_ERROR_REASON(si.ulDeviceError), GP_LOGIN_KEY_VERSION);
    assert_int_equal(f->C_DestroyObject(s, h), CKR_OK);
    CK_ATTRIBUTE no_set[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KEY_SET_NAME, "nosuch", 6}};
    assert_int_equal(f->C_CreateObject(s, no_set, 2, &h), CKR_OK);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_FUNCTION_FAILED);
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.ulDeviceError, (CK_ULONG)GP_LOGIN_KEY_SET_MISSING << 16);
    assert_int_equal(f->C_DestroyObject(s, h), CKR_OK);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.ulDeviceError, 0);
    assert_int_equal(f->C_CloseSession(s), CKR_OK);
}

/* Before a login, what the card shows in the clear: public objects (the
 * GET DATA ones), no registry (the simulator refuses GET STATUS without a
 * channel, as cards do), and nothing changed without a login. */
static void test_public_objects(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot_of(1), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    long before = sim_state(1, "sessions");
    CK_OBJECT_HANDLE cplc = find(s, CKO_DATA, "CPLC");
    assert_int_not_equal(cplc, CK_INVALID_HANDLE);
    CK_BBOOL priv = CK_TRUE;
    CK_ATTRIBUTE q = {CKA_PRIVATE, &priv, sizeof priv};
    assert_int_equal(f->C_GetAttributeValue(s, cplc, &q, 1), CKR_OK);
    assert_false(priv);
    assert_int_not_equal(find(s, CKO_DATA, "key information"), CK_INVALID_HANDLE);
    assert_int_equal(find(s, CKO_DATA, "A000000151000000"), CK_INVALID_HANDLE); /* the ISD */
    assert_int_equal(find(s, CKO_SECRET_KEY, "secure channel"), CK_INVALID_HANDLE);
    assert_int_equal(f->C_DestroyObject(s, cplc), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(sim_state(1, "sessions"), before); /* no INITIALIZE UPDATE */
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_not_equal(find(s, CKO_DATA, "A000000151000000"), CK_INVALID_HANDLE);
    assert_int_equal(find(s, CKO_DATA, "CPLC"), cplc); /* read again over the channel, same handle */
    priv = CK_FALSE;
    assert_int_equal(f->C_GetAttributeValue(s, cplc, &q, 1), CKR_OK);
    assert_true(priv);
    assert_int_equal(f->C_CloseSession(s), CKR_OK);
}

static CK_RV sign_with(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key,
                       const char *hex, uint8_t *rsp, CK_ULONG *rl)
{
    uint8_t cmd[300];
    int n = hex_decode(hex, cmd, sizeof cmd);
    assert_true(n > 0);
    CK_MECHANISM m = {mech, NULL, 0};
    CK_RV rv = f->C_SignInit(s, &m, key);
    return rv != CKR_OK ? rv : f->C_Sign(s, cmd, (CK_ULONG)n, rsp, rl);
}

/* Plain APDUs to an application (CKM_GP_APDU_PLAIN): without a login; never
 * INITIALIZE UPDATE or EXTERNAL AUTHENTICATE; under a login the secure
 * channel closes and the next secured command opens a new one. */
static void test_plain_apdu(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot_of(1), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    CK_OBJECT_HANDLE plain = find(s, CKO_SECRET_KEY, "plain channel");
    assert_int_not_equal(plain, CK_INVALID_HANDLE);
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU_PLAIN, plain, "00A4040006F0000000010100", r, &rl), CKR_OK);
    assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU_PLAIN, plain, "80CA9F7F00", r, &rl), CKR_OK);
    assert_true(contains(r, rl, "F00000000101")); /* the applet answers, not the ISD */
    long ea = sim_state(1, "ext_auth_received");
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU_PLAIN, plain,
                               "8482000010AABBCCDDEEFF00112233445566778899", r, &rl),
                     CKR_DATA_INVALID);
    assert_int_equal(sim_state(1, "ext_auth_received"), ea);
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU, plain, "80CA9F7F00", r, &rl), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CK_OBJECT_HANDLE ch = find(s, CKO_SECRET_KEY, "secure channel");
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU_PLAIN, ch, "80CA9F7F00", r, &rl),
                     CKR_KEY_TYPE_INCONSISTENT);
    long sessions = sim_state(1, "sessions");
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU_PLAIN, plain, "00A4040006F0000000010100", r, &rl), CKR_OK);
    rl = sizeof r;
    assert_int_equal(sign_with(s, CKM_GP_APDU, ch, "80F24002024F0000", r, &rl), CKR_OK);
    assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
    assert_int_equal(sim_state(1, "sessions"), sessions + 1); /* a new channel for it */
    assert_int_equal(f->C_CloseSession(s), CKR_OK);
}

static void test_apdu_passthrough(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0);
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    long macs = sim_state(0, "cmac_ok");
    assert_int_equal(apdu(s, "80CA9F7F00", r, &rl), CKR_OK);
    assert_int_equal(rl, 45 + 2);
    assert_int_equal(r[0], 0x9F);
    assert_int_equal(r[rl - 2], 0x90);
    rl = sizeof r;
    assert_int_equal(apdu(s, "80F24002024F0000", r, &rl), CKR_OK); /* GET STATUS, E3 format */
    assert_int_equal(r[0], 0xE3);
    assert_true(contains(r, rl, "F00000000101"));
    assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
    /* both went through the channel with a C-MAC the card checked */
    assert_int_equal(sim_state(0, "cmac_ok"), macs + 2);
    /* an error status word is the card's answer, not a failure */
    rl = sizeof r;
    assert_int_equal(apdu(s, "80CA00FF00", r, &rl), CKR_OK);
    assert_int_equal(rl, 2);
    assert_int_equal(r[0] << 8 | r[1], 0x6A88);
    f->C_CloseSession(s);
}

static void test_sign_sends_once(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0);
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    uint8_t cmd[] = {0x80, 0xCA, 0x9F, 0x7F, 0x00}, r[300];
    assert_int_equal(f->C_SignInit(s, &m, find(s, CKO_SECRET_KEY, "secure channel")), CKR_OK);
    long apdus = sim_state(0, "apdus");
    CK_ULONG rl = 0;
    assert_int_equal(f->C_Sign(s, cmd, sizeof cmd, NULL, &rl), CKR_OK); /* length query */
    assert_true(rl >= 47);
    assert_int_equal(sim_state(0, "apdus"), apdus); /* nothing sent */
    rl = 10;
    assert_int_equal(f->C_Sign(s, cmd, sizeof cmd, r, &rl), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(rl, 47);
    assert_int_equal(sim_state(0, "apdus"), apdus + 1); /* sent once */
    rl = 0;
    assert_int_equal(f->C_Sign(s, cmd, sizeof cmd, NULL, &rl), CKR_OK);
    assert_int_equal(rl, 47); /* exact now */
    rl = sizeof r;
    assert_int_equal(f->C_Sign(s, cmd, sizeof cmd, r, &rl), CKR_OK);
    assert_int_equal(rl, 47);
    assert_int_equal(sim_state(0, "apdus"), apdus + 1); /* and not again */
    assert_int_equal(f->C_Sign(s, cmd, sizeof cmd, r, &rl), CKR_OPERATION_NOT_INITIALIZED);
    f->C_CloseSession(s);
}

static void test_sign_misuse(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0}, wrong = {CKM_SHA256, NULL, 0};
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(f->C_SignInit(s, &m, 1), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_ALREADY_LOGGED_IN);
    CK_OBJECT_HANDLE key = find(s, CKO_SECRET_KEY, "secure channel");
    CK_OBJECT_HANDLE cplc = find(s, CKO_DATA, "CPLC");
    assert_int_not_equal(key, CK_INVALID_HANDLE);
    assert_int_equal(f->C_Sign(s, (CK_BYTE_PTR) "x", 1, r, &rl), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_SignInit(s, &wrong, key), CKR_MECHANISM_INVALID);
    assert_int_equal(f->C_SignInit(s, &m, cplc), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(f->C_SignInit(s, &m, 999999), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(f->C_SignInit(s, NULL, key), CKR_ARGUMENTS_BAD);
    CK_BYTE param = 1;
    CK_MECHANISM withparam = {CKM_GP_APDU, &param, 1};
    assert_int_equal(f->C_SignInit(s, &withparam, key), CKR_MECHANISM_PARAM_INVALID);
    static const char *bad[] = {"80CA", "80CA9F7F0502", "84CA9F7F00", "00A4040000", "8050000008",
                                "81CA9F7F00", "41CA9F7F00", "C0CA9F7F00", "E5CA9F7F00",
                                "0070000100", "807A100000", "8078000000"};
    static const char *why[] = {"too short", "Lc wrong", "secured CLA", "SELECT", "INITIALIZE UPDATE",
                                "logical channel 1", "logical channel 5 (class 4X)",
                                "logical channel 4 (class CX)", "logical channel 9 (class EX)",
                                "MANAGE CHANNEL", "BEGIN R-MAC SESSION", "END R-MAC SESSION"};
    for (int i = 0; i < 12; i++) {
        rl = sizeof r;
        if (apdu(s, bad[i], r, &rl) != CKR_DATA_INVALID)
            fail_msg("%s accepted", why[i]);
    }
    /* the object API's rules: a read-only session reads only */
    rl = sizeof r;
    assert_int_equal(apdu(s, "80E40000084F06F00000000102", r, &rl), CKR_SESSION_READ_ONLY);
    rl = sizeof r;
    assert_int_equal(apdu(s, "80F0408006F00000000101", r, &rl), CKR_SESSION_READ_ONLY);
    /* too long for the channel: 248 data bytes leave no room for the C-MAC */
    char longer[2 * (5 + 248) + 1];
    strcpy(longer, "80CA0000F8");
    for (int i = 0; i < 248; i++)
        strcat(longer, "00");
    rl = sizeof r;
    assert_int_equal(apdu(s, longer, r, &rl), CKR_DATA_LEN_RANGE);
    CK_SESSION_HANDLE rws;
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rws),
                     CKR_OK);
    rl = sizeof r;
    assert_int_equal(apdu(rws, "80E400000A4F08A00000015100000000", r, &rl), CKR_ACTION_PROHIBITED);
    rl = sizeof r;
    assert_int_equal(apdu(rws, "80F080FF", r, &rl), CKR_ACTION_PROHIBITED);
    assert_int_equal(sim_state(0, "card_lifecycle"), 0x0F); /* nothing reached the card */
    f->C_CloseSession(rws);
    assert_int_equal(f->C_SignInit(s, &m, key), CKR_OK);
    assert_int_equal(f->C_SignInit(s, &m, key), CKR_OPERATION_ACTIVE);
    assert_int_equal(f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl),
                     CKR_OPERATION_NOT_INITIALIZED); /* the error ended the operation */
    f->C_CloseSession(s);
}

static void test_attributes(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0);
    CK_OBJECT_HANDLE cplc = find(s, CKO_DATA, "CPLC");
    CK_OBJECT_HANDLE app = find(s, CKO_DATA, "F00000000101");
    CK_OBJECT_HANDLE key = find(s, CKO_SECRET_KEY, "secure channel");
    CK_OBJECT_HANDLE isd = find(s, CKO_DATA, "A000000151000000");
    uint8_t v[64];
    CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
    assert_int_equal(f->C_GetAttributeValue(s, cplc, &a, 1), CKR_OK);
    assert_int_equal(a.ulValueLen, 45);
    a.pValue = v;
    a.ulValueLen = 10;
    assert_int_equal(f->C_GetAttributeValue(s, cplc, &a, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    /* an invalid attribute does not stop the others from being returned */
    CK_BBOOL priv = 0;
    CK_ATTRIBUTE two[] = {{CKA_MODULUS, v, sizeof v}, {CKA_PRIVATE, &priv, sizeof priv}};
    assert_int_equal(f->C_GetAttributeValue(s, cplc, two, 2), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(two[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(priv, CK_TRUE);
    /* the channel's key value is sensitive */
    CK_BBOOL sens = 0;
    CK_ATTRIBUTE k[] = {{CKA_VALUE, v, sizeof v}, {CKA_SENSITIVE, &sens, sizeof sens}};
    assert_int_equal(f->C_GetAttributeValue(s, key, k, 2), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(k[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(sens, CK_TRUE);
    /* vendor attributes of a registry entry */
    uint8_t aid[16], lc = 0;
    CK_ULONG kind = 0;
    CK_ATTRIBUTE g[] = {{CKA_GP_AID, aid, sizeof aid}, {CKA_GP_LIFECYCLE, &lc, 1},
                        {CKA_GP_KIND, &kind, sizeof kind}, {CKA_GP_LOAD_FILE, v, sizeof v}};
    assert_int_equal(f->C_GetAttributeValue(s, app, g, 4), CKR_OK);
    assert_int_equal(g[0].ulValueLen, 6);
    assert_int_equal(lc, 0x07);
    assert_int_equal(kind, GP_KIND_APP);
    assert_int_equal(g[3].ulValueLen, 5); /* F000000001 */
    CK_BBOOL destroyable = 1;
    CK_ATTRIBUTE d = {CKA_DESTROYABLE, &destroyable, 1};
    assert_int_equal(f->C_GetAttributeValue(s, isd, &d, 1), CKR_OK);
    assert_int_equal(destroyable, CK_FALSE);
    assert_int_equal(f->C_GetAttributeValue(s, 0xdead, &d, 1), CKR_OBJECT_HANDLE_INVALID);
    /* read-only sessions cannot delete */
    CK_SESSION_HANDLE ro;
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    assert_int_equal(f->C_DestroyObject(ro, app), CKR_SESSION_READ_ONLY);
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(ro, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_USER_FUNCTIONS); /* the login is the token's */
    f->C_CloseSession(ro);
    f->C_CloseSession(s);
}

struct worker {
    int card, rounds, ok;
    CK_SESSION_HANDLE s;
};

static void *work(void *p)
{
    struct worker *w = p;
    uint8_t r[300];
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n;
    if (f->C_FindObjectsInit(w->s, &t, 1) != CKR_OK || f->C_FindObjects(w->s, &key, 1, &n) != CKR_OK ||
        f->C_FindObjectsFinal(w->s) != CKR_OK || n != 1)
        return NULL;
    for (int i = 0; i < w->rounds; i++) {
        CK_ULONG rl = sizeof r;
        if (f->C_SignInit(w->s, &m, key) == CKR_OK &&
            f->C_Sign(w->s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl) == CKR_OK && rl == 47 &&
            r[45] == 0x90)
            w->ok++;
    }
    return NULL;
}

static void test_two_cards_two_threads(void **state)
{
    (void)state;
    struct worker w[2] = {{0, 100, 0, 0}, {1, 100, 0, 0}};
    for (int i = 0; i < 2; i++)
        w[i].s = login(i); /* the second card's PIN is checked against the verifier */
    long before[2] = {sim_state(0, "cmac_ok"), sim_state(1, "cmac_ok")};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].ok, 100);
        assert_int_equal(sim_state(i, "cmac_ok") - before[i], 100);
        assert_int_equal(sim_state(i, "cmac_bad"), 0);
        f->C_CloseSession(w[i].s);
    }
}

static void test_second_card_checks_pin(void **state)
{
    (void)state;
    CK_SESSION_HANDLE a = login(0), b;
    assert_int_equal(f->C_OpenSession(slot_of(1), CKF_SERIAL_SESSION, NULL, NULL, &b), CKR_OK);
    assert_int_equal(f->C_Login(b, CKU_USER, (CK_UTF8CHAR_PTR) "wrong", 5), CKR_PIN_INCORRECT);
    assert_int_equal(f->C_Login(b, CKU_SO, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_TYPE_INVALID);
    assert_int_equal(f->C_Login(b, CKU_USER, NULL, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Login(b, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(f->C_Logout(b), CKR_OK);
    assert_int_equal(f->C_Logout(b), CKR_USER_NOT_LOGGED_IN);
    /* card 0 stays logged in */
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    assert_int_equal(apdu(a, "80CA004500", r, &rl), CKR_OK);
    f->C_CloseSession(b);
    f->C_CloseSession(a);
}

static void test_random(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    uint8_t a[32], b[32];
    assert_int_equal(f->C_GenerateRandom(s, a, sizeof a), CKR_OK);
    assert_int_equal(f->C_GenerateRandom(s, b, sizeof b), CKR_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(f->C_GenerateRandom(s, NULL, 4), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_SeedRandom(s, a, 4), CKR_RANDOM_SEED_NOT_SUPPORTED);
    f->C_CloseSession(s);
}

static void test_card_removed_mid_session(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0), other;
    CK_SLOT_ID slot = slot_of(0), ev;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &other), CKR_OK);
    /* nothing happened yet */
    while (f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL) == CKR_OK)
        ;
    assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT);
    sim_control(0, "fault = drop\non_ins = F2\nreinsert_ms = 1200\n");
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    assert_int_equal(apdu(s, "80F24002024F0000", r, &rl), CKR_DEVICE_REMOVED);
    /* every session of the card is gone */
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(f->C_GetSessionInfo(other, &si), CKR_DEVICE_REMOVED);
    assert_int_equal(f->C_GetSessionInfo(other, &si), CKR_SESSION_HANDLE_INVALID);
    /* the removal and the re-insertion are slot events (blocking wait) */
    int removed = 0, back = 0;
    for (int i = 0; i < 6 && !back; i++) {
        assert_int_equal(f->C_WaitForSlotEvent(0, &ev, NULL), CKR_OK);
        assert_int_equal(ev, slot);
        CK_SLOT_INFO info;
        assert_int_equal(f->C_GetSlotInfo(ev, &info), CKR_OK);
        if (info.flags & CKF_TOKEN_PRESENT)
            back = removed;
        else
            removed = 1;
    }
    assert_true(removed && back);
    /* a fresh login works */
    s = login(0);
    rl = sizeof r;
    assert_int_equal(apdu(s, "80F24002024F0000", r, &rl), CKR_OK);
    assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
    f->C_CloseSession(s);
}

static void test_last_session_logs_out(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0);
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
    f->C_CloseSession(s);
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
    assert_int_equal(find(s, CKO_DATA, "A000000151000000"), CK_INVALID_HANDLE); /* private: hidden again */
    CK_OBJECT_HANDLE cplc = find(s, CKO_DATA, "CPLC"); /* what the card shows in the clear */
    CK_BBOOL priv = CK_TRUE;
    CK_ATTRIBUTE q = {CKA_PRIVATE, &priv, sizeof priv};
    assert_int_equal(f->C_GetAttributeValue(s, cplc, &q, 1), CKR_OK);
    assert_false(priv);
    f->C_CloseSession(s);
    assert_int_equal(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
}

static void set_lifecycle(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_BYTE v, CK_RV want)
{
    CK_ATTRIBUTE a = {CKA_GP_LIFECYCLE, &v, 1};
    assert_int_equal(f->C_SetAttributeValue(s, o, &a, 1), want);
}

static void test_lifecycle(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0), ro;
    CK_OBJECT_HANDLE app = find(s, CKO_DATA, "F00000000201");
    CK_OBJECT_HANDLE elf = find(s, CKO_DATA, "F000000002");
    CK_OBJECT_HANDLE isd = find(s, CKO_DATA, "A000000151000000");
    set_lifecycle(s, app, 0x87, CKR_OK); /* lock */
    assert_true(sim_state_has(0, "lifecycles", "F00000000201:87"));
    CK_BYTE lc = 0;
    CK_ATTRIBUTE a = {CKA_GP_LIFECYCLE, &lc, 1};
    assert_int_equal(f->C_GetAttributeValue(s, app, &a, 1), CKR_OK); /* same handle, new value */
    assert_int_equal(lc, 0x87);
    set_lifecycle(s, app, 0x07, CKR_OK); /* unlock */
    assert_true(sim_state_has(0, "lifecycles", "F00000000201:07"));
    set_lifecycle(s, elf, 0x80, CKR_ACTION_PROHIBITED);
    CK_ATTRIBUTE label = {CKA_LABEL, "x", 1};
    assert_int_equal(f->C_SetAttributeValue(s, app, &label, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* the card: locked and unlocked; termination only when confirmed */
    set_lifecycle(s, isd, 0x33, CKR_ATTRIBUTE_VALUE_INVALID);
    set_lifecycle(s, isd, 0xFF, CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(sim_state(0, "card_lifecycle"), 0x0F);
    set_lifecycle(s, isd, 0x7F, CKR_OK);
    assert_int_equal(sim_state(0, "card_lifecycle"), 0x7F);
    set_lifecycle(s, isd, 0x0F, CKR_OK);
    assert_int_equal(sim_state(0, "card_lifecycle"), 0x0F);
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    set_lifecycle(ro, app, 0x87, CKR_SESSION_READ_ONLY);
    f->C_CloseSession(ro);
    f->C_CloseSession(s);
}

static CK_ULONG device_error(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    return si.ulDeviceError;
}

/* ulDeviceError: the status word of the card's refusal that failed this
 * session's last call; 0 when the call succeeded or failed for another reason */
static void test_device_error(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0), other;
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                      &other), CKR_OK);
    CK_OBJECT_HANDLE elf = find(s, CKO_DATA, "F000000002"); /* its application F00000000201 remains */
    assert_int_equal(device_error(s), 0);
    assert_int_equal(f->C_DestroyObject(s, elf), CKR_ACTION_PROHIBITED); /* DELETE: 6985 */
    assert_int_equal(device_error(s), 0x6985);
    assert_int_equal(device_error(s), 0x6985); /* reading it changes nothing */
    assert_int_equal(device_error(other), 0);   /* nor is it another session's */
    set_lifecycle(s, elf, 0x80, CKR_ACTION_PROHIBITED); /* refused by gp-p11, not the card */
    assert_int_equal(device_error(s), 0);
    assert_int_equal(f->C_DestroyObject(s, elf), CKR_ACTION_PROHIBITED);
    assert_int_equal(device_error(s), 0x6985);
    assert_int_not_equal(find(s, CKO_DATA, "CPLC"), CK_INVALID_HANDLE); /* a call that succeeds */
    assert_int_equal(device_error(s), 0);
    f->C_CloseSession(other);
    f->C_CloseSession(s);
}

static void test_key_versions_and_put_key_misuse(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(0), ro;
    CK_OBJECT_CLASS cls = CKO_GP_KEY_SET;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE h[8];
    CK_ULONG n = 0;
    assert_int_equal(f->C_FindObjectsInit(s, &t, 1), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, h, 8, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    CK_BYTE kvn = 0;
    CK_ATTRIBUTE a = {CKA_GP_KEY_VERSION, &kvn, 1};
    assert_int_equal(f->C_GetAttributeValue(s, h[0], &a, 1), CKR_OK);
    assert_int_equal(kvn, 0x01);
    /* PUT KEY templates that cannot work are refused before the card sees them */
    long apdus = sim_state(0, "apdus");
    CK_MECHANISM m = {CKM_GP_PUT_KEY, NULL, 0}, wrong = {CKM_DES2_KEY_GEN, NULL, 0};
    CK_BYTE v2 = 2, v0 = 0, vals[48] = {0};
    CK_ATTRIBUTE good[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &v2, 1}};
    CK_ATTRIBUTE nolabel[] = {{CKA_GP_KEY_VERSION, &v2, 1}};
    CK_ATTRIBUTE zero[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &v0, 1}};
    CK_ATTRIBUTE withvals[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &v2, 1},
                               {CKA_GP_KEY_VALUES, vals, sizeof vals}};
    CK_ATTRIBUTE odd[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &v2, 1},
                          {CKA_MODULUS, vals, 4}};
    CK_OBJECT_HANDLE k;
    assert_int_equal(f->C_GenerateKey(s, &wrong, good, 2, &k), CKR_MECHANISM_INVALID);
    assert_int_equal(f->C_GenerateKey(s, &m, nolabel, 1, &k), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(f->C_GenerateKey(s, &m, zero, 2, &k), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(f->C_GenerateKey(s, &m, withvals, 3, &k), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(f->C_GenerateKey(s, &m, odd, 3, &k), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(f->C_GenerateKey(s, &m, good, 2, NULL), CKR_ARGUMENTS_BAD);
    /* key values from the application: not without put_key_plaintext = yes */
    CK_OBJECT_CLASS ks_cls = CKO_GP_KEY_SET;
    CK_ATTRIBUTE classed[] = {{CKA_CLASS, &ks_cls, sizeof ks_cls}, {CKA_LABEL, "next", 4},
                              {CKA_GP_KEY_VERSION, &v2, 1}, {CKA_GP_KEY_VALUES, vals, sizeof vals}};
    assert_int_equal(f->C_CreateObject(s, classed, 4, &k), CKR_FUNCTION_FAILED);
    assert_int_equal(f->C_CreateObject(s, withvals, 3, &k), CKR_TEMPLATE_INCOMPLETE); /* no class */
    assert_int_equal(f->C_CreateObject(s, good, 2, &k), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(f->C_OpenSession(slot_of(0), CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    assert_int_equal(f->C_GenerateKey(ro, &m, good, 2, &k), CKR_SESSION_READ_ONLY);
    f->C_CloseSession(ro);
    assert_int_equal(sim_state(0, "apdus"), apdus);
    f->C_CloseSession(s);
}

static void test_terminate_card(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = login(1);
    CK_OBJECT_HANDLE isd = find(s, CKO_DATA, "A000000151000000");
    CK_BYTE v = 0xFF;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_GP_LIFECYCLE, &v, 1}, {CKA_GP_CONFIRM_TERMINATE, &yes, 1}};
    CK_RV rv = f->C_SetAttributeValue(s, isd, t, 2);
    /* the card is terminated: it may refuse even the registry read that follows */
    assert_true(rv == CKR_OK || rv == CKR_FUNCTION_FAILED);
    assert_int_equal(sim_state(1, "card_lifecycle"), 0xFF);
    f->C_CloseSession(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_options),
        cmocka_unit_test(test_public_objects),
        cmocka_unit_test(test_plain_apdu),
        cmocka_unit_test(test_apdu_passthrough),
        cmocka_unit_test(test_sign_sends_once),
        cmocka_unit_test(test_sign_misuse),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_two_cards_two_threads),
        cmocka_unit_test(test_second_card_checks_pin),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_last_session_logs_out),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_device_error),
        cmocka_unit_test(test_key_versions_and_put_key_misuse),
        cmocka_unit_test(test_card_removed_mid_session),
        cmocka_unit_test(test_terminate_card),
    };
    return cmocka_run_group_tests_name("gp-p11-module", tests, setup, teardown);
}
