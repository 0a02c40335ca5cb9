/* PC/SC transport over pcsc-lite: see pcsc.h. */
#define _GNU_SOURCE /* dladdr */
#include "config.h"
#include "pcsc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winscard.h>

/* pcsc-lite's client library copies the reader states it gets from pcscd
 * into one global array, guarded only by the lock of the context in use:
 * two threads asking for states on two contexts at once race on it (seen by
 * ThreadSanitizer in SCardStatus). The short calls that fetch states go one
 * at a time; APDUs to different cards still travel in parallel. */
static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
#define STATES(call)                                                                               \
    (pthread_mutex_lock(&states_lock), states_rv = (call), pthread_mutex_unlock(&states_lock),     \
     states_rv)
static __thread LONG states_rv;

void pcsc_fork_prepare(void) { pthread_mutex_lock(&states_lock); }
void pcsc_fork_resume(void) { pthread_mutex_unlock(&states_lock); }

struct pcsc_ctx {
    SCARDCONTEXT ctx;
};

struct pcsc_card {
    pcsc_ctx_t *p;
    pcsc_ctx_t own;            /* pcsc_connect_wait: a context of its own (p == &own) */
    SCARDHANDLE h;
    DWORD proto;
    int held;                  /* inside our PC/SC transaction */
    DWORD events;              /* pcscd's insertion/removal count when we connected */
    char reader[PCSC_READER_MAX];
};

scp_err_t pcsc_open(pcsc_ctx_t **out, char *err, size_t errlen)
{
    *out = NULL;
    pcsc_ctx_t *p = calloc(1, sizeof *p);
    if (!p)
        return SCP_E_TRANSPORT;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &p->ctx);
    if (rv != SCARD_S_SUCCESS) {
        snprintf(err, errlen, "cannot reach the PC/SC service (pcscd): %s",
                 pcsc_stringify_error(rv));
        free(p);
        return SCP_E_TRANSPORT;
    }
    *out = p;
    return SCP_OK;
}

void pcsc_close(pcsc_ctx_t *p)
{
    if (!p)
        return;
    SCardReleaseContext(p->ctx);
    free(p);
}

int pcsc_list_readers(pcsc_ctx_t *p, char names[][PCSC_READER_MAX], int max)
{
    DWORD len = 0;
    LONG rv = STATES(SCardListReaders(p->ctx, NULL, NULL, &len));
    if (rv == SCARD_E_NO_READERS_AVAILABLE)
        return 0;
    if (rv != SCARD_S_SUCCESS)
        return -1;
    char *buf = malloc(len);
    if (!buf)
        return -1;
    rv = STATES(SCardListReaders(p->ctx, NULL, buf, &len));
    int n = 0;
    if (rv == SCARD_S_SUCCESS)
        for (char *r = buf; *r && n < max; r += strlen(r) + 1)
            snprintf(names[n++], PCSC_READER_MAX, "%s", r);
    free(buf);
    return rv == SCARD_E_NO_READERS_AVAILABLE ? 0 : rv == SCARD_S_SUCCESS ? n : -1;
}

/* The reader's state as pcscd says it now (never waits). 0, or -1 when pcscd
 * does not answer. */
static int reader_state(pcsc_ctx_t *p, const char *reader, DWORD *state)
{
    SCARD_READERSTATE st;
    memset(&st, 0, sizeof st);
    st.szReader = reader;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    LONG rv = STATES(SCardGetStatusChange(p->ctx, 0, &st, 1));
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
        return -1;
    *state = st.dwEventState;
    return 0;
}

/* A card that answers is in the reader. */
static int card_in(DWORD state)
{
    return (state & SCARD_STATE_PRESENT) && !(state & SCARD_STATE_MUTE);
}

int pcsc_card_present(pcsc_ctx_t *p, const char *reader)
{
    DWORD state;
    return reader_state(p, reader, &state) < 0 ? -1 : card_in(state);
}

struct pcsc_watch {
    pcsc_ctx_t *p;
    int n, relist, first;
    char names[PCSC_WATCH_MAX][PCSC_READER_MAX];
    SCARD_READERSTATE st[PCSC_WATCH_MAX + 1]; /* readers, then the PnP pseudo reader */
};

pcsc_watch_t *pcsc_watch_new(pcsc_ctx_t *p)
{
    pcsc_watch_t *w = calloc(1, sizeof *w);
    if (w) {
        w->p = p;
        w->relist = 1;
        w->first = 1;
    }
    return w;
}

void pcsc_watch_free(pcsc_watch_t *w) { free(w); }

/* Re-reads the reader list, keeping the known state of readers that stay. */
static int relist(pcsc_watch_t *w)
{
    char names[PCSC_WATCH_MAX][PCSC_READER_MAX];
    int n = pcsc_list_readers(w->p, names, PCSC_WATCH_MAX);
    if (n < 0)
        return -1;
    SCARD_READERSTATE st[PCSC_WATCH_MAX + 1];
    memset(st, 0, sizeof st);
    for (int i = 0; i < n; i++) {
        st[i].dwCurrentState = SCARD_STATE_UNAWARE;
        for (int j = 0; j < w->n; j++)
            if (strcmp(w->names[j], names[i]) == 0) {
                st[i].dwCurrentState = w->st[j].dwCurrentState;
                st[i].dwEventState = w->st[j].dwEventState;
            }
    }
    memcpy(w->names, names, sizeof names);
    memcpy(w->st, st, sizeof st);
    w->n = n;
    for (int i = 0; i < n; i++)
        w->st[i].szReader = w->names[i];
    w->st[n].szReader = "\\\\?PnP?\\Notification";
    w->st[n].dwCurrentState = (DWORD)n << 16;
    w->relist = 0;
    return 0;
}

int pcsc_watch_wait(pcsc_watch_t *w, long timeout_ms)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        int changed_list = w->relist;
        if (w->relist && relist(w) != 0)
            return -1;
        if (w->first || changed_list) {
            /* report the state now; a wait starts from it next time */
            LONG rv = STATES(SCardGetStatusChange(w->p->ctx, 0, w->st, (DWORD)w->n + 1));
            if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
                return -1;
            for (int i = 0; i < w->n; i++)
                w->st[i].dwCurrentState = w->st[i].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
            int was_first = w->first;
            w->first = 0;
            if (was_first || changed_list)
                return 1;
        }
        LONG rv = SCardGetStatusChange(w->p->ctx, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms,
                                       w->st, (DWORD)w->n + 1);
        if (rv == SCARD_E_TIMEOUT)
            return 0;
        if (rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE) {
            w->relist = 1;
            continue;
        }
        if (rv != SCARD_S_SUCCESS)
            return -1;
        if (w->st[w->n].dwEventState & SCARD_STATE_CHANGED)
            w->relist = 1;
        for (int i = 0; i < w->n; i++)
            w->st[i].dwCurrentState = w->st[i].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
        if (w->relist)
            relist(w);
        return 1;
    }
    return -1;
}

int pcsc_watch_count(const pcsc_watch_t *w) { return w->n; }
const char *pcsc_watch_name(const pcsc_watch_t *w, int i) { return w->names[i]; }

int pcsc_watch_present(const pcsc_watch_t *w, int i) { return card_in(w->st[i].dwCurrentState); }

void pcsc_cancel(pcsc_ctx_t *p) { SCardCancel(p->ctx); }

static scp_err_t map_error(LONG rv, const char *what, const char *reader, char *err, size_t errlen)
{
    switch (rv) {
    case SCARD_W_REMOVED_CARD:
    case SCARD_E_NO_SMARTCARD:
        snprintf(err, errlen, "%s: the card was removed from \"%s\"", what, reader);
        return SCP_E_REMOVED;
    case SCARD_W_RESET_CARD:
        snprintf(err, errlen, "%s: the card in \"%s\" was reset by another application; its "
                              "secure channel is gone", what, reader);
        return SCP_E_REMOVED;
    case SCARD_E_READER_UNAVAILABLE:
    case SCARD_E_UNKNOWN_READER:
        snprintf(err, errlen, "%s: reader \"%s\" is gone", what, reader);
        return SCP_E_REMOVED;
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_F_COMM_ERROR:
    case SCARD_E_INVALID_HANDLE:
        snprintf(err, errlen, "%s: the PC/SC service (pcscd) stopped; the card in \"%s\" is "
                              "unreachable until it runs again", what, reader);
        return SCP_E_REMOVED;
    default:
        snprintf(err, errlen, "%s on \"%s\" failed: %s", what, reader, pcsc_stringify_error(rv));
        return SCP_E_TRANSPORT;
    }
}

scp_err_t pcsc_connect(pcsc_ctx_t *p, const char *reader, pcsc_card_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    pcsc_card_t *c = calloc(1, sizeof *c);
    if (!c)
        return SCP_E_TRANSPORT;
    snprintf(c->reader, sizeof c->reader, "%s", reader);
    c->p = p;
    LONG rv = STATES(SCardConnect(p->ctx, reader, SCARD_SHARE_SHARED,
                                  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &c->h, &c->proto));
    if (rv != SCARD_S_SUCCESS) {
        scp_err_t e = map_error(rv, "connecting to the card", reader, err, errlen);
        free(c);
        return e;
    }
    *out = c;
    return SCP_OK;
}

/* pcscd's count of insertions and removals in a reader (the high 16 bits of
 * the event state), or -1 when the reader has no card. */
static long reader_events(pcsc_ctx_t *p, const char *reader)
{
    DWORD state;
    if (reader_state(p, reader, &state) < 0 || !card_in(state))
        return -1;
    return (long)(state >> 16);
}

void pcsc_disconnect(pcsc_card_t *c)
{
    if (!c)
        return;
    if (c->held)
        SCardEndTransaction(c->h, SCARD_LEAVE_CARD);
    SCardDisconnect(c->h, SCARD_LEAVE_CARD);
    if (c->p == &c->own)
        SCardReleaseContext(c->own.ctx);
    free(c);
}

/* --- waiting for a card another program holds ---------------------------------------------------- */

/* A connect or a transaction's begin, run in a helper thread so that the
 * caller can stop waiting (see pcsc.h). */
enum job_kind { JOB_CONNECT, JOB_BEGIN };
struct job {
    pthread_mutex_t m;
    pthread_cond_t cv;
    enum job_kind kind;
    int done, abandoned;
    LONG rv;
    SCARDCONTEXT ctx;
    SCARDHANDLE h;
    DWORD proto;
    char reader[PCSC_READER_MAX];
};

/* A connect still waiting in a helper thread will come back into this code
 * after the application may have unloaded the module: keep it loaded. */
static void pin_module(void)
{
    Dl_info info;
    if (dladdr((void *)pin_module, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void job_cleanup(struct job *j)
{
    if (j->kind == JOB_CONNECT && j->rv == SCARD_S_SUCCESS)
        SCardDisconnect(j->h, SCARD_LEAVE_CARD);
    if (j->kind == JOB_CONNECT && j->ctx)
        SCardReleaseContext(j->ctx);
    pthread_mutex_destroy(&j->m);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void *job_run(void *arg)
{
    struct job *j = arg;
    LONG rv;
    if (j->kind == JOB_CONNECT) {
        rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &j->ctx);
        if (rv != SCARD_S_SUCCESS)
            j->ctx = 0;
        else
            rv = SCardConnect(j->ctx, j->reader, SCARD_SHARE_SHARED,
                              SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &j->h, &j->proto);
    } else {
        rv = SCardBeginTransaction(j->h);
    }
    pthread_mutex_lock(&j->m);
    j->rv = rv;
    j->done = 1;
    int abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->m);
    if (abandoned)
        job_cleanup(j);
    return NULL;
}

/* Starts the job and waits for it at most wait_ms. Returns 1 when it is
 * done (j->rv set), 0 when the wait ran out (the thread still runs), -1 when
 * no thread could be started. */
/* What pcscd takes to answer a connect or a transaction on a card nobody
 * holds: a wait of 0 ("do not wait for another program") still allows it. */
#define PCSC_ANSWER_MS 500

static int job_wait(struct job *j, long wait_ms, pthread_t *th)
{
    if (wait_ms < PCSC_ANSWER_MS)
        wait_ms = PCSC_ANSWER_MS;
    pthread_mutex_init(&j->m, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (pthread_create(th, NULL, job_run, j) != 0)
        return -1;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->m);
    while (!j->done && pthread_cond_timedwait(&j->cv, &j->m, &until) != ETIMEDOUT)
        ;
    int done = j->done;
    pthread_mutex_unlock(&j->m);
    return done;
}

static void busy(char *err, size_t errlen, const char *reader, long wait_ms)
{
    snprintf(err, errlen, "the card in \"%s\" is in use by another program, which holds it (a "
                          "PC/SC transaction: another gp-p11 login, or another card tool); gp-p11 "
                          "waited %s%ld s. Try again when that program is done, or raise card_wait",
             reader, wait_ms ? "" : "no longer than pcscd takes to answer, card_wait = ",
             wait_ms / 1000);
}

scp_err_t pcsc_connect_wait(const char *reader, long wait_ms, pcsc_card_t **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    struct job *j = calloc(1, sizeof *j);
    pcsc_card_t *c = calloc(1, sizeof *c);
    if (!j || !c) {
        free(j);
        free(c);
        snprintf(err, errlen, "out of memory");
        return SCP_E_TRANSPORT;
    }
    j->kind = JOB_CONNECT;
    snprintf(j->reader, sizeof j->reader, "%s", reader);
    snprintf(c->reader, sizeof c->reader, "%s", reader);
    pthread_t th;
    int done = job_wait(j, wait_ms, &th);
    if (done < 0) {
        free(j);
        free(c);
        snprintf(err, errlen, "connecting to the card in \"%s\": no thread", reader);
        return SCP_E_TRANSPORT;
    }
    if (!done) {
        /* still waiting inside pcscd: leave it to clean up after itself */
        pthread_mutex_lock(&j->m);
        j->abandoned = 1;
        done = j->done;
        pthread_mutex_unlock(&j->m);
        if (!done) {
            pthread_detach(th);
            pin_module();
            free(c);
            busy(err, errlen, reader, wait_ms);
            return SCP_E_BUSY;
        }
        j->abandoned = 0; /* it finished just now after all */
    }
    pthread_join(th, NULL);
    LONG rv = j->rv;
    c->own.ctx = j->ctx;
    c->p = &c->own;
    c->h = j->h;
    c->proto = j->proto;
    pthread_mutex_destroy(&j->m);
    pthread_cond_destroy(&j->cv);
    free(j);
    if (rv != SCARD_S_SUCCESS) {
        if (c->own.ctx)
            SCardReleaseContext(c->own.ctx);
        scp_err_t e = rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_REMOVED_CARD ||
                              rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE
                          ? SCP_E_REMOVED
                          : SCP_E_TRANSPORT;
        snprintf(err, errlen, "connecting to the card in \"%s\": %s", reader,
                 pcsc_stringify_error(rv));
        free(c);
        return e;
    }
    long ev = reader_events(c->p, reader);
    c->events = ev < 0 ? 0 : (DWORD)ev;
    *out = c;
    return SCP_OK;
}

scp_err_t pcsc_hold(pcsc_card_t **pc, long wait_ms, int *was_reset, char *err, size_t errlen)
{
    pcsc_card_t *c = *pc;
    *was_reset = 0;
    if (c->held)
        return SCP_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct job *j = calloc(1, sizeof *j);
        if (!j) {
            snprintf(err, errlen, "out of memory");
            return SCP_E_TRANSPORT;
        }
        j->kind = JOB_BEGIN;
        j->h = c->h;
        pthread_t th;
        int done = job_wait(j, wait_ms, &th);
        if (done < 0) {
            free(j);
            snprintf(err, errlen, "holding the card in \"%s\": no thread", c->reader);
            return SCP_E_TRANSPORT;
        }
        if (!done) {
            /* pcscd lets a waiting begin go only when its handle is closed */
            SCardDisconnect(c->h, SCARD_LEAVE_CARD);
            c->h = 0;
        }
        pthread_join(th, NULL);
        LONG rv = j->rv;
        pthread_mutex_destroy(&j->m);
        pthread_cond_destroy(&j->cv);
        free(j);
        if (!done) {
            busy(err, errlen, c->reader, wait_ms);
            pcsc_disconnect(c);
            *pc = NULL;
            return SCP_E_BUSY;
        }
        if (rv == SCARD_S_SUCCESS) {
            c->held = 1;
            return SCP_OK;
        }
        if (rv == SCARD_W_RESET_CARD && attempt == 0) {
            /* another program reset the card: whatever we had open on it is gone */
            *was_reset = 1;
            DWORD proto;
            if (SCardReconnect(c->h, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                               SCARD_LEAVE_CARD, &proto) == SCARD_S_SUCCESS) {
                c->proto = proto;
                continue;
            }
        }
        scp_err_t e = map_error(rv, "holding the card", c->reader, err, errlen);
        pcsc_disconnect(c);
        *pc = NULL;
        return e == SCP_E_TRANSPORT ? e : SCP_E_REMOVED;
    }
    return SCP_E_TRANSPORT;
}

void pcsc_release(pcsc_card_t *c)
{
    if (c && c->held) {
        SCardEndTransaction(c->h, SCARD_LEAVE_CARD);
        c->held = 0;
    }
}

int pcsc_held(const pcsc_card_t *c) { return c && c->held; }

int pcsc_still_there(pcsc_card_t *c)
{
    long ev = reader_events(c->p, c->reader);
    return ev >= 0 && (DWORD)ev == c->events;
}

scp_err_t pcsc_card_status(pcsc_card_t *c)
{
    DWORD rlen = 0, state = 0, proto = 0, alen = 0;
    LONG rv = STATES(SCardStatus(c->h, NULL, &rlen, &state, &proto, NULL, &alen));
    if (rv == SCARD_S_SUCCESS && (state & SCARD_PRESENT))
        return SCP_OK;
    return rv == SCARD_S_SUCCESS || rv == SCARD_W_REMOVED_CARD || rv == SCARD_W_RESET_CARD ||
                   rv == SCARD_E_NO_SMARTCARD || rv == SCARD_E_READER_UNAVAILABLE
               ? SCP_E_REMOVED
               : SCP_E_TRANSPORT;
}

/* After a failed exchange: has the card left the reader? pcscd notices a
 * removal by polling, so wait (for events, at most a second) for it to say. */
static int card_gone(pcsc_card_t *c)
{
    SCARD_READERSTATE st;
    memset(&st, 0, sizeof st);
    st.szReader = c->reader;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    if (STATES(SCardGetStatusChange(c->p->ctx, 0, &st, 1)) != SCARD_S_SUCCESS)
        return 1;
    if (!(st.dwEventState & SCARD_STATE_PRESENT))
        return 1;
    st.dwCurrentState = st.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    LONG rv = SCardGetStatusChange(c->p->ctx, 1000, &st, 1);
    return rv == SCARD_S_SUCCESS && !(st.dwEventState & SCARD_STATE_PRESENT);
}

static scp_err_t pcsc_transmit(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp,
                               size_t *rsp_len, char *err, size_t errlen)
{
    pcsc_card_t *c = ctx;
    const SCARD_IO_REQUEST *pci = c->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    DWORD rl = (DWORD)*rsp_len;
    LONG rv = SCardTransmit(c->h, pci, cmd, (DWORD)len, NULL, rsp, &rl);
    /* a card pulled out while the command ran shows as a failed exchange or,
     * with some readers (vpcd), as an empty answer */
    if ((rv == SCARD_E_NOT_TRANSACTED || (rv == SCARD_S_SUCCESS && rl < 2)) && card_gone(c))
        rv = SCARD_W_REMOVED_CARD;
    if (rv != SCARD_S_SUCCESS)
        return map_error(rv, "sending a command", c->reader, err, errlen);
    *rsp_len = rl;
    return SCP_OK;
}

gp_transport_t pcsc_transport(pcsc_card_t *c)
{
    gp_transport_t t = {pcsc_transmit, c};
    return t;
}
