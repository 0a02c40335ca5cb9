/* PC/SC transport over pcsc-lite: see pcsc.h. */
#include "config.h"
#include "pcsc.h"

#include <pthread.h>
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

struct pcsc_ctx {
    SCARDCONTEXT ctx;
};

struct pcsc_card {
    pcsc_ctx_t *p;
    SCARDHANDLE h;
    DWORD proto;
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

int pcsc_card_present(pcsc_ctx_t *p, const char *reader)
{
    SCARD_READERSTATE st;
    memset(&st, 0, sizeof st);
    st.szReader = reader;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    LONG rv = STATES(SCardGetStatusChange(p->ctx, 0, &st, 1));
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
        return -1;
    return (st.dwEventState & SCARD_STATE_PRESENT) && !(st.dwEventState & SCARD_STATE_MUTE);
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

int pcsc_watch_present(const pcsc_watch_t *w, int i)
{
    DWORD s = w->st[i].dwCurrentState;
    return (s & SCARD_STATE_PRESENT) && !(s & SCARD_STATE_MUTE);
}

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

void pcsc_disconnect(pcsc_card_t *c)
{
    if (!c)
        return;
    SCardDisconnect(c->h, SCARD_LEAVE_CARD);
    free(c);
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
