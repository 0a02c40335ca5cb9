/*
 * pcsc-wait: waits on PC/SC events (SCardGetStatusChange), never on sleeps.
 *   pcsc-wait --cards N [--timeout SEC]        at least N readers hold a card
 *   pcsc-wait --present TEXT [--timeout SEC]   the reader whose name has TEXT holds a card
 *   pcsc-wait --absent TEXT [--timeout SEC]    ... holds no card
 *   pcsc-wait --list                           print the readers and exit
 * Exit 0 when the condition holds, 1 on timeout, 2 on error.
 */
#include "config.h"
#include "scp/pcsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* 1 when the condition holds, 0 when not yet */
static int check(const pcsc_watch_t *w, int cards, const char *reader, int want_present, int list)
{
    int present = 0, matched = 0, ok = 1;
    for (int i = 0; i < pcsc_watch_count(w); i++) {
        int has = pcsc_watch_present(w, i);
        if (list)
            printf("%s\t%s\n", pcsc_watch_name(w, i), has ? "card" : "empty");
        present += has;
        if (reader && strstr(pcsc_watch_name(w, i), reader)) {
            matched = 1;
            if (has != want_present)
                ok = 0;
        }
    }
    if (reader)
        return ok && (matched || !want_present);
    return present >= cards;
}

int main(int argc, char **argv)
{
    int cards = 0, want_present = 1, list = 0;
    const char *reader = NULL;
    long timeout = 15;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cards") && i + 1 < argc)
            cards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--present") && i + 1 < argc)
            reader = argv[++i], want_present = 1;
        else if (!strcmp(argv[i], "--absent") && i + 1 < argc)
            reader = argv[++i], want_present = 0;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = atol(argv[++i]);
        else if (!strcmp(argv[i], "--list"))
            list = 1;
        else {
            fprintf(stderr, "usage: pcsc-wait --cards N | --present TEXT | --absent TEXT | --list "
                            "[--timeout SEC]\n");
            return 2;
        }
    }
    char err[256];
    long deadline = now_ms() + timeout * 1000;
    pcsc_ctx_t *p = NULL;
    /* pcscd may still be starting */
    while (pcsc_open(&p, err, sizeof err) != SCP_OK) {
        if (now_ms() > deadline) {
            fprintf(stderr, "pcsc-wait: %s\n", err);
            return 2;
        }
        struct timespec t = {0, 20 * 1000000L};
        nanosleep(&t, NULL);
    }
    int rc = 1;
    pcsc_watch_t *w = pcsc_watch_new(p);
    while (w) {
        long left = deadline - now_ms();
        int r = pcsc_watch_wait(w, left > 0 ? left : 0);
        if (r < 0) {
            rc = 2;
            break;
        }
        if (check(w, cards, reader, want_present, list)) {
            rc = 0;
            break;
        }
        if (list || left <= 0)
            break;
    }
    pcsc_watch_free(w);
    if (rc == 1)
        fprintf(stderr, "pcsc-wait: timed out after %ld s\n", timeout);
    pcsc_close(p);
    return rc;
}
