/*
 * APDU round trips through pcscd to gp-sim, all measured in one run:
 *   card 0 (TCP_NODELAY + TCP_QUICKACK): plain GET DATA, then the same
 *          command inside an SCP02 channel (C-MAC computed in SoftHSM);
 *   card 1 (no socket options): plain GET DATA, the vpcd latency trap.
 * Run inside tests/harness/gp-env.sh --cards 2 --card-args 1 --no-quickack.
 *   apdu_roundtrip [N]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keystore/keystore.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "test_env.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const char *name;
    double per_s, median_us, p95_us;
    int n;
} result_t;

static int run(gp_session_t *g, int n, const char *name, result_t *r)
{
    double *lat = calloc((size_t)n, sizeof *lat);
    apdu_t a;
    apdu_set(&a, 0x80, 0xCA, 0x9F, 0x7F, NULL, 0, 1, 256);
    uint8_t rsp[300];
    size_t len;
    uint16_t sw;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        double s = now_us();
        if (gp_send(g, &a, rsp, sizeof rsp, &len, &sw) != SCP_OK || sw != 0x9000) {
            fprintf(stderr, "%s: APDU %d failed: %s (SW %04X)\n", name, i, gp_error(g), sw);
            free(lat);
            return -1;
        }
        lat[i] = now_us() - s;
    }
    double total = now_us() - t0;
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    r->name = name;
    r->n = n;
    r->per_s = n / (total / 1e6);
    r->median_us = lat[n / 2];
    r->p95_us = lat[(n * 95) / 100];
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int n_slow = n / 40 < 20 ? 20 : n / 40;
    char err[256];
    pcsc_ctx_t *pc;
    if (pcsc_open(&pc, err, sizeof err) != SCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ks_t *ks;
    ks_session_t *kss;
    ks_keyset_t keys;
    if (test_keystore_open(&ks, &kss, &keys) != 0)
        return 1;
    pcsc_card_t *c0, *c1;
    if (pcsc_connect(pc, getenv("GP_READER_0"), &c0, err, sizeof err) != SCP_OK ||
        pcsc_connect(pc, getenv("GP_READER_1"), &c1, err, sizeof err) != SCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    gp_session_t g0, g1;
    gp_session_init(&g0, pcsc_transport(c0));
    gp_session_init(&g1, pcsc_transport(c1));
    result_t r[4];
    if (run(&g0, n, "plain, socket options set", &r[0]) != 0)
        return 1;
    gp_channel_opts_t o = {.i_param = 0x15, .level = 0x01};
    if (gp_open_channel(&g0, kss, &keys, &o) != SCP_OK) {
        fprintf(stderr, "open: %s\n", gp_error(&g0));
        return 1;
    }
    if (run(&g0, n, "C-MAC (SoftHSM), socket options set", &r[1]) != 0)
        return 1;
    o.level = 0x03;
    if (gp_open_channel(&g0, kss, &keys, &o) != SCP_OK || run(&g0, n, "C-MAC + C-DEC (SoftHSM)", &r[2]) != 0)
        return 1;
    if (run(&g1, n_slow, "plain, no TCP_NODELAY/QUICKACK", &r[3]) != 0)
        return 1;
    printf("| APDU path (GET DATA CPLC through pcscd) | APDUs | per second | median | p95 | vs plain |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < 4; i++)
        printf("| %s | %d | %.0f | %.3f ms | %.3f ms | %.2fx |\n", r[i].name, r[i].n, r[i].per_s,
               r[i].median_us / 1000, r[i].p95_us / 1000, r[0].per_s / r[i].per_s);
    gp_close_channel(&g0);
    pcsc_disconnect(c0);
    pcsc_disconnect(c1);
    pcsc_close(pc);
    test_keystore_close(ks, kss);
    return 0;
}
