/*
 * 8 threads over 2 cards: each thread has a session of its own for
 * CKM_GP_APDU and object searches, and all threads of a card share one more
 * session for stateless calls. Every answer is checked, and every C-MAC the
 * cards saw must have verified. Meant for ThreadSanitizer (the tsan build of
 * scripts/test.sh) and run in the normal builds too.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
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
#include "sim_files.h"

#define THREADS 8
#define ROUNDS 150

static CK_FUNCTION_LIST_PTR f;
static void *dl;
static const char *pin;
static CK_SLOT_ID slot[2];
static CK_SESSION_HANDLE shared[2];

static int setup(void **state)
{
    (void)state;
    pin = getenv("GP_TEST_PIN");
    dl = dlopen(getenv("GP_P11_MODULE"), RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    return gfl && gfl(&f) == CKR_OK && f->C_Initialize(&args) == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    f->C_Finalize(NULL);
    dlclose(dl);
    return 0;
}

struct worker {
    int card;
    int signs, finds, reads, errors;
    char first_error[160];
};

static void note(struct worker *w, const char *what, CK_RV rv)
{
    if (!w->errors++)
        snprintf(w->first_error, sizeof w->first_error, "%s: 0x%lx", what, rv);
}

static void *work(void *p)
{
    struct worker *w = p;
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(slot[w->card], CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        note(w, "C_OpenSession", rv);
        return NULL;
    }
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY, data = CKO_DATA;
    CK_ATTRIBUTE key_t = {CKA_CLASS, &key_class, sizeof key_class};
    CK_ATTRIBUTE cplc_t[] = {{CKA_CLASS, &data, sizeof data}, {CKA_LABEL, "CPLC", 4}};
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    for (int i = 0; i < ROUNDS; i++) {
        CK_OBJECT_HANDLE key, cplc;
        CK_ULONG n = 0;
        if ((rv = f->C_FindObjectsInit(s, &key_t, 1)) != CKR_OK ||
            (rv = f->C_FindObjects(s, &key, 1, &n)) != CKR_OK || (rv = f->C_FindObjectsFinal(s)) != CKR_OK ||
            n != 1) {
            note(w, "find the channel key", rv);
            continue;
        }
        uint8_t r[300];
        CK_ULONG rl = sizeof r;
        if ((rv = f->C_SignInit(s, &m, key)) != CKR_OK ||
            (rv = f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl)) != CKR_OK ||
            rl != 47 || r[45] != 0x90 || r[0] != 0x9F) {
            note(w, "CKM_GP_APDU", rv);
            continue;
        }
        w->signs++;
        if ((rv = f->C_FindObjectsInit(s, cplc_t, 2)) != CKR_OK ||
            (rv = f->C_FindObjects(s, &cplc, 1, &n)) != CKR_OK || (rv = f->C_FindObjectsFinal(s)) != CKR_OK ||
            n != 1) {
            note(w, "find CPLC", rv);
            continue;
        }
        w->finds++;
        /* stateless calls on the session all threads of this card share */
        uint8_t v[64];
        CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof v};
        CK_SESSION_INFO si;
        uint8_t rnd[16];
        if ((rv = f->C_GetAttributeValue(shared[w->card], cplc, &a, 1)) != CKR_OK || a.ulValueLen != 45 ||
            memcmp(v, r, 45) != 0 || (rv = f->C_GetSessionInfo(shared[w->card], &si)) != CKR_OK ||
            si.state != CKS_RO_USER_FUNCTIONS ||
            (rv = f->C_GenerateRandom(shared[w->card], rnd, sizeof rnd)) != CKR_OK) {
            note(w, "shared session", rv);
            continue;
        }
        w->reads++;
        if (i % 25 == 0) {
            CK_TOKEN_INFO ti;
            CK_ULONG count = 0;
            if ((rv = f->C_GetTokenInfo(slot[w->card], &ti)) != CKR_OK ||
                (rv = f->C_GetSlotList(CK_TRUE, NULL, &count)) != CKR_OK || count != 2)
                note(w, "token info", rv);
        }
    }
    f->C_CloseSession(s);
    return NULL;
}

static void test_eight_threads_two_cards(void **state)
{
    (void)state;
    CK_SLOT_ID ids[4];
    CK_ULONG n = 4;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
    assert_int_equal(n, 2);
    long before[2];
    for (int c = 0; c < 2; c++) {
        slot[c] = ids[c];
        assert_int_equal(f->C_OpenSession(slot[c], CKF_SERIAL_SESSION, NULL, NULL, &shared[c]), CKR_OK);
        assert_int_equal(f->C_Login(shared[c], CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    }
    for (int c = 0; c < 2; c++) {
        CK_TOKEN_INFO ti; /* read once per card, then kept: not counted below */
        assert_int_equal(f->C_GetTokenInfo(slot[c], &ti), CKR_OK);
        before[c] = sim_state(c, "cmac_ok");
    }
    pthread_t th[THREADS];
    struct worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].card = i % 2;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int signs[2] = {0, 0};
    for (int i = 0; i < THREADS; i++) {
        if (w[i].errors)
            fail_msg("thread %d: %d errors, first: %s", i, w[i].errors, w[i].first_error);
        assert_int_equal(w[i].signs, ROUNDS);
        assert_int_equal(w[i].reads, ROUNDS);
        signs[w[i].card] += w[i].signs;
    }
    for (int c = 0; c < 2; c++) {
        /* every command went through the channel, and every C-MAC verified */
        assert_int_equal(sim_state(c, "cmac_ok") - before[c], signs[c]);
        assert_int_equal(sim_state(c, "cmac_bad"), 0);
        f->C_CloseSession(shared[c]);
    }
    print_message("%d secured commands from %d threads over 2 cards, all verified\n",
                  signs[0] + signs[1], THREADS);
}

/* --- the module's life: fork, C_Initialize, C_Finalize, C_WaitForSlotEvent --- */

static pthread_barrier_t start;

static void *init_once(void *p)
{
    pthread_barrier_wait(&start);
    *(CK_RV *)p = f->C_Initialize(NULL);
    return NULL;
}

/* Concurrent C_Initialize calls: exactly one initialises. */
static void test_concurrent_initialize(void **state)
{
    (void)state;
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    pthread_t th[THREADS];
    CK_RV rv[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, init_once, &rv[i]);
    int ok = 0, already = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += rv[i] == CKR_OK;
        already += rv[i] == CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(ok, 1);
    assert_int_equal(already, THREADS - 1);
}

static void *wait_event(void *p)
{
    CK_SLOT_ID s;
    *(CK_RV *)p = f->C_WaitForSlotEvent(0, &s, NULL);
    return NULL;
}

/* C_Finalize always returns, and frees nothing under a C_WaitForSlotEvent
 * that is starting, waiting or returning (ASan and TSan watch this). */
static void test_finalize_against_wait(void **state)
{
    (void)state;
    for (int i = 0; i < 60; i++) {
        if (i)
            assert_int_equal(f->C_Initialize(NULL), CKR_OK);
        CK_RV rv = CKR_GENERAL_ERROR;
        pthread_t th;
        pthread_create(&th, NULL, wait_event, &rv);
        if (i % 3 == 1)
            sched_yield();
        else if (i % 3 == 2) {
            struct timespec t = {0, 2 * 1000000L};
            nanosleep(&t, NULL);
        }
        assert_int_equal(f->C_Finalize(NULL), CKR_OK);
        pthread_join(th, NULL);
        if (rv != CKR_CRYPTOKI_NOT_INITIALIZED && rv != CKR_OK)
            fail_msg("round %d: C_WaitForSlotEvent returned 0x%lx", i, rv);
    }
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
}

/* CKF_DONT_BLOCK answers at once, even while a blocking call waits. */
static void test_dont_block_never_blocks(void **state)
{
    (void)state;
    CK_SLOT_ID s;
    while (f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL) == CKR_OK) /* what is pending */
        ;
    CK_RV rv = CKR_GENERAL_ERROR;
    pthread_t th;
    pthread_create(&th, NULL, wait_event, &rv);
    struct timespec t = {0, 100 * 1000000L};
    nanosleep(&t, NULL); /* let it wait (if it is not waiting yet, this proves less, not wrong) */
    for (int i = 0; i < 20; i++)
        assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL), CKR_NO_EVENT);
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    pthread_join(th, NULL);
    assert_int_equal(rv, CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(f->C_Initialize(NULL), CKR_OK);
}

/* GET DATA 9F7F through the channel of session s; 0 when the answer is the CPLC and 9000. */
static int cplc_ok(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, &t, 1) != CKR_OK || f->C_FindObjects(s, &key, 1, &n) != CKR_OK ||
        f->C_FindObjectsFinal(s) != CKR_OK || n != 1)
        return -1;
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    if (f->C_SignInit(s, &m, key) != CKR_OK ||
        f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl) != CKR_OK)
        return -2;
    return rl == 47 && r[45] == 0x90 ? 0 : -3;
}

/* After fork, the child's C_Initialize starts afresh: it logs in to the
 * other card with connections of its own and never touches the parent's
 * PC/SC handles, channel or keystore sessions; the parent's channel goes on. */
static void test_fork(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot[0], CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    assert_int_equal(cplc_ok(s), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int code = 0;
        CK_SESSION_HANDLE c;
        CK_SLOT_ID sl[4];
        CK_ULONG n = 4;
        if (f->C_GetSlotList(CK_TRUE, sl, &n) != CKR_CRYPTOKI_NOT_INITIALIZED)
            code = 10; /* the parent's module is not the child's */
        else if (f->C_Initialize(NULL) != CKR_OK)
            code = 11;
        else if (f->C_OpenSession(slot[1], CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_OK)
            code = 12;
        else if (f->C_Login(c, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
            code = 13;
        else if (cplc_ok(c) != 0)
            code = 14;
        else if (f->C_Finalize(NULL) != CKR_OK)
            code = 15;
        _exit(code);
    }
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st))
        fail_msg("the child failed at step %d", WEXITSTATUS(st));
    assert_int_equal(cplc_ok(s), 0); /* the parent's channel is untouched */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    f->C_CloseSession(s);
}

/* fork() while other threads ask for reader states: every child's
 * C_Initialize and C_GetSlotList end (before, a child could inherit the
 * reader-state lock held, and hang for ever: 29 of 30 did). */
static volatile int polling;
static void *poll_slots(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&polling, __ATOMIC_ACQUIRE)) {
        CK_SLOT_ID sl[4];
        CK_ULONG n = 4;
        CK_SLOT_INFO si;
        f->C_GetSlotList(CK_TRUE, sl, &n);
        for (CK_ULONG i = 0; i < n; i++)
            f->C_GetSlotInfo(sl[i], &si);
    }
    return NULL;
}

static void test_fork_while_reading_states(void **state)
{
    (void)state;
    pthread_t th[2];
    __atomic_store_n(&polling, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, poll_slots, NULL), 0);
    int hung = 0, failed = 0;
    for (int k = 0; k < 30 && !hung; k++) { /* one hang is enough to know */
        fflush(NULL);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            alarm(10); /* a hang ends the child with SIGALRM */
            CK_SLOT_ID sl[4];
            CK_ULONG n = 4;
            int code = f->C_Initialize(NULL) != CKR_OK ? 1
                     : f->C_GetSlotList(CK_TRUE, sl, &n) != CKR_OK || n != 2 ? 2
                     : f->C_Finalize(NULL) != CKR_OK ? 3 : 0;
            _exit(code);
        }
        int st = 0;
        assert_int_equal(waitpid(child, &st, 0), child);
        if (WIFSIGNALED(st))
            hung++;
        else if (WEXITSTATUS(st))
            failed++;
    }
    __atomic_store_n(&polling, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (hung || failed)
        fail_msg("of 30 children, %d hung and %d failed", hung, failed);
}

int main(void)
{
    alarm(600); /* a hang is a failure, not a stuck test run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads_two_cards),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_fork_while_reading_states),
        cmocka_unit_test(test_concurrent_initialize),
        cmocka_unit_test(test_finalize_against_wait),
        cmocka_unit_test(test_dont_block_never_blocks),
    };
    return cmocka_run_group_tests_name("concurrency", tests, setup, teardown);
}
