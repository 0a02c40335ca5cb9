/*
 * Another process using gp-p11's keystore token (tests/integration/
 * keystore-race.sh): logs in and out of the token in a loop, 1 ms apart, as a
 * busy second gp-p11 or provisioning script would, until it is sent SIGTERM.
 * Every SoftHSM login rewrites the token's file. Prints how many logins it
 * made and how many failed.
 *
 *   keystore_hammer KEYSTORE_MODULE TOKEN_LABEL   (PIN in GP_TEST_PIN)
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static CK_FUNCTION_LIST_PTR f;

/* Starts the module and finds the token; 0 if not found. */
static int start(const char *label, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    size_t l = strlen(label);
    if (f->C_Initialize(NULL) != CKR_OK || f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && l <= 32 &&
            memcmp(ti.label, label, l) == 0 && (l == 32 || ti.label[l] == ' ')) {
            *slot = slots[i];
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *pin = getenv("GP_TEST_PIN");
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_SLOT_ID slot = 0;
    if (!pin || !gfl || gfl(&f) != CKR_OK || !start(argv[2], &slot))
        return 2;
    signal(SIGTERM, on_term);
    printf("ready\n");
    fflush(stdout);
    unsigned long logins = 0, failed = 0;
    while (!stop) {
        CK_SESSION_HANDLE s;
        CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
        if (rv == CKR_OK) {
            logins++;
            rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
            if (rv == CKR_OK)
                f->C_Logout(s);
            f->C_CloseSession(s);
        }
        struct timespec pause = {0, 1000000L}; /* 1 ms: leave the CPU to tests beside it */
        nanosleep(&pause, NULL);
        if (rv != CKR_OK) { /* its own instance read the token half-written: start again */
            failed++;
            f->C_Finalize(NULL);
            while (!stop && !start(argv[2], &slot))
                f->C_Finalize(NULL);
        }
    }
    f->C_Finalize(NULL);
    printf("hammer: %lu logins, %lu failed\n", logins, failed);
    return 0;
}
