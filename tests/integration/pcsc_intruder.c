/*
 * The other PC/SC client of the shared-reader test: for SECONDS seconds it
 * connects to the card in READER, selects an applet and reads from it in the
 * clear, selects the issuer security domain and reads its CPLC in the clear,
 * and disconnects: no transaction, as a careless card tool does. Prints how
 * many rounds it made. With --reset it ends every round with a card reset.
 * With --reset-after it connects at once, waits SECONDS and resets the card
 * (pcscd lets a program connected before another's transaction do that).
 *
 *   pcsc_intruder READER SECONDS [--reset | --reset-after]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int reset = argc > 3 && !strcmp(argv[3], "--reset");
    signal(SIGTERM, on_term); /* stop after the round under way, and say how many */
    SCARDCONTEXT ctx;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
        return 2;
    static const BYTE sel_app[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x00, 0x00, 0x00, 0x01, 0x01};
    static const BYTE get[] = {0x00, 0xCA, 0x9F, 0x7F, 0x00};
    static const BYTE sel_isd[] = {0x00, 0xA4, 0x04, 0x00, 0x00};
    static const BYTE cplc[] = {0x80, 0xCA, 0x9F, 0x7F, 0x00};
    const BYTE *cmds[] = {sel_app, get, sel_isd, cplc};
    const DWORD lens[] = {sizeof sel_app, sizeof get, sizeof sel_isd, sizeof cplc};
    if (argc > 3 && !strcmp(argv[3], "--reset-after")) {
        SCARDHANDLE h;
        DWORD proto;
        if (SCardConnect(ctx, argv[1], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h,
                         &proto) != SCARD_S_SUCCESS)
            return 1;
        printf("intruder: connected\n");
        fflush(stdout);
        double secs = atof(argv[2]);
        struct timespec t = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
        nanosleep(&t, NULL);
        LONG rv = SCardDisconnect(h, SCARD_RESET_CARD);
        printf("intruder: reset %s\n", pcsc_stringify_error(rv));
        fflush(stdout);
        SCardReleaseContext(ctx);
        return rv == SCARD_S_SUCCESS ? 0 : 1;
    }
    double end = now() + atof(argv[2]);
    long rounds = 0, answered = 0;
    while (now() < end && !stop) {
        SCARDHANDLE h;
        DWORD proto;
        if (SCardConnect(ctx, argv[1], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                         &h, &proto) != SCARD_S_SUCCESS)
            continue;
        for (int i = 0; i < 4; i++) {
            BYTE r[300];
            DWORD rl = sizeof r;
            if (SCardTransmit(h, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1,
                              cmds[i], lens[i], NULL, r, &rl) == SCARD_S_SUCCESS)
                answered++;
        }
        SCardDisconnect(h, reset ? SCARD_RESET_CARD : SCARD_LEAVE_CARD);
        rounds++;
    }
    SCardReleaseContext(ctx);
    printf("intruder: %ld rounds, %ld answers\n", rounds, answered);
    return rounds > 0 ? 0 : 1;
}
