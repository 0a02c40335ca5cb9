/*
 * The keystore is gp-p11's alone (tests/integration/keystore-own.sh): an
 * application goes through the p11-kit proxy, which loads SoftHSM (registered
 * in a private p11-kit configuration) and gp-p11 into the same process; gp-p11's
 * keystore is the same SoftHSM file and token. The application logs into the
 * keystore token itself before and after gp-p11's login and logs out again:
 * gp-p11 must refuse a wrong PIN all the same, keep working, and neither
 * side's logout may touch the other's login.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
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
static const char *pin;
static CK_SLOT_ID keystore_slot, card_slot;

static int label_is(const CK_UTF8CHAR l[32], const char *prefix, int whole)
{
    size_t n = strlen(prefix);
    if (memcmp(l, prefix, n) != 0)
        return 0;
    for (size_t i = n; whole && i < 32; i++)
        if (l[i] != ' ')
            return 0;
    return 1;
}

/* Finds the keystore token's slot and the card's, through the proxy. */
static int find_slots(void)
{
    CK_SLOT_ID slots[32];
    CK_ULONG n = 32;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return -1;
    int found = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (label_is(ti.label, getenv("GP_TEST_TOKEN"), 1)) {
            keystore_slot = slots[i];
            found |= 1;
        } else if (label_is(ti.label, "GP ISD", 0)) {
            card_slot = slots[i];
            found |= 2;
        }
    }
    return found == 3 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    pin = getenv("GP_TEST_PIN");
    void *dl = dlopen(getenv("GP_PROXY_MODULE"), RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK)
        return -1;
    return find_slots();
}

static int teardown(void **state)
{
    (void)state;
    return f->C_Finalize(NULL) == CKR_OK ? 0 : -1;
}

static CK_SESSION_HANDLE open_on(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    return s;
}

static CK_STATE state_of(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    return si.state;
}

/* CKM_GP_APDU GET DATA 9F7F on the card: 0 when it answers 9000. */
static int card_works(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n = 0;
    f->C_FindObjectsInit(s, &t, 1);
    f->C_FindObjects(s, &key, 1, &n);
    f->C_FindObjectsFinal(s);
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    if (n != 1 || f->C_SignInit(s, &m, key) != CKR_OK ||
        f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl) != CKR_OK)
        return -1;
    return rl >= 2 && r[rl - 2] == 0x90 ? 0 : -1;
}

/* The application can use its own keystore login: it finds a private key. */
static int app_sees_private_keys(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, "default/enc", 11}};
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    f->C_FindObjectsInit(s, t, 2);
    f->C_FindObjects(s, &h, 1, &n);
    f->C_FindObjectsFinal(s);
    return n == 1;
}

static void test_application_logged_in_first(void **state)
{
    (void)state;
    CK_SESSION_HANDLE app = open_on(keystore_slot);
    assert_int_equal(f->C_Login(app, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CK_SESSION_HANDLE gp = open_on(card_slot);
    /* the keystore checks gp-p11's PIN although the application is logged in */
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR) "wrong-pin", 9), CKR_PIN_INCORRECT);
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(card_works(gp), 0);
    assert_int_equal(f->C_Logout(gp), CKR_OK);
    /* gp-p11's logout left the application logged in */
    assert_int_equal(state_of(app), CKS_RW_USER_FUNCTIONS);
    assert_true(app_sees_private_keys(app));
    assert_int_equal(f->C_Logout(app), CKR_OK);
    f->C_CloseSession(gp);
    f->C_CloseSession(app);
}

static void test_application_logs_in_and_out_meanwhile(void **state)
{
    (void)state;
    CK_SESSION_HANDLE gp = open_on(card_slot);
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CK_SESSION_HANDLE app = open_on(keystore_slot);
    /* gp-p11's login is not the application's */
    assert_int_equal(state_of(app), CKS_RW_PUBLIC_SESSION);
    assert_false(app_sees_private_keys(app));
    assert_int_equal(f->C_Login(app, CKU_USER, (CK_UTF8CHAR_PTR) "wrong-pin", 9), CKR_PIN_INCORRECT);
    assert_int_equal(f->C_Login(app, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(card_works(gp), 0);
    assert_int_equal(f->C_Logout(app), CKR_OK);
    f->C_CloseSession(app);
    /* the application's logout took nothing from gp-p11 */
    assert_int_equal(card_works(gp), 0);
    assert_int_equal(state_of(gp), CKS_RW_USER_FUNCTIONS);
    assert_int_equal(f->C_Logout(gp), CKR_OK);
    f->C_CloseSession(gp);
}

/* keystore_instance = shared (for a module that cannot run from a copy):
 * gp-p11 never takes a PIN the keystore did not check, and a login the
 * application takes away is said in words and comes back at the next login. */
static void test_shared_instance(void **state)
{
    (void)state;
    setenv("GP_P11_CONF", getenv("GP_SHARED_CONF"), 1);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
    assert_int_equal(find_slots(), 0);
    char logfile[512];
    snprintf(logfile, sizeof logfile, "%s/shared-stderr.log", getenv("GP_ENV_DIR"));
    fflush(stderr);
    int saved = dup(2), fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    CK_SESSION_HANDLE app = open_on(keystore_slot), gp = open_on(card_slot);
    assert_int_equal(f->C_Login(app, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    /* the application's login is not gp-p11's: the PIN cannot be checked */
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
                     CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    assert_int_equal(f->C_Logout(app), CKR_OK);
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR) "wrong-pin", 9), CKR_PIN_INCORRECT);
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(card_works(gp), 0);
    /* the application logs the shared instance out: gp-p11's login is gone */
    assert_int_equal(f->C_Logout(app), CKR_OK);
    assert_int_not_equal(card_works(gp), 0);
    assert_int_equal(state_of(gp), CKS_RW_PUBLIC_SESSION);
    /* and comes back at the next login */
    assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(card_works(gp), 0);
    assert_int_equal(f->C_Logout(gp), CKR_OK);
    f->C_CloseSession(gp);
    f->C_CloseSession(app);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[8192] = "";
    FILE *fp = fopen(logfile, "r");
    if (fp) {
        text[fread(text, 1, sizeof text - 1, fp)] = 0;
        fclose(fp);
    }
    fputs(text, stderr);
    assert_non_null(strstr(text, "gp-p11 cannot check the PIN and refuses it"));
    assert_non_null(strstr(text, "keystore login was taken away by other code in this process"));
}

/* gp-p11 finalises and starts again only a keystore instance of its own
 * (SoftHSM's half-read token, issue 9's CI failure): a keystore token it
 * cannot find makes it restart its own copy, never the application's
 * instance, private or shared mode alike. The application stays logged in,
 * its session alive. */
static void test_restart_is_gp_p11s_own(void **state)
{
    (void)state;
    const char *confs[] = {getenv("GP_MISSING_CONF"), getenv("GP_MISSING_SHARED_CONF")};
    for (int i = 0; i < 2; i++) {
        setenv("GP_P11_CONF", confs[i], 1);
        assert_int_equal(f->C_Finalize(NULL), CKR_OK);
        assert_int_equal(f->C_Initialize(NULL), CKR_OK);
        assert_int_equal(find_slots(), 0);
        CK_SESSION_HANDLE app = open_on(keystore_slot), gp = open_on(card_slot);
        assert_int_equal(f->C_Login(app, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
        assert_int_equal(f->C_Login(gp, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
                         CKR_DEVICE_ERROR);
        assert_int_equal(state_of(app), CKS_RW_USER_FUNCTIONS);
        assert_true(app_sees_private_keys(app));
        assert_int_equal(f->C_Logout(app), CKR_OK);
        f->C_CloseSession(gp);
        f->C_CloseSession(app);
    }
    setenv("GP_P11_CONF", getenv("GP_SHARED_CONF"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_logged_in_first),
        cmocka_unit_test(test_application_logs_in_and_out_meanwhile),
        cmocka_unit_test(test_shared_instance),
        cmocka_unit_test(test_restart_is_gp_p11s_own),
    };
    return cmocka_run_group_tests_name("keystore-own", tests, setup, teardown);
}
