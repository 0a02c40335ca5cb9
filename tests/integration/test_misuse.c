/*
 * API misuse: every C_* function called the wrong way gets the CKR that
 * PKCS#11 2.40 names, and nothing crashes. Runs in tests/harness/gp-env.sh
 * with one card (tests/integration/misuse.sh).
 */
#include <dlfcn.h>
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

static CK_FUNCTION_LIST_PTR f;
static void *dl;
static const char *pin;

static int setup(void **state)
{
    (void)state;
    pin = getenv("GP_TEST_PIN");
    dl = dlopen(getenv("GP_P11_MODULE"), RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    return gfl && gfl(&f) == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dlclose(dl);
    return 0;
}

/* Calls every function of the list with harmless arguments. */
#define EACH_SESSION_CALL(X, h)                                                                    \
    X(C_GetSessionInfo(h, &si));                                                                   \
    X(C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR) "1", 1));                                             \
    X(C_Logout(h));                                                                                \
    X(C_FindObjectsInit(h, NULL, 0));                                                              \
    X(C_FindObjects(h, objs, 4, &n));                                                              \
    X(C_FindObjectsFinal(h));                                                                      \
    X(C_GetAttributeValue(h, 1, &attr, 1));                                                        \
    X(C_SetAttributeValue(h, 1, &attr, 1));                                                        \
    X(C_GetObjectSize(h, 1, &n));                                                                  \
    X(C_DestroyObject(h, 1));                                                                      \
    X(C_SignInit(h, &mech, 1));                                                                    \
    X(C_Sign(h, buf, 5, buf, &n));                                                                 \
    X(C_SignUpdate(h, buf, 5));                                                                    \
    X(C_SignFinal(h, buf, &n));                                                                    \
    X(C_GenerateRandom(h, buf, 8));                                                                \
    X(C_SeedRandom(h, buf, 8));                                                                    \
    X(C_GenerateKey(h, &mech, &attr, 1, &obj));                                                    \
    X(C_CreateObject(h, &attr, 1, &obj));                                                          \
    X(C_GetFunctionStatus(h));                                                                     \
    X(C_CancelFunction(h));

/* Functions gp-p11 does not offer answer CKR_FUNCTION_NOT_SUPPORTED. */
#define EACH_UNSUPPORTED(X, h)                                                                     \
    X(C_InitToken(0, NULL, 0, NULL));                                                              \
    X(C_InitPIN(h, NULL, 0));                                                                      \
    X(C_SetPIN(h, NULL, 0, NULL, 0));                                                              \
    X(C_GetOperationState(h, buf, &n));                                                            \
    X(C_SetOperationState(h, buf, 4, 0, 0));                                                       \
    X(C_CopyObject(h, 1, &attr, 1, &obj));                                                         \
    X(C_EncryptInit(h, &mech, 1));                                                                 \
    X(C_Encrypt(h, buf, 8, buf, &n));                                                              \
    X(C_EncryptUpdate(h, buf, 8, buf, &n));                                                        \
    X(C_EncryptFinal(h, buf, &n));                                                                 \
    X(C_DecryptInit(h, &mech, 1));                                                                 \
    X(C_Decrypt(h, buf, 8, buf, &n));                                                              \
    X(C_DecryptUpdate(h, buf, 8, buf, &n));                                                        \
    X(C_DecryptFinal(h, buf, &n));                                                                 \
    X(C_DigestInit(h, &mech));                                                                     \
    X(C_Digest(h, buf, 8, buf, &n));                                                               \
    X(C_DigestUpdate(h, buf, 8));                                                                  \
    X(C_DigestKey(h, 1));                                                                          \
    X(C_DigestFinal(h, buf, &n));                                                                  \
    X(C_SignRecoverInit(h, &mech, 1));                                                             \
    X(C_SignRecover(h, buf, 8, buf, &n));                                                          \
    X(C_VerifyInit(h, &mech, 1));                                                                  \
    X(C_Verify(h, buf, 8, buf, 8));                                                                \
    X(C_VerifyUpdate(h, buf, 8));                                                                  \
    X(C_VerifyFinal(h, buf, 8));                                                                   \
    X(C_VerifyRecoverInit(h, &mech, 1));                                                           \
    X(C_VerifyRecover(h, buf, 8, buf, &n));                                                        \
    X(C_DigestEncryptUpdate(h, buf, 8, buf, &n));                                                  \
    X(C_DecryptDigestUpdate(h, buf, 8, buf, &n));                                                  \
    X(C_SignEncryptUpdate(h, buf, 8, buf, &n));                                                    \
    X(C_DecryptVerifyUpdate(h, buf, 8, buf, &n));                                                  \
    X(C_GenerateKeyPair(h, &mech, &attr, 1, &attr, 1, &obj, &obj));                                \
    X(C_WrapKey(h, &mech, 1, 1, buf, &n));                                                         \
    X(C_UnwrapKey(h, &mech, 1, buf, 8, &attr, 1, &obj));                                           \
    X(C_DeriveKey(h, &mech, 1, &attr, 1, &obj));

static CK_SESSION_INFO si;
static CK_OBJECT_HANDLE objs[4], obj;
static CK_ULONG n;
static CK_BYTE buf[300] = {0x80, 0xCA, 0x9F, 0x7F, 0x00};
static CK_BYTE lc = 0x87;
static CK_ATTRIBUTE attr = {CKA_GP_LIFECYCLE, &lc, 1};
static CK_MECHANISM mech = {CKM_GP_APDU, NULL, 0};

static void test_before_initialize(void **state)
{
    (void)state;
#define EXPECT_NOT_INIT(call) assert_int_equal(f->call, CKR_CRYPTOKI_NOT_INITIALIZED)
    CK_INFO info;
    CK_SLOT_ID slots[4];
    CK_SLOT_INFO sli;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_SESSION_HANDLE h = 1;
    EXPECT_NOT_INIT(C_Finalize(NULL));
    EXPECT_NOT_INIT(C_GetInfo(&info));
    n = 4;
    EXPECT_NOT_INIT(C_GetSlotList(CK_FALSE, slots, &n));
    EXPECT_NOT_INIT(C_GetSlotInfo(0, &sli));
    EXPECT_NOT_INIT(C_GetTokenInfo(0, &ti));
    EXPECT_NOT_INIT(C_GetMechanismList(0, &mech.mechanism, &n));
    EXPECT_NOT_INIT(C_GetMechanismInfo(0, CKM_GP_APDU, &mi));
    EXPECT_NOT_INIT(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h));
    EXPECT_NOT_INIT(C_CloseSession(h));
    EXPECT_NOT_INIT(C_CloseAllSessions(0));
    EXPECT_NOT_INIT(C_WaitForSlotEvent(CKF_DONT_BLOCK, slots, NULL));
    EACH_SESSION_CALL(EXPECT_NOT_INIT, h)
#define EXPECT_UNSUPPORTED(call) assert_int_equal(f->call, CKR_FUNCTION_NOT_SUPPORTED)
    EACH_UNSUPPORTED(EXPECT_UNSUPPORTED, h)
    assert_int_equal(f->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
}

static CK_RV bad_create(void **m) { (void)m; return CKR_OK; }

static void test_initialize_and_finalize(void **state)
{
    (void)state;
    CK_C_INITIALIZE_ARGS reserved = {NULL, NULL, NULL, NULL, 0, (void *)1};
    assert_int_equal(f->C_Initialize(&reserved), CKR_ARGUMENTS_BAD);
    CK_C_INITIALIZE_ARGS partial = {bad_create, NULL, NULL, NULL, 0, NULL};
    assert_int_equal(f->C_Initialize(&partial), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
    assert_int_equal(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(f->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    assert_int_equal(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    /* and again: initialising twice in a process works */
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

static void test_general_arguments(void **state)
{
    (void)state;
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
    CK_SLOT_ID slots[4], none[1];
    CK_SLOT_INFO sli;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_MECHANISM_TYPE mechs[1];
    assert_int_equal(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, NULL), CKR_ARGUMENTS_BAD);
    n = 0;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_true(n >= 1);
    CK_ULONG want = n;
    n = 0;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, none, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, want); /* the size needed */
    n = 4;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_int_equal(f->C_GetSlotInfo(slots[0], NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_GetSlotInfo(999, &sli), CKR_SLOT_ID_INVALID);
    assert_int_equal(f->C_GetTokenInfo(999, &ti), CKR_SLOT_ID_INVALID);
    assert_int_equal(f->C_GetTokenInfo(slots[0], NULL), CKR_ARGUMENTS_BAD);
    n = 1;
    assert_int_equal(f->C_GetMechanismList(slots[0], mechs, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 3); /* CKM_GP_APDU, CKM_GP_APDU_PLAIN, CKM_GP_PUT_KEY */
    assert_int_equal(f->C_GetMechanismList(slots[0], mechs, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_GetMechanismList(999, NULL, &n), CKR_SLOT_ID_INVALID);
    assert_int_equal(f->C_GetMechanismInfo(slots[0], CKM_SHA256, &mi), CKR_MECHANISM_INVALID);
    assert_int_equal(f->C_GetMechanismInfo(slots[0], CKM_GP_APDU, NULL), CKR_ARGUMENTS_BAD);
    /* PUT KEY takes SCP03's AES keys too: up to 32 bytes (it said 16, DES only) */
    assert_int_equal(f->C_GetMechanismInfo(slots[0], CKM_GP_PUT_KEY, &mi), CKR_OK);
    assert_int_equal(mi.ulMinKeySize, 16);
    assert_int_equal(mi.ulMaxKeySize, 32);
    CK_INFO gi;
    assert_int_equal(f->C_GetInfo(&gi), CKR_OK);
    assert_memory_equal(gi.libraryDescription, "GlobalPlatform cards, SCP02/03", 30);
    CK_SESSION_HANDLE h;
    assert_int_equal(f->C_OpenSession(slots[0], 0, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    assert_int_equal(f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_OpenSession(999, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID);
    assert_int_equal(f->C_CloseAllSessions(999), CKR_SLOT_ID_INVALID);
    assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, slots, (void *)1), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

static void test_invalid_sessions(void **state)
{
    (void)state;
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
#define EXPECT_BAD_SESSION(call) assert_int_equal(f->call, CKR_SESSION_HANDLE_INVALID)
    EACH_SESSION_CALL(EXPECT_BAD_SESSION, 0)
    EACH_SESSION_CALL(EXPECT_BAD_SESSION, 123456)
    EXPECT_BAD_SESSION(C_CloseSession(0));
    EXPECT_BAD_SESSION(C_CloseSession(777));
    /* a closed session's handle stays invalid */
    CK_SLOT_ID slot;
    n = 1;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CK_SESSION_HANDLE h;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
    assert_int_equal(f->C_CloseSession(h), CKR_OK);
    EACH_SESSION_CALL(EXPECT_BAD_SESSION, h)
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    /* after C_Finalize a session from before is nothing */
    assert_int_equal(f->C_GetSessionInfo(h, &si), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static void test_wrong_state_and_pointers(void **state)
{
    (void)state;
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
    CK_SLOT_ID slot;
    n = 1;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    CK_SESSION_HANDLE h;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h), CKR_OK);
    assert_int_equal(f->C_GetSessionInfo(h, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Logout(h), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(f->C_Login(h, 7, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_TYPE_INVALID);
    assert_int_equal(f->C_Login(h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_FindObjects(h, objs, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_FindObjectsFinal(h), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_FindObjectsInit(h, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_FindObjectsInit(h, NULL, 0), CKR_OK);
    assert_int_equal(f->C_FindObjectsInit(h, NULL, 0), CKR_OPERATION_ACTIVE);
    assert_int_equal(f->C_FindObjects(h, NULL, 4, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_FindObjects(h, objs, 4, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_FindObjects(h, objs, 4, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; i++) { /* before login: public objects only */
        CK_BBOOL priv = CK_TRUE;
        CK_ATTRIBUTE q = {CKA_PRIVATE, &priv, sizeof priv};
        assert_int_equal(f->C_GetAttributeValue(h, objs[i], &q, 1), CKR_OK);
        assert_false(priv);
    }
    assert_int_equal(f->C_FindObjectsFinal(h), CKR_OK);
    assert_int_equal(f->C_GetAttributeValue(h, 999999, &attr, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_DestroyObject(h, 999999), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_Sign(h, buf, 5, buf, &n), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_SignUpdate(h, buf, 5), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_GenerateRandom(h, NULL, 8), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_USER_ALREADY_LOGGED_IN);
    /* found by google/pkcs11test and small probes (issue 10) */
    assert_int_equal(f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
                     CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    CK_BYTE value[8] = {0};
    CK_ATTRIBUTE only_value = {CKA_VALUE, value, sizeof value};
    CK_OBJECT_HANDLE made;
    assert_int_equal(f->C_CreateObject(h, &only_value, 1, &made), CKR_TEMPLATE_INCOMPLETE);
    /* a class the token does not create: one answer, whatever the attributes' order
     * (it was CKR_TEMPLATE_INCONSISTENT or CKR_ATTRIBUTE_TYPE_INVALID by order) */
    CK_OBJECT_CLASS certificate = CKO_CERTIFICATE;
    CK_ATTRIBUTE class_first[] = {{CKA_CLASS, &certificate, sizeof certificate},
                                  {CKA_VALUE, value, sizeof value}};
    CK_ATTRIBUTE class_last[] = {{CKA_VALUE, value, sizeof value},
                                 {CKA_CLASS, &certificate, sizeof certificate}};
    assert_int_equal(f->C_CreateObject(h, class_first, 2, &made), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(f->C_CreateObject(h, class_last, 2, &made), CKR_ATTRIBUTE_VALUE_INVALID);
    /* CAP file templates (issue 11): each refused before the card sees a command */
    CK_OBJECT_CLASS dcls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_BYTE aid5[5] = {0xA0, 0, 0, 0, 1};
    CK_ATTRIBUTE no_app[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_VALUE, value, sizeof value}};
    assert_int_equal(f->C_CreateObject(h, no_app, 2, &made), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE bad_app[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "applet", 6},
                              {CKA_VALUE, value, sizeof value}};
    assert_int_equal(f->C_CreateObject(h, bad_app, 3, &made), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE not_cap[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "load file", 9},
                              {CKA_VALUE, value, sizeof value}};
    assert_int_equal(f->C_CreateObject(h, not_cap, 3, &made), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE nothing[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "load file", 9}};
    assert_int_equal(f->C_CreateObject(h, nothing, 2, &made), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE half[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "application", 11},
                           {CKA_GP_INSTALL_ONLY, &yes, 1}, {CKA_GP_LOAD_FILE, aid5, 5}};
    assert_int_equal(f->C_CreateObject(h, half, 4, &made), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE short_aid[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "load file", 9},
                                {CKA_GP_SECURITY_DOMAIN, aid5, 4}, {CKA_VALUE, value, 8}};
    assert_int_equal(f->C_CreateObject(h, short_aid, 4, &made), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE unknown[] = {{CKA_CLASS, &dcls, sizeof dcls}, {CKA_APPLICATION, "load file", 9},
                              {CKA_ID, aid5, 5}, {CKA_VALUE, value, 8}};
    assert_int_equal(f->C_CreateObject(h, unknown, 4, &made), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(f->C_GetAttributeValue(h, 0xFFFFFF, &attr, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_GetObjectSize(h, 0xFFFFFF, &n), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_DestroyObject(h, 0xFFFFFF), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_SignInit(h, &mech, 0xFFFFFF), CKR_KEY_HANDLE_INVALID);
    /* a multi-part signature is not offered: the operation ends */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    assert_int_equal(f->C_FindObjectsInit(h, &t, 1), CKR_OK);
    assert_int_equal(f->C_FindObjects(h, &key, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(h), CKR_OK);
    assert_int_equal(f->C_SignInit(h, &mech, key), CKR_OK);
    assert_int_equal(f->C_SignUpdate(h, buf, 5), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f->C_Sign(h, buf, 5, buf, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* attribute templates */
    CK_BYTE v[8];
    CK_ATTRIBUTE null_value = {CKA_LABEL, NULL, 4};
    assert_int_equal(f->C_GetAttributeValue(h, key, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_GetAttributeValue(h, key, &null_value, 1), CKR_OK); /* a size query */
    assert_int_equal(null_value.ulValueLen, strlen("secure channel"));
    CK_ATTRIBUTE small = {CKA_LABEL, v, 2};
    assert_int_equal(f->C_GetAttributeValue(h, key, &small, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(f->C_SetAttributeValue(h, key, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_SetAttributeValue(h, key, &attr, 1), CKR_ACTION_PROHIBITED);
    CK_ATTRIBUTE relabel = {CKA_LABEL, "x", 1};
    /* the channel key cannot be modified at all: not a read-only attribute */
    assert_int_equal(f->C_SetAttributeValue(h, key, &relabel, 1), CKR_ACTION_PROHIBITED);
    assert_int_equal(f->C_Logout(h), CKR_OK);
    assert_int_equal(f->C_GetAttributeValue(h, key, &small, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(f->C_CloseSession(h), CKR_OK);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_initialize),
        cmocka_unit_test(test_initialize_and_finalize),
        cmocka_unit_test(test_general_arguments),
        cmocka_unit_test(test_invalid_sessions),
        cmocka_unit_test(test_wrong_state_and_pointers),
    };
    return cmocka_run_group_tests_name("api-misuse", tests, setup, teardown);
}
