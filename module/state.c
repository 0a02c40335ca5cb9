/* The module's state (M) and its locks: the OS's, or the application's
 * from C_Initialize (see module.h). */
#include "config.h"
#include "module.h"

#include <pthread.h>
#include <stdlib.h>

struct module M;

static CK_C_INITIALIZE_ARGS app_locks;
static int use_app_locks;

void mutex_use(const CK_C_INITIALIZE_ARGS *a)
{
    use_app_locks = a != NULL;
    if (a)
        app_locks = *a;
}

CK_RV mutex_new(mutex_t *m)
{
    if (use_app_locks)
        return app_locks.CreateMutex(m);
    pthread_mutex_t *p = malloc(sizeof *p);
    if (!p)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(p, NULL);
    *m = p;
    return CKR_OK;
}

void mutex_free(mutex_t m)
{
    if (!m)
        return;
    if (use_app_locks) {
        app_locks.DestroyMutex(m);
        return;
    }
    pthread_mutex_destroy(m);
    free(m);
}

void mutex_lock(mutex_t m)
{
    if (use_app_locks)
        app_locks.LockMutex(m);
    else
        pthread_mutex_lock(m);
}

void mutex_unlock(mutex_t m)
{
    if (use_app_locks)
        app_locks.UnlockMutex(m);
    else
        pthread_mutex_unlock(m);
}

