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

/* --- PUT KEY whose outcome is unknown: nothing deleted until the card says ------------ */

static CK_RV put_key(CK_SESSION_HANDLE s, const char *name, CK_BYTE kvn, CK_BYTE replace,
                     CK_BYTE fill)
{
    CK_OBJECT_CLASS cls = CKO_GP_KEY_SET;
    CK_BYTE values[48];
    memset(values, fill, sizeof values);
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_LABEL, (void *)name, strlen(name)},
                        {CKA_GP_KEY_VERSION, &kvn, 1},
                        {CKA_GP_REPLACE_KEY_VERSION, &replace, 1},
                        {CKA_GP_KEY_VALUES, values, sizeof values}};
    CK_OBJECT_HANDLE h;
    return f->C_CreateObject(s, t, 5, &h);
}

/* A new module instance logged in with key set NAME at key version kvn. */
static CK_RV login_with(const char *extra, const char *name, unsigned kvn)
{
    char c[256];
    snprintf(c, sizeof c, "put_key_plaintext = yes\nkey_set = %s\nkey_version = %u\n%s", name, kvn,
             extra);
    reinit(c);
    CK_SESSION_HANDLE s = open_session();
    CK_RV rv = login(s);
    f->C_CloseSession(s);
    return rv;
}

static CK_SESSION_HANDLE rw_login(const char *extra)
{
    char c[256];
    snprintf(c, sizeof c, "put_key_plaintext = yes\n%s", extra);
    reinit(c);
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(the_slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    assert_int_equal(login(s), CKR_OK);
    return s;
}

/* PUT KEY in a new read-write login (configuration lines), with a
 * simulator fault armed just before; *log is what the module said. */
static CK_RV put_key_faulted(const char *lines, const char *fault, const char *name, CK_BYTE kvn,
                             CK_BYTE replace, CK_BYTE fill, char **log)
{
    CK_SESSION_HANDLE s = rw_login(lines);
    sim_control(0, fault);
    log_begin();
    CK_RV rv = put_key(s, name, kvn, replace, fill);
    *log = log_end();
    f->C_CloseSession(s);
    return rv;
}

/* The card executes PUT KEY, its answer comes back cut short: gp-p11 checks
 * on a fresh channel (no EXTERNAL AUTHENTICATE) and keeps the keys. */
static void test_put_key_answer_truncated(void **state)
{
    (void)state;
    char *log;
    CK_RV rv = put_key_faulted("", "fault = truncate\non_ins = D8\n", "trunc", 0x02, 0x00, 0x21, &log);
    assert_int_equal(rv, CKR_OK);
    assert_non_null(strstr(log, "key version 02 with the new keys on the card: PUT KEY took effect"));
    assert_true(sim_state_has(0, "key_versions", "02"));
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    assert_int_equal(login_with("", "trunc", 2), CKR_OK); /* the kept keys are the card's */
}

/* The card executes "replace 02 by 03" and leaves the reader before its
 * answer does: the outcome cannot be known then, so nothing is deleted, and
 * the version the card really has logs in once it is back. */
static void test_put_key_answer_lost_card_removed(void **state)
{
    (void)state;
    char *log;
    CK_RV rv = put_key_faulted("", "fault = lose-answer\non_ins = D8\nreinsert_ms = 500\n", "lost",
                               0x03, 0x02, 0x31, &log);
    assert_int_equal(rv, CKR_DEVICE_REMOVED);
    assert_non_null(strstr(log, "Whether the card executed it is unknown, so no key is deleted"));
    assert_non_null(strstr(log, "key_set = lost and key_version = 3"));
    CK_RV lr = CKR_GENERAL_ERROR;
    for (int i = 0; i < 60 && lr != CKR_OK; i++) { /* back in the reader */
        struct timespec t = {0, 50 * 1000000L};
        nanosleep(&t, NULL);
        CK_SLOT_ID slot;
        CK_ULONG n = 1;
        if (f->C_GetSlotList(CK_TRUE, &slot, &n) == CKR_OK && n == 1)
            lr = login_with("", "lost", 3);
    }
    assert_int_equal(lr, CKR_OK); /* the card took the new keys, and the keystore kept them */
    assert_false(sim_state_has(0, "key_versions", "02"));
    assert_int_equal(sim_state(0, "failed_auth"), 0);
}

/* R-MAC level: the card executes PUT KEY but its answer's R-MAC is wrong. */
static void test_put_key_bad_rmac(void **state)
{
    (void)state;
    sim_control(0, "set_i = 35\n");
    char *log;
    CK_RV rv = put_key_faulted("security_level = mac-rmac\n", "fault = bad-rmac\non_ins = D8\n",
                               "rmac", 0x04, 0x00, 0x41, &log);
    assert_int_equal(rv, CKR_OK);
    assert_non_null(strstr(log, "R-MAC"));
    assert_non_null(strstr(log, "PUT KEY took effect"));
    assert_int_equal(login_with("security_level = mac-rmac\n", "rmac", 4), CKR_OK);
    sim_control(0, "set_i = 15\n");
}

/* A refusal proves nothing was done: the new keys go, and keys that existed
 * before are never touched. An answer spoilt on a refused PUT KEY: the check
 * finds no such key version on the card, and only then the keys go. */
static void test_put_key_refused(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = rw_login("");
    log_begin();
    CK_RV rv = put_key(s, "dup", 0x01, 0x00, 0x51); /* version 01 exists: 6A80 */
    CK_RV taken = put_key(s, "default", 0x05, 0x00, 0x52); /* the name is taken */
    sim_control(0, "fault = truncate\non_ins = D8\ntruncate_to = 1\n");
    CK_RV spoilt = put_key(s, "spoilt", 0x06, 0x7E, 0x53); /* no version 7E: 6A88, cut short */
    char *log = log_end();
    assert_int_equal(rv, CKR_FUNCTION_FAILED);
    assert_non_null(strstr(log, "The card did not execute it: nothing changed on the card, and the new "
                                "key set \"dup\" is deleted"));
    assert_int_equal(taken, CKR_ATTRIBUTE_VALUE_INVALID);
    assert_non_null(strstr(log, "key \"default/enc\" already exists"));
    assert_int_equal(spoilt, CKR_FUNCTION_FAILED);
    assert_non_null(strstr(log, "the card has no key version 06: it did not execute PUT KEY"));
    /* the names are free again, and the key set that existed before still works */
    assert_int_equal(put_key(s, "dup", 0x07, 0x00, 0x54), CKR_OK);
    f->C_CloseSession(s);
    assert_int_equal(login_with("", "default", 1), CKR_OK);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    reinit("");
}

/* GET DATA 9F7F through CKM_GP_APDU; the answer's length, or -1 with *rv. */
static long get_cplc(CK_SESSION_HANDLE s, CK_RV *rv)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n;
    assert_int_equal(f->C_FindObjectsInit(s, &t, 1), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, &key, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    *rv = f->C_SignInit(s, &m, key);
    if (*rv == CKR_OK)
        *rv = f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl);
    return *rv == CKR_OK && rl >= 2 && r[rl - 2] == 0x90 ? (long)rl : -1;
}

/* R-MAC level: after an answer too short, or one whose R-MAC does not verify,
 * the card's R-MAC chain and gp-p11's may differ. The channel is closed
 * cleanly, so the next command runs on a fresh one and its answer verifies
 * (before, it was dropped after the card had executed it). */
static void test_rmac_stays_in_step(void **state)
{
    (void)state;
    sim_control(0, "set_i = 35\n");
    CK_SESSION_HANDLE s = rw_login("security_level = mac-rmac\n");
    CK_RV rv;
    assert_int_equal(get_cplc(s, &rv), 47);
    static const char *faults[] = {"fault = truncate\non_ins = CA\ntruncate_to = 1\n",
                                   "fault = truncate\non_ins = CA\n"};
    static const char *words[] = {"the card answered 1 byte, no status word; whether the card "
                                  "executed the command is unknown, and the secure channel is closed",
                                  "the R-MAC of the card's answer does not verify"};
    for (int i = 0; i < 2; i++) {
        sim_control(0, faults[i]);
        log_begin();
        long n = get_cplc(s, &rv);
        char *log = log_end();
        assert_int_equal(n, -1);
        assert_int_equal(rv, CKR_FUNCTION_FAILED);
        if (!strstr(log, words[i]))
            fail_msg("the log does not say \"%s\"", words[i]);
        assert_int_equal(get_cplc(s, &rv), 47); /* in step again, on a fresh channel */
    }
    f->C_CloseSession(s);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    sim_control(0, "set_i = 15\n");
    reinit("");
}

/* A command too long for the channel is refused before it is sent, and the
 * channel goes on: the next command's answer verifies (R-MAC, C-DEC). */
static void test_refused_oversized_command(void **state)
{
    (void)state;
    sim_control(0, "set_i = 35\n");
    CK_SESSION_HANDLE s = rw_login("security_level = mac-enc-rmac\n");
    CK_RV rv;
    assert_int_equal(get_cplc(s, &rv), 47);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n;
    assert_int_equal(f->C_FindObjectsInit(s, &t, 1), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, &key, 1, &n), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    uint8_t big[5 + 240] = {0x80, 0xE2, 0x80, 0x00, 240}, r[300];
    CK_ULONG rl = sizeof r;
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    long apdus = sim_state(0, "apdus");
    assert_int_equal(f->C_SignInit(s, &m, key), CKR_OK);
    assert_int_equal(f->C_Sign(s, big, sizeof big, r, &rl), CKR_DATA_LEN_RANGE);
    assert_int_equal(sim_state(0, "apdus"), apdus); /* never sent */
    for (int k = 0; k < 2; k++)
        assert_int_equal(get_cplc(s, &rv), 47); /* the channel goes on, in step */
    f->C_CloseSession(s);
    sim_control(0, "set_i = 15\n");
    reinit("");
}

/* 6982 to a secured command: the card closed the channel without executing
 * the command; it goes once more on a new channel, and the answer is the
 * card's (before, 6982 came back to the application as CKR_OK data). */
static void test_6982_sent_once_more(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = rw_login("");
    CK_RV rv;
    long before = sim_state(0, "sessions");
    sim_control(0, "fault = close-channel\non_ins = CA\n");
    log_begin();
    long n = get_cplc(s, &rv);
    char *log = log_end();
    assert_int_equal(rv, CKR_OK);
    assert_int_equal(n, 47);
    assert_non_null(strstr(log, "without executing the command; sending it once more on a new channel"));
    assert_int_equal(sim_state(0, "sessions"), before + 1);
    assert_int_equal(get_cplc(s, &rv), 47); /* and the new channel goes on */
    f->C_CloseSession(s);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    reinit("");
}

/* Waits until pcscd reports the card's presence as want (a bound of 20 s,
 * for a loaded machine running suites side by side). */
static void wait_present(int want)
{
    for (int i = 0; i < 800; i++) {
        CK_SLOT_ID slot;
        CK_ULONG n = 1;
        if (f->C_GetSlotList(CK_TRUE, &slot, &n) == CKR_OK && (int)n == want)
            return;
        struct timespec t = {0, 25 * 1000000L};
        nanosleep(&t, NULL);
    }
    fail_msg("the card did not %s", want ? "come back" : "go");
}

/* A card pulled out and put back while the application makes no call: the
 * first call after sees the card that is there (it answered
 * CKR_TOKEN_NOT_PRESENT), the removed card's sessions are dead for every
 * purpose, and the login ends with the last live session (a session of the
 * removed card kept it alive, so a fresh session could send secured APDUs
 * without a PIN). */
static void test_reinsertion(void **state)
{
    (void)state;
    CK_SESSION_HANDLE old = open_session();
    assert_int_equal(login(old), CKR_OK);
    sim_control(0, "reinsert_ms = 400\n");
    assert_int_equal(system("pkill -USR1 -f '[g]p-sim --port 40000 '"), 0);
    wait_present(0);
    wait_present(1);
    CK_TOKEN_INFO ti;
    assert_int_equal(f->C_GetTokenInfo(the_slot(), &ti), CKR_OK);
    CK_SESSION_HANDLE fresh = open_session();
    CK_SESSION_INFO si;
    assert_int_equal(f->C_GetSessionInfo(fresh, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION); /* not logged in */
    assert_int_equal(f->C_GetSessionInfo(old, &si), CKR_DEVICE_REMOVED);
    assert_int_equal(f->C_GetSessionInfo(old, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(login(fresh), CKR_OK);
    assert_int_equal(f->C_CloseSession(fresh), CKR_OK); /* the last live session */
    CK_SESSION_HANDLE next = open_session();
    assert_int_equal(f->C_GetSessionInfo(next, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    assert_int_equal(f->C_SignInit(next, &m, 1), CKR_USER_NOT_LOGGED_IN);
    f->C_CloseSession(next);
}

/* Waits until the file holds text. */
static void wait_for_text(const char *path, const char *text)
{
    for (int i = 0; i < 800; i++) {
        char buf[512] = "";
        FILE *fp = fopen(path, "r");
        if (fp) {
            size_t n = fread(buf, 1, sizeof buf - 1, fp);
            buf[n] = 0;
            fclose(fp);
        }
        if (strstr(buf, text))
            return;
        struct timespec t = {0, 25 * 1000000L};
        nanosleep(&t, NULL);
    }
    fail_msg("%s never said \"%s\"", path, text);
}

/* Another program resets the card. While gp-p11 is logged in, pcscd makes
 * even that wait for the logout: the login's channel goes on untouched.
 * Between logins the reset goes through, and the next login recognises it
 * (SCARD_W_RESET_CARD), says so and opens a new channel; the card counted
 * nothing. */
static void test_reset_by_another_program(void **state)
{
    (void)state;
    char cmd[1024], out[512];
    snprintf(out, sizeof out, "%s/reset.out", getenv("GP_ENV_DIR"));
    snprintf(cmd, sizeof cmd, "%s/tests/integration/pcsc_intruder '%s' 1 --reset-after > %s &",
             getenv("GP_BUILDDIR"), getenv("GP_READER_0"), out);
    /* it connects first (a connect, too, waits for a login), then resets after 1 s */
    assert_int_equal(system(cmd), 0);
    wait_for_text(out, "intruder: connected");
    CK_SESSION_HANDLE s = open_session();
    assert_int_equal(login(s), CKR_OK);
    CK_RV rv;
    for (int i = 0; i < 30; i++) { /* 1.5 s: its reset waits, our channel goes on */
        assert_int_equal(get_cplc(s, &rv), 47);
        struct timespec t = {0, 50 * 1000000L};
        nanosleep(&t, NULL);
    }
    FILE *fp = fopen(out, "r");
    char text[256] = "";
    if (fp) {
        text[fread(text, 1, sizeof text - 1, fp)] = 0;
        fclose(fp);
    }
    assert_null(strstr(text, "reset")); /* not before our logout */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    wait_for_text(out, "intruder: reset Command successful"); /* now it could */
    log_begin();
    rv = login(s);
    char *log = log_end();
    assert_int_equal(rv, CKR_OK);
    assert_non_null(strstr(log, "the card was reset by another program"));
    assert_int_equal(get_cplc(s, &rv), 47);
    f->C_CloseSession(s);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
}

/* No downgrade: a card announcing an implicit or no-ICV-encryption variant
 * is refused by default, before INITIALIZE UPDATE, and accepted when
 * configured. */
static void test_no_downgrade(void **state)
{
    (void)state;
    static const struct {
        const char *i, *words, *allow;
    } cases[] = {
        {"1B", "with implicit opening", "scp02_allow = implicit\n"},
        {"05", "with no ICV encryption", "scp02_allow = no-icv-encryption\n"},
    };
    for (int k = 0; k < 2; k++) {
        char ctl[32];
        snprintf(ctl, sizeof ctl, "set_i = %s\n", cases[k].i);
        sim_control(0, ctl);
        reinit("");
        long iu = sim_state(0, "sessions");
        CK_SESSION_HANDLE s = open_session();
        log_begin();
        CK_RV rv = login(s);
        char *log = log_end();
        f->C_CloseSession(s);
        assert_int_equal(rv, CKR_FUNCTION_FAILED);
        assert_non_null(strstr(log, cases[k].words));
        assert_non_null(strstr(log, "allow it with scp02_allow"));
        assert_int_equal(sim_state(0, "sessions"), iu); /* no channel was opened */
        reinit(cases[k].allow);
        s = open_session();
        assert_int_equal(login(s), CKR_OK);
        f->C_CloseSession(s);
    }
    sim_control(0, "set_i = 15\n");
    reinit("");
    CK_SESSION_HANDLE s = open_session(); /* a command makes the card read its control file */
    assert_int_equal(login(s), CKR_OK);
    f->C_CloseSession(s);
}

/* The card refuses EXTERNAL AUTHENTICATE (6300) although its cryptogram
 * verified: said in GlobalPlatform's words, and never tried again while the
 * card stays in the reader (each refusal brings it nearer to locking). */
static void test_no_second_try_after_refusal(void **state)
{
    (void)state;
    sim_control(0, "fault = refuse-auth\non_ins = 82\n");
    CK_SESSION_HANDLE s = open_session();
    log_begin();
    CK_RV first = login(s);
    long ea = sim_state(0, "ext_auth_received");
    CK_RV second = login(s);
    char *log = log_end();
    assert_int_equal(first, CKR_FUNCTION_FAILED);
    assert_non_null(strstr(log, "6300: authentication failed: the card did not accept the host "
                                "cryptogram (GlobalPlatform)"));
    assert_int_equal(second, CKR_FUNCTION_FAILED);
    assert_int_equal(sim_state(0, "ext_auth_received"), ea); /* not sent again */
    assert_non_null(strstr(log, "gp-p11 does not try again while the card stays in the reader"));
    assert_non_null(strstr(log, "gp-p11 keys forget-refusal"));
    assert_int_equal(sim_state(0, "failed_auth"), 1);
    f->C_CloseSession(s);
    /* taken out and put back, and in a new module instance (as another
     * process would be): the keystore remembers, and no try is spent */
    sim_control(0, "reinsert_ms = 300\n");
    assert_int_equal(system("pkill -USR1 -f '[g]p-sim --port 40000 '"), 0);
    wait_present(0);
    wait_present(1);
    reinit("");
    s = open_session();
    log_begin();
    CK_RV third = login(s);
    log = log_end();
    f->C_CloseSession(s);
    assert_int_equal(third, CKR_FUNCTION_FAILED);
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    assert_int_equal(sim_state(0, "failed_auth"), 1);
    assert_non_null(strstr(log, "this card (key diversification data 00001234567890ABCDEF) refused "
                                "EXTERNAL AUTHENTICATE before (6300 to key version 01,"));
    assert_non_null(strstr(log, "gp-p11 keys forget-refusal 00001234567890ABCDEF"));
    /* once the user knows why, the refusal is forgotten: a new try */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --module '%s' --token '%s' --pin-file '%s' forget-refusal "
             "00001234567890ABCDEF", getenv("GP_P11_KEYS"), getenv("GP_SOFTHSM_MODULE"),
             getenv("GP_TEST_TOKEN"), getenv("GP_TEST_PIN_FILE"));
    assert_int_equal(system(cmd), 0);
    s = open_session();
    assert_int_equal(login(s), CKR_OK);
    f->C_CloseSession(s);
    assert_int_equal(sim_state(0, "failed_auth"), 0); /* success resets the card's count */
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
        cmocka_unit_test(test_put_key_answer_truncated),
        cmocka_unit_test(test_put_key_answer_lost_card_removed),
        cmocka_unit_test(test_put_key_bad_rmac),
        cmocka_unit_test(test_put_key_refused),
        cmocka_unit_test(test_rmac_stays_in_step),
        cmocka_unit_test(test_refused_oversized_command),
        cmocka_unit_test(test_6982_sent_once_more),
        cmocka_unit_test(test_reinsertion),
        cmocka_unit_test(test_reset_by_another_program),
        cmocka_unit_test(test_no_downgrade),
        cmocka_unit_test(test_no_second_try_after_refusal),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
