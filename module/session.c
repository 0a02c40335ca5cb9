/* Sessions: the table (handles carry a reuse count, so a stale handle is
 * refused), and how an entry point enters and leaves a session's call. */
#include "config.h"
#include "module.h"

#include <string.h>

session_t *session_find(CK_SESSION_HANDLE h)
{
    if (h == CK_INVALID_HANDLE)
        return NULL;
    session_t *s = &M.sessions[(h - 1) % MAX_SESSIONS];
    return s->handle == h ? s : NULL;
}

session_t *session_new(int slot, CK_FLAGS flags, unsigned long generation)
{
    for (CK_ULONG k = 0; k < MAX_SESSIONS; k++) {
        CK_ULONG i = (M.session_reuse + k) % MAX_SESSIONS;
        session_t *s = &M.sessions[i];
        if (s->handle)
            continue;
        memset(s, 0, sizeof *s);
        M.session_reuse++;
        s->handle = i + 1 + MAX_SESSIONS * (M.session_reuse % 1000000);
        s->slot = slot;
        s->flags = flags;
        s->generation = generation;
        return s;
    }
    return NULL;
}

void session_free(session_t *s)
{
    memset(s, 0, sizeof *s);
}

/* --- entering and leaving a call (the entry points' state checks) --- */

/* Token lock held: forgets a session; the last one logs the token out. */
void session_close_locked(token_t *t, session_t *s)
{
    mutex_lock(M.lock);
    /* a session of a card that went away no longer counts (token_forget_card) */
    int live = s->generation == t->generation;
    if (live)
        plain_session_closed(t, s);
    session_free(s);
    int last = live && --t->n_sessions <= 0;
    if (last)
        t->n_sessions = 0;
    mutex_unlock(M.lock);
    if (last)
        token_logout(t);
}

CK_RV session_lock(CK_SESSION_HANDLE h, session_t **ps, token_t **pt)
{
    mutex_lock(M.lock);
    session_t *s = session_find(h);
    token_t *t = s ? &M.tokens[s->slot] : NULL;
    mutex_unlock(M.lock);
    if (!s)
        return CKR_SESSION_HANDLE_INVALID;
    mutex_lock(t->lock);
    if (s->handle != h) { /* closed meanwhile */
        mutex_unlock(t->lock);
        return CKR_SESSION_HANDLE_INVALID;
    }
    *ps = s;
    *pt = t;
    return CKR_OK;
}

CK_RV session_enter(CK_SESSION_HANDLE h, session_t **ps, token_t **pt)
{
    if (!module_live())
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_t *s;
    token_t *t;
    CK_RV rv = session_lock(h, &s, &t);
    if (rv != CKR_OK)
        return rv;
    if (t->card)
        token_present(t);
    if (s->generation != t->generation) {
        session_close_locked(t, s);
        mutex_unlock(t->lock);
        return CKR_DEVICE_REMOVED;
    }
    t->refused_sw = 0;
    t->login_failure = 0;
    *ps = s;
    *pt = t;
    return CKR_OK;
}

CK_RV session_may(const session_t *s, const token_t *t, unsigned needs)
{
    if ((needs & NEEDS_USER) && !t->logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    if ((needs & NEEDS_RW) && !(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    return CKR_OK;
}

CK_RV token_leave(token_t *t, CK_RV rv)
{
    mutex_unlock(t->lock);
    return rv;
}

CK_RV session_finish(token_t *t, session_t *s, CK_RV rv)
{
    if (s->handle && s->generation != t->generation)
        session_close_locked(t, s);
    return token_leave(t, rv);
}

CK_RV session_done(token_t *t, session_t *s, CK_RV rv)
{
    s->device_error = rv == CKR_OK ? 0 : ((CK_ULONG)t->login_failure << 16) | t->refused_sw;
    return session_finish(t, s, rv);
}

CK_RV slot_enter(CK_SLOT_ID id, token_t **pt)
{
    mutex_lock(M.lock);
    token_t *t = slot_token(id);
    mutex_unlock(M.lock);
    if (!t)
        return CKR_SLOT_ID_INVALID;
    mutex_lock(t->lock);
    *pt = t;
    return CKR_OK;
}
