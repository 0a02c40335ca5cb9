/*
 * Every SCP03 option end to end through pcscd and SoftHSM: each key length
 * (AES-128, AES-192, AES-256) with each i-parameter and each security level
 * it allows, R-MAC and R-ENC checking, the card cryptogram check that keeps
 * EXTERNAL AUTHENTICATE unsent, and PUT KEY of AES keys of each length
 * generated inside the keystore.
 * Runs in tests/harness/gp-env.sh with three cards (tests/integration/scp03.sh),
 * each with random keys of its own (key version 30), i changed per case:
 *   card 0: AES-128; card 1: AES-256; card 2: AES-192.
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
#include "keystore/scp03_crypto.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "sim_files.h"
#include "test_env.h"

static ks_t *ks;
static ks_session_t *kss;
static ks_keyset_t aes128, aes256, aes192;
/* the key set of each card */
static ks_keyset_t *card_keys[3] = {&aes128, &aes256, &aes192};
static pcsc_ctx_t *pc;

/* Imports "ENC MAC DEK" (hex) from the environment as an AES key set. */
static int import(const char *name, const char *env, size_t len, ks_keyset_t *out)
{
    const char *hex = getenv(env);
    uint8_t v[96];
    char copy[256];
    if (!hex)
        return -1;
    snprintf(copy, sizeof copy, "%s", hex);
    char *tok = strtok(copy, " ");
    for (int r = 0; r < 3; r++, tok = strtok(NULL, " "))
        if (!tok || hex_decode(tok, v + len * (size_t)r, len) != (int)len)
            return -1;
    ks_keyset_t like = {0, 0, 0, 1, len};
    CK_RV rv = ks_create_keyset_like(kss, name, &like, v, 0, out);
    ks_wipe(v, sizeof v);
    return rv == CKR_OK ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (test_keystore_open(&ks, &kss, NULL) != 0)
        return -1;
    if (import("card0", "GP_TEST_AES128", 16, &aes128) != 0 ||
        import("card1", "GP_TEST_AES256", 32, &aes256) != 0 ||
        import("card2", "GP_TEST_AES192", 24, &aes192) != 0)
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

/* Keystore calls a GET DATA takes at each level: C-MAC is one CMAC
 * (Init + Sign); C-DEC costs nothing without command data; R-MAC one CMAC;
 * R-ENC one ICV encryption and one decryption. */
static unsigned long get_data_calls(uint8_t level)
{
    return 2 + ((level & 0x10) ? 2 : 0) + ((level & 0x20) ? 4 : 0);
}

static void one_case(int card, uint8_t i, uint8_t level)
{
    char ctl[32];
    snprintf(ctl, sizeof ctl, "set_i = %02X\n", i);
    sim_control(card, ctl);
    test_conn_t c;
    test_connect(pc, card, &c);
    assert_int_equal(gp_select(&c.gp, NULL, 0), SCP_OK);
    uint8_t r[300], scp = 0, card_i = 0;
    size_t rl;
    assert_int_equal(gp_get_data(&c.gp, 0x0066, r, sizeof r, &rl), SCP_OK);
    assert_int_equal(gp_card_data_scp(r, rl, &scp, &card_i), 0);
    assert_int_equal(scp, 3);
    assert_int_equal(card_i, i);
    long macs = sim_state(card, "cmac_ok"), rmacs = sim_state(card, "rmacs");
    /* S16 as the card announces it (i bit 01) */
    gp_channel_opts_t o = {.scp = 3, .level = level, .selected = 1, .s16 = card_i & 0x01};
    scp_err_t e = gp_open_channel(&c.gp, kss, card_keys[card], &o);
    if (e != SCP_OK)
        fail_msg("card %d, i=%02X level %02X: %s: %s", card, i, level, scp_err_name(e), gp_error(&c.gp));
    assert_int_equal(gp_channel_i(&c.gp), i);
    gp_channel_info_t ci;
    gp_channel_info(&c.gp, &ci);
    assert_int_equal(ci.mac_len, (i & 0x01) ? 16 : 8); /* S16: 16-byte C-MAC and R-MAC */
    gp_entry_t ent[32];
    int n = gp_get_status(&c.gp, GP_STATUS_APPS, 1, ent, 32); /* command data: C-DEC */
    if (n < 3)
        fail_msg("card %d, i=%02X level %02X: GET STATUS: %s", card, i, level, gp_error(&c.gp));
    memset(r, 0, sizeof r);
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, r, sizeof r, &rl), SCP_OK);
    assert_int_equal(rl, 45); /* decrypted (R-ENC) and stripped of its R-MAC */
    assert_memory_equal(r, "\x9F\x7F\x2A\x47\x90", 5);
    assert_int_equal(gp_channel_ks_calls(&c.gp), get_data_calls(level));
    assert_int_equal(sim_state(card, "cmac_ok") - macs, 2);
    assert_int_equal(sim_state(card, "cmac_bad"), 0);
    assert_int_equal(sim_state(card, "rmacs") - rmacs, (level & 0x10) ? 2 : 0);
    assert_int_equal(sim_state(card, "level"), level);
    test_disconnect(&c);
}

static void test_every_option(void **state)
{
    (void)state;
    static const struct {
        uint8_t i;
        uint8_t levels[5];
        int n;
    } opts[] = {
        {0x00, {0x01, 0x03}, 2},
        {0x10, {0x01, 0x03}, 2},
        {0x20, {0x01, 0x03, 0x11, 0x13}, 4},
        {0x30, {0x01, 0x03, 0x11, 0x13}, 4},
        {0x60, {0x01, 0x03, 0x11, 0x13, 0x33}, 5},
        {0x70, {0x01, 0x03, 0x11, 0x13, 0x33}, 5},
    };
    int cases = 0;
    for (int card = 0; card < 3; card++) {
        for (int s16 = 0; s16 <= 1; s16++) /* S8, then S16 (i bit 01) */
            for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
                for (int l = 0; l < opts[k].n; l++, cases++)
                    one_case(card, (uint8_t)(opts[k].i | s16), opts[k].levels[l]);
        assert_int_equal(sim_state(card, "failed_auth"), 0);
        assert_int_equal(sim_state(card, "key_len"), card_keys[card]->len);
    }
    print_message("%d combinations of key length, S8 or S16, SCP03 i and security level, each "
                  "end to end\n", cases);
    assert_int_equal(cases, 3 * 2 * 22);
}

/* An S16 card that is asked in S8 (it did not announce its mode) refuses
 * the 8-byte challenge with 6700: INITIALIZE UPDATE goes once more, in S16,
 * and the channel opens; EXTERNAL AUTHENTICATE goes once. LOAD-sized
 * commands leave room for the 16-byte C-MAC (223 bytes at C-DEC). */
static void test_s16_unannounced(void **state)
{
    (void)state;
    sim_control(1, "set_i = 71\n");
    test_conn_t c;
    test_connect(pc, 1, &c);
    long ea = sim_state(1, "ext_auth_received"), apdus = sim_state(1, "apdus");
    gp_channel_opts_t o = {.scp = 3, .level = 0x33};
    scp_err_t e = gp_open_channel(&c.gp, kss, &aes256, &o);
    if (e != SCP_OK)
        fail_msg("%s", gp_error(&c.gp));
    assert_int_equal(sim_state(1, "ext_auth_received"), ea + 1);
    assert_int_equal(sim_state(1, "apdus") - apdus, 4); /* SELECT, IU (6700), IU, EA */
    assert_int_equal(gp_max_data(&c.gp), 223);
    uint8_t data[223] = {0}, r[300];
    size_t rl;
    uint16_t sw;
    apdu_t big;
    apdu_set(&big, 0x80, 0xCA, 0x9F, 0x7F, data, sizeof data, 1, 256);
    assert_int_equal(gp_send(&c.gp, &big, r, sizeof r, &rl, &sw), SCP_OK); /* fits Lc 255 */
    uint8_t more[224] = {0};
    apdu_set(&big, 0x80, 0xCA, 0x9F, 0x7F, more, sizeof more, 1, 256);
    assert_int_equal(gp_send(&c.gp, &big, r, sizeof r, &rl, &sw), SCP_E_TOO_LONG);
    assert_int_equal(sim_state(1, "cmac_bad"), 0);
    assert_int_equal(sim_state(1, "failed_auth"), 0);
    test_disconnect(&c);
    sim_control(1, "set_i = 70\n");
}

/* A level the card's i does not allow is refused once the card has said
 * its i, before EXTERNAL AUTHENTICATE. */
static void test_refused_combinations(void **state)
{
    (void)state;
    static const struct { uint8_t i, level; const char *why; } cases[] = {
        {0x10, 0x11, "asks for R-MAC"},
        {0x30, 0x33, "asks for R-ENCRYPTION"},
        {0x70, 0x23, "not an SCP03 level"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char ctl[32];
        snprintf(ctl, sizeof ctl, "set_i = %02X\n", cases[k].i);
        sim_control(0, ctl);
        test_conn_t c;
        test_connect(pc, 0, &c);
        long ea = sim_state(0, "ext_auth_received");
        gp_channel_opts_t o = {.scp = 3, .level = cases[k].level};
        assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_E_UNSUPPORTED);
        assert_non_null(strstr(gp_error(&c.gp), cases[k].why));
        assert_int_equal(sim_state(0, "ext_auth_received"), ea);
        test_disconnect(&c);
    }
}

static void test_rmac_tampered(void **state)
{
    (void)state;
    sim_control(0, "set_i = 70\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    gp_channel_opts_t o = {.scp = 3, .level = 0x33};
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_OK);
    sim_control(0, "fault = bad-rmac\non_ins = CA\n");
    uint8_t r[300];
    size_t rl = 99;
    memset(r, 0xEE, sizeof r);
    assert_int_equal(gp_get_data(&c.gp, 0x9F7F, r, sizeof r, &rl), SCP_E_RMAC);
    assert_non_null(strstr(gp_error(&c.gp), "R-MAC of the card's answer does not verify"));
    for (size_t k = 0; k < sizeof r; k++) /* nothing of the answer was handed back */
        assert_true(r[k] == 0xEE || r[k] == 0x00);
    assert_false(gp_channel_open(&c.gp));
    test_disconnect(&c);
}

/* Promise 1 over SCP03: a card cryptogram that does not verify (a spoilt
 * answer, or keys that are not the card's) sends no EXTERNAL AUTHENTICATE. */
/* A command gp-p11 refuses to wrap (too long once padded) never leaves it,
 * says so, and leaves the channel as it was: the encryption counter moves
 * only for commands sent, so the next answer still decrypts (R-ENC). Before,
 * the counter moved on and every later answer of the channel came back
 * garbled. */
static void test_refused_command_leaves_channel_in_step(void **state)
{
    (void)state;
    sim_control(0, "set_i = 70\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    gp_channel_opts_t o = {.scp = 3, .level = 0x33};
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_OK);
    long apdus = sim_state(0, "apdus");
    apdu_t big;
    uint8_t data[240] = {0}, r[300];
    size_t rl;
    uint16_t sw;
    apdu_set(&big, 0x80, 0xE2, 0x80, 0x00, data, sizeof data, 0, 0);
    scp_err_t e = gp_send(&c.gp, &big, r, sizeof r, &rl, &sw);
    assert_int_equal(e, SCP_E_TOO_LONG);
    assert_true(gp_not_executed(&c.gp, e)); /* it never left: nothing to find out */
    assert_int_equal(sim_state(0, "apdus"), apdus);
    assert_true(gp_channel_open(&c.gp));
    for (int k = 0; k < 2; k++) {
        memset(r, 0, sizeof r);
        e = gp_get_data(&c.gp, 0x9F7F, r, sizeof r, &rl);
        if (e != SCP_OK)
            fail_msg("GET DATA after the refused command: %s", gp_error(&c.gp));
        assert_int_equal(rl, 45);
        assert_memory_equal(r, "\x9F\x7F\x2A\x47\x90", 5);
    }
    test_disconnect(&c);
}

static void test_card_cryptogram(void **state)
{
    (void)state;
    sim_control(0, "set_i = 70\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    long ea = sim_state(0, "ext_auth_received");
    gp_channel_opts_t o = {.scp = 3, .level = 0x03};
    sim_control(0, "fault = wrong-cryptogram\n");
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_E_CARD_CRYPTOGRAM);
    ks_keyset_t wrong, like = {0, 0, 0, 1, 16};
    assert_int_equal(ks_create_keyset_like(kss, "wrong128", &like, NULL, 0, &wrong), CKR_OK);
    assert_int_equal(gp_open_channel(&c.gp, kss, &wrong, &o), SCP_E_CARD_CRYPTOGRAM);
    assert_non_null(strstr(gp_error(&c.gp), "EXTERNAL AUTHENTICATE was not sent"));
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    assert_int_equal(sim_state(0, "failed_auth"), 0);
    ks_destroy_keyset(kss, &wrong);
    /* and the right keys still open it */
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_OK);
    test_disconnect(&c);
}

/* A DES key set on an SCP03 card is refused with the reason, and so is
 * SCP02 asked of it; no EXTERNAL AUTHENTICATE. */
static void test_key_sets_refused(void **state)
{
    (void)state;
    test_conn_t c;
    test_connect(pc, 1, &c);
    long ea = sim_state(1, "ext_auth_received");
    gp_channel_opts_t o = {.scp = 3, .level = 0x03};
    ks_keyset_t des;
    assert_int_equal(ks_find_keyset(kss, "default", &des), CKR_OK);
    assert_int_equal(gp_open_channel(&c.gp, kss, &des, &o), SCP_E_UNSUPPORTED);
    assert_non_null(strstr(gp_error(&c.gp), "needs an AES key set"));
    /* SCP02 asked of an SCP03 card: its answer says so */
    o.scp = 2;
    o.i_param = 0x15;
    assert_int_equal(gp_open_channel(&c.gp, kss, &des, &o), SCP_E_RSP_LONG);
    assert_non_null(strstr(gp_error(&c.gp), "SCP03 card answers"));
    assert_int_equal(sim_state(1, "ext_auth_received"), ea);
    test_disconnect(&c);
}

/* PUT KEY of a key set generated inside the keystore and wrapped there
 * (C_WrapKey, AES-CBC under the static DEK): the key values exist nowhere
 * else. */
static void put_key(test_conn_t *c, uint8_t replace, uint8_t kvn, const char *name)
{
    ks_keyset_t like = gp_channel_keys(&c->gp), ns;
    assert_true(like.aes);
    CK_OBJECT_HANDLE sendable[3];
    assert_int_equal(ks_create_keyset_to_send(kss, name, &like, NULL, &ns, sendable), CKR_OK);
    uint8_t enc[3][32], kcv[3][3];
    CK_OBJECT_HANDLE h[3] = {ns.enc, ns.mac, ns.dek};
    scp_err_t e = SCP_OK;
    for (int k = 0; k < 3; k++) {
        size_t n = sizeof enc[k];
        assert_true(like.len == 24 ? sendable[k] != h[k] : sendable[k] == h[k]); /* AES-192: padded */
        e = gp_encrypt_key(&c->gp, NULL, like.len, sendable[k], enc[k], &n);
        if (e != SCP_OK)
            fail_msg("AES-%zu key %d: %s", like.len * 8, k, gp_error(&c->gp));
        assert_int_equal(n, like.len == 24 ? 32 : like.len); /* whole AES blocks */
        assert_int_equal(ks_scp03_kcv(kss, h[k], kcv[k]), CKR_OK);
        ks_key_flags_t f;
        assert_int_equal(ks_key_flags(kss, h[k], &f), CKR_OK);
        assert_true(f.sensitive && f.always_sensitive); /* never readable in the clear */
        assert_int_equal(f.extractable, like.len != 24); /* AES-192: only its sendable form */
    }
    ks_drop_sendable(kss, &ns, sendable);
    e = gp_put_key(&c->gp, replace, kvn, 1, like.len, enc, kcv);
    if (e != SCP_OK)
        fail_msg("PUT KEY: %s", gp_error(&c->gp));
    assert_int_equal(ks_seal_keyset(kss, &ns), CKR_OK);
    ks_key_flags_t f;
    assert_int_equal(ks_key_flags(kss, ns.enc, &f), CKR_OK);
    assert_false(f.extractable);
}

static void test_put_key(void **state)
{
    (void)state;
    sim_control(0, "set_i = 70\n");
    test_conn_t c;
    test_connect(pc, 0, &c);
    gp_channel_opts_t o = {.scp = 3, .level = 0x33};
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_OK);
    put_key(&c, 0, 0x31, "added"); /* add key version 31 */
    assert_true(sim_state_has(0, "key_versions", "30 31"));
    test_disconnect(&c);
    ks_keyset_t added, replaced;
    assert_int_equal(ks_find_keyset(kss, "added", &added), CKR_OK);
    test_connect(pc, 0, &c);
    o.kvn = 0x31;
    assert_int_equal(gp_open_channel(&c.gp, kss, &added, &o), SCP_OK);
    put_key(&c, 0x30, 0x32, "replaced"); /* replace 30 by 32 */
    test_disconnect(&c);
    assert_true(sim_state_has(0, "key_versions", "32 31"));
    assert_int_equal(ks_find_keyset(kss, "replaced", &replaced), CKR_OK);
    test_connect(pc, 0, &c);
    o.kvn = 0x32;
    assert_int_equal(gp_open_channel(&c.gp, kss, &replaced, &o), SCP_OK);
    o.kvn = 0x30; /* the old version is gone */
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_E_RSP_SW);
    assert_non_null(strstr(gp_error(&c.gp), "6A88"));
    o.kvn = 0x32; /* and the old keys do not open the new version */
    long ea = sim_state(0, "ext_auth_received");
    assert_int_equal(gp_open_channel(&c.gp, kss, &aes128, &o), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(sim_state(0, "ext_auth_received"), ea);
    test_disconnect(&c);
}

/* PUT KEY of AES-256 and AES-192 keys generated inside the keystore, added
 * and then replacing: an AES-192 key goes as its sendable form (padded to 32
 * bytes inside the keystore, the key itself never extractable). Channels
 * opened with the new keys show the card holds exactly the keystore's. */
static void test_put_key_longer_keys(void **state)
{
    (void)state;
    for (int card = 1; card <= 2; card++) {
        char ctl[32], name[16];
        snprintf(ctl, sizeof ctl, "set_i = 70\n");
        sim_control(card, ctl);
        test_conn_t c;
        test_connect(pc, card, &c);
        gp_channel_opts_t o = {.scp = 3, .level = 0x03};
        assert_int_equal(gp_open_channel(&c.gp, kss, card_keys[card], &o), SCP_OK);
        snprintf(name, sizeof name, "long%d", card);
        put_key(&c, 0, 0x31, name);
        assert_true(sim_state_has(card, "key_versions", "30 31"));
        test_disconnect(&c);
        ks_keyset_t added;
        assert_int_equal(ks_find_keyset(kss, name, &added), CKR_OK);
        assert_int_equal(added.len, card_keys[card]->len);
        test_connect(pc, card, &c);
        o.kvn = 0x31;
        scp_err_t e = gp_open_channel(&c.gp, kss, &added, &o);
        if (e != SCP_OK)
            fail_msg("card %d: the new AES-%zu keys: %s", card, added.len * 8, gp_error(&c.gp));
        assert_int_equal(sim_state(card, "key_len"), added.len);
        /* and over the new keys, replace key version 30 by 32 */
        snprintf(name, sizeof name, "repl%d", card);
        put_key(&c, 0x30, 0x32, name);
        test_disconnect(&c);
        assert_true(sim_state_has(card, "key_versions", "32 31"));
        ks_keyset_t replaced;
        assert_int_equal(ks_find_keyset(kss, name, &replaced), CKR_OK);
        test_connect(pc, card, &c);
        o.kvn = 0x32;
        assert_int_equal(gp_open_channel(&c.gp, kss, &replaced, &o), SCP_OK);
        assert_int_equal(sim_state(card, "failed_auth"), 0);
        test_disconnect(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_refused_combinations),
        cmocka_unit_test(test_s16_unannounced),
        cmocka_unit_test(test_rmac_tampered),
        cmocka_unit_test(test_refused_command_leaves_channel_in_step),
        cmocka_unit_test(test_card_cryptogram),
        cmocka_unit_test(test_key_sets_refused),
        cmocka_unit_test(test_put_key),
        cmocka_unit_test(test_put_key_longer_keys),
    };
    return cmocka_run_group_tests_name("scp03-options", tests, setup, teardown);
}
