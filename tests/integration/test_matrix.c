/*
 * Every SCP02 option end to end through pcscd and SoftHSM: each i-parameter
 * with each security level it allows, R-MAC checking, key diversification
 * (EMV CPS 1.1 and VISA2) and PUT KEY. Runs in tests/harness/gp-env.sh with
 * three cards (tests/integration/matrix.sh):
 *   card 0: distinct static keys (key version 01), i changed per case;
 *   card 1: keys diversified (EMV) from master keys only the keystore holds;
 *   card 2: the same with VISA2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "sim_files.h"
#include "test_env.h"

static ks_t *ks;
static ks_session_t *kss;
static ks_keyset_t keys, master;
static pcsc_ctx_t *pc;


static int import(const char *name, const char *env)
{
    uint8_t v[16];
    const char *hex = getenv(env); /* "ENC MAC DEK" */
    if (!hex)
        return -1;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", hex);
    char *tok = strtok(copy, " ");
    for (int r = 0; r < 3 && tok; r++, tok = strtok(NULL, " ")) {
        if (hex_decode(tok, v, sizeof v) != 16 || ks_import_key(kss, name, (enum ks_role)r, v) != CKR_OK)
            return -1;
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (test_keystore_open(&ks, &kss, &keys) != 0)
        return -1;
    /* the issuer's master keys: only in the keystore */
    if (import("master", "GP_TEST_MASTER") != 0 || ks_find_keyset(kss, "master", &master) != CKR_OK)
        return -1;
    return pcsc_open(&pc, err, sizeof err) == SCP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pcsc_close(pc);
    test_keystore_close(ks, kss);
    return 0;
}

/* Opens a channel the card's way (i from its recognition data), then sends
 * two secured commands; checks what the card counted. */
static void one_case(uint8_t i, uint8_t level)
{
    char ctl[32];
    snprintf(ctl, sizeof ctl, "set_i = %02X\n", i);
    sim_control(0, ctl);
    test_conn_t c;
    test_connect(pc, 0, &c);
    assert_int_equal(gp_select(&c.gp, NULL, 0), SCP_OK);
    uint8_t r[300], scp = 0, card_i = 0;
    size_t rl;
    assert_int_equal(gp_get_data(&c.gp, 0x0066, r, sizeof r, &rl), SCP_OK);
    assert_int_equal(gp_card_data_scp(r, rl, &scp, &card_i), 0);
    assert_int_equal(card_i, i); /* the card announces what it speaks */
    long macs = sim_state(0, "cmac_ok"), rmacs = sim_state(0, "rmacs");
    gp_channel_opts_t o = {.i_param = card_i, .level = level, .selected = 1};
    scp_err_t e = gp_open_channel(&c.gp, kss, &keys, &o);
    if (e != SCP_OK)
        fail_msg("i=%02X level %02X: %s: %s", i, level, scp_err_name(e), gp_error(&c.gp));
    gp_entry_t ent[32];
    int n = gp_get_status(&c.gp, GP_STATUS_APPS, 1, ent, 32);
    if (n < 3)
        fail_msg("i=%02X level %02X: GET STATUS: %s", i, level, gp_error(&c.gp));
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, r, sizeof r, &rl), SCP_OK);
    assert_int_equal(rl, 45);
    /* implicit opening counts no EXTERNAL AUTHENTICATE: two C-MACs either way */
    assert_int_equal(sim_state(0, "cmac_ok") - macs, 2);
    assert_int_equal(sim_state(0, "cmac_bad"), 0);
    assert_int_equal(sim_state(0, "rmacs") - rmacs, (level & 0x10) ? 2 : 0);
    assert_int_equal(sim_state(0, "level"), level & 0x13);
    test_disconnect(&c);
}

static void test_every_option(void **state)
{
    (void)state;
    static const uint8_t explicit_i[] = {0x04, 0x05, 0x14, 0x15, 0x44, 0x45, 0x54, 0x55};
    static const uint8_t rmac_i[] = {0x24, 0x25, 0x35, 0x75};
    static const uint8_t implicit_i[] = {0x0A, 0x0B, 0x1A, 0x1B};
    int cases = 0;
    for (size_t k = 0; k < sizeof explicit_i; k++) {
        one_case(explicit_i[k], 0x01);
        one_case(explicit_i[k], 0x03);
        cases += 2;
    }
    for (size_t k = 0; k < sizeof rmac_i; k++) {
        static const uint8_t levels[] = {0x01, 0x03, 0x11, 0x13};
        for (int l = 0; l < 4; l++, cases++)
            one_case(rmac_i[k], levels[l]);
    }
    for (size_t k = 0; k < sizeof implicit_i; k++, cases++)
        one_case(implicit_i[k], 0x01);
    print_message("%d combinations of i and security level, each end to end\n", cases);
    assert_int_equal(cases, 36);
}

static void test_refused_combinations(void **state)
{
    (void)state;
    test_conn_t c;
    sim_control(0, "set_i = 15\n");
    test_connect(pc, 0, &c);
    long apdus = sim_state(0, "apdus");
    gp_channel_opts_t o = {.i_param = 0x15, .level = 0x11};
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_E_UNSUPPORTED);
    assert_non_null(strstr(gp_error(&c.gp), "R-MAC, which the card (SCP02 i=15) does not offer"));
    o.i_param = 0x1B;
    o.level = 0x03;
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_E_UNSUPPORTED);
    assert_non_null(strstr(gp_error(&c.gp), "C-MAC only"));
    /* only the SELECTs went out */
    assert_int_equal(sim_state(0, "apdus") - apdus, 2);
    test_disconnect(&c);
}

static void test_rmac_tampered(void **state)
{
    (void)state;
    sim_control(0, "set_i = 35\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    gp_channel_opts_t o = {.i_param = 0x35, .level = 0x13};
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_OK);
    sim_control(0, "fault = bad-rmac\non_ins = CA\n");
    uint8_t r[300];
    size_t rl = 99;
    memset(r, 0xEE, sizeof r);
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, r, sizeof r, &rl), SCP_E_RMAC);
    assert_non_null(strstr(gp_error(&c.gp), "R-MAC of the card's answer does not verify"));
    for (size_t k = 0; k < 45; k++) /* nothing of the answer was handed back */
        assert_int_not_equal(r[k], 0x9F);
    assert_false(gp_channel_open(&c.gp));
    test_disconnect(&c);
}

static void diversified(int card, enum ks_diversification right, enum ks_diversification wrong)
{
    test_conn_t c;
    test_connect(pc, card, &c);
    long ea = sim_state(card, "ext_auth_received");
    gp_channel_opts_t o = {.i_param = 0x15, .level = 0x01, .div = KS_DIV_NONE};
    /* the master keys are not the card's keys: refused before EXTERNAL AUTHENTICATE */
    assert_int_equal(gp_open_channel(&c.gp, kss, &master, &o), SCP_E_CARD_CRYPTOGRAM);
    o.div = wrong;
    assert_int_equal(gp_open_channel(&c.gp, kss, &master, &o), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(sim_state(card, "ext_auth_received"), ea);
    o.div = right;
    scp_err_t e = gp_open_channel(&c.gp, kss, &master, &o);
    if (e != SCP_OK)
        fail_msg("diversified login: %s", gp_error(&c.gp));
    gp_entry_t ent[8];
    assert_true(gp_get_status(&c.gp, GP_STATUS_ISD, 1, ent, 8) == 1);
    assert_int_equal(sim_state(card, "failed_auth"), 0);
    test_disconnect(&c);
}

static void test_diversification_emv(void **state)
{
    (void)state;
    diversified(1, KS_DIV_EMV, KS_DIV_VISA2);
}

static void test_diversification_visa2(void **state)
{
    (void)state;
    diversified(2, KS_DIV_VISA2, KS_DIV_EMV);
}

/* PUT KEY with keys read from a file (the path for keystores that cannot
 * wrap with 3DES): encrypted under the session DEK by the keystore. */
static void put_key(test_conn_t *c, uint8_t replace, uint8_t kvn, const char *name)
{
    uint8_t v[3][16], enc[3][32], kcv[3][3];
    assert_int_equal(ks_random(kss, &v[0][0], sizeof v), CKR_OK);
    ks_keyset_t ns;
    for (int k = 0; k < 3; k++)
        assert_int_equal(ks_import_key(kss, name, (enum ks_role)k, v[k]), CKR_OK);
    assert_int_equal(ks_find_keyset(kss, name, &ns), CKR_OK);
    CK_OBJECT_HANDLE h[3] = {ns.enc, ns.mac, ns.dek};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(scp02_encrypt_key_data(&c->gp.ch, v[k], 16, enc[k]), SCP_OK);
        assert_int_equal(ks_kcv(kss, h[k], kcv[k]), CKR_OK);
    }
    ks_wipe(v, sizeof v);
    scp_err_t e = gp_put_key(&c->gp, replace, kvn, 0, 16, enc, kcv);
    if (e != SCP_OK)
        fail_msg("PUT KEY: %s", gp_error(&c->gp));
}

static void test_put_key(void **state)
{
    (void)state;
    sim_control(0, "set_i = 15\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    gp_channel_opts_t o = {.i_param = 0x15, .level = 0x03};
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_OK);
    put_key(&c, 0, 0x02, "added"); /* add key version 02 */
    assert_true(sim_state_has(0, "key_versions", "01 02"));
    test_disconnect(&c);
    /* the new version opens a channel; the old one still does */
    ks_keyset_t added, replaced;
    assert_int_equal(ks_find_keyset(kss, "added", &added), CKR_OK);
    test_connect(pc, 0, &c);
    o.kvn = 0x02;
    assert_int_equal(gp_open_channel(&c.gp, kss, &added, &o), SCP_OK);
    /* replace version 01 by 03 */
    put_key(&c, 0x01, 0x03, "replaced");
    test_disconnect(&c);
    assert_true(sim_state_has(0, "key_versions", "03 02"));
    assert_int_equal(ks_find_keyset(kss, "replaced", &replaced), CKR_OK);
    test_connect(pc, 0, &c);
    o.kvn = 0x03;
    assert_int_equal(gp_open_channel(&c.gp, kss, &replaced, &o), SCP_OK);
    o.kvn = 0x01; /* the old version is gone from the card */
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_E_RSP_SW);
    assert_non_null(strstr(gp_error(&c.gp), "6A88"));
    o.kvn = 0x03; /* and the old keys do not open the new version */
    long ea = sim_state(0, "ext_auth_received");
    assert_int_equal(gp_open_channel(&c.gp, kss, &keys, &o), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    test_disconnect(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_refused_combinations),
        cmocka_unit_test(test_rmac_tampered),
        cmocka_unit_test(test_diversification_emv),
        cmocka_unit_test(test_diversification_visa2),
        cmocka_unit_test(test_put_key),
    };
    return cmocka_run_group_tests_name("scp02-options", tests, setup, teardown);
}
