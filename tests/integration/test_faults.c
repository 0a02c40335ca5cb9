/*
 * Faults, each with the exact CKR, a log line that says what happened, no
 * crash, and recovery where recovery is possible: truncated and malformed
 * answers, a wrong card cryptogram, a slow card, a card pulled out during
 * EXTERNAL AUTHENTICATE, pcscd killed and restarted under a logged-in
 * session, a missing keystore token and keystore module. Runs in
 * tests/harness/gp-env.sh with one card (tests/integration/faults.sh).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <p11-kit/pkcs11.h>

#include "gp-p11/gp-p11.h"
#include "sim_files.h"

static CK_FUNCTION_LIST_PTR f;
static void *dl;
static const char *pin;
static char logfile[512], conf[512];
static int saved_stderr = -1;

/* The module logs to stderr: catch it for one step. */
static void log_begin(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

static char *log_end(void)
{
    static char text[16384];
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *fp = fopen(logfile, "r");
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp)
        fclose(fp);
    text[n] = 0;
    fputs(text, stderr); /* keep it in the test log too */
    return text;
}

static void write_conf(const char *extra)
{
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp, "keystore_token = %s\nlog_level = info\n%s", getenv("GP_TEST_TOKEN"), extra);
    fclose(fp);
}

static int setup(void **state)
{
    (void)state;
    pin = getenv("GP_TEST_PIN");
    snprintf(logfile, sizeof logfile, "%s/module-stderr.log", getenv("GP_ENV_DIR"));
    snprintf(conf, sizeof conf, "%s/faults.conf", getenv("GP_ENV_DIR"));
    setenv("GP_P11_CONF", conf, 1);
    write_conf("");
    dl = dlopen(getenv("GP_P11_MODULE"), RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    return gfl && gfl(&f) == CKR_OK && f->C_Initialize(NULL) == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    f->C_Finalize(NULL);
    dlclose(dl);
    return 0;
}

static CK_SLOT_ID the_slot(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK);
    assert_int_equal(n, 1);
    return slot;
}

static CK_SESSION_HANDLE open_session(void)
{
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(the_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    return s;
}

static CK_RV login(CK_SESSION_HANDLE s)
{
    return f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

/* A login that must fail with rv and say words; then one that works. */
static void failed_login_then_recovery(const char *fault, CK_RV want, const char *words)
{
    CK_SESSION_HANDLE s = open_session();
    long ea = sim_state(0, "ext_auth_received");
    sim_control(0, fault);
    log_begin();
    CK_RV rv = login(s);
    char *log = log_end();
    f->C_CloseSession(s); /* before any assertion: a failure must not leak a login */
    if (rv != want)
        fail_msg("%s: C_Login returned 0x%lx, wanted 0x%lx", fault, rv, want);
    if (!strstr(log, words))
        fail_msg("%s: the log does not say \"%s\"", fault, words);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    if (want != CKR_DEVICE_REMOVED)
        assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    s = open_session();
    assert_int_equal(login(s), CKR_OK); /* recovered */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    f->C_CloseSession(s);
}

static void test_truncated_initialize_update(void **state)
{
    (void)state;
    failed_login_then_recovery("fault = truncate\non_ins = 50\n", CKR_FUNCTION_FAILED,
                               "INITIALIZE UPDATE response has 14 data bytes, SCP02 needs 28");
}

static void test_no_status_word(void **state)
{
    (void)state;
    failed_login_then_recovery("fault = truncate\non_ins = 50\ntruncate_to = 1\n",
                               CKR_FUNCTION_FAILED, "the card answered 1 byte, no status word");
}

/* A registry answer that does not parse costs its objects, not the login:
 * the channel and the card's other content stay usable. */
static void test_malformed_registry(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_session();
    sim_control(0, "fault = truncate\non_ins = F2\n"); /* the first GET STATUS: the ISD */
    log_begin();
    CK_RV rv = login(s);
    char *log = log_end();
    assert_int_equal(rv, CKR_OK);
    assert_non_null(strstr(log, "reading the card registry failed: GET STATUS answer malformed"));
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE isd[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, "A000000151000000", 16}};
    CK_ATTRIBUTE cplc[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, "CPLC", 4}};
    CK_OBJECT_HANDLE h;
    CK_ULONG n;
    assert_int_equal(f->C_FindObjectsInit(s, isd, 2), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 0); /* not shown from a broken answer */
    assert_int_equal(f->C_FindObjectsInit(s, cplc, 2), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    f->C_CloseSession(s); /* the last session: logged out */
    s = open_session();
    assert_int_equal(login(s), CKR_OK);
    assert_int_equal(f->C_FindObjectsInit(s, isd, 2), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1); /* the next login reads it whole */
    f->C_CloseSession(s);
}

static void test_wrong_card_cryptogram(void **state)
{
    (void)state;
    failed_login_then_recovery("fault = wrong-cryptogram\n", CKR_FUNCTION_FAILED,
                               "EXTERNAL AUTHENTICATE was not sent");
}

/* The card pulled out while the login's command ins is on its way. */
static void pulled_during_login(const char *ins)
{
    CK_SESSION_HANDLE s = open_session();
    char ctl[96];
    snprintf(ctl, sizeof ctl, "fault = drop\non_ins = %s\nreinsert_ms = 800\n", ins);
    sim_control(0, ctl);
    log_begin();
    CK_RV rv = login(s);
    char *log = log_end();
    assert_int_equal(rv, CKR_DEVICE_REMOVED);
    assert_non_null(strstr(log, "removed"));
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
    /* back in the reader: a new session logs in */
    CK_SLOT_ID slot;
    CK_ULONG n = 0;
    for (int i = 0; i < 200 && n == 0; i++) {
        n = 1;
        if (f->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n == 0 ||
            f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
            n = 0;
            struct timespec t = {0, 50 * 1000000L};
            nanosleep(&t, NULL);
        }
    }
    assert_int_equal(n, 1);
    assert_int_equal(login(s), CKR_OK);
    f->C_CloseSession(s);
}

static void test_card_pulled_during_authentication(void **state)
{
    (void)state;
    pulled_during_login("82");
}

static void test_card_pulled_during_select(void **state)
{
    (void)state;
    pulled_during_login("A4");
}

static void test_slow_card(void **state)
{
    (void)state;
    sim_control(0, "fault = delay\non_ins = CA\ndelay_ms = 700\n");
    CK_TOKEN_INFO ti;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* the token's data is read again after the re-insertion above */
    assert_int_equal(f->C_GetTokenInfo(the_slot(), &ti), CKR_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_memory_equal(ti.label, "GP ISD", 6);
    assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 700);
}

static void test_pcscd_restarted(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_session();
    assert_int_equal(login(s), CKR_OK);
    assert_int_equal(system("pkill -x pcscd && sleep 0.3"), 0);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n;
    CK_RV rv = f->C_FindObjectsInit(s, &t, 1);
    if (rv == CKR_OK) { /* the card's state is only seen when the card is spoken to */
        f->C_FindObjects(s, &key, 1, &n);
        f->C_FindObjectsFinal(s);
        CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
        uint8_t r[300];
        CK_ULONG rl = sizeof r;
        log_begin();
        rv = f->C_SignInit(s, &m, key);
        if (rv == CKR_OK)
            rv = f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl);
        char *log = log_end();
        assert_int_equal(rv, CKR_DEVICE_REMOVED);
        assert_non_null(strstr(log, "removed or reset"));
    } else {
        assert_int_equal(rv, CKR_DEVICE_REMOVED);
    }
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
    /* pcscd again, with the same readers; the card comes back to it */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "pcscd --foreground --config %s/readers.conf >/dev/null 2>&1 &",
             getenv("GP_ENV_DIR"));
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s --cards 1 --timeout 20", getenv("GP_PCSC_WAIT"));
    assert_int_equal(system(cmd), 0);
    /* the module reconnects by itself */
    CK_SLOT_ID slot = CK_INVALID_HANDLE;
    for (int i = 0; i < 200; i++) {
        n = 1;
        if (f->C_GetSlotList(CK_TRUE, &slot, &n) == CKR_OK && n == 1)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(login(s), CKR_OK);
    f->C_CloseSession(s);
}

static void reinit(const char *extra)
{
    write_conf(extra);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
}

static void test_keystore_missing(void **state)
{
    (void)state;
    reinit("keystore_token = nosuch\n");
    CK_SESSION_HANDLE s = open_session();
    log_begin();
    CK_RV rv = login(s);
    CK_BYTE b[8];
    CK_RV rr = f->C_GenerateRandom(s, b, sizeof b);
    char *log = log_end();
    assert_int_equal(rv, CKR_DEVICE_ERROR);
    assert_int_equal(rr, CKR_DEVICE_ERROR);
    assert_non_null(strstr(log, "keystore token \"nosuch\" not found"));
    f->C_CloseSession(s);
    reinit("keystore_module = /nonexistent/libkeystore.so\n");
    s = open_session();
    log_begin();
    rv = login(s);
    log = log_end();
    assert_int_equal(rv, CKR_DEVICE_ERROR);
    assert_non_null(strstr(log, "cannot load keystore module /nonexistent/libkeystore.so"));
    f->C_CloseSession(s);
    reinit(""); /* and back */
    s = open_session();
    assert_int_equal(login(s), CKR_OK);
    f->C_CloseSession(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_initialize_update),
        cmocka_unit_test(test_no_status_word),
        cmocka_unit_test(test_malformed_registry),
        cmocka_unit_test(test_wrong_card_cryptogram),
        cmocka_unit_test(test_card_pulled_during_authentication),
        cmocka_unit_test(test_card_pulled_during_select),
        cmocka_unit_test(test_slow_card),
        cmocka_unit_test(test_pcscd_restarted),
        cmocka_unit_test(test_keystore_missing),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
