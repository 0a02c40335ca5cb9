/*
 * Full SCP02 sessions through a real pcscd and vpcd to gp-sim, with the keys
 * in a real SoftHSM token. Runs inside tests/harness/gp-env.sh with two
 * cards: card 0 speaks T=1, card 1 T=0 with a small GET STATUS buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "sim_files.h"
#include "test_env.h"

static ks_t *ks;
static ks_session_t *kss;
static ks_keyset_t keys;
static pcsc_ctx_t *pc;

static const char *reader(int card)
{
    char var[32];
    snprintf(var, sizeof var, "GP_READER_%d", card);
    const char *r = getenv(var);
    assert_non_null(r);
    return r;
}

/* --- connecting ------------------------------------------------------------- */


static scp_err_t open_with(test_conn_t *c, const ks_keyset_t *k, uint8_t level)
{
    gp_channel_opts_t o = {.i_param = 0x15, .level = level};
    return gp_open_channel(&c->gp, kss, k, &o);
}

static void must_open(test_conn_t *c, uint8_t level)
{
    scp_err_t e = open_with(c, &keys, level);
    if (e != SCP_OK)
        fail_msg("open channel: %s: %s", scp_err_name(e), gp_error(&c->gp));
}

static int has_aid(const gp_entry_t *e, int n, const char *hex)
{
    uint8_t aid[16];
    int l = hex_decode(hex, aid, sizeof aid);
    for (int i = 0; i < n; i++)
        if (e[i].aid_len == (size_t)l && memcmp(e[i].aid, aid, (size_t)l) == 0)
            return 1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (test_keystore_open(&ks, &kss, &keys) != 0)
        return -1;
    if (pcsc_open(&pc, err, sizeof err) != SCP_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pcsc_close(pc);
    test_keystore_close(ks, kss);
    return 0;
}

/* --- tests ------------------------------------------------------------------ */

static void test_level_mac_status_and_delete(void **state)
{
    (void)state;
    test_conn_t c;
    gp_entry_t e[32];
    test_connect(pc, 0, &c);
    long sessions = sim_state(0, "sessions"), macs = sim_state(0, "cmac_ok");
    must_open(&c, 0x01);
    assert_int_equal(sim_state(0, "sessions"), sessions + 1);
    assert_int_equal(sim_state(0, "level"), 1);

    int n = gp_get_status(&c.gp, GP_STATUS_ISD, 0, e, 32);
    assert_int_equal(n, 1);
    assert_true(has_aid(e, n, "A000000151000000"));
    assert_string_equal(gp_lifecycle_name(&e[0]), "SECURED");
    n = gp_get_status(&c.gp, GP_STATUS_APPS, 1, e, 32);
    assert_true(n >= 3);
    assert_true(has_aid(e, n, "F00000000102"));
    assert_true(has_aid(e, n, "A000000151535344"));

    uint8_t aid[16];
    int al = hex_decode("F00000000102", aid, sizeof aid);
    assert_int_equal(gp_delete(&c.gp, aid, (size_t)al, 0), SCP_OK);
    n = gp_get_status(&c.gp, GP_STATUS_APPS, 1, e, 32);
    assert_false(has_aid(e, n, "F00000000102"));
    assert_true(sim_state_has(0, "deleted", "F00000000102"));

    /* the card's refusals come back in plain words; the channel survives */
    al = hex_decode("F000000001", aid, sizeof aid);
    assert_int_equal(gp_delete(&c.gp, aid, (size_t)al, 0), SCP_E_RSP_SW);
    assert_non_null(strstr(gp_error(&c.gp), "6985"));
    assert_non_null(strstr(gp_error(&c.gp), "another application still depends on it"));
    al = hex_decode("F0000000AA", aid, sizeof aid);
    assert_int_equal(gp_delete(&c.gp, aid, (size_t)al, 0), SCP_E_RSP_SW);
    assert_non_null(strstr(gp_error(&c.gp), "6A88"));
    assert_true(gp_channel_open(&c.gp));
    /* every secured command carried a C-MAC the card accepted */
    assert_int_equal(sim_state(0, "cmac_ok"), macs + 6);
    assert_int_equal(sim_state(0, "cmac_bad"), 0);
    test_disconnect(&c);
}

static void test_level_mac_enc(void **state)
{
    (void)state;
    test_conn_t c;
    gp_entry_t e[32];
    test_connect(pc, 0, &c);
    long macs = sim_state(0, "cmac_ok");
    must_open(&c, 0x03);
    assert_int_equal(sim_state(0, "level"), 3);
    int n = gp_get_status(&c.gp, GP_STATUS_ELF_MOD, 0, e, 32); /* data field encrypted */
    assert_true(n >= 2);
    assert_true(has_aid(e, n, "F000000001"));
    uint8_t aid[16];
    int al = hex_decode("F00000000201", aid, sizeof aid);
    assert_int_equal(gp_set_status(&c.gp, 0x40, 0x80, aid, (size_t)al), SCP_OK); /* lock */
    assert_true(sim_state_has(0, "lifecycles", "F00000000201:87"));
    assert_int_equal(sim_state(0, "cmac_ok"), macs + 2);
    assert_int_equal(sim_state(0, "cmac_bad"), 0);
    test_disconnect(&c);
}

static void test_wrong_keys_never_authenticate(void **state)
{
    (void)state;
    ks_keyset_t wrong;
    for (int r = 0; r < 3; r++)
        assert_int_equal(ks_generate_key(kss, "wrong", (enum ks_role)r), CKR_OK);
    assert_int_equal(ks_find_keyset(kss, "wrong", &wrong), CKR_OK);
    test_conn_t c;
    test_connect(pc, 0, &c);
    long ea = sim_state(0, "ext_auth_received");
    /* more attempts than the card's limit of three failures */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(open_with(&c, &wrong, 0x01), SCP_E_CARD_CRYPTOGRAM);
        assert_non_null(strstr(gp_error(&c.gp), "EXTERNAL AUTHENTICATE was not sent"));
    }
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    assert_int_equal(sim_state(0, "locked"), 0);
    must_open(&c, 0x01); /* the card is fine */
    test_disconnect(&c);
    assert_int_equal(ks_delete_keyset(kss, "wrong"), CKR_OK);
}

static void test_wrong_card_cryptogram(void **state)
{
    (void)state;
    test_conn_t c;
    test_connect(pc, 0, &c);
    long ea = sim_state(0, "ext_auth_received");
    sim_control(0, "fault = wrong-cryptogram\n");
    assert_int_equal(open_with(&c, &keys, 0x01), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    assert_int_equal(sim_state(0, "faults_fired"), 1);
    must_open(&c, 0x01);
    test_disconnect(&c);
}

static void test_truncated_response(void **state)
{
    (void)state;
    test_conn_t c;
    test_connect(pc, 0, &c);
    long ea = sim_state(0, "ext_auth_received");
    sim_control(0, "fault = truncate\non_ins = 50\n");
    assert_int_equal(open_with(&c, &keys, 0x01), SCP_E_RSP_SHORT);
    assert_non_null(strstr(gp_error(&c.gp), "14 data bytes, SCP02 needs 28"));
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    sim_control(0, "fault = truncate\non_ins = 50\ntruncate_to = 1\n");
    assert_int_equal(open_with(&c, &keys, 0x01), SCP_E_RSP_SHORT);
    assert_non_null(strstr(gp_error(&c.gp), "no status word"));
    must_open(&c, 0x01);
    test_disconnect(&c);
}

static void test_t0_card(void **state)
{
    (void)state;
    test_conn_t c;
    gp_entry_t e[32];
    test_connect(pc, 1, &c);
    must_open(&c, 0x01);
    long apdus = sim_state(1, "apdus");
    int n = gp_get_status(&c.gp, GP_STATUS_APPS, 1, e, 32);
    assert_true(n >= 4);
    /* 48-byte answers: several GET STATUS rounds, each with GET RESPONSE */
    assert_true(sim_state(1, "apdus") - apdus >= 4);
    int m = gp_get_status(&c.gp, GP_STATUS_APPS, 0, e, 32);
    assert_int_equal(m, n);
    uint8_t cplc[64];
    size_t len;
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, cplc, sizeof cplc, &len), SCP_OK);
    assert_int_equal(len, 45);
    /* a wrong Le (6Cxx) is corrected, and the secured command wrapped again */
    apdu_t a;
    uint8_t rsp[300];
    uint16_t sw;
    apdu_set(&a, 0x80, 0xCA, 0x9F, 0x7F, NULL, 0, 1, 5);
    assert_int_equal(gp_send(&c.gp, &a, rsp, sizeof rsp, &len, &sw), SCP_OK);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(len, 45);
    assert_int_equal(sim_state(1, "cmac_bad"), 0);
    test_disconnect(&c);
}

static void test_removed_mid_command(void **state)
{
    (void)state;
    test_conn_t c;
    gp_entry_t e[32];
    test_connect(pc, 0, &c);
    must_open(&c, 0x01);
    sim_control(0, "fault = drop\non_ins = F2\nreinsert_ms = 1500\n");
    assert_int_equal(gp_get_status(&c.gp, GP_STATUS_APPS, 1, e, 32), -1);
    if (!strstr(gp_error(&c.gp), "removed"))
        fail_msg("expected a removal, got: %s", gp_error(&c.gp));
    assert_false(gp_channel_open(&c.gp));
    pcsc_disconnect(c.card);
    /* wait for the card to come back (events, not sleeps) */
    pcsc_watch_t *w = pcsc_watch_new(pc);
    int back = 0;
    for (int round = 0; round < 20 && !back; round++) {
        assert_true(pcsc_watch_wait(w, 5000) >= 0);
        for (int i = 0; i < pcsc_watch_count(w); i++)
            if (!strcmp(pcsc_watch_name(w, i), reader(0)) && pcsc_watch_present(w, i))
                back = 1;
        if (back) {
            /* present again: the first report may predate the removal */
            char err[200];
            pcsc_card_t *probe;
            if (pcsc_connect(pc, reader(0), &probe, err, sizeof err) != SCP_OK)
                back = 0;
            else
                pcsc_disconnect(probe);
        }
    }
    pcsc_watch_free(w);
    assert_true(back);
    test_connect(pc, 0, &c);
    must_open(&c, 0x01);
    assert_true(gp_get_status(&c.gp, GP_STATUS_APPS, 1, e, 32) > 0);
    test_disconnect(&c);
}

static void test_slow_card(void **state)
{
    (void)state;
    test_conn_t c;
    test_connect(pc, 0, &c);
    must_open(&c, 0x01);
    sim_control(0, "fault = delay\non_ins = CA\ndelay_ms = 300\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t cplc[64];
    size_t len;
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, cplc, sizeof cplc, &len), SCP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(len, 45);
    /* the answer really was late, and it still arrived whole */
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 300);
    test_disconnect(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_mac_status_and_delete),
        cmocka_unit_test(test_level_mac_enc),
        cmocka_unit_test(test_wrong_keys_never_authenticate),
        cmocka_unit_test(test_wrong_card_cryptogram),
        cmocka_unit_test(test_truncated_response),
        cmocka_unit_test(test_t0_card),
        cmocka_unit_test(test_removed_mid_command),
        cmocka_unit_test(test_slow_card),
    };
    return cmocka_run_group_tests_name("scp02-through-pcscd", tests, setup, teardown);
}
