#define _GNU_SOURCE /* memmem */
/*
 * The card simulator checked on its own: its crypto reproduces the real
 * card's transcript, and the card behaves as GlobalPlatform says (failed
 * authentication counter, C-MAC enforcement, registry formats, T=0, DELETE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scp/registry.h"
#include "tests/sim/sim_card.h"
#include "tests/sim/sim_crypto.h"
#include "vectors.h"

static vec_file_t vf;
#define V(n) vec_get(&vf, n)

static int setup(void **state)
{
    (void)state;
    return vec_load(&vf, "scp02-transcript-b.txt");
}

static void test_crypto_vector(void **state)
{
    (void)state;
    const uint8_t *rsp = V("init_update_rsp")->v;
    const uint8_t *seq = rsp + 12, *card_chal = rsp + 14;
    const uint8_t *host_chal = V("init_update")->v + 5;
    uint8_t k[16], mac[8], in[16];
    assert_int_equal(sim_session_key(V("static_enc")->v, 0x0182, seq, k), 0);
    assert_memory_equal(k, V("session_enc")->v, 16);
    assert_int_equal(sim_session_key(V("static_mac")->v, 0x0101, seq, k), 0);
    assert_memory_equal(k, V("session_mac")->v, 16);
    assert_int_equal(sim_session_key(V("static_dek")->v, 0x0181, seq, k), 0);
    assert_memory_equal(k, V("session_dek")->v, 16);
    memcpy(in, host_chal, 8);
    memcpy(in + 8, seq, 2);
    memcpy(in + 10, card_chal, 6);
    sim_mac_3des(V("session_enc")->v, in, 16, mac);
    assert_memory_equal(mac, V("card_cryptogram")->v, 8);
    memcpy(in, seq, 2);
    memcpy(in + 2, card_chal, 6);
    memcpy(in + 8, host_chal, 8);
    sim_mac_3des(V("session_enc")->v, in, 16, mac);
    assert_memory_equal(mac, V("host_cryptogram")->v, 8);
    const vec_entry_t *ea = V("external_auth");
    static const uint8_t zero[8];
    sim_mac_retail(V("session_mac")->v, zero, ea->v, ea->len - 8, mac);
    assert_memory_equal(mac, ea->v + ea->len - 8, 8);
    uint8_t icv[8];
    sim_des1(V("session_mac")->v, mac, icv, 1);
    assert_memory_equal(icv, V("icv_1")->v, 8);
    const vec_entry_t *g1 = V("get_status_1");
    sim_mac_retail(V("session_mac")->v, icv, g1->v, g1->len - 8, mac);
    assert_memory_equal(mac, g1->v + g1->len - 8, 8);
    sim_des1(V("session_mac")->v, mac, icv, 1);
    assert_memory_equal(icv, V("icv_2")->v, 8);
}

/* --- a minimal host written against the simulator, independent of scp/ --- */

typedef struct {
    uint8_t s_enc[16], s_mac[16], last[8];
    uint8_t level;
} host_t;

static uint16_t send_raw(sim_card_t *c, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rl)
{
    size_t n = sim_process(c, cmd, len, rsp);
    assert_true(n >= 2);
    *rl = n - 2;
    return (uint16_t)(rsp[n - 2] << 8 | rsp[n - 1]);
}

static uint16_t host_open(sim_card_t *c, host_t *h, uint8_t level, int corrupt)
{
    static const uint8_t key[16] = {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
                                    0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F};
    uint8_t iu[13] = {0x80, 0x50, 0x00, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t r[300], in[16], host[8];
    size_t rl;
    uint16_t sw = send_raw(c, iu, sizeof iu, r, &rl);
    if (sw != 0x9000)
        return sw;
    assert_int_equal(rl, 28);
    sim_session_key(key, 0x0182, r + 12, h->s_enc);
    sim_session_key(key, 0x0101, r + 12, h->s_mac);
    memcpy(in, r + 12, 8);
    memcpy(in + 8, iu + 5, 8);
    sim_mac_3des(h->s_enc, in, 16, host);
    uint8_t ea[21] = {0x84, 0x82, level, 0x00, 0x10};
    memcpy(ea + 5, host, 8);
    if (corrupt)
        ea[5] ^= 1;
    static const uint8_t zero[8];
    sim_mac_retail(h->s_mac, zero, ea, 13, ea + 13);
    memcpy(h->last, ea + 13, 8);
    h->level = level;
    return send_raw(c, ea, sizeof ea, r, &rl);
}

/* Wraps and sends: C-MAC over the modified header, ICV encrypted (i=15). */
static uint16_t host_send(sim_card_t *c, host_t *h, uint8_t ins, uint8_t p1, uint8_t p2,
                          const uint8_t *data, size_t lc, uint8_t *rsp, size_t *rl, int bad_mac)
{
    uint8_t buf[300], icv[8];
    buf[0] = 0x84;
    buf[1] = ins;
    buf[2] = p1;
    buf[3] = p2;
    buf[4] = (uint8_t)(lc + 8);
    if (lc)
        memcpy(buf + 5, data, lc);
    sim_des1(h->s_mac, h->last, icv, 1);
    uint8_t mac[8];
    sim_mac_retail(h->s_mac, icv, buf, 5 + lc, mac);
    memcpy(h->last, mac, 8);
    if (bad_mac)
        mac[7] ^= 1;
    memcpy(buf + 5 + lc, mac, 8);
    buf[5 + lc + 8] = 0x00; /* Le */
    return send_raw(c, buf, 5 + lc + 9, rsp, rl);
}

static void test_failed_authentication_counter(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    sim_default_profile(&c);
    /* one failure, then success: the counter starts again */
    assert_int_equal(host_open(&c, &h, 1, 1), 0x6982);
    assert_int_equal(c.failed_auth, 1);
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    assert_int_equal(c.failed_auth, 0);
    assert_int_equal(c.keysets[0].seq[1], 2); /* the sequence counter moved on */
    /* three failures in a row lock the card */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(host_open(&c, &h, 1, 1), 0x6982);
        assert_int_equal(c.failed_auth, i);
    }
    assert_true(sim_locked(&c));
    assert_int_equal(host_open(&c, &h, 1, 0), 0x6983);
    assert_int_equal(c.ext_auth_received, 5);
}

static void test_cmac_enforced(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    static const uint8_t all[] = {0x4F, 0x00};
    sim_default_profile(&c);
    /* no channel: GET STATUS refused */
    uint8_t plain[] = {0x80, 0xF2, 0x80, 0x00, 0x02, 0x4F, 0x00, 0x00};
    assert_int_equal(send_raw(&c, plain, sizeof plain, r, &rl), 0x6982);
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xF2, 0x80, 0x00, all, 2, r, &rl, 0), 0x9000);
    assert_int_equal(c.cmac_ok, 1);
    /* a plain command in an open channel ends it */
    assert_int_equal(send_raw(&c, plain, sizeof plain, r, &rl), 0x6982);
    assert_int_equal(c.ch, SIM_CH_NONE);
    /* a wrong C-MAC ends it too */
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xF2, 0x80, 0x00, all, 2, r, &rl, 1), 0x6982);
    assert_int_equal(c.cmac_bad, 1);
    assert_int_equal(c.ch, SIM_CH_NONE);
    assert_int_equal(host_send(&c, &h, 0xF2, 0x80, 0x00, all, 2, r, &rl, 0), 0x6982);
}

static int registry(sim_card_t *c, host_t *h, uint8_t p1, uint8_t p2, gp_entry_t *e, int max)
{
    static const uint8_t all[] = {0x4F, 0x00};
    uint8_t joined[2048], r[300];
    size_t len = 0, rl;
    uint16_t sw;
    int rounds = 0;
    do {
        sw = host_send(c, h, 0xF2, p1, (uint8_t)(p2 | (rounds ? 1 : 0)), all, 2, r, &rl, 0);
        assert_true(sw == 0x9000 || sw == 0x6310);
        memcpy(joined + len, r, rl);
        len += rl;
        rounds++;
    } while (sw == 0x6310);
    char why[200];
    int n = gp_registry_parse(joined, len, p1, p2 & 2, e, max, why, sizeof why);
    if (n < 0)
        fail_msg("%s", why);
    return rounds;
}

static void test_registry_formats(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    gp_entry_t a[32], b[32];
    sim_default_profile(&c);
    c.max_response = 32; /* forces 6310 continuations */
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    int r1 = registry(&c, &h, 0x40, 0x00, a, 32);
    int r2 = registry(&c, &h, 0x40, 0x02, b, 32);
    assert_true(r1 > 1 && r2 > 1); /* continuation used in both formats */
    /* both formats describe the same applications */
    int apps = 0;
    for (int i = 0; i < c.n_entries; i++)
        apps += c.entries[i].kind == SIM_APP || c.entries[i].kind == SIM_SSD;
    char why[100];
    (void)why;
    for (int i = 0; i < apps; i++) {
        assert_int_equal(a[i].aid_len, b[i].aid_len);
        assert_memory_equal(a[i].aid, b[i].aid, a[i].aid_len);
        assert_int_equal(a[i].lifecycle, b[i].lifecycle);
    }
    /* modules of load files (P1 10) in both formats */
    registry(&c, &h, 0x10, 0x00, a, 32);
    registry(&c, &h, 0x10, 0x02, b, 32);
    assert_int_equal(a[1].n_modules, 2);
    assert_int_equal(b[1].n_modules, 2);
    assert_memory_equal(a[1].module[1], b[1].module[1], a[1].module_len[1]);
    assert_string_equal(gp_entry_kind(&a[0]), "load file");
}

/* What an independent host found the simulator doing unlike real cards: no
 * associated security domain (CC) in GET STATUS, an SSD whose load file was
 * not in its registry, STORE DATA to the ISD itself refused, GET RESPONSE
 * with class 80 refused. */
static void test_like_real_cards(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    /* T=0: GET RESPONSE with the command's class */
    c.t0 = 1;
    uint8_t cplc[] = {0x80, 0xCA, 0x9F, 0x7F, 0x00};
    assert_int_equal(send_raw(&c, cplc, sizeof cplc, r, &rl) >> 8, 0x61);
    uint8_t gr[] = {0x80, 0xC0, 0x00, 0x00, 0x2D};
    assert_int_equal(send_raw(&c, gr, sizeof gr, r, &rl), 0x9000);
    assert_int_equal(rl, 45);
    c.t0 = 0;
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    static const uint8_t all[] = {0x4F, 0x00};
    assert_int_equal(host_send(&c, &h, 0xF2, 0x40, 0x02, all, 2, r, &rl, 0), 0x9000);
    static const uint8_t cc_isd[] = {0xCC, 0x08, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00};
    assert_non_null(memmem(r, rl, cc_isd, sizeof cc_isd));
    gp_entry_t e[32];
    int n = registry(&c, &h, 0x20, 0x02, e, 32);
    (void)n;
    int ssd_elf = 0;
    for (int i = 0; i < c.n_entries; i++)
        ssd_elf |= c.entries[i].kind == SIM_ELF && c.entries[i].aid_len == 7 &&
                   !memcmp(c.entries[i].aid, "\xA0\x00\x00\x01\x51\x53\x50", 7);
    assert_true(ssd_elf);
    /* STORE DATA with no INSTALL [for personalization] goes to the ISD itself */
    static const uint8_t cin[] = {0x45, 0x04, 0x01, 0x02, 0x03, 0x04};
    assert_int_equal(host_send(&c, &h, 0xE2, 0x80, 0x00, cin, sizeof cin, r, &rl, 0), 0x9000);
    assert_int_equal(c.store_to_isd, 1);
    assert_memory_equal(c.store + c.store_len - sizeof cin, cin, sizeof cin);
}

static void test_t0_and_get_data(void **state)
{
    (void)state;
    static sim_card_t c;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    uint8_t cplc[] = {0x80, 0xCA, 0x9F, 0x7F, 0x00};
    assert_int_equal(send_raw(&c, cplc, sizeof cplc, r, &rl), 0x9000);
    assert_int_equal(rl, 45);
    assert_int_equal(r[2], 42);
    c.t0 = 1;
    assert_int_equal(send_raw(&c, cplc, sizeof cplc, r, &rl), 0x612D);
    uint8_t gr[] = {0x00, 0xC0, 0x00, 0x00, 0x20};
    assert_int_equal(send_raw(&c, gr, sizeof gr, r, &rl), 0x610D); /* 32 now, 13 left */
    assert_int_equal(rl, 32);
    gr[4] = 0x0D;
    assert_int_equal(send_raw(&c, gr, sizeof gr, r, &rl), 0x9000);
    cplc[4] = 0x05;
    assert_int_equal(send_raw(&c, cplc, sizeof cplc, r, &rl), 0x6C2D); /* wrong Le */
    uint8_t cd[] = {0x80, 0xCA, 0x00, 0x66, 0x00};
    c.t0 = 0;
    assert_int_equal(send_raw(&c, cd, sizeof cd, r, &rl), 0x9000);
    assert_int_equal(r[0], 0x66);
    assert_int_equal(r[rl - 1], c.i_param); /* announces SCP02 and its i */
    assert_int_equal(r[rl - 2], 0x02);
    uint8_t none[] = {0x80, 0xCA, 0x00, 0x99, 0x00};
    assert_int_equal(send_raw(&c, none, sizeof none, r, &rl), 0x6A88);
}

static void test_delete_and_errors(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    uint8_t elf[] = {0x4F, 0x05, 0xF0, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(host_send(&c, &h, 0xE4, 0, 0, elf, sizeof elf, r, &rl, 0), 0x6985);
    uint8_t isd[] = {0x4F, 0x08, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00};
    assert_int_equal(host_send(&c, &h, 0xE4, 0, 0, isd, sizeof isd, r, &rl, 0), 0x6985);
    uint8_t unknown[] = {0x4F, 0x05, 0xF0, 0x00, 0x00, 0x00, 0x09};
    assert_int_equal(host_send(&c, &h, 0xE4, 0, 0, unknown, sizeof unknown, r, &rl, 0), 0x6A88);
    assert_int_equal(host_send(&c, &h, 0xE4, 0, 0x80, elf, sizeof elf, r, &rl, 0), 0x9000);
    int gone = 0;
    for (int i = 0; i < c.n_entries; i++)
        gone += c.entries[i].deleted;
    assert_int_equal(gone, 3); /* the load file and its two applications */
    uint8_t bad_ins[] = {0x80, 0x10, 0x00, 0x00};
    uint8_t bad_cla[] = {0xA0, 0xF2, 0x00, 0x00};
    uint8_t sel[] = {0x00, 0xA4, 0x04, 0x00, 0x05, 1, 2, 3, 4, 5};
    assert_int_equal(send_raw(&c, bad_cla, sizeof bad_cla, r, &rl), 0x6E00);
    assert_int_equal(send_raw(&c, sel, sizeof sel, r, &rl), 0x6A82);
    sim_reset(&c);
    assert_int_equal(send_raw(&c, bad_ins, sizeof bad_ins, r, &rl), 0x6D00);
    uint8_t selapp[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x00, 0x00, 0x00, 0x02, 0x01};
    assert_int_equal(send_raw(&c, selapp, sizeof selapp, r, &rl), 0x9000);
    uint8_t iu[13] = {0x80, 0x50, 0x00, 0x00, 0x08};
    assert_int_equal(send_raw(&c, iu, sizeof iu, r, &rl), 0x6D00); /* not the ISD */
    assert_int_equal(send_raw(&c, iu, 4, r, &rl), 0x6D00);
    assert_int_equal(send_raw(&c, iu, 3, r, &rl), 0x6700);
}

/* LOAD as a card sequences it: only after INSTALL [for load], blocks in
 * order, dropped by any other command, a wrong package refused at the last
 * block, the memory quota. The load file is built by hand here, not by
 * scp/cap.c. */
static void test_load_sequence(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    /* C4, Header (DECAFFED, CAP 2.2, package 1.0, AID D2760001EE), Applet
     * (one: D2760001EE01), a Method of filler */
    uint8_t lf[] = {0xC4, 0x28,
                    0x01, 0x00, 0x0F, 0xDE, 0xCA, 0xFF, 0xED, 0x02, 0x02, 0x04, 0x00, 0x01,
                    0x05, 0xD2, 0x76, 0x00, 0x01, 0xEE,
                    0x03, 0x00, 0x0A, 0x01, 0x06, 0xD2, 0x76, 0x00, 0x01, 0xEE, 0x01, 0x00, 0x10,
                    0x07, 0x00, 0x06, 1, 2, 3, 4, 5, 6};
    uint8_t ifl[] = {0x05, 0xD2, 0x76, 0x00, 0x01, 0xEE, 0x00, 0x00, 0x00, 0x00};
    size_t half = 20;
    assert_int_equal(host_send(&c, &h, 0xE8, 0x80, 0, lf, sizeof lf, r, &rl, 0), 0x6985);
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x00, 1, lf, half, r, &rl, 0), 0x6985); /* block 01 first */
    assert_int_equal(host_send(&c, &h, 0xE8, 0x00, 0, lf, half, r, &rl, 0), 0x6985); /* dropped */
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x00, 0, lf, half, r, &rl, 0), 0x9000);
    uint8_t gs[] = {0x4F, 0x00};
    host_send(&c, &h, 0xF2, 0x80, 0x02, gs, sizeof gs, r, &rl, 0); /* another command between */
    assert_int_equal(host_send(&c, &h, 0xE8, 0x80, 1, lf + half, sizeof lf - half, r, &rl, 0),
                     0x6985);
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x00, 0, lf, half, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x80, 1, lf + half, sizeof lf - half, r, &rl, 0),
                     0x9000);
    assert_int_equal(c.loads, 1);
    const sim_entry_t *e = &c.entries[c.n_entries - 1];
    assert_int_equal(e->kind, SIM_ELF);
    assert_int_equal(e->n_modules, 1);
    assert_memory_equal(e->module[0], "\xD2\x76\x00\x01\xEE\x01", 6);
    /* the same package again: refused at INSTALL */
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x6985);
    /* a load file whose Header names another package: refused at the last block */
    ifl[5] = 0xEF;
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x80, 0, lf, sizeof lf, r, &rl, 0), 0x6A80);
    /* no memory for it */
    c.mem_free = 10;
    assert_int_equal(host_send(&c, &h, 0xE6, 0x02, 0, ifl, sizeof ifl, r, &rl, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xE8, 0x80, 0, lf, sizeof lf, r, &rl, 0), 0x6A84);
    assert_int_equal(c.loading, 0);
}

/* What GPShell, an independent host, showed the simulator did wrong, and
 * the careless applet the shared-reader tests rely on. */
static void test_selection_rules(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    uint8_t app[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x00, 0x00, 0x00, 0x01, 0x01};
    uint8_t isd[] = {0x00, 0xA4, 0x04, 0x00, 0x00};
    uint8_t isd_0c[] = {0x00, 0xA4, 0x04, 0x0C, 0x00};
    /* the careless applet answers GET DATA with its own data, whatever the CLA */
    assert_int_equal(send_raw(&c, app, sizeof app, r, &rl), 0x9000);
    uint8_t gd[] = {0x84, 0xCA, 0x9F, 0x7F, 0x00};
    assert_int_equal(send_raw(&c, gd, sizeof gd, r, &rl), 0x9000);
    assert_int_equal(rl, 3 + 6 + 4);
    assert_memory_equal(r + 3, app + 5, 6);
    /* P2 0C: selected, no FCI */
    assert_int_equal(send_raw(&c, isd_0c, sizeof isd_0c, r, &rl), 0x9000);
    assert_int_equal(rl, 0);
    assert_int_equal(send_raw(&c, isd, sizeof isd, r, &rl), 0x9000);
    assert_true(rl > 0);
    /* lock the application: it can no longer be selected */
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xF0, 0x40, 0x80, app + 5, 6, r, &rl, 0), 0x9000);
    assert_int_equal(send_raw(&c, app, sizeof app, r, &rl), 0x6A82);
    /* a locked card lets only its ISD be selected */
    uint8_t app2[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x00, 0x00, 0x00, 0x02, 0x01};
    assert_int_equal(send_raw(&c, isd, sizeof isd, r, &rl), 0x9000);
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    assert_int_equal(host_send(&c, &h, 0xF0, 0x80, 0x7F, NULL, 0, r, &rl, 0), 0x9000);
    assert_int_equal(send_raw(&c, app2, sizeof app2, r, &rl), 0x6A82);
    assert_int_equal(send_raw(&c, isd, sizeof isd, r, &rl), 0x6283);
    /* after the channel is aborted (bad C-MAC), a plain command that needs it is refused */
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000);
    uint8_t all[] = {0x4F, 0x00};
    assert_int_equal(host_send(&c, &h, 0xF2, 0x40, 0x00, all, 2, r, &rl, 1), 0x6982);
    uint8_t plain_gs[] = {0x80, 0xF2, 0x40, 0x00, 0x02, 0x4F, 0x00, 0x00};
    assert_int_equal(send_raw(&c, plain_gs, sizeof plain_gs, r, &rl), 0x6982);
}

/* One sequence counter per key version, and DELETE [key]. */
static void test_key_versions(void **state)
{
    (void)state;
    static sim_card_t c;
    host_t h;
    uint8_t r[300];
    size_t rl;
    sim_default_profile(&c);
    c.keysets[1] = c.keysets[0];
    c.keysets[1].kvn = 0x02;
    c.keysets[1].seq[0] = 0x00;
    c.keysets[1].seq[1] = 0x40;
    c.n_keysets = 2;
    assert_int_equal(host_open(&c, &h, 1, 0), 0x9000); /* P1 00: key version 01 */
    assert_int_equal(c.keysets[0].seq[1], 2);
    assert_int_equal(c.keysets[1].seq[1], 0x40); /* the other version's counter stays */
    /* DELETE [key] of the version in use is refused; of the other one done */
    uint8_t del1[] = {0xD2, 0x01, 0x01}, del2[] = {0xD0, 0x01, 0x01, 0xD2, 0x01, 0x02};
    assert_int_equal(host_send(&c, &h, 0xE4, 0x00, 0x00, del1, 3, r, &rl, 0), 0x6985);
    assert_int_equal(host_send(&c, &h, 0xE4, 0x00, 0x00, del2, 6, r, &rl, 0), 0x9000);
    assert_int_equal(c.n_keysets, 1);
    assert_int_equal(host_send(&c, &h, 0xE4, 0x00, 0x00, del2, 6, r, &rl, 0), 0x6A88);
    /* PUT KEY with another key type than DES: 9484 */
    uint8_t pk[1 + 3 * 22] = {0x03};
    for (int k = 0; k < 3; k++) {
        pk[1 + 22 * k] = 0x88; /* AES */
        pk[2 + 22 * k] = 0x10;
        pk[19 + 22 * k] = 0x03;
    }
    assert_int_equal(host_send(&c, &h, 0xD8, 0x00, 0x81, pk, sizeof pk, r, &rl, 0), 0x9484);
}

/* The simulator as an SCP03 card reproduces the real card's transcript: with
 * the real card's keys, key version 30, i=70 and sequence counter 000024, it
 * answers INITIALIZE UPDATE with the recorded bytes (its pseudo-random card
 * challenge included), accepts the recorded EXTERNAL AUTHENTICATE and the
 * C-DEC + C-MAC GET STATUS, and counts each. */
static void test_scp03_transcript(void **state)
{
    (void)state;
    vec_file_t v3;
    assert_int_equal(vec_load(&v3, "scp03-transcript-c.txt"), 0);
    sim_card_t c;
    sim_default_profile(&c);
    c.scp = 3;
    c.i_param = 0x70;
    sim_keyset_t *k = &c.keysets[0];
    k->kvn = 0x30;
    k->len = 16;
    memcpy(k->enc, vec_get(&v3, "static_enc")->v, 16);
    memcpy(k->mac, vec_get(&v3, "static_mac")->v, 16);
    memcpy(k->dek, vec_get(&v3, "static_dek")->v, 16);
    memcpy(k->seq, "\x00\x00\x24", 3);
    memset(c.key_div, 0, sizeof c.key_div);
    uint8_t r[300];
    size_t rl;
    const vec_entry_t *e = vec_get(&v3, "select_isd");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x9000);
    e = vec_get(&v3, "init_update");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x9000);
    const vec_entry_t *want = vec_get(&v3, "init_update_rsp");
    assert_int_equal(rl + 2, want->len);
    assert_memory_equal(r, want->v, want->len);
    e = vec_get(&v3, "external_auth");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x9000);
    assert_int_equal(c.ext_auth_ok, 1);
    e = vec_get(&v3, "get_status");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x9000);
    assert_int_equal(c.cmac_ok, 1);
    assert_true(rl > 0 && r[0] == 0xE3); /* level 03: the answer in the clear */
    /* the same GET STATUS again is refused: its C-MAC no longer chains */
    e = vec_get(&v3, "get_status");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x6982);
    /* the next INITIALIZE UPDATE moves the counter: another challenge */
    e = vec_get(&v3, "init_update");
    assert_int_equal(send_raw(&c, e->v, e->len, r, &rl), 0x9000);
    assert_memory_equal(r + 29, "\x00\x00\x26", 3);
    assert_memory_not_equal(r + 13, want->v + 13, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_vector),
        cmocka_unit_test(test_failed_authentication_counter),
        cmocka_unit_test(test_cmac_enforced),
        cmocka_unit_test(test_registry_formats),
        cmocka_unit_test(test_like_real_cards),
        cmocka_unit_test(test_t0_and_get_data),
        cmocka_unit_test(test_delete_and_errors),
        cmocka_unit_test(test_load_sequence),
        cmocka_unit_test(test_selection_rules),
        cmocka_unit_test(test_key_versions),
        cmocka_unit_test(test_scp03_transcript),
    };
    return cmocka_run_group_tests_name("gp-sim", tests, setup, NULL);
}
