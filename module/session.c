/* Session table: handles carry a reuse count, so a stale handle is refused. */
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
