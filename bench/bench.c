/*
 * gp-p11 benchmarks; each figure is measured beside its baseline in one run.
 * Run by bench/run.sh inside tests/harness/gp-env.sh:
 *   bench login N    C_Login through the module; the SCP02 handshake through
 *                    scp/ with keys in SoftHSM; the same handshake by a small
 *                    in-memory OpenSSL host over raw PC/SC
 *   bench apdu N     CKM_GP_APDU round trips (C-MAC, C-MAC + C-DEC) against raw
 *                    PC/SC round trips of the same APDU; the vpcd Nagle trap
 *   bench crypto N   C-MAC wraps through the keystore against OpenSSL in memory
 *   bench scale N    1, 2, 4, 8 cards, one thread each, CKM_GP_APDU
 *   bench scp03 N    SCP03 (card 2, AES-128 keys GP_BENCH_AES, and card 3, AES-256 keys
 *                    GP_BENCH_AES256, in SoftHSM) and SCP01 (card 4) beside
 *                    SCP02 (card 0): handshake time and keystore calls, secured
 *                    GET DATA per second and keystore calls per command at
 *                    each level, all through scp/ with keys in SoftHSM
 *   bench load N     LOAD of the CAP file GP_BENCH_CAP through the module
 *                    (C_CreateObject "load file", C-MAC and C-MAC + C-DEC)
 *                    against raw PC/SC sending the same blocks, as many and as
 *                    long, without secure messaging
 * Output: lines "name value" for bench/run.sh to tabulate.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/cap.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "test_env.h"
#include "tests/sim/sim_crypto.h"

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench: %s: %s\n", what, why);
    exit(1);
}

static const char *reader(int k)
{
    char var[32];
    snprintf(var, sizeof var, "GP_READER_%d", k);
    const char *r = getenv(var);
    if (!r)
        die(var, "not set (run through bench/run.sh)");
    return r;
}

/* --- the module, loaded as applications load it ------------------------------- */

static CK_FUNCTION_LIST_PTR f;

static void module_start(const char *conf)
{
    static void *dl;
    if (!dl) {
        dl = dlopen(getenv("GP_P11_MODULE"), RTLD_NOW);
        CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
        if (!gfl || gfl(&f) != CKR_OK)
            die("module", dl ? "no C_GetFunctionList" : dlerror());
    }
    setenv("GP_P11_CONF", conf, 1);
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    if (f->C_Initialize(&args) != CKR_OK)
        die("module", "C_Initialize failed");
}

static CK_SLOT_ID module_slot(int k)
{
    CK_SLOT_ID ids[16];
    CK_ULONG n = 16;
    f->C_GetSlotList(CK_TRUE, ids, &n);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_SLOT_INFO si;
        f->C_GetSlotInfo(ids[i], &si);
        if (!memcmp(si.slotDescription, reader(k), strlen(reader(k))))
            return ids[i];
    }
    die(reader(k), "no slot");
    return 0;
}

static CK_SESSION_HANDLE module_login(int k, CK_OBJECT_HANDLE *key)
{
    CK_SESSION_HANDLE s;
    const char *pin = getenv("GP_TEST_PIN");
    if (f->C_OpenSession(module_slot(k), CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
        f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
        die("module", "login failed");
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
    CK_ULONG n = 0;
    f->C_FindObjectsInit(s, &t, 1);
    f->C_FindObjects(s, key, 1, &n);
    f->C_FindObjectsFinal(s);
    if (n != 1)
        die("module", "no secure channel key");
    return s;
}

static void module_apdu(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    CK_MECHANISM m = {CKM_GP_APDU, NULL, 0};
    uint8_t r[300];
    CK_ULONG rl = sizeof r;
    if (f->C_SignInit(s, &m, key) != CKR_OK ||
        f->C_Sign(s, (CK_BYTE_PTR) "\x80\xCA\x9F\x7F\x00", 5, r, &rl) != CKR_OK || r[rl - 2] != 0x90)
        die("CKM_GP_APDU", "failed");
}

/* --- raw PC/SC ------------------------------------------------------------------------- */

static pcsc_card_t *raw_connect(int k, pcsc_ctx_t **pc)
{
    char err[256];
    pcsc_card_t *c;
    if ((!*pc && pcsc_open(pc, err, sizeof err) != SCP_OK) ||
        pcsc_connect(*pc, reader(k), &c, err, sizeof err) != SCP_OK)
        die("pcsc", err);
    return c;
}

static size_t raw(pcsc_card_t *c, const uint8_t *cmd, size_t n, uint8_t *rsp)
{
    gp_transport_t t = pcsc_transport(c);
    size_t rl = 300;
    char err[256];
    if (t.transmit(t.ctx, cmd, n, rsp, &rl, err, sizeof err) != SCP_OK)
        die("transmit", err);
    return rl;
}

/* --- the baseline host: SCP02 with keys in memory (OpenSSL) ------------------------- */

static void openssl_handshake(pcsc_card_t *c)
{
    static const uint8_t key[16] = {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
                                    0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F};
    uint8_t r[300], iu[14] = {0x80, 0x50, 0x00, 0x00, 0x08}, in[16], mac[8], senc[16], smac[16];
    static const uint8_t sel[] = {0x00, 0xA4, 0x04, 0x00, 0x00};
    raw(c, sel, sizeof sel, r);
    RAND_bytes(iu + 5, 8);
    iu[13] = 0x00;
    if (raw(c, iu, sizeof iu, r) != 30)
        die("openssl host", "INITIALIZE UPDATE");
    sim_session_key(key, 0x0182, r + 12, senc);
    sim_session_key(key, 0x0101, r + 12, smac);
    memcpy(in, iu + 5, 8);
    memcpy(in + 8, r + 12, 8);
    sim_mac_3des(senc, in, 16, mac);
    if (memcmp(mac, r + 20, 8) != 0)
        die("openssl host", "card cryptogram");
    uint8_t ea[21] = {0x84, 0x82, 0x01, 0x00, 0x10};
    memcpy(in, r + 12, 8);
    memcpy(in + 8, iu + 5, 8);
    sim_mac_3des(senc, in, 16, ea + 5);
    static const uint8_t zero[8];
    sim_mac_retail(smac, zero, ea, 13, ea + 13);
    if (raw(c, ea, sizeof ea, r) != 2 || r[0] != 0x90)
        die("openssl host", "EXTERNAL AUTHENTICATE");
}

/* --- the measurements -------------------------------------------------------------------- */

static void bench_login(int n)
{
    double *t = calloc((size_t)n, sizeof *t);
    pcsc_ctx_t *pc = NULL;
    /* the baseline: in-memory OpenSSL host over raw PC/SC */
    pcsc_card_t *c = raw_connect(0, &pc);
    for (int i = 0; i < n; i++) {
        double s = now_us();
        openssl_handshake(c);
        t[i] = now_us() - s;
    }
    printf("handshake_openssl_ms %.3f\n", median(t, n) / 1000);
    /* the same handshake through scp/ with keys in SoftHSM */
    ks_t *ks;
    ks_session_t *kss;
    ks_keyset_t keys;
    if (test_keystore_open(&ks, &kss, &keys) != 0)
        die("keystore", "not available");
    gp_card_t g;
    gp_card_init(&g, pcsc_transport(c));
    gp_channel_opts_t o = {.i_param = 0x15, .level = 0x01};
    for (int i = 0; i < n; i++) {
        double s = now_us();
        if (gp_open_channel(&g, kss, &keys, &o) != SCP_OK)
            die("handshake", gp_error(&g));
        t[i] = now_us() - s;
        gp_close_channel(&g);
    }
    printf("handshake_softhsm_ms %.3f\n", median(t, n) / 1000);
    test_keystore_close(ks, kss);
    pcsc_disconnect(c);
    /* C_Login through the module: keystore login, handshake, the card's content read */
    module_start(getenv("GP_BENCH_CONF_MAC"));
    for (int i = 0; i < n; i++) {
        CK_SESSION_HANDLE s;
        CK_OBJECT_HANDLE key;
        double st = now_us();
        s = module_login(0, &key);
        t[i] = now_us() - st;
        f->C_CloseSession(s);
    }
    printf("login_module_ms %.3f\n", median(t, n) / 1000);
    f->C_Finalize(NULL);
    pcsc_close(pc);
    free(t);
}

static double rate_of(double us, int n) { return n / (us / 1e6); }

static void bench_apdu(int n)
{
    pcsc_ctx_t *pc = NULL;
    uint8_t r[300];
    static const uint8_t cmd[] = {0x80, 0xCA, 0x9F, 0x7F, 0x00};
    pcsc_card_t *c = raw_connect(0, &pc);
    double s = now_us();
    for (int i = 0; i < n; i++)
        raw(c, cmd, sizeof cmd, r);
    printf("apdu_raw_per_s %.0f\n", rate_of(now_us() - s, n));
    pcsc_disconnect(c);
    int slow = n / 50 < 20 ? 20 : n / 50;
    c = raw_connect(1, &pc); /* a simulator without TCP_NODELAY/QUICKACK */
    s = now_us();
    for (int i = 0; i < slow; i++)
        raw(c, cmd, sizeof cmd, r);
    printf("apdu_raw_nagle_per_s %.1f\n", rate_of(now_us() - s, slow));
    pcsc_disconnect(c);
    pcsc_close(pc);
    const char *confs[2] = {getenv("GP_BENCH_CONF_MAC"), getenv("GP_BENCH_CONF_MAC_ENC")};
    const char *names[2] = {"apdu_cmac_per_s", "apdu_cmac_cdec_per_s"};
    for (int k = 0; k < 2; k++) {
        module_start(confs[k]);
        CK_OBJECT_HANDLE key;
        CK_SESSION_HANDLE sess = module_login(0, &key);
        for (int i = 0; i < 50; i++) /* warm up */
            module_apdu(sess, key);
        s = now_us();
        for (int i = 0; i < n; i++)
            module_apdu(sess, key);
        printf("%s %.0f\n", names[k], rate_of(now_us() - s, n));
        f->C_CloseSession(sess);
        f->C_Finalize(NULL);
    }
}

static void bench_crypto(int n)
{
    ks_t *ks;
    ks_session_t *kss;
    ks_keyset_t keys;
    if (test_keystore_open(&ks, &kss, &keys) != 0)
        die("keystore", "not available");
    scp02_t ch; /* a channel without a card: implicit opening, i=1B (ICV encryption) */
    static const uint8_t seq[2] = {0, 1}, aid[] = {0xA0, 0x00, 0x00, 0x01, 0x51, 0x00};
    if (scp02_init(&ch, kss, &keys, 0x1B, 0x01) != SCP_OK ||
        scp02_implicit_open(&ch, seq, aid, sizeof aid) != SCP_OK)
        die("channel", scp02_error(&ch));
    apdu_t plain, wrapped;
    static const uint8_t data[] = {0x4F, 0x07, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00};
    apdu_set(&plain, 0x80, 0xF2, 0x40, 0x02, data, sizeof data, 1, 256);
    double s = now_us();
    for (int i = 0; i < n; i++)
        if (scp02_wrap(&ch, &plain, &wrapped) != SCP_OK)
            die("wrap", scp02_error(&ch));
    printf("cmac_keystore_per_s %.0f\n", rate_of(now_us() - s, n));
    /* the same work in memory: ICV encryption and the retail MAC over the
     * modified header and data */
    uint8_t key[16], icv[8] = {0}, buf[5 + sizeof data], mac[8];
    RAND_bytes(key, sizeof key);
    memcpy(buf, "\x84\xF2\x40\x02\x11", 5);
    memcpy(buf + 5, data, sizeof data);
    s = now_us();
    for (int i = 0; i < n; i++) {
        sim_des1(key, icv, icv, 1);
        sim_mac_retail(key, icv, buf, sizeof buf, mac);
        memcpy(icv, mac, 8);
    }
    printf("cmac_openssl_per_s %.0f\n", rate_of(now_us() - s, n));
    scp02_close(&ch);
    test_keystore_close(ks, kss);
}

struct scale_worker {
    int card, n;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    double *lat;
};

static void *scale_work(void *p)
{
    struct scale_worker *w = p;
    for (int i = 0; i < w->n; i++) {
        double s = now_us();
        module_apdu(w->s, w->key);
        w->lat[i] = now_us() - s;
    }
    return NULL;
}

static void bench_scale(int n)
{
    int cards = atoi(getenv("GP_CARDS") ? getenv("GP_CARDS") : "1");
    module_start(getenv("GP_BENCH_CONF_MAC"));
    struct scale_worker w[8];
    for (int k = 0; k < cards && k < 8; k++) {
        w[k].card = k;
        w[k].n = n;
        w[k].s = module_login(k, &w[k].key);
        w[k].lat = calloc((size_t)n, sizeof(double));
    }
    for (int k = 0; k < cards && k < 8; k++) /* warm up every card's path once */
        for (int i = 0; i < 50; i++)
            module_apdu(w[k].s, w[k].key);
    for (int count = 1; count <= cards && count <= 8; count *= 2) {
        pthread_t th[8];
        double s = now_us();
        for (int k = 0; k < count; k++)
            pthread_create(&th[k], NULL, scale_work, &w[k]);
        for (int k = 0; k < count; k++)
            pthread_join(th[k], NULL);
        double total = now_us() - s, med = 0;
        for (int k = 0; k < count; k++)
            med += median(w[k].lat, n) / count;
        printf("scale_%d_per_s %.0f\nscale_%d_latency_ms %.3f\n", count, rate_of(total, n * count),
               count, med / 1000);
    }
    for (int k = 0; k < cards && k < 8; k++) {
        f->C_CloseSession(w[k].s);
        free(w[k].lat);
    }
    f->C_Finalize(NULL);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp)
        die("GP_BENCH_CAP", "cannot read");
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(*len);
    if (!b || fread(b, 1, *len, fp) != *len)
        die("GP_BENCH_CAP", "cannot read");
    fclose(fp);
    return b;
}

static void bench_load(int n)
{
    size_t cap_len;
    uint8_t *file = slurp(getenv("GP_BENCH_CAP"), &cap_len);
    gp_cap_t cap;
    char why[300];
    if (gp_cap_parse(file, cap_len, 1, &cap, why, sizeof why) != 0)
        die("GP_BENCH_CAP", why);
    printf("load_file_bytes %zu\n", cap.block_len);
    const char *confs[2] = {getenv("GP_BENCH_CONF_MAC"), getenv("GP_BENCH_CONF_MAC_ENC")};
    const char *names[2] = {"mac", "mac_enc"};
    const size_t steps[2] = {247, 239}; /* what fits Lc 255 after secure messaging */
    for (int k = 0; k < 2; k++) {
        /* raw: the same number of LOAD blocks of the same size, no secure
         * messaging (the card refuses them outside a channel: transport only) */
        pcsc_ctx_t *pc = NULL;
        pcsc_card_t *c = raw_connect(0, &pc);
        uint8_t cmd[5 + 255], r[300];
        double *t = calloc((size_t)n, sizeof *t);
        for (int i = 0; i < n; i++) {
            double s = now_us();
            for (size_t off = 0; off < cap.block_len; off += steps[k]) {
                size_t m = cap.block_len - off < steps[k] ? cap.block_len - off : steps[k];
                cmd[0] = 0x80;
                cmd[1] = 0xE8;
                cmd[2] = off + m == cap.block_len ? 0x80 : 0x00;
                cmd[3] = (uint8_t)(off / steps[k]);
                cmd[4] = (uint8_t)m;
                memcpy(cmd + 5, cap.block + off, m);
                raw(c, cmd, 5 + m, r);
            }
            t[i] = now_us() - s;
        }
        printf("load_raw_%s_kib_s %.1f\n", names[k], cap.block_len / 1024.0 / (median(t, n) / 1e6));
        pcsc_disconnect(c);
        pcsc_close(pc);
        /* through the module: INSTALL [for load], LOAD, the registry read again */
        module_start(confs[k]);
        CK_OBJECT_HANDLE key;
        CK_SESSION_HANDLE sess = module_login(0, &key);
        f->C_Logout(sess);
        f->C_CloseSession(sess);
        const char *pin = getenv("GP_TEST_PIN");
        if (f->C_OpenSession(module_slot(0), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                             &sess) != CKR_OK ||
            f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
            die("module", "login failed");
        CK_OBJECT_CLASS data = CKO_DATA;
        CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &data, sizeof data},
                               {CKA_APPLICATION, "load file", 9},
                               {CKA_VALUE, file, cap_len}};
        for (int i = 0; i < n; i++) {
            CK_OBJECT_HANDLE h;
            double s = now_us();
            if (f->C_CreateObject(sess, tmpl, 3, &h) != CKR_OK)
                die("module", "LOAD failed");
            t[i] = now_us() - s;
            if (f->C_DestroyObject(sess, h) != CKR_OK)
                die("module", "DELETE failed");
        }
        printf("load_module_%s_kib_s %.1f\n", names[k],
               cap.block_len / 1024.0 / (median(t, n) / 1e6));
        free(t);
        f->C_CloseSession(sess);
        f->C_Finalize(NULL);
    }
    gp_cap_free(&cap);
    free(file);
}

/* Opens a channel on card k and times n secured GET DATA; prints the rate
 * and the keystore calls per command under name. */
static void secured_rate(pcsc_ctx_t *pc, int k, ks_session_t *kss, const ks_keyset_t *keys,
                         uint8_t scp, uint8_t level, int n, const char *name)
{
    pcsc_card_t *c = raw_connect(k, &pc);
    gp_card_t g;
    gp_card_init(&g, pcsc_transport(c));
    gp_channel_opts_t o = {.scp = scp, .i_param = 0x15, .level = level};
    if (gp_open_channel(&g, kss, keys, &o) != SCP_OK)
        die(name, gp_error(&g));
    uint8_t r[300];
    size_t rl;
    unsigned long calls = ks_session_calls(kss);
    double s = now_us();
    for (int i = 0; i < n; i++)
        if (gp_get_data(&g, 0x9F7F, r, sizeof r, &rl) != SCP_OK)
            die(name, gp_error(&g));
    double us = now_us() - s;
    printf("%s_per_s %.0f\n", name, n / (us / 1e6));
    printf("%s_calls %.1f\n", name, (double)(ks_session_calls(kss) - calls) / n);
    gp_close_channel(&g);
    pcsc_disconnect(c);
}

/* Imports the key set "ENC MAC DEK" (hex, len bytes each) of environment
 * variable env into the keystore as name. */
static void import_aes(ks_session_t *kss, const char *env, size_t len, const char *name,
                       ks_keyset_t *out)
{
    const char *hex = getenv(env);
    uint8_t v[96];
    char copy[256];
    snprintf(copy, sizeof copy, "%s", hex ? hex : "");
    char *tok = strtok(copy, " ");
    for (int r = 0; r < 3; r++, tok = strtok(NULL, " "))
        if (!tok || hex_decode(tok, v + len * (size_t)r, len) != (int)len)
            die(env, "three AES keys in hex");
    ks_keyset_t like = {0, 0, 0, 1, len};
    if (ks_create_keyset_like(kss, name, &like, v, 0, out) != CKR_OK)
        die("AES key set", ks_session_error(kss));
    ks_wipe(v, sizeof v);
}

static void bench_scp03(int n)
{
    ks_t *ks;
    ks_session_t *kss;
    ks_keyset_t des, aes, aes256;
    if (test_keystore_open(&ks, &kss, &des) != 0)
        die("keystore", "not available");
    import_aes(kss, "GP_BENCH_AES", 16, "bench03", &aes);
    import_aes(kss, "GP_BENCH_AES256", 32, "bench03-256", &aes256);
    pcsc_ctx_t *pc = NULL;
    double *t = calloc((size_t)n, sizeof *t);
    static const struct { int card; uint8_t scp; int long_keys; const char *name; } hs[] = {
        {0, 2, 0, "handshake_scp02"}, {2, 3, 0, "handshake_scp03"}, {3, 3, 1, "handshake_scp03_256"},
        {4, 1, 0, "handshake_scp01"}};
    for (int h = 0; h < 4; h++) {
        pcsc_card_t *c = raw_connect(hs[h].card, &pc);
        gp_card_t g;
        gp_card_init(&g, pcsc_transport(c));
        gp_channel_opts_t o = {.scp = hs[h].scp, .i_param = 0x15, .level = 0x01};
        const ks_keyset_t *k = hs[h].scp != 3 ? &des : hs[h].long_keys ? &aes256 : &aes;
        unsigned long calls = 0;
        for (int i = 0; i < n; i++) {
            unsigned long c0 = ks_session_calls(kss);
            double s = now_us();
            if (gp_open_channel(&g, kss, k, &o) != SCP_OK)
                die(hs[h].name, gp_error(&g));
            t[i] = now_us() - s;
            calls += ks_session_calls(kss) - c0; /* the handshake's, not the closing */
            gp_close_channel(&g);
        }
        printf("%s_ms %.3f\n", hs[h].name, median(t, n) / 1000);
        printf("%s_calls %.1f\n", hs[h].name, (double)calls / n);
        pcsc_disconnect(c);
    }
    int m = n * 5;
    secured_rate(pc, 0, kss, &des, 2, 0x01, m, "get_data_scp02_01");
    secured_rate(pc, 0, kss, &des, 2, 0x03, m, "get_data_scp02_03");
    secured_rate(pc, 2, kss, &aes, 3, 0x01, m, "get_data_scp03_01");
    secured_rate(pc, 2, kss, &aes, 3, 0x03, m, "get_data_scp03_03");
    secured_rate(pc, 2, kss, &aes, 3, 0x13, m, "get_data_scp03_13");
    secured_rate(pc, 2, kss, &aes, 3, 0x33, m, "get_data_scp03_33");
    secured_rate(pc, 3, kss, &aes256, 3, 0x33, m, "get_data_scp03_256_33");
    secured_rate(pc, 4, kss, &des, 1, 0x01, m, "get_data_scp01_01");
    secured_rate(pc, 4, kss, &des, 1, 0x03, m, "get_data_scp01_03");
    ks_delete_keyset(kss, "bench03");
    ks_delete_keyset(kss, "bench03-256");
    pcsc_close(pc);
    free(t);
    test_keystore_close(ks, kss);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench login|apdu|crypto|scale|load N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    if (n < 1)
        n = 1;
    if (!strcmp(argv[1], "login"))
        bench_login(n);
    else if (!strcmp(argv[1], "apdu"))
        bench_apdu(n);
    else if (!strcmp(argv[1], "crypto"))
        bench_crypto(n);
    else if (!strcmp(argv[1], "scale"))
        bench_scale(n);
    else if (!strcmp(argv[1], "scp03"))
        bench_scp03(n);
    else if (!strcmp(argv[1], "load"))
        bench_load(n);
    else
        return 2;
    return 0;
}
