/* gp-p11 keystore: module loading, token, login, sessions and the
 * primitives on key handles (key sets: keysets.c). */
#define _GNU_SOURCE /* memfd_create */
#include "config.h"
#include "keystore.h"
#include "internal.h"
#include "hex.h"
#include "pkcs11_30.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const ks_role_names[3] = {"enc", "mac", "dek"};

void ks_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

size_t ks_pad80(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    return ks_pad80_to(in, len, out, cap, 8);
}

size_t ks_pad80_to(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t block)
{
    size_t padded = (len / block + 1) * block;
    if (padded > cap)
        return 0;
    if (len && out != in)
        memmove(out, in, len);
    out[len] = 0x80;
    memset(out + len + 1, 0, padded - len - 1);
    return padded;
}

const char *ks_rv_name(CK_RV rv)
{
    switch (rv) {
#define N(x) case x: return #x
    N(CKR_OK); N(CKR_CANCEL); N(CKR_HOST_MEMORY); N(CKR_SLOT_ID_INVALID);
    N(CKR_GENERAL_ERROR); N(CKR_FUNCTION_FAILED); N(CKR_ARGUMENTS_BAD);
    N(CKR_ATTRIBUTE_READ_ONLY); N(CKR_ATTRIBUTE_SENSITIVE); N(CKR_ATTRIBUTE_TYPE_INVALID);
    N(CKR_ATTRIBUTE_VALUE_INVALID); N(CKR_DATA_INVALID); N(CKR_DATA_LEN_RANGE);
    N(CKR_DEVICE_ERROR); N(CKR_DEVICE_MEMORY); N(CKR_DEVICE_REMOVED);
    N(CKR_ENCRYPTED_DATA_INVALID); N(CKR_FUNCTION_CANCELED); N(CKR_FUNCTION_NOT_SUPPORTED);
    N(CKR_KEY_HANDLE_INVALID); N(CKR_KEY_SIZE_RANGE); N(CKR_KEY_TYPE_INCONSISTENT);
    N(CKR_KEY_FUNCTION_NOT_PERMITTED); N(CKR_KEY_NOT_WRAPPABLE); N(CKR_KEY_UNEXTRACTABLE);
    N(CKR_MECHANISM_INVALID); N(CKR_MECHANISM_PARAM_INVALID); N(CKR_OBJECT_HANDLE_INVALID);
    N(CKR_OPERATION_ACTIVE); N(CKR_OPERATION_NOT_INITIALIZED); N(CKR_PIN_INCORRECT);
    N(CKR_PIN_INVALID); N(CKR_PIN_LEN_RANGE); N(CKR_PIN_EXPIRED); N(CKR_PIN_LOCKED);
    N(CKR_SESSION_CLOSED); N(CKR_SESSION_COUNT); N(CKR_SESSION_HANDLE_INVALID);
    N(CKR_SESSION_READ_ONLY); N(CKR_SESSION_EXISTS); N(CKR_SIGNATURE_INVALID);
    N(CKR_SIGNATURE_LEN_RANGE); N(CKR_TEMPLATE_INCOMPLETE); N(CKR_TEMPLATE_INCONSISTENT);
    N(CKR_TOKEN_NOT_PRESENT); N(CKR_TOKEN_NOT_RECOGNIZED); N(CKR_TOKEN_WRITE_PROTECTED);
    N(CKR_USER_ALREADY_LOGGED_IN); N(CKR_USER_NOT_LOGGED_IN); N(CKR_USER_PIN_NOT_INITIALIZED);
    N(CKR_USER_TYPE_INVALID); N(CKR_RANDOM_NO_RNG); N(CKR_BUFFER_TOO_SMALL);
    N(CKR_CRYPTOKI_NOT_INITIALIZED); N(CKR_CRYPTOKI_ALREADY_INITIALIZED);
    N(CKR_ACTION_PROHIBITED); N(CKR_DOMAIN_PARAMS_INVALID);
#undef N
    default: return "CKR_(unknown)";
    }
}

/* An instance of the keystore module of our own. The dynamic loader hands a
 * second dlopen of a file the instance it loaded already, with its login
 * state and sessions: the p11-kit proxy loads SoftHSM into every program
 * that uses it, so the application would share gp-p11's keystore. A copy of
 * the file in anonymous memory is another file to the loader, with globals
 * of its own; only its (stateless) dependencies are shared. dlmopen into a
 * new namespace was measured too: it loads a second libc and libstdc++, and
 * the process aborted at exit (README, "The keystore is gp-p11's alone"). */
static void *dlopen_private(const char *path)
{
    int fd = memfd_create("gp-p11-keystore", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *dl = NULL;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in >= 0) {
        char buf[65536];
        ssize_t n;
        int ok = 1;
        while (ok && (n = read(in, buf, sizeof buf)) > 0)
            ok = write(fd, buf, (size_t)n) == n;
        close(in);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        if (ok && n == 0)
            dl = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    }
    close(fd); /* the mapping keeps the copy */
    return dl;
}

CK_RV ks_open(ks_t **out, const char *module_path, char *err, size_t err_len)
{
    return ks_open_ex(out, module_path, 0, err, err_len);
}

CK_RV ks_open_ex(ks_t **out, const char *module_path, int shared, char *err, size_t err_len)
{
    return ks_open_args(out, module_path, shared, NULL, err, err_len);
}

/* C_Initialize's arguments: the OS's locks, and the module's string (NSS's
 * softoken reads its configuration there; PKCS#11 2.40 leaves pReserved to
 * the module's own use). */
static CK_RV initialize(ks_t *ks)
{
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = ks->init_args[0] ? ks->init_args : NULL;
    return ks->f->C_Initialize(&args);
}

CK_RV ks_open_args(ks_t **out, const char *module_path, int shared, const char *init_args,
                   char *err, size_t err_len)
{
    *out = NULL;
    if (init_args && strlen(init_args) >= sizeof ((ks_t *)0)->init_args) {
        msg_set(err, err_len, "the keystore's initialisation string is longer than %zu bytes",
                sizeof ((ks_t *)0)->init_args - 1);
        return CKR_ARGUMENTS_BAD;
    }
    if (!module_path || !*module_path)
        module_path = GP_DEFAULT_KEYSTORE_MODULE;
    ks_t *ks = calloc(1, sizeof *ks);
    if (!ks)
        return CKR_HOST_MEMORY;
    snprintf(ks->path, sizeof ks->path, "%s", module_path);
    snprintf(ks->init_args, sizeof ks->init_args, "%s", init_args ? init_args : "");
    ks->kdf108 = -1;
    ks->counts_pin_failures = 1;
    ks->dl = shared ? NULL : dlopen_private(module_path);
    ks->private_instance = ks->dl != NULL;
    if (!ks->dl)
        ks->dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!ks->dl) {
        msg_set(err, err_len, "cannot load keystore module %s: %s", module_path, dlerror());
        free(ks);
        return CKR_GENERAL_ERROR;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(ks->dl, "C_GetFunctionList");
    CK_RV rv = gfl ? gfl(&ks->f) : CKR_GENERAL_ERROR;
    if (rv != CKR_OK || !ks->f) {
        msg_set(err, err_len, "%s is not a PKCS#11 module (no usable C_GetFunctionList)", module_path);
        dlclose(ks->dl);
        free(ks);
        return CKR_GENERAL_ERROR;
    }
    rv = initialize(ks);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* The application loaded the same module itself: share it, and
         * leave C_Finalize to whoever initialised it. */
        rv = CKR_OK;
    } else if (rv == CKR_OK) {
        ks->we_initialized = 1;
    }
    /* CKA_DERIVE_TEMPLATE is PKCS#11 3.0: a 2.40 keystore (SoftHSM 2.6.1)
     * takes it without error and builds a key from its defaults */
    CK_INFO info;
    if (rv == CKR_OK && (ks->f->C_GetInfo(&info) != CKR_OK || info.cryptokiVersion.major < 3))
        ks->no_derive_template = 1;
    /* SoftHSM keeps no PIN failure counter: measured on 2.6.1, the right PIN
     * logs in after any number of wrong ones */
    if (rv == CKR_OK && memcmp(info.manufacturerID, "SoftHSM", 7) == 0)
        ks->counts_pin_failures = 0;
    if (rv != CKR_OK) {
        const char *conf = getenv("SOFTHSM2_CONF");
        if (strstr(module_path, "softhsm"))
            msg_set(err, err_len, "keystore module %s failed to initialise: %s. SoftHSM does this when it "
                        "cannot read its configuration or token directory: check SOFTHSM2_CONF "
                        "(%s) and the directories.tokendir it names", module_path,
                   ks_rv_name(rv), conf ? conf : "not set: /etc/softhsm/softhsm2.conf");
        else if (rv == CKR_ARGUMENTS_BAD && !ks->init_args[0])
            msg_set(err, err_len, "keystore module %s failed to initialise: %s. A module that "
                        "needs a configuration string (NSS's softoken: configdir='sql:DIR' ...) "
                        "takes it from keystore_init_args", module_path, ks_rv_name(rv));
        else
            msg_set(err, err_len, "keystore module %s failed to initialise: %s%s", module_path,
                   ks_rv_name(rv), ks->init_args[0] ? " (with the keystore_init_args string)" : "");
        dlclose(ks->dl);
        free(ks);
        return rv;
    }
    pthread_mutex_init(&ks->lock, NULL);
    *out = ks;
    return CKR_OK;
}

void ks_close(ks_t *ks)
{
    if (!ks)
        return;
    if (ks->login_session)
        ks->f->C_CloseSession(ks->login_session);
    if (ks->we_initialized)
        ks->f->C_Finalize(NULL);
    dlclose(ks->dl);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

CK_FUNCTION_LIST_PTR ks_functions(const ks_t *ks) { return ks->f; }
int ks_private(const ks_t *ks) { return ks->private_instance; }

static int label_matches(const CK_UTF8CHAR field[32], const char *label)
{
    size_t n = strlen(label);
    if (n > 32)
        return 0;
    if (memcmp(field, label, n) != 0)
        return 0;
    for (size_t i = n; i < 32; i++)
        if (field[i] != ' ')
            return 0;
    return 1;
}

static CK_RV select_token_once(ks_t *ks, const char *label, char *err, size_t err_len)
{
    CK_ULONG n = 0;
    CK_RV rv = ks->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK) {
        msg_set(err, err_len, "keystore: C_GetSlotList failed: %s", ks_rv_name(rv));
        return rv;
    }
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
    if (!slots)
        return CKR_HOST_MEMORY;
    rv = ks->f->C_GetSlotList(CK_TRUE, slots, &n);
    int found = 0;
    for (CK_ULONG i = 0; rv == CKR_OK && i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        if (ks->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && label_matches(ti.label, label)) {
            ks->slot = slots[i];
            found = 1;
        }
    }
    free(slots);
    if (!found) {
        msg_set(err, err_len, "keystore token \"%s\" not found in %s (create it with softhsm2-util "
                    "--init-token or set keystore_token)", label, ks->path);
        return CKR_TOKEN_NOT_PRESENT;
    }
    ks->have_slot = 1;
    if (ks->login_session) {
        ks->f->C_CloseSession(ks->login_session);
        ks->login_session = 0;
    }
    rv = ks->f->C_OpenSession(ks->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                              &ks->login_session);
    if (rv != CKR_OK)
        msg_set(err, err_len, "keystore: cannot open a session on token \"%s\": %s", label, ks_rv_name(rv));
    return rv;
}

/* SoftHSM 2.6's file store rewrites token.object at every login, and another
 * process's instance that reads it at that moment (at C_Initialize, or when it
 * notices the change) keeps a half-read token until it is finalised: the
 * token is then "not recognised", has "no user PIN", or its flags cannot be
 * read (CKR_GENERAL_ERROR). Measured on this machine: one process starting
 * SoftHSM 1000 times beside another logging in a loop got
 * CKR_TOKEN_NOT_RECOGNIZED 438 times and CKR_USER_PIN_NOT_INITIALIZED 4 times.
 * None of these answers can come from a PIN being checked. */
static int half_read(CK_RV rv)
{
    return rv == CKR_TOKEN_NOT_RECOGNIZED || rv == CKR_USER_PIN_NOT_INITIALIZED;
}

/* Each start reads the token's file anew, and can meet another write: under a
 * process logging in 250 times a second, four in ten starts did, and failures
 * come in runs (up to five starts in a row seen). Twelve starts, 2 to 22 ms
 * apart (0.13 s in all), before giving up. */
#define KS_RELOADS 12

/* A select that a half-read token can explain. */
static int select_retryable(CK_RV rv)
{
    return half_read(rv) || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_GENERAL_ERROR;
}

/* Finalises the instance and starts it again, then finds the token and
 * reopens every session (they carried no state: only a logged-out instance
 * is restarted); again, a little later each time, while the token reads
 * half-written. Only for an instance of gp-p11's own. */
static CK_RV restart(ks_t *ks, char *err, size_t err_len)
{
    CK_RV rv = CKR_FUNCTION_FAILED;
    for (int i = 0; i < KS_RELOADS; i++) {
        if (i) {
            struct timespec ts = {0, i * 2000000L};
            nanosleep(&ts, NULL);
        }
        ks->f->C_Finalize(NULL);
        ks->have_slot = 0;
        ks->login_session = 0;
        rv = initialize(ks);
        ks->reloads++;
        if (rv != CKR_OK) {
            ks->we_initialized = 0;
            msg_set(err, err_len, "keystore module %s could not be started again: %s", ks->path,
                   ks_rv_name(rv));
            return rv;
        }
        rv = select_token_once(ks, ks->label, err, err_len);
        pthread_mutex_lock(&ks->lock);
        for (ks_session_t *s = ks->sessions; rv == CKR_OK && s; s = s->next)
            rv = ks->f->C_OpenSession(ks->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                      &s->h);
        pthread_mutex_unlock(&ks->lock);
        if (!select_retryable(rv))
            break;
    }
    return rv;
}

static int can_restart(const ks_t *ks)
{
    return ks->private_instance && ks->we_initialized;
}

unsigned ks_reloads(const ks_t *ks) { return ks->reloads; }

CK_RV ks_select_token(ks_t *ks, const char *label, char *err, size_t err_len)
{
    CK_RV rv = select_token_once(ks, label, err, err_len);
    if (strlen(label) >= sizeof ks->label)
        return rv; /* no token has such a label */
    snprintf(ks->label, sizeof ks->label, "%s", label);
    if (select_retryable(rv) && can_restart(ks))
        rv = restart(ks, err, err_len);
    return rv;
}

CK_RV ks_login(ks_t *ks, const uint8_t *pin, size_t pin_len, char *err, size_t err_len)
{
    return ks_login_ex(ks, pin, pin_len, NULL, err, err_len);
}

CK_RV ks_login_ex(ks_t *ks, const uint8_t *pin, size_t pin_len, int *already,
                  char *err, size_t err_len)
{
    if (already)
        *already = 0;
    if (!ks->have_slot) {
        msg_set(err, err_len, "keystore: no token selected");
        return CKR_TOKEN_NOT_PRESENT;
    }
    /* never spend a keystore's last PIN try: a locked keystore needs its SO */
    CK_TOKEN_INFO ti;
    if (ks->f->C_GetTokenInfo(ks->slot, &ti) == CKR_OK) {
        if (ti.flags & CKF_USER_PIN_LOCKED) {
            msg_set(err, err_len, "keystore PIN is locked (CKR_PIN_LOCKED): unblock it with the SO PIN");
            return CKR_PIN_LOCKED;
        }
        if (ti.flags & CKF_USER_PIN_FINAL_TRY) {
            msg_set(err, err_len, "the keystore has one PIN try left: gp-p11 will not spend it; log in once "
                        "with the keystore's own tool to reset the counter");
            return CKR_PIN_LOCKED;
        }
    }
    CK_RV rv = ks->f->C_Login(ks->login_session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    /* a half-read token answers before any PIN is compared; so does SoftHSM's
     * CKR_GENERAL_ERROR, and SoftHSM counts no PIN failure anyway. Another
     * keystore's CKR_GENERAL_ERROR may have counted one: it is not tried again. */
    for (int i = 0; i < KS_RELOADS && can_restart(ks) &&
                    (half_read(rv) || (rv == CKR_GENERAL_ERROR && !ks->counts_pin_failures));
         i++) {
        CK_RV r = restart(ks, err, err_len);
        if (r != CKR_OK)
            return r;
        rv = ks->f->C_Login(ks->login_session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    }
    if (rv == CKR_GENERAL_ERROR && can_restart(ks)) /* start afresh for the next try */
        restart(ks, err, err_len);
    if (rv == CKR_USER_ALREADY_LOGGED_IN) {
        if (already)
            *already = 1;
        return CKR_OK;
    }
    if (rv == CKR_PIN_INCORRECT)
        msg_set(err, err_len, "keystore refused the PIN (CKR_PIN_INCORRECT)");
    else if (rv == CKR_PIN_LOCKED)
        msg_set(err, err_len, "keystore PIN is locked (CKR_PIN_LOCKED): unblock it with the SO PIN");
    else if (rv == CKR_GENERAL_ERROR && ks->counts_pin_failures)
        msg_set(err, err_len, "keystore login failed: CKR_GENERAL_ERROR, the keystore module's own failure: "
                    "try again; gp-p11 does not retry a login itself, since this keystore may "
                    "have counted it as a PIN try");
    else if (rv == CKR_USER_PIN_NOT_INITIALIZED)
        msg_set(err, err_len, "keystore login failed: the token \"%s\" has no user PIN (set one with "
                    "softhsm2-util --init-pin or the keystore's own tool)", ks->label);
    else if (half_read(rv) || rv == CKR_GENERAL_ERROR)
        msg_set(err, err_len, "keystore login failed: %s, %d times after restarting the keystore module: "
                    "another process is using the token heavily; try again", ks_rv_name(rv),
               KS_RELOADS + 1);
    else if (rv != CKR_OK)
        msg_set(err, err_len, "keystore login failed: %s", ks_rv_name(rv));
    return rv;
}

int ks_logged_in(ks_t *ks)
{
    CK_SESSION_INFO si;
    if (!ks->login_session || ks->f->C_GetSessionInfo(ks->login_session, &si) != CKR_OK)
        return -1;
    return si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS;
}

CK_RV ks_logout(ks_t *ks)
{
    if (!ks->login_session)
        return CKR_OK;
    CK_RV rv = ks->f->C_Logout(ks->login_session);
    return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OK : rv;
}

CK_RV ks_session_open(ks_t *ks, ks_session_t **out)
{
    *out = NULL;
    if (!ks->have_slot)
        return CKR_TOKEN_NOT_PRESENT;
    ks_session_t *s = calloc(1, sizeof *s);
    if (!s)
        return CKR_HOST_MEMORY;
    s->ks = ks;
    CK_RV rv = ks->f->C_OpenSession(ks->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->h);
    if (rv != CKR_OK) {
        free(s);
        return rv;
    }
    pthread_mutex_lock(&ks->lock);
    s->next = ks->sessions;
    ks->sessions = s;
    pthread_mutex_unlock(&ks->lock);
    *out = s;
    return CKR_OK;
}

void ks_session_close(ks_session_t *s)
{
    if (!s)
        return;
    ks_t *ks = s->ks;
    pthread_mutex_lock(&ks->lock);
    for (ks_session_t **p = &ks->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&ks->lock);
    ks->f->C_CloseSession(s->h);
    free(s);
}

const char *ks_session_error(const ks_session_t *s) { return s->err; }
CK_SESSION_HANDLE ks_session_handle(const ks_session_t *s) { return s->h; }
unsigned long ks_session_calls(const ks_session_t *s) { return s->calls; }

/* Up to max objects matching the template, their handles into hs. */
CK_RV ks_find_objects(ks_session_t *s, CK_ATTRIBUTE *t, CK_ULONG nt, CK_OBJECT_HANDLE *hs,
                          CK_ULONG max, CK_ULONG *count)
{
    CK_FUNCTION_LIST_PTR f = s->ks->f;
    *count = 0;
    CK_RV rv = f->C_FindObjectsInit(s->h, t, nt);
    if (rv != CKR_OK)
        return rv;
    rv = f->C_FindObjects(s->h, hs, max, count);
    f->C_FindObjectsFinal(s->h);
    return rv;
}

CK_RV ks_random(ks_session_t *s, uint8_t *buf, size_t len)
{
    CK_RV rv = s->ks->f->C_GenerateRandom(s->h, buf, len);
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: C_GenerateRandom failed: %s", ks_rv_name(rv));
    return rv;
}

/* A digest of a || b (either may be empty) inside the keystore. */
static CK_RV digest(ks_session_t *s, CK_MECHANISM_TYPE mech, const char *name, const uint8_t *a,
                    size_t alen, const uint8_t *b, size_t blen, uint8_t *out, CK_ULONG n)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_FUNCTION_LIST_PTR f = s->ks->f;
    CK_RV rv = f->C_DigestInit(s->h, &m);
    if (rv == CKR_OK && alen)
        rv = f->C_DigestUpdate(s->h, (CK_BYTE_PTR)a, alen);
    if (rv == CKR_OK && blen)
        rv = f->C_DigestUpdate(s->h, (CK_BYTE_PTR)b, blen);
    if (rv == CKR_OK)
        rv = f->C_DigestFinal(s->h, out, &n);
    else
        f->C_DigestFinal(s->h, NULL, &n); /* end the operation */
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: %s failed: %s", name, ks_rv_name(rv));
    return rv;
}

CK_RV ks_sha256(ks_session_t *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                uint8_t out[32])
{
    return digest(s, CKM_SHA256, "SHA-256", a, alen, b, blen, out, 32);
}

CK_RV ks_sha1(ks_session_t *s, const uint8_t *data, size_t len, uint8_t out[20])
{
    return digest(s, CKM_SHA_1, "SHA-1", data, len, NULL, 0, out, 20);
}

/* A session key derived from base: CKA_TOKEN false, sensitive, not
 * extractable, the usages of use (KS_USE_*) and no other; key_len 0 for a
 * key type of fixed length. */
static CK_RV derive_session_key(ks_session_t *s, CK_MECHANISM *m, CK_OBJECT_HANDLE base,
                                CK_KEY_TYPE kt, size_t key_len, unsigned use, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ULONG vl = key_len;
    CK_BBOOL f = CK_FALSE, t = CK_TRUE;
    CK_BBOOL u[6];
    for (int i = 0; i < 6; i++)
        u[i] = (use >> i) & 1 ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &f, sizeof f},
        {CKA_PRIVATE, &t, sizeof t},
        {CKA_SENSITIVE, &t, sizeof t},
        {CKA_EXTRACTABLE, &f, sizeof f},
        {CKA_ENCRYPT, &u[0], 1},
        {CKA_DECRYPT, &u[1], 1},
        {CKA_SIGN, &u[2], 1},
        {CKA_VERIFY, &u[3], 1},
        {CKA_WRAP, &u[4], 1},
        {CKA_DERIVE, &u[5], 1},
        {CKA_VALUE_LEN, &vl, sizeof vl},
    };
    CK_ULONG n = sizeof tmpl / sizeof tmpl[0] - (key_len ? 0 : 1);
    s->calls++;
    return s->ks->f->C_DeriveKey(s->h, m, base, tmpl, n, out);
}

CK_RV ks_derive_des2(ks_session_t *s, CK_OBJECT_HANDLE base, enum ks_derive_mode mode,
                     const uint8_t data[16], int usage_wrap, int usage_derive,
                     CK_OBJECT_HANDLE *out)
{
    uint8_t buf[16];
    memcpy(buf, data, 16);
    CK_DES_CBC_ENCRYPT_DATA_PARAMS cbc;
    CK_KEY_DERIVATION_STRING_DATA ecb;
    CK_MECHANISM m;
    if (mode == KS_DERIVE_CBC) {
        memset(cbc.iv, 0, sizeof cbc.iv);
        cbc.pData = buf;
        cbc.length = 16;
        m.mechanism = CKM_DES3_CBC_ENCRYPT_DATA;
        m.pParameter = &cbc;
        m.ulParameterLen = sizeof cbc;
    } else {
        ecb.pData = buf;
        ecb.ulLen = 16;
        m.mechanism = CKM_DES3_ECB_ENCRYPT_DATA;
        m.pParameter = &ecb;
        m.ulParameterLen = sizeof ecb;
    }
    unsigned use = KS_USE_ENCRYPT | (usage_wrap ? KS_USE_WRAP : 0) |
                   (usage_derive ? KS_USE_DERIVE : 0);
    CK_RV rv = derive_session_key(s, &m, base, CKK_DES2, 0, use, out);
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: key derivation (%s) failed: %s",
               mode == KS_DERIVE_CBC ? "CKM_DES3_CBC_ENCRYPT_DATA" : "CKM_DES3_ECB_ENCRYPT_DATA",
               ks_rv_name(rv));
    return rv;
}

static const char *mech_name(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_DES3_ECB: return "3DES-ECB";
    case CKM_DES3_CBC: return "3DES-CBC";
    case CKM_AES_ECB: return "AES-ECB";
    case CKM_AES_CBC: return "AES-CBC";
    case CKM_AES_CMAC: return "AES-CMAC";
    case CKM_AES_CBC_ENCRYPT_DATA: return "CKM_AES_CBC_ENCRYPT_DATA";
    case CKM_AES_ECB_ENCRYPT_DATA: return "CKM_AES_ECB_ENCRYPT_DATA";
    default: return "the keystore mechanism";
    }
}

CK_RV ks_cipher(ks_session_t *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, const uint8_t *iv,
                size_t ivlen, int encrypt, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t ivb[16];
    if (len == 0 || ivlen > sizeof ivb)
        return CKR_DATA_LEN_RANGE;
    if (ivlen)
        memcpy(ivb, iv, ivlen);
    CK_MECHANISM m = {mech, ivlen ? ivb : NULL, ivlen};
    uint8_t *tmp = malloc(len);
    if (!tmp)
        return CKR_HOST_MEMORY;
    CK_FUNCTION_LIST_PTR f = s->ks->f;
    CK_ULONG outlen = len;
    s->calls += 2;
    CK_RV rv = encrypt ? f->C_EncryptInit(s->h, &m, key) : f->C_DecryptInit(s->h, &m, key);
    if (rv == CKR_OK)
        rv = encrypt ? f->C_Encrypt(s->h, (CK_BYTE_PTR)in, len, tmp, &outlen)
                     : f->C_Decrypt(s->h, (CK_BYTE_PTR)in, len, tmp, &outlen);
    if (rv == CKR_OK && outlen != len)
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        memcpy(out, tmp, len);
    else
        msg_set(s->err, sizeof s->err, "keystore: %s %s failed: %s", mech_name(mech),
               encrypt ? "encryption" : "decryption", ks_rv_name(rv));
    ks_wipe(tmp, len); /* may be plaintext of a decryption */
    free(tmp);
    return rv;
}

CK_RV ks_encrypt(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t iv[8],
                 const uint8_t *in, size_t len, uint8_t *out)
{
    if (len == 0 || len % 8 != 0)
        return CKR_DATA_LEN_RANGE;
    return ks_cipher(s, iv ? CKM_DES3_CBC : CKM_DES3_ECB, key, iv, iv ? 8 : 0, 1, in, len, out);
}

CK_RV ks_sign(ks_session_t *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, const uint8_t *data,
              size_t len, uint8_t *mac, size_t maclen)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_FUNCTION_LIST_PTR f = s->ks->f;
    uint8_t buf[64];
    CK_ULONG n = sizeof buf;
    s->calls += 2;
    CK_RV rv = f->C_SignInit(s->h, &m, key);
    if (rv == CKR_OK)
        rv = f->C_Sign(s->h, (CK_BYTE_PTR)data, len, buf, &n);
    if (rv == CKR_OK && n < maclen)
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        memcpy(mac, buf, maclen);
    else
        msg_set(s->err, sizeof s->err, "keystore: %s failed: %s", mech_name(mech), ks_rv_name(rv));
    return rv;
}

CK_RV ks_derive_aes(ks_session_t *s, CK_OBJECT_HANDLE base, const uint8_t *data, size_t len,
                    size_t key_len, unsigned use, CK_OBJECT_HANDLE *out)
{
    uint8_t buf[32];
    if (len > sizeof buf || len % 16 || key_len > len)
        return CKR_ARGUMENTS_BAD;
    memcpy(buf, data, len);
    CK_KEY_DERIVATION_STRING_DATA p = {buf, len};
    CK_MECHANISM m = {CKM_AES_ECB_ENCRYPT_DATA, &p, sizeof p};
    CK_RV rv = derive_session_key(s, &m, base, CKK_AES, key_len, use, out);
    ks_wipe(buf, sizeof buf); /* key-dependent */
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: key derivation (CKM_AES_ECB_ENCRYPT_DATA) failed: %s%s",
               ks_rv_name(rv), rv == CKR_MECHANISM_INVALID ? " (this keystore cannot derive AES "
                               "keys by encryption, as SCP03 needs)" : "");
    return rv;
}

int ks_kdf108(ks_session_t *s)
{
    ks_t *ks = s->ks;
    if (ks->kdf108 < 0) {
        CK_MECHANISM_INFO mi;
        ks->kdf108 = ks->have_slot &&
                     ks->f->C_GetMechanismInfo(ks->slot, CKM_SP800_108_COUNTER_KDF, &mi) == CKR_OK &&
                     (mi.flags & CKF_DERIVE);
    }
    return ks->kdf108;
}

void ks_set_kdf108(ks_t *ks, int use) { ks->kdf108 = use; }

CK_RV ks_derive_kdf108(ks_session_t *s, CK_OBJECT_HANDLE base, const uint8_t *label,
                       size_t label_len, int with_length, const uint8_t *ctx, size_t ctx_len,
                       size_t key_len, unsigned use, CK_OBJECT_HANDLE *out)
{
    CK_SP800_108_COUNTER_FORMAT counter = {CK_FALSE, 8};
    CK_SP800_108_DKM_LENGTH_FORMAT dkm = {CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, CK_FALSE, 16};
    CK_PRF_DATA_PARAM d[4];
    CK_ULONG n = 0;
    if (label_len)
        d[n++] = (CK_PRF_DATA_PARAM){CK_SP800_108_BYTE_ARRAY, (void *)label, label_len};
    if (with_length)
        d[n++] = (CK_PRF_DATA_PARAM){CK_SP800_108_DKM_LENGTH, &dkm, sizeof dkm};
    d[n++] = (CK_PRF_DATA_PARAM){CK_SP800_108_ITERATION_VARIABLE, &counter, sizeof counter};
    if (ctx_len)
        d[n++] = (CK_PRF_DATA_PARAM){CK_SP800_108_BYTE_ARRAY, (void *)ctx, ctx_len};
    CK_SP800_108_KDF_PARAMS p = {CKM_AES_CMAC, n, d, 0, NULL};
    CK_MECHANISM m = {CKM_SP800_108_COUNTER_KDF, &p, sizeof p};
    CK_RV rv = derive_session_key(s, &m, base, CKK_AES, key_len, use, out);
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: key derivation (CKM_SP800_108_COUNTER_KDF) failed: %s",
                ks_rv_name(rv));
    return rv;
}

CK_RV ks_wrap(ks_session_t *s, CK_MECHANISM_TYPE mech, const uint8_t *iv, size_t ivlen,
              CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, uint8_t *out, size_t *out_len)
{
    uint8_t ivb[16];
    if (ivlen > sizeof ivb)
        return CKR_ARGUMENTS_BAD;
    if (ivlen)
        memcpy(ivb, iv, ivlen);
    CK_MECHANISM m = {mech, ivlen ? ivb : NULL, ivlen};
    CK_ULONG n = *out_len;
    s->calls++;
    CK_RV rv = s->ks->f->C_WrapKey(s->h, &m, wrapping_key, key, out, &n);
    if (rv == CKR_OK)
        *out_len = n;
    else
        msg_set(s->err, sizeof s->err, "keystore: C_WrapKey(%s) failed: %s%s", mech_name(mech), ks_rv_name(rv),
               rv == CKR_KEY_UNEXTRACTABLE ? " (the key was made unextractable)" :
               rv == CKR_MECHANISM_INVALID ? " (this keystore cannot wrap with it)" : "");
    return rv;
}

CK_RV ks_destroy(ks_session_t *s, CK_OBJECT_HANDLE h)
{
    if (h == CK_INVALID_HANDLE)
        return CKR_OK;
    s->calls++;
    return s->ks->f->C_DestroyObject(s->h, h);
}

CK_RV ks_wrap_des3_ecb(ks_session_t *s, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                       uint8_t out[16])
{
    CK_MECHANISM m = {CKM_DES3_ECB, NULL, 0};
    uint8_t buf[32];
    CK_ULONG n = sizeof buf;
    CK_RV rv = s->ks->f->C_WrapKey(s->h, &m, wrapping_key, key, buf, &n);
    if (rv == CKR_OK && n != 16)
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        memcpy(out, buf, 16);
    else
        msg_set(s->err, sizeof s->err, "keystore: C_WrapKey(CKM_DES3_ECB) failed: %s%s", ks_rv_name(rv),
               rv == CKR_MECHANISM_INVALID ? " (this keystore cannot wrap with 3DES)" : "");
    return rv;
}

int ks_restricts_derivation(const ks_t *ks) { return !ks->no_derive_template; }

CK_RV ks_kcv(ks_session_t *s, CK_OBJECT_HANDLE key, uint8_t kcv[3])
{
    /* the keystore's own check value first: keys that only derive cannot encrypt */
    uint8_t cv[3];
    CK_ATTRIBUTE a = {CKA_CHECK_VALUE, cv, sizeof cv};
    if (s->ks->f->C_GetAttributeValue(s->h, key, &a, 1) == CKR_OK && a.ulValueLen == 3) {
        memcpy(kcv, cv, 3);
        return CKR_OK;
    }
    /* or the one taken when the key was made (a keystore without CKA_CHECK_VALUE) */
    char label[KS_LABEL_MAX + 1] = "", hex[16];
    CK_ATTRIBUTE l = {CKA_LABEL, label, KS_LABEL_MAX};
    if (s->ks->f->C_GetAttributeValue(s->h, key, &l, 1) == CKR_OK && l.ulValueLen < sizeof label) {
        label[l.ulValueLen] = 0;
        if (ks_note_find(s, GP_KCV_NOTE, label, hex, sizeof hex) == 1 && hex_decode(hex, kcv, 3) == 3)
            return CKR_OK;
    }
    uint8_t z[8] = {0};
    CK_RV rv = ks_encrypt(s, key, NULL, z, 8, z);
    if (rv == CKR_OK)
        memcpy(kcv, z, 3);
    return rv;
}

CK_RV ks_key_flags(ks_session_t *s, CK_OBJECT_HANDLE key, ks_key_flags_t *o)
{
    CK_ATTRIBUTE a[] = {
        {CKA_TOKEN, &o->token, sizeof o->token},
        {CKA_SENSITIVE, &o->sensitive, sizeof o->sensitive},
        {CKA_EXTRACTABLE, &o->extractable, sizeof o->extractable},
        {CKA_ALWAYS_SENSITIVE, &o->always_sensitive, sizeof o->always_sensitive},
        {CKA_NEVER_EXTRACTABLE, &o->never_extractable, sizeof o->never_extractable},
        {CKA_KEY_TYPE, &o->key_type, sizeof o->key_type},
    };
    return s->ks->f->C_GetAttributeValue(s->h, key, a, sizeof a / sizeof a[0]);
}

