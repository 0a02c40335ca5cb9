/*
 * 8 threads over 2 cards: each thread has a session of its own for
 * CKM_GP_APDU and object searches, and all threads of a card share one more
 * session for stateless calls. Every answer is checked, and every C-MAC the
 * cards saw must have verified. Meant for ThreadSanitizer (the tsan build of
 * scripts/test.sh) and run in the normal builds too.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads_two_cards),
    };
    return cmocka_run_group_tests_name("concurrency", tests, setup, teardown);
}
