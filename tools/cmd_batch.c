/* gp-p11 run --each-card FILE: the step list on every card put in a reader
 * (and on those there at the start), until --cards N have had it or a signal
 * comes. Each card's run is a gp-p11 run of its own: its own process, module
 * instance, login and secure channel, the card held by it alone; cards in
 * several readers run at once. The batch itself never logs in and never talks
 * to a card beyond reading its token (gp-p11(1), STEP LISTS).
 *
 * The PIN is read once and given to each card's run on a pipe; until one run
 * has had it taken by the keystore, runs go one at a time, so that a wrong
 * PIN is tried once, not once per card (tell_batch in p11.c). */
#define _GNU_SOURCE /* close_range */
#include "config.h"
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keystore/keystore.h"

#define SLOTS 32

typedef struct {
    char b[2048];
    size_t n;
} line_t;

typedef struct {
    int pending;              /* a card is there, its run not started */
    int had_run;              /* this insertion had its run: not again until it is taken out */
    pid_t pid;                /* its run, 0: none */
    int out, err, status;     /* its standard output, error and batch fd; -1: closed */
    line_t out_line, err_line;
    char last_err[1024];      /* its last line on standard error: what failed, in words */
    FILE *doc;                /* its JSON document (--json) */
    char *doc_buf;
    size_t doc_len;
    struct timespec start;
    CK_TOKEN_INFO ti;
    char reader[65], serial[17];
} card_t;

static int wake[2] = {-1, -1}; /* signals and slot events wake the loop */
static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
    if (!stop_sig)
        stop_sig = sig;
    int e = errno;
    ssize_t w = write(wake[1], "\377", 1); /* 0xFF: a signal */
    (void)w;
    errno = e;
}

static void on_child(int sig)
{
    (void)sig;
    int e = errno;
    ssize_t w = write(wake[1], "\376", 1); /* 0xFE: a run ended */
    (void)w;
    errno = e;
}

/* C_WaitForSlotEvent in a thread of its own, each event into the wake pipe;
 * it ends when C_Finalize wakes it. */
static void *waiter(void *arg)
{
    CK_FUNCTION_LIST *f = arg;
    for (;;) {
        CK_SLOT_ID slot;
        CK_RV rv = f->C_WaitForSlotEvent(0, &slot, NULL);
        if (rv == CKR_OK && slot < SLOTS) {
            unsigned char b = (unsigned char)slot; /* below SLOTS: a slot's event */
            ssize_t w = write(wake[1], &b, 1);
            (void)w;
        } else if (rv == CKR_CRYPTOKI_NOT_INITIALIZED) {
            break;
        } else if (rv != CKR_OK) { /* pcscd away: the module says so; try again */
            struct timespec s = {1, 0};
            nanosleep(&s, NULL);
        }
    }
    return NULL;
}

static double seconds_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void trimmed(char *dst, const CK_UTF8CHAR *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = 0;
    for (size_t k = n; k > 0 && dst[k - 1] == ' '; k--)
        dst[k - 1] = 0;
}

/* A card's lines on our stdout or stderr, each after its serial number. */
static void put_line(card_t *c, int to_err, const char *s, size_t n)
{
    FILE *o = to_err ? stderr : stdout;
    fprintf(o, "%s: %.*s\n", c->serial, (int)n, s);
    fflush(o);
    if (to_err) {
        const char *w = s;
        size_t wn = n;
        if (wn > 8 && !memcmp(w, "gp-p11: ", 8)) {
            w += 8;
            wn -= 8;
        }
        snprintf(c->last_err, sizeof c->last_err, "%.*s", (int)wn, w);
    }
}

static void take(card_t *c, line_t *l, int to_err, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || l->n == sizeof l->b) {
            put_line(c, to_err, l->b, l->n);
            l->n = 0;
            if (buf[i] == '\n')
                continue;
        }
        l->b[l->n++] = buf[i];
    }
}

/* The card's run: this program again, on that card alone, with the batch's
 * choices; the PIN on its standard input. */
static int start(tool_t *t, card_t *c, const char *file, const char *pin, int pin_len)
{
    int o[2], e[2], in[2], st[2];
    if (pipe(o) || pipe(e) || pipe(in) || pipe(st))
        return -1;
    char uri[1024], kv[16];
    p11_token_uri(&c->ti, uri, sizeof uri);
    const char *argv[40];
    int n = 0;
    argv[n++] = t->prog;
    if (t->module_path)
        argv[n++] = "--module", argv[n++] = t->module_path;
    argv[n++] = "--reader", argv[n++] = c->reader;
    argv[n++] = "--token", argv[n++] = uri;
    argv[n++] = "--pin-file", argv[n++] = "-";
    if (t->json)
        argv[n++] = "--json";
    if (t->verbose)
        argv[n++] = "--verbose";
    if (t->login.key_set)
        argv[n++] = "--key-set", argv[n++] = t->login.key_set;
    if (t->login.key_version >= 0) {
        snprintf(kv, sizeof kv, "%d", t->login.key_version);
        argv[n++] = "--key-version", argv[n++] = kv;
    }
    if (t->login.level)
        argv[n++] = "--level", argv[n++] = t->login.level;
    if (t->login.scp)
        argv[n++] = "--scp", argv[n++] = t->login.scp;
    if (t->login.div)
        argv[n++] = "--diversification", argv[n++] = t->login.div;
    if (t->login.isd)
        argv[n++] = "--isd", argv[n++] = t->login.isd;
    if (t->login.config)
        argv[n++] = "--config", argv[n++] = t->login.config;
    argv[n++] = "run";
    argv[n++] = file;
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0); /* a terminal's Ctrl-C reaches the batch, which passes it on once */
        dup2(in[0], 0);
        dup2(o[1], 1);
        dup2(e[1], 2);
        dup2(st[1], 3);
        close_range(4, ~0U, 0); /* nothing of the batch's module (PC/SC, the keystore) */
        setenv("GP_P11_BATCH_FD", "3", 1);
        unsetenv("GP_P11_LOG_FD");
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv("/proc/self/exe", (char **)argv);
        _exit(EX_ERROR);
    }
    close(in[0]);
    close(o[1]);
    close(e[1]);
    close(st[1]);
    ssize_t w1 = write(in[1], pin, (size_t)pin_len), w2 = write(in[1], "\n", 1);
    (void)w1;
    (void)w2;
    close(in[1]);
    c->pid = pid;
    c->out = o[0];
    c->err = e[0];
    c->status = st[0];
    c->pending = 0;
    c->had_run = 1;
    c->out_line.n = c->err_line.n = 0;
    c->last_err[0] = 0;
    c->doc_buf = NULL;
    c->doc_len = 0;
    c->doc = t->json ? open_memstream(&c->doc_buf, &c->doc_len) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    return 0;
}

/* A card's run ended: its line (JSON: one document), the counts. */
static void report(tool_t *t, card_t *c, int code)
{
    double secs = seconds_since(&c->start);
    if (c->out_line.n && !t->json)
        put_line(c, 0, c->out_line.b, c->out_line.n);
    if (c->err_line.n)
        put_line(c, 1, c->err_line.b, c->err_line.n);
    c->out_line.n = c->err_line.n = 0;
    if (c->doc)
        fclose(c->doc);
    c->doc = NULL;
    if (t->json) {
        json_t j;
        json_open(&j);
        json_obj(&j, "card");
        char v[65];
        json_str(&j, "reader", c->reader);
        trimmed(v, c->ti.label, sizeof c->ti.label);
        json_str(&j, "token", v);
        trimmed(v, c->ti.manufacturerID, sizeof c->ti.manufacturerID);
        json_str(&j, "manufacturer", v);
        trimmed(v, c->ti.model, sizeof c->ti.model);
        json_str(&j, "model", v);
        json_str(&j, "serial", c->serial);
        json_end(&j, '}');
        char s[32];
        snprintf(s, sizeof s, "%.3f", secs);
        json_raw(&j, "seconds", s);
        /* the card's own document, whole, or null if it printed none */
        size_t l = c->doc_len;
        while (l && (c->doc_buf[l - 1] == '\n' || c->doc_buf[l - 1] == ' '))
            l--;
        if (l && c->doc_buf[0] == '{' && c->doc_buf[l - 1] == '}' && !memchr(c->doc_buf, '\n', l)) {
            c->doc_buf[l] = 0;
            json_raw(&j, "run", c->doc_buf);
        } else {
            json_raw(&j, "run", "null");
        }
        if (code != EX_OK) {
            json_obj(&j, "error");
            json_int(&j, "exit", code);
            json_str(&j, "kind", tool_exit_kind(code));
            json_str(&j, "message", c->last_err[0] ? c->last_err : "the card's run ended");
            json_end(&j, '}');
        }
        json_print_doc(&j, code, "run", stdout);
        fflush(stdout);
    } else {
        printf("%s: card %s in \"%s\": %s (%.1f s)\n", t->prog, c->serial, c->reader,
               code == EX_OK ? "done" : "FAILED", secs);
        if (code != EX_OK)
            printf("%s:   exit %d: %s\n", t->prog, code,
                   c->last_err[0] ? c->last_err : "the card's run ended");
        fflush(stdout);
    }
    free(c->doc_buf);
    c->doc_buf = NULL;
    c->pid = 0;
}

int cmd_run_each_card(tool_t *t, const char *file)
{
    if (!strcmp(file, "-"))
        return tool_fail(t, EX_USAGE, "run --each-card reads the steps once for every card: give "
                                      "them in a file, not on standard input");
    if (access(file, R_OK) != 0)
        return tool_fail(t, EX_USAGE, "run %s: cannot read it", file);
    if (t->trace_file)
        return tool_fail(t, EX_USAGE, "--trace-file writes one run's trace: with --each-card, use "
                                      "-v (each card's trace lines after its serial number)");
    int code = p11_load(t);
    if (code != EX_OK)
        return code;
    char pin[PIN_MAX];
    int pin_len = 0;
    if ((code = p11_read_pin(t, pin, sizeof pin, &pin_len)) != EX_OK)
        return code;
    static card_t cards[SLOTS];
    memset(cards, 0, sizeof cards);
    for (int k = 0; k < SLOTS; k++)
        cards[k].out = cards[k].err = cards[k].status = -1;
    if (pipe(wake) != 0) {
        ks_wipe(pin, sizeof pin);
        return tool_fail(t, EX_ERROR, "run --each-card: no pipe (%s)", strerror(errno));
    }
    fcntl(wake[0], F_SETFL, O_NONBLOCK);
    fcntl(wake[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa, old_int, old_term, old_hup, old_chld, old_pipe;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, &old_chld);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, &old_pipe);
    /* the cards there now, then each one put in */
    CK_SLOT_ID slots[SLOTS];
    CK_ULONG ns = SLOTS;
    if (t->f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
        ns = 0;
    for (CK_ULONG i = 0; i < ns; i++)
        if (slots[i] < SLOTS)
            cards[slots[i]].pending = 1;
    pthread_t th;
    int have_waiter = pthread_create(&th, NULL, waiter, t->f) == 0;
    if (!have_waiter)
        fprintf(stderr, "%s: run --each-card: cannot wait for cards (no thread): the cards "
                        "present now only\n", t->prog);
    if (!t->json)
        fprintf(stderr, "%s: run --each-card %s: %s%s; Ctrl-C ends it\n", t->prog, file,
                t->o.cards ? "until " : "on every card put in a reader",
                t->o.cards ? (t->o.cards == 1 ? "one card has had it" : "the cards asked for")
                           : "");
    int pin_ok = 0, pin_bad = 0, started = 0, finished = 0, done = 0, failed = 0,
        first_fail = EX_OK, passed_on = 0;
    for (;;) {
        int running = 0;
        for (int k = 0; k < SLOTS; k++)
            running += cards[k].pid != 0;
        int want_more = !stop_sig && !pin_bad && (!t->o.cards || started < t->o.cards);
        /* start the cards waiting, one at a time until the PIN is known good */
        for (int k = 0; k < SLOTS && want_more; k++) {
            card_t *c = &cards[k];
            if (!c->pending || c->pid || (!pin_ok && running) || (t->o.cards && started >= t->o.cards))
                continue;
            c->pending = 0;
            if (p11_card_wanted(t, (CK_SLOT_ID)k, &c->ti, c->reader) != 1)
                continue;
            trimmed(c->serial, c->ti.serialNumber, sizeof c->ti.serialNumber);
            if (start(t, c, file, pin, pin_len) != 0) {
                fprintf(stderr, "%s: run --each-card: cannot start a run for card %s (%s)\n",
                        t->prog, c->serial, strerror(errno));
                continue;
            }
            started++;
            running++;
        }
        if (stop_sig && !passed_on) { /* once to every card's run: each ends as it says */
            passed_on = 1;
            for (int k = 0; k < SLOTS; k++)
                if (cards[k].pid)
                    kill(cards[k].pid, stop_sig);
        }
        if (!running && (stop_sig || pin_bad || (t->o.cards && finished >= t->o.cards)))
            break;
        struct pollfd pf[1 + 3 * SLOTS];
        int np = 0, who[1 + 3 * SLOTS];
        pf[np] = (struct pollfd){wake[0], POLLIN, 0};
        who[np++] = -1;
        for (int k = 0; k < SLOTS; k++) {
            int fds[3] = {cards[k].out, cards[k].err, cards[k].status};
            for (int m = 0; m < 3; m++)
                if (fds[m] >= 0) {
                    pf[np] = (struct pollfd){fds[m], POLLIN, 0};
                    who[np++] = k * 3 + m;
                }
        }
        if (poll(pf, (nfds_t)np, have_waiter ? -1 : 200) < 0 && errno != EINTR)
            break;
        if (pf[0].revents & POLLIN) {
            unsigned char b[64];
            ssize_t r;
            while ((r = read(wake[0], b, sizeof b)) > 0)
                for (ssize_t i = 0; i < r; i++)
                    if (b[i] < SLOTS) {
                        int k = b[i];
                        CK_SLOT_INFO si;
                        int present = t->f->C_GetSlotInfo((CK_SLOT_ID)k, &si) == CKR_OK &&
                                      (si.flags & CKF_TOKEN_PRESENT);
                        if (!present)
                            cards[k].had_run = cards[k].pending = 0;
                        else if (!cards[k].had_run && !cards[k].pid)
                            cards[k].pending = 1;
                    }
        }
        for (int i = 1; i < np; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            card_t *c = &cards[who[i] / 3];
            int m = who[i] % 3;
            char b[4096];
            ssize_t r = read(pf[i].fd, b, sizeof b);
            if (r > 0) {
                if (m == 0 && c->doc)
                    fwrite(b, 1, (size_t)r, c->doc);
                else if (m == 0)
                    take(c, &c->out_line, 0, b, (size_t)r);
                else if (m == 1)
                    take(c, &c->err_line, 1, b, (size_t)r);
                else if (memchr(b, 'P', (size_t)r)) {
                    pin_bad = 1;
                    tool_fail(t, EX_AUTH, "run --each-card: the keystore refused the PIN (card "
                                          "%s): no other card is tried with it", c->serial);
                } else {
                    pin_ok = 1;
                }
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(pf[i].fd);
                if (m == 0)
                    c->out = -1;
                else if (m == 1)
                    c->err = -1;
                else
                    c->status = -1;
            }
        }
        /* the runs that ended and said all they had to say */
        for (int k = 0; k < SLOTS; k++) {
            card_t *c = &cards[k];
            int st;
            if (!c->pid || c->out >= 0 || c->err >= 0 || waitpid(c->pid, &st, WNOHANG) != c->pid)
                continue;
            if (c->status >= 0) {
                close(c->status);
                c->status = -1;
            }
            int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            report(t, c, rc);
            finished++;
            if (rc == EX_OK) {
                done++;
            } else {
                failed++;
                if (first_fail == EX_OK)
                    first_fail = rc;
            }
        }
    }
    ks_wipe(pin, sizeof pin);
    p11_close(t); /* C_Finalize: the waiter's C_WaitForSlotEvent ends */
    if (have_waiter)
        pthread_join(th, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(wake[0]);
    close(wake[1]);
    int sig = stop_sig;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    json_int(&t->j, "cards", finished);
    json_int(&t->j, "done", done);
    json_int(&t->j, "failed", failed);
    if (!t->json)
        printf("%s: run --each-card: %d card%s, %d done, %d failed%s%s\n", t->prog, finished,
               finished == 1 ? "" : "s", done, failed, sig ? "; ended by " : "",
               sig ? strsignal(sig) : "");
    if (pin_bad)
        return EX_AUTH;
    if (sig) {
        t->interrupted = sig; /* main ends as the signal asked */
        return tool_fail(t, 128 + sig, "run --each-card: ended by %s after %d card%s (%d done, "
                                       "%d failed)", strsignal(sig), finished,
                         finished == 1 ? "" : "s", done, failed);
    }
    if (failed)
        return tool_fail(t, first_fail, "run --each-card: %d of %d cards failed (each said why "
                                        "above)", failed, finished);
    return EX_OK;
}
