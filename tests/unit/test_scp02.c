/*
 * SCP02 through a real SoftHSM2 keystore: the known-answer transcript from a
 * real card reproduced end to end, and every way INITIALIZE UPDATE can go
 * wrong. Runs under tests/harness/softhsm-env.sh (a throw-away token).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/keystore.h"
#include "keystore/scp02_crypto.h"
#include "scp/scp02.h"
#include "vectors.h"

static vec_file_t vf;
static ks_t *ks;
static ks_session_t *s;
static ks_keyset_t card_keys; /* the vector's static keys */
static ks_keyset_t ref_keys;  /* the vector's session keys, imported for comparison */

#define V(name) vec_get(&vf, name)

static int import_set(const char *name, const char *enc, const char *mac, const char *dek,
                      ks_keyset_t *out)
{
    const char *vals[3] = {enc, mac, dek};
    for (int r = 0; r < 3; r++) {
        const vec_entry_t *e = V(vals[r]);
        if (e->len != 16 || ks_import_key(s, name, (enum ks_role)r, e->v) != CKR_OK) {
            fprintf(stderr, "import %s/%s: %s\n", name, ks_role_names[r], ks_session_error(s));
            return -1;
        }
    }
    return ks_find_keyset(s, name, out) == CKR_OK ? 0 : -1;
}

/* The vector's session keys, as the reference our derived session keys are
 * compared with by encrypting: test fixtures that encrypt, which gp-p11's own
 * static keys may not (they only derive). */
static CK_OBJECT_HANDLE reference_key(const char *vec)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_DES2;
    CK_BBOOL f = CK_FALSE, t = CK_TRUE;
    uint8_t v[16];
    memcpy(v, V(vec)->v, 16);
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &f, sizeof f},     {CKA_ENCRYPT, &t, sizeof t},
                           {CKA_VALUE, v, sizeof v}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    if (ks_functions(ks)->C_CreateObject(ks_session_handle(s), tmpl, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

static int setup(void **state)
{
    (void)state;
    char err[KS_ERRLEN];
    const char *pin = getenv("GP_TEST_PIN");
    if (vec_load(&vf, "scp02-transcript-b.txt") != 0 || !pin)
        return -1;
    if (ks_open(&ks, getenv("GP_SOFTHSM_MODULE"), err, sizeof err) != CKR_OK ||
        ks_select_token(ks, getenv("GP_TEST_TOKEN"), err, sizeof err) != CKR_OK ||
        ks_login(ks, (const uint8_t *)pin, strlen(pin), err, sizeof err) != CKR_OK) {
        fprintf(stderr, "keystore: %s\n", err);
        return -1;
    }
    if (ks_session_open(ks, &s) != CKR_OK)
        return -1;
    if (import_set("vecb", "static_enc", "static_mac", "static_dek", &card_keys) != 0)
        return -1;
    ref_keys.enc = reference_key("session_enc");
    ref_keys.mac = reference_key("session_mac");
    ref_keys.dek = reference_key("session_dek");
    if (!ref_keys.enc || !ref_keys.mac || !ref_keys.dek)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_session_close(s);
    ks_close(ks);
    return 0;
}

/* Fills a response buffer from a vector value. */
static size_t rsp_from(const char *name, uint8_t *buf)
{
    const vec_entry_t *e = V(name);
    memcpy(buf, e->v, e->len);
    return e->len;
}

static void assert_apdu_is(const apdu_t *a, const char *name)
{
    uint8_t b[APDU_MAX_CMD];
    size_t n = apdu_encode(a, b, sizeof b);
    const vec_entry_t *e = V(name);
    assert_int_equal(n, e->len);
    assert_memory_equal(b, e->v, n);
}

/* Runs the handshake of the transcript up to a verified card cryptogram. */
static void start_channel(scp02_t *ch, uint8_t level)
{
    apdu_t cmd;
    uint8_t rsp[64];
    assert_int_equal(scp02_init(ch, s, &card_keys, 0x15, level), SCP_OK);
    const vec_entry_t *iu = V("init_update");
    assert_int_equal(scp02_initialize_update(ch, 0, iu->v + 5, &cmd), SCP_OK);
    /* INITIALIZE UPDATE as the vector has it, plus Le (case 4) */
    uint8_t b[APDU_MAX_CMD];
    size_t n = apdu_encode(&cmd, b, sizeof b);
    assert_int_equal(n, iu->len + 1);
    assert_memory_equal(b, iu->v, iu->len);
    assert_int_equal(b[n - 1], 0x00);
    size_t rl = rsp_from("init_update_rsp", rsp);
    assert_int_equal(scp02_on_initialize_update(ch, rsp, rl), SCP_OK);
}

static void test_transcript(void **state)
{
    (void)state;
    scp02_t ch;
    apdu_t cmd, plain;
    start_channel(&ch, SCP02_LEVEL_CMAC);
    assert_int_equal(ch.init.kvn, 0x23);
    assert_int_equal(scp02_external_authenticate(&ch, &cmd), SCP_OK);
    assert_apdu_is(&cmd, "external_auth");
    const vec_entry_t *sw = V("external_auth_sw");
    assert_int_equal(scp02_on_external_authenticate(&ch, (uint16_t)(sw->v[0] << 8 | sw->v[1])),
                     SCP_OK);
    /* the two GET STATUS commands, with the data exactly as that host sent it */
    const char *names[2] = {"get_status_1", "get_status_2"};
    for (int i = 0; i < 2; i++) {
        const vec_entry_t *g = V(names[i]);
        size_t lc = g->v[4] - 8;
        apdu_set(&plain, 0x80, g->v[1], g->v[2], g->v[3], g->v + 5, lc, 0, 0);
        assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
        assert_apdu_is(&cmd, names[i]);
    }
    scp02_close(&ch);
    assert_int_equal(ch.keys.cmac, CK_INVALID_HANDLE);
}

/* The session keys are compared by their effect: same KCV and same
 * ciphertext as the vector's session keys imported as reference. */
static void test_session_keys(void **state)
{
    (void)state;
    const vec_entry_t *rsp = V("init_update_rsp");
    ks_scp02_keys_t k;
    assert_int_equal(ks_scp02_derive(s, card_keys.enc, card_keys.mac, card_keys.dek, rsp->v + 12, &k),
                     CKR_OK);
    CK_OBJECT_HANDLE got[3] = {k.enc, k.cmac, k.dek};
    CK_OBJECT_HANDLE want[3] = {ref_keys.enc, ref_keys.mac, ref_keys.dek};
    uint8_t block[16], a[16], b[16];
    assert_int_equal(ks_random(s, block, sizeof block), CKR_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ks_encrypt(s, got[i], NULL, block, 16, a), CKR_OK);
        assert_int_equal(ks_encrypt(s, want[i], NULL, block, 16, b), CKR_OK);
        assert_memory_equal(a, b, 16);
    }
    /* K1||K1: single DES under the first half of S-MAC gives the vector's ICV */
    const vec_entry_t *ea = V("external_auth");
    const vec_entry_t *icv1 = V("icv_1");
    assert_int_equal(ks_encrypt(s, k.cmac_k1, NULL, ea->v + ea->len - 8, 8, a), CKR_OK);
    assert_memory_equal(a, icv1->v, 8);
    /* the R-MAC key differs from the C-MAC key (constant 0102, not 0101) */
    assert_int_equal(ks_encrypt(s, k.rmac, NULL, block, 8, a), CKR_OK);
    assert_int_equal(ks_encrypt(s, k.cmac, NULL, block, 8, b), CKR_OK);
    assert_memory_not_equal(a, b, 8);
    ks_scp02_destroy(s, &k);
}

static void test_session_key_attributes(void **state)
{
    (void)state;
    scp02_t ch;
    start_channel(&ch, SCP02_LEVEL_CMAC);
    CK_OBJECT_HANDLE all[] = {ch.keys.enc, ch.keys.cmac, ch.keys.cmac_k1, ch.keys.rmac,
                              ch.keys.rmac_k1, ch.keys.dek};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ks_key_flags_t f;
        assert_int_equal(ks_key_flags(s, all[i], &f), CKR_OK);
        assert_int_equal(f.token, CK_FALSE);
        assert_int_equal(f.sensitive, CK_TRUE);
        assert_int_equal(f.extractable, CK_FALSE);
        assert_int_equal(f.key_type, CKK_DES2);
        /* the value cannot be read */
        uint8_t v[16];
        CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof v};
        assert_int_equal(ks_functions(ks)->C_GetAttributeValue(ks_session_handle(s), all[i], &a, 1),
                         CKR_ATTRIBUTE_SENSITIVE);
    }
    /* the static keys too */
    CK_OBJECT_HANDLE st[] = {card_keys.enc, card_keys.mac, card_keys.dek};
    for (int i = 0; i < 3; i++) {
        ks_key_flags_t f;
        assert_int_equal(ks_key_flags(s, st[i], &f), CKR_OK);
        assert_int_equal(f.token, CK_TRUE);
        assert_int_equal(f.sensitive, CK_TRUE);
        assert_int_equal(f.extractable, CK_FALSE);
    }
    CK_OBJECT_HANDLE enc = ch.keys.enc;
    scp02_close(&ch);
    /* closing the channel destroyed its session objects */
    ks_key_flags_t f;
    assert_int_not_equal(ks_key_flags(s, enc, &f), CKR_OK);
}

static void test_card_cryptogram_mismatch(void **state)
{
    (void)state;
    scp02_t ch;
    apdu_t cmd;
    uint8_t rsp[64];
    for (size_t byte = 20; byte < 28; byte += 7) { /* first and last cryptogram byte */
        assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 1), SCP_OK);
        const vec_entry_t *iu = V("init_update");
        assert_int_equal(scp02_initialize_update(&ch, 0, iu->v + 5, &cmd), SCP_OK);
        size_t rl = rsp_from("init_update_rsp", rsp);
        rsp[byte] ^= 0x01;
        assert_int_equal(scp02_on_initialize_update(&ch, rsp, rl), SCP_E_CARD_CRYPTOGRAM);
        assert_non_null(strstr(scp02_error(&ch), "EXTERNAL AUTHENTICATE was not sent"));
        /* no way to build EXTERNAL AUTHENTICATE now */
        assert_int_equal(scp02_external_authenticate(&ch, &cmd), SCP_E_STATE);
        assert_int_equal(ch.keys.enc, CK_INVALID_HANDLE);
    }
}

static void test_wrong_keys(void **state)
{
    (void)state;
    ks_keyset_t other;
    for (int r = 0; r < 3; r++)
        assert_int_equal(ks_generate_key(s, "random", (enum ks_role)r), CKR_OK);
    assert_int_equal(ks_find_keyset(s, "random", &other), CKR_OK);
    scp02_t ch;
    apdu_t cmd;
    uint8_t rsp[64];
    assert_int_equal(scp02_init(&ch, s, &other, 0x15, 1), SCP_OK);
    assert_int_equal(scp02_initialize_update(&ch, 0, NULL, &cmd), SCP_OK);
    size_t rl = rsp_from("init_update_rsp", rsp);
    assert_int_equal(scp02_on_initialize_update(&ch, rsp, rl), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(scp02_external_authenticate(&ch, &cmd), SCP_E_STATE);
    assert_int_equal(ks_delete_keyset(s, "random"), CKR_OK);
}

struct bad_rsp {
    const char *what;
    size_t keep;      /* bytes of the good data kept (28 = all) */
    size_t extra;     /* extra data bytes appended */
    uint16_t sw;
    int scp;          /* -1 = keep */
    scp_err_t want;
    const char *words; /* expected in the message */
};

static void test_malformed_init_update(void **state)
{
    (void)state;
    static const struct bad_rsp cases[] = {
        {"empty", 0, 0, 0, -1, SCP_E_RSP_SHORT, "no status word"},
        {"short", 27, 0, 0x9000, -1, SCP_E_RSP_SHORT, "27 data bytes"},
        {"long", 28, 1, 0x9000, -1, SCP_E_RSP_LONG, "29 data bytes"},
        {"SCP03 length", 28, 4, 0x9000, -1, SCP_E_RSP_LONG, "32 data bytes"},
        {"6A88", 0, 0, 0x6A88, -1, SCP_E_RSP_SW, "no key set with the requested key version"},
        {"6983", 0, 0, 0x6983, -1, SCP_E_RSP_SW, "locked"},
        {"6982", 0, 0, 0x6982, -1, SCP_E_RSP_SW, "refuses"},
        {"warning SW", 28, 0, 0x6300, -1, SCP_E_RSP_SW, "6300"},
        {"SCP01", 28, 0, 0x9000, 0x01, SCP_E_OTHER_SCP, "protocol 01"},
        {"SCP03", 28, 0, 0x9000, 0x03, SCP_E_OTHER_SCP, "protocol 03"},
    };
    const vec_entry_t *good = V("init_update_rsp");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_rsp *c = &cases[i];
        uint8_t rsp[64];
        size_t n = c->keep;
        memcpy(rsp, good->v, c->keep);
        memset(rsp + n, 0xA5, c->extra);
        n += c->extra;
        if (c->scp >= 0)
            rsp[11] = (uint8_t)c->scp;
        if (c->sw) {
            rsp[n++] = (uint8_t)(c->sw >> 8);
            rsp[n++] = (uint8_t)c->sw;
        }
        scp02_t ch;
        apdu_t cmd;
        assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 1), SCP_OK);
        assert_int_equal(scp02_initialize_update(&ch, 0, NULL, &cmd), SCP_OK);
        scp_err_t e = scp02_on_initialize_update(&ch, rsp, n);
        if (e != c->want || !strstr(scp02_error(&ch), c->words))
            fail_msg("case %s: got %s \"%s\"", c->what, scp_err_name(e), scp02_error(&ch));
        assert_int_equal(scp02_external_authenticate(&ch, &cmd), SCP_E_STATE);
        assert_int_equal(ch.keys.enc, CK_INVALID_HANDLE);
    }
}

static void test_key_version_mismatch(void **state)
{
    (void)state;
    scp02_t ch;
    apdu_t cmd;
    uint8_t rsp[64];
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 1), SCP_OK);
    assert_int_equal(scp02_initialize_update(&ch, 0x30, NULL, &cmd), SCP_OK);
    assert_int_equal(cmd.p1, 0x30);
    size_t rl = rsp_from("init_update_rsp", rsp); /* the card answers with 23 */
    assert_int_equal(scp02_on_initialize_update(&ch, rsp, rl), SCP_E_KEY_VERSION);
    assert_non_null(strstr(scp02_error(&ch), "key version 35"));
}

static void open_channel(scp02_t *ch, uint8_t level)
{
    apdu_t cmd;
    start_channel(ch, level);
    assert_int_equal(scp02_external_authenticate(ch, &cmd), SCP_OK);
    assert_int_equal(cmd.p1, level);
    assert_int_equal(scp02_on_external_authenticate(ch, 0x9000), SCP_OK);
}

static void test_cdec(void **state)
{
    (void)state;
    scp02_t ch;
    apdu_t plain, cmd;
    open_channel(&ch, SCP02_LEVEL_CMAC | SCP02_LEVEL_CDEC);
    static const uint8_t aid[] = {0x4F, 0x07, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00};
    apdu_set(&plain, 0x80, 0xF2, 0x80, 0x00, aid, sizeof aid, 1, 256);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
    assert_int_equal(cmd.cla, 0x84);
    assert_int_equal(cmd.lc, 16 + 8); /* 9 bytes padded to 16, plus the C-MAC */
    assert_true(cmd.has_le);
    /* the data field is 3DES-CBC under S-ENC (zero IV) of data || 80 00.. */
    uint8_t padded[16], want[16];
    assert_int_equal(ks_pad80(aid, sizeof aid, padded, sizeof padded), 16);
    static const uint8_t zero[8];
    assert_int_equal(ks_encrypt(s, ref_keys.enc, zero, padded, 16, want), CKR_OK);
    assert_memory_equal(cmd.data, want, 16);
    /* a command without data is not padded */
    apdu_set(&plain, 0x80, 0xCA, 0x9F, 0x7F, NULL, 0, 1, 256);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
    assert_int_equal(cmd.lc, 8);
    /* data of a multiple of 8 still gets a full padding block */
    uint8_t eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    apdu_set(&plain, 0x80, 0xE4, 0x00, 0x00, eight, 8, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
    assert_int_equal(cmd.lc, 16 + 8);
    scp02_close(&ch);
}

static void test_lengths_and_state(void **state)
{
    (void)state;
    scp02_t ch;
    apdu_t plain, cmd;
    uint8_t data[255];
    memset(data, 0x11, sizeof data);
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 1), SCP_OK);
    apdu_set(&plain, 0x80, 0xCA, 0x00, 0x66, NULL, 0, 1, 256);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_E_STATE); /* not open */
    open_channel(&ch, SCP02_LEVEL_CMAC);
    apdu_set(&plain, 0x80, 0xE2, 0x00, 0x00, data, 247, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
    assert_int_equal(cmd.lc, 255);
    apdu_set(&plain, 0x80, 0xE2, 0x00, 0x00, data, 248, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_E_TOO_LONG);
    apdu_set(&plain, 0x84, 0xE2, 0x00, 0x00, data, 8, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_E_ARGS); /* already secured CLA */
    scp02_close(&ch);
    open_channel(&ch, SCP02_LEVEL_CMAC | SCP02_LEVEL_CDEC);
    apdu_set(&plain, 0x80, 0xE2, 0x00, 0x00, data, 239, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_OK);
    assert_int_equal(cmd.lc, 240 + 8);
    apdu_set(&plain, 0x80, 0xE2, 0x00, 0x00, data, 240, 0, 0);
    assert_int_equal(scp02_wrap(&ch, &plain, &cmd), SCP_E_TOO_LONG);
    scp02_close(&ch);
    /* a refused EXTERNAL AUTHENTICATE closes the channel and says why */
    start_channel(&ch, SCP02_LEVEL_CMAC);
    assert_int_equal(scp02_external_authenticate(&ch, &cmd), SCP_OK);
    assert_int_equal(scp02_on_external_authenticate(&ch, 0x6982), SCP_E_RSP_SW);
    assert_non_null(strstr(scp02_error(&ch), "wrong keys"));
    assert_int_equal(ch.state, SCP02_CLOSED);
    assert_int_equal(ch.keys.cmac, CK_INVALID_HANDLE);
    /* combinations SCP02 does not have are refused up front */
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x0A, 0x01), SCP_OK);     /* implicit, C-MAC */
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x0A, 0x03), SCP_E_UNSUPPORTED); /* implicit, C-DEC */
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 0x13), SCP_E_UNSUPPORTED); /* no R-MAC in i */
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x35, 0x13), SCP_OK);
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x15, 0x02), SCP_E_UNSUPPORTED); /* C-DEC alone */
    assert_int_equal(scp02_init(&ch, s, &card_keys, 0x95, 0x01), SCP_E_UNSUPPORTED); /* reserved bit */
}

static void test_keyset_lookup_errors(void **state)
{
    (void)state;
    ks_keyset_t k;
    assert_int_equal(ks_find_keyset(s, "absent", &k), CKR_KEY_HANDLE_INVALID);
    assert_non_null(strstr(ks_session_error(s), "absent/enc"));
    assert_int_equal(ks_import_key(s, "half", KS_ROLE_ENC, V("static_enc")->v), CKR_OK);
    assert_int_equal(ks_find_keyset(s, "half", &k), CKR_KEY_HANDLE_INVALID);
    assert_non_null(strstr(ks_session_error(s), "half/mac"));
    /* importing over an existing key is refused */
    assert_int_equal(ks_import_key(s, "half", KS_ROLE_ENC, V("static_enc")->v),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ks_delete_keyset(s, "half"), CKR_OK);
    assert_int_equal(ks_delete_keyset(s, "half"), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(ks_find_keyset(s, "bad/name", &k), CKR_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transcript),
        cmocka_unit_test(test_session_keys),
        cmocka_unit_test(test_session_key_attributes),
        cmocka_unit_test(test_card_cryptogram_mismatch),
        cmocka_unit_test(test_wrong_keys),
        cmocka_unit_test(test_malformed_init_update),
        cmocka_unit_test(test_key_version_mismatch),
        cmocka_unit_test(test_cdec),
        cmocka_unit_test(test_lengths_and_state),
        cmocka_unit_test(test_keyset_lookup_errors),
    };
    return cmocka_run_group_tests_name("scp02-softhsm", tests, setup, teardown);
}
