/*
 * The module's life: C_Initialize and C_Finalize one at a time, the fork
 * rule, and the C_WaitForSlotEvent calls under way counted, so that
 * C_Finalize frees nothing under one (see module.h).
 */
#include "config.h"
#include "module.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Static: they outlive M, which C_Finalize wipes. */
static pthread_mutex_t life = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t life_cv = PTHREAD_COND_INITIALIZER;

/* Initialised in this process? A child after fork() inherits M but not the
 * parent's PC/SC connections, channels or keystore sessions to use: it must
 * call C_Initialize, which starts afresh (PKCS#11 2.40, 6.6.1). */
int module_live(void)
{
    return M.initialized && M.pid == getpid();
}

int module_finalizing(void) { return __atomic_load_n(&M.finalizing, __ATOMIC_ACQUIRE); }

/* fork() while another thread holds the life lock would leave the child's
 * copy locked for ever: hold it across fork, and let both sides go on. */
static void life_prepare(void)
{
    pthread_mutex_lock(&life);
    pcsc_fork_prepare(); /* taken after the life lock, as C_Initialize takes them */
}
static void life_resume(void)
{
    pcsc_fork_resume();
    pthread_mutex_unlock(&life);
}
static void register_atfork(void) { pthread_atfork(life_prepare, life_resume, life_resume); }

static CK_RV initialize(CK_VOID_PTR pInitArgs)
{
    if (module_live())
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    mutex_use(NULL);
    if (pInitArgs) {
        CK_C_INITIALIZE_ARGS *a = pInitArgs;
        int n = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex + !!a->UnlockMutex;
        if (a->pReserved || (n != 0 && n != 4))
            return CKR_ARGUMENTS_BAD;
        if (n == 4 && !(a->flags & CKF_OS_LOCKING_OK)) {
            mutex_use(a);
        }
    }
    if (M.initialized) /* a child after fork: the parent's state is left as it is, unused */
        LOG_DEBUG("", "initialising again after fork: the parent's connections are not used");
    memset(&M, 0, sizeof M);
    M.pid = getpid();
    char err[600];
    gp_config_t defaults;
    config_defaults(&defaults);
    log_setup(&defaults);
    if (config_load(&M.conf, SYSCONFDIR "/gp-p11/gp-p11.conf", err, sizeof err) != 0) {
        LOG_ERR("", "configuration refused: %s", err);
        return CKR_GENERAL_ERROR;
    }
    log_setup(&M.conf);
    if (mutex_new(&M.lock) != CKR_OK)
        return CKR_CANT_LOCK;
    pthread_mutex_init(&M.watch_lock, NULL);
    slots_refresh();
    events_start();
    M.initialized = 1;
    LOG_INFO("", "initialised (configuration: %s)", M.conf.path[0] ? M.conf.path : "built-in defaults");
    return CKR_OK;
}

CK_RV module_initialize(CK_VOID_PTR pInitArgs)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_atfork);
    pthread_mutex_lock(&life);
    CK_RV rv = initialize(pInitArgs);
    pthread_mutex_unlock(&life);
    return rv;
}

CK_RV module_finalize(void)
{
    pthread_mutex_lock(&life);
    if (!module_live()) {
        pthread_mutex_unlock(&life);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    /* every C_WaitForSlotEvent under way leaves first: wake it (again and
     * again, since one may be just about to wait) and wait for the count */
    __atomic_store_n(&M.finalizing, 1, __ATOMIC_RELEASE);
    while (M.waiters) {
        mutex_lock(M.lock);
        if (M.watch_pc)
            pcsc_cancel(M.watch_pc);
        mutex_unlock(M.lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 10 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&life_cv, &life, &until);
    }
    for (int i = 0; i < MAX_SLOTS; i++) {
        token_t *t = &M.tokens[i];
        if (!t->lock)
            continue;
        mutex_lock(t->lock);
        token_forget_card(t);
        pcsc_close(t->pc);
        t->pc = NULL;
        mutex_unlock(t->lock);
        mutex_free(t->lock);
    }
    if (M.ks) {
        ks_logout(M.ks);
        ks_session_close(M.ks_misc);
        ks_close(M.ks);
    }
    pcsc_watch_free(M.watch);
    pcsc_close(M.watch_pc);
    pcsc_close(M.pc);
    pthread_mutex_destroy(&M.watch_lock);
    mutex_free(M.lock);
    ks_wipe(&M, sizeof M);
    pthread_mutex_unlock(&life);
    return CKR_OK;
}

CK_RV module_wait_begin(void)
{
    /* under the life lock: C_Finalize may be under way in another thread */
    pthread_mutex_lock(&life);
    CK_RV rv = CKR_CRYPTOKI_NOT_INITIALIZED;
    if (module_live() && !module_finalizing()) {
        M.waiters++;
        rv = CKR_OK;
    }
    pthread_mutex_unlock(&life);
    return rv;
}

void module_wait_end(void)
{
    pthread_mutex_lock(&life);
    M.waiters--;
    pthread_cond_broadcast(&life_cv);
    pthread_mutex_unlock(&life);
}
