/*
 * gp-sim: a GlobalPlatform card simulator for vsmartcard's vpcd.
 *
 * The card is a TCP client of vpcd: frames are a 2-byte big-endian length
 * and a payload; a 1-byte payload is a control message (0 power off, 1 power
 * on, 2 reset, 4 get ATR), anything else a command APDU.
 *
 *   gp-sim --port N [--host ADDR] [--profile FILE] [--cin HEX] [--t0]
 *          [--max-response N] [--control FILE] [--state FILE] [--no-quickack]
 *          [--verbose]
 *
 * --control names a file the simulator re-reads when it changes, to arm a
 * one-shot fault (see tests/sim/README.md); --state names a file it rewrites
 * after every command with its counters, for tests to observe.
 */
#include "sim_card.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum fault { F_NONE, F_REFUSE_SW, F_REPLACE_SW, F_DROP, F_WRONG_CRYPTOGRAM, F_TRUNCATE, F_DELAY, F_BAD_RMAC, F_LOSE_ANSWER,
             F_CLOSE_CHANNEL, F_REFUSE_AUTH };

static struct {
    const char *host, *control, *state;
    int port, quickack, verbose;
    /* armed fault */
    enum fault fault;
    int on_ins;            /* -1 = any */
    int after_ins;         /* -1: at once; else only once a command with this INS came */
    int skip;
    int delay_ms, reinsert_ms, truncate_to;
    int slow_ms; /* every answer this late (not a fault) */
    int sw;      /* refuse-sw, replace-sw: the status word answered */
    struct timespec control_mtime;
    int set_i;             /* -1: leave the card's i */
    long set_mem;          /* -1: leave the card's free memory */
    unsigned long fired;
    int last_ins;          /* the INS of the last command (state: last_ins) */
    int answering;         /* its answer is being held back (a delay) */
} g = {.host = "127.0.0.1", .quickack = 1, .on_ins = -1, .after_ins = -1, .reinsert_ms = 1000, .truncate_to = -1,
       .set_i = -1, .set_mem = -1};

/* SIGUSR1: the card is pulled out now, with no command under way, and put
 * back reinsert_ms later (1000 unless the control file says otherwise). */
static volatile sig_atomic_t pulled;
static void on_pull(int sig) { (void)sig; pulled = 1; }

static void msleep(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void read_control(void)
{
    struct stat st;
    if (!g.control || stat(g.control, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == g.control_mtime.tv_sec && st.st_mtim.tv_nsec == g.control_mtime.tv_nsec)
        return;
    g.control_mtime = st.st_mtim;
    FILE *f = fopen(g.control, "r");
    if (!f)
        return;
    g.fault = F_NONE;
    g.on_ins = -1;
    g.after_ins = -1;
    g.skip = 0;
    g.delay_ms = 0;
    g.slow_ms = 0;
    g.reinsert_ms = 1000;
    g.truncate_to = -1;
    g.sw = 0x6F00;
    g.set_i = -1;
    g.set_mem = -1;
    char line[256], key[64], val[128];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, " %63[a-z_] = %127s", key, val) != 2)
            continue;
        if (!strcmp(key, "fault"))
            g.fault = !strcmp(val, "refuse-sw") ? F_REFUSE_SW
                    : !strcmp(val, "replace-sw") ? F_REPLACE_SW
                    : !strcmp(val, "drop") ? F_DROP : !strcmp(val, "wrong-cryptogram") ? F_WRONG_CRYPTOGRAM
                    : !strcmp(val, "truncate") ? F_TRUNCATE : !strcmp(val, "delay") ? F_DELAY
                    : !strcmp(val, "bad-rmac") ? F_BAD_RMAC
                    : !strcmp(val, "lose-answer") ? F_LOSE_ANSWER
                    : !strcmp(val, "close-channel") ? F_CLOSE_CHANNEL
                    : !strcmp(val, "refuse-auth") ? F_REFUSE_AUTH : F_NONE;
        else if (!strcmp(key, "sw")) /* refuse-sw, replace-sw: the status word */
            g.sw = (int)strtol(val, NULL, 16);
        else if (!strcmp(key, "set_i")) /* the card's SCP02 i, from its next session on */
            g.set_i = (int)strtol(val, NULL, 16);
        else if (!strcmp(key, "mem_free")) /* bytes left for load files, from now on */
            g.set_mem = strtol(val, NULL, 0);
        else if (!strcmp(key, "after_ins"))
            g.after_ins = (int)strtol(val, NULL, 16);
        else if (!strcmp(key, "on_ins"))
            g.on_ins = (int)strtol(val, NULL, 16);
        else if (!strcmp(key, "skip"))
            g.skip = atoi(val);
        else if (!strcmp(key, "delay_ms"))
            g.delay_ms = atoi(val);
        else if (!strcmp(key, "slow_ms"))
            g.slow_ms = atoi(val);
        else if (!strcmp(key, "reinsert_ms"))
            g.reinsert_ms = atoi(val);
        else if (!strcmp(key, "truncate_to"))
            g.truncate_to = atoi(val);
    }
    fclose(f);
}

static void hexs(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = 0;
}

static void write_state(const sim_card_t *c)
{
    if (!g.state)
        return;
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", g.state);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    static const char *chs[] = {"none", "init", "open"};
    fprintf(f, "apdus = %lu\nfailed_auth = %d\nlocked = %d\next_auth_received = %lu\n"
               "ext_auth_ok = %lu\ncmac_ok = %lu\ncmac_bad = %lu\nsessions = %lu\n"
               "seq = %02X%02X\nchannel = %s\nlevel = %02X\nfaults_fired = %lu\n"
               "card_lifecycle = %02X\nrmacs = %lu\nkeys_put = %lu\ni = %02X\n",
            c->apdus, c->failed_auth, sim_locked(c), c->ext_auth_received, c->ext_auth_ok,
            c->cmac_ok, c->cmac_bad, c->sessions, (c->keys ? c->keys : &c->keysets[0])->seq[0],
            (c->keys ? c->keys : &c->keysets[0])->seq[1], chs[c->ch], c->level,
            g.fired, c->entries[0].lifecycle, c->rmacs, c->keys_put, c->i_param);
    fprintf(f, "last_ins = %02X\nanswering = %d\nstore_target = %s\n", g.last_ins, g.answering,
            c->store_to_isd ? "isd" : "application");
    /* the key length of the last channel's key set (or the first key set's) */
    fprintf(f, "key_len = %zu\n", (c->keys ? c->keys : &c->keysets[0])->len);
    fprintf(f, "channel_kvn = %02X\n", c->keys ? c->keys->kvn : 0); /* 00: no channel yet */
    fprintf(f, "loads = %lu\nload_blocks = %lu\ninstalls = %lu\nstore_blocks = %lu\n"
               "mem_free = %zu\nloading = %d\nstore_p1 = %02X\n",
            c->loads, c->load_blocks, c->installs, c->store_blocks, c->mem_free, c->loading,
            c->store_p1);
    {
        char h[2 * SIM_STORE_MAX + 1];
        hexs(c->store, c->store_len, h);
        fprintf(f, "store_data = %s\n", h);
    }
    fprintf(f, "key_versions =");
    for (int i = 0; i < c->n_keysets; i++)
        fprintf(f, " %02X", c->keysets[i].kvn);
    fprintf(f, "\n");
    fprintf(f, "deleted =");
    for (int i = 0; i < c->n_entries; i++)
        if (c->entries[i].deleted) {
            char h[40];
            hexs(c->entries[i].aid, c->entries[i].aid_len, h);
            fprintf(f, " %s", h);
        }
    fprintf(f, "\nlifecycles =");
    for (int i = 0; i < c->n_entries; i++) {
        char h[40];
        hexs(c->entries[i].aid, c->entries[i].aid_len, h);
        fprintf(f, " %s:%02X", h, c->entries[i].lifecycle);
    }
    fprintf(f, "\nprivileges =");
    for (int i = 0; i < c->n_entries; i++) {
        char h[40];
        if (c->entries[i].deleted || c->entries[i].kind != SIM_APP)
            continue;
        hexs(c->entries[i].aid, c->entries[i].aid_len, h);
        fprintf(f, " %s:%02X", h, c->entries[i].priv[0]);
    }
    fprintf(f, "\n");
    fclose(f);
    rename(tmp, g.state);
}

static int connect_vpcd(void)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &a.sin_addr) != 1) {
        fprintf(stderr, "gp-sim: bad host %s\n", g.host);
        return -1;
    }
    for (int tries = 0; tries < 200; tries++) { /* vpcd may not listen yet: 10 s */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            if (g.quickack)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        msleep(50);
    }
    fprintf(stderr, "gp-sim: vpcd does not answer on %s:%d\n", g.host, g.port);
    return -1;
}

static int recv_all(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (g.quickack) {
            int one = 1; /* vpcd writes length and payload separately: ack at once */
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        ssize_t r = recv(fd, b + got, n - got, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR && !pulled)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, const uint8_t *p, size_t n)
{
    uint8_t b[2 + 300];
    b[0] = (uint8_t)(n >> 8);
    b[1] = (uint8_t)n;
    memcpy(b + 2, p, n);
    size_t off = 0;
    while (off < n + 2) {
        ssize_t w = send(fd, b + off, n + 2 - off, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Is the armed fault due on this command? Consumes it when it is. */
static int fault_due(const uint8_t *cmd, size_t len)
{
    if (g.fault == F_NONE || len < 4)
        return 0;
    if (g.after_ins >= 0) {
        if (cmd[1] == g.after_ins)
            g.after_ins = -1; /* from the next command on */
        return 0;
    }
    if (g.on_ins >= 0 && cmd[1] != g.on_ins)
        return 0;
    if (g.skip > 0) {
        g.skip--;
        return 0;
    }
    g.fired++;
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: gp-sim --port N [--host ADDR] [--profile FILE] [--cin HEX] [--t0]\n"
                    "              [--max-response N] [--control FILE] [--state FILE]\n"
                    "              [--no-quickack] [--verbose]\n");
}

int main(int argc, char **argv)
{
    static sim_card_t card;
    const char *profile = NULL, *cin = NULL;
    int t0 = 0;
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'}, {"host", required_argument, NULL, 'H'},
        {"profile", required_argument, NULL, 'f'}, {"cin", required_argument, NULL, 'c'},
        {"t0", no_argument, NULL, '0'}, {"control", required_argument, NULL, 'C'},
        {"state", required_argument, NULL, 's'}, {"no-quickack", no_argument, NULL, 'Q'},
        {"verbose", no_argument, NULL, 'v'}, {"max-response", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0}};
    int max_response = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p': g.port = atoi(optarg); break;
        case 'H': g.host = optarg; break;
        case 'f': profile = optarg; break;
        case 'c': cin = optarg; break;
        case '0': t0 = 1; break;
        case 'C': g.control = optarg; break;
        case 's': g.state = optarg; break;
        case 'Q': g.quickack = 0; break;
        case 'v': g.verbose = 1; break;
        case 'm': max_response = atoi(optarg); break;
        default: usage(); return 2;
        }
    }
    if (g.port <= 0) {
        usage();
        return 2;
    }
    sim_default_profile(&card);
    char err[256];
    if (profile && sim_load_profile(&card, profile, err, sizeof err) != 0) {
        fprintf(stderr, "gp-sim: %s\n", err);
        return 2;
    }
    if (t0)
        card.t0 = 1;
    static sim_card_t plain;
    sim_default_profile(&plain);
    if (card.t0 && card.atr_len == plain.atr_len && !memcmp(card.atr, plain.atr, plain.atr_len)) {
        /* a T=0 card says so in its ATR (no TD1: T=0 only), as it answers 61xx */
        static const uint8_t atr_t0[] = {0x3B, 0x68, 0x00, 0x00, 0x00, 0x73, 0xC8, 0x40, 0x00, 0x00,
                                         0x90, 0x00};
        memcpy(card.atr, atr_t0, sizeof atr_t0);
        card.atr_len = sizeof atr_t0;
    }
    if (max_response >= 32 && max_response <= 256)
        card.max_response = (size_t)max_response;
    if (cin) {
        int n = 0;
        unsigned v;
        for (const char *p = cin; p[0] && p[1] && n < 16 && sscanf(p, "%2x", &v) == 1; p += 2)
            card.cin[n++] = (uint8_t)v;
        card.cin_len = (size_t)n;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_pull; /* no SA_RESTART: a waiting recv returns */
    sigaction(SIGUSR1, &sa, NULL);
    write_state(&card);
    for (;;) {
        int fd = connect_vpcd();
        if (fd < 0)
            return 1;
        int reconnect = 0;
        while (!reconnect) {
            uint8_t hdr[2], buf[300], rsp[300];
            if (recv_all(fd, hdr, 2) != 0)
                break;
            size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
            if (n == 0 || n > sizeof buf || recv_all(fd, buf, n) != 0)
                break;
            if (n == 1) {
                if (buf[0] == 4) {
                    if (send_frame(fd, card.atr, card.atr_len) != 0)
                        break;
                } else {
                    sim_reset(&card); /* power off, power on, reset */
                }
                continue;
            }
            read_control();
            if (g.set_i >= 0) {
                card.i_param = (uint8_t)g.set_i;
                g.set_i = -1;
            }
            if (g.set_mem >= 0) {
                card.mem_free = (size_t)g.set_mem;
                g.set_mem = -1;
            }
            g.last_ins = buf[1];
            int fire = fault_due(buf, n);
            if (fire && g.fault == F_LOSE_ANSWER) {
                /* the card executes the command, then leaves the reader
                 * before its answer does */
                uint8_t lost[300];
                sim_process(&card, buf, n, lost);
            }
            if (fire && (g.fault == F_DROP || g.fault == F_LOSE_ANSWER)) {
                /* card pulled out in the middle of the command */
                write_state(&card);
                close(fd);
                if (g.reinsert_ms < 0)
                    for (;;)
                        pause();
                msleep(g.reinsert_ms);
                sim_reset(&card);
                g.fault = F_NONE;
                reconnect = 1;
                break;
            }
            if (fire && g.fault == F_WRONG_CRYPTOGRAM)
                card.fault_wrong_cryptogram = 1;
            if (fire && g.fault == F_BAD_RMAC)
                card.fault_bad_rmac = 1;
            if (fire && g.fault == F_REFUSE_AUTH)
                card.fault_refuse_auth = 1;
            if (fire && g.fault == F_CLOSE_CHANNEL)
                card.ch = SIM_CH_NONE; /* the card ends the session on its own */
            size_t rl;
            if (fire && g.fault == F_REFUSE_SW) {
                /* the card refuses the command without executing it */
                card.apdus++;
                rl = 2;
            } else {
                rl = sim_process(&card, buf, n, rsp);
            }
            if (fire && (g.fault == F_REFUSE_SW || g.fault == F_REPLACE_SW)) {
                /* replace-sw: it executed it, then answers a bare status word,
                 * as a card that fails after writing, or a changed answer */
                rsp[0] = (uint8_t)(g.sw >> 8);
                rsp[1] = (uint8_t)g.sw;
                rl = 2;
            }
            if (fire && g.fault == F_TRUNCATE) {
                size_t keep = g.truncate_to >= 0 ? (size_t)g.truncate_to : (rl - 2) / 2;
                if (keep < rl - 2 && g.truncate_to < 0) {
                    rsp[keep] = rsp[rl - 2]; /* half the data, status word kept */
                    rsp[keep + 1] = rsp[rl - 1];
                    rl = keep + 2;
                } else if (keep < rl) {
                    rl = keep;
                }
            }
            if (fire && (g.fault == F_DELAY || g.delay_ms > 0)) {
                /* the card has done what it does, and holds its answer back:
                 * said in the state first, so that a test can act meanwhile */
                g.answering = 1;
                write_state(&card);
                msleep(g.delay_ms);
                g.answering = 0;
            }
            if (g.slow_ms > 0)
                msleep(g.slow_ms);
            if (fire)
                g.fault = F_NONE;
            if (g.verbose) {
                char a[700], b[700];
                hexs(buf, n, a);
                hexs(rsp, rl, b);
                fprintf(stderr, "gp-sim:%d > %s\ngp-sim:%d < %s\n", g.port, a, g.port, b);
            }
            write_state(&card);
            if (send_frame(fd, rsp, rl) != 0)
                break;
        }
        if (pulled) {
            pulled = 0;
            close(fd);
            read_control();
            msleep(g.reinsert_ms < 0 ? 1000 : g.reinsert_ms);
            sim_reset(&card);
            write_state(&card);
            continue;
        }
        if (!reconnect) {
            /* vpcd went away (pcscd stopped): wait for it to come back, as a
             * card left in its reader would; connect_vpcd gives up after 10 s */
            close(fd);
            sim_reset(&card);
            write_state(&card);
        }
    }
}
