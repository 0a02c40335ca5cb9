/*
 * SCP03 through a real SoftHSM2 keystore: the real cards' transcripts
 * (tests/vectors/scp03-transcript-c.txt, AES-128, and
 * scp03-aes256-transcript-d.txt, AES-256) reproduced byte for byte, the card
 * cryptogram check that keeps EXTERNAL AUTHENTICATE from being built, the
 * strict INITIALIZE UPDATE parser, and how few keystore calls a secured
 * command takes. Runs under tests/harness/softhsm-env.sh.
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
#include "scp/scp03.h"
#include "kdf3_vectors.h"
#include "vectors.h"

static vec_file_t vf, vfd;
static ks_t *ks;
static ks_session_t *s;
static ks_keyset_t card_keys, card_keys_d;

#define V(name) vec_get(&vf, name)
#define D(name) vec_get(&vfd, name)

/* A reference key made from a vector's value, to compare our session keys
 * with by their effect: a test fixture that encrypts and signs. */
static CK_OBJECT_HANDLE reference_key_of(const vec_entry_t *e)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL f = CK_FALSE, t = CK_TRUE;
    uint8_t v[32];
    memcpy(v, e->v, e->len);
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &f, sizeof f},     {CKA_ENCRYPT, &t, sizeof t},
                           {CKA_SIGN, &t, sizeof t},      {CKA_VALUE, v, e->len}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    if (ks_functions(ks)->C_CreateObject(ks_session_handle(s), tmpl, 6, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}
#define reference_key(vec) reference_key_of(V(vec))

/* Our session key and the transcript's give the same output on the same
 * input: an encryption (S-ENC) or a CMAC (S-MAC, S-RMAC), as each may. */
static void assert_same_key(CK_OBJECT_HANDLE ours, const vec_entry_t *theirs, int by_mac)
{
    CK_OBJECT_HANDLE ref = reference_key_of(theirs);
    assert_int_not_equal(ref, CK_INVALID_HANDLE);
    uint8_t probe[32] = "gp-p11 compares session keys...", a[32], b[32];
    if (by_mac) {
        assert_int_equal(ks_aes_cmac(s, ours, probe, 32, a), CKR_OK);
        assert_int_equal(ks_aes_cmac(s, ref, probe, 32, b), CKR_OK);
    } else {
        assert_int_equal(ks_cipher(s, CKM_AES_ECB, ours, NULL, 0, 1, probe, 32, a), CKR_OK);
        assert_int_equal(ks_cipher(s, CKM_AES_ECB, ref, NULL, 0, 1, probe, 32, b), CKR_OK);
    }
    assert_memory_equal(a, b, by_mac ? 16 : 32);
    ks_destroy(s, ref);
}

static int setup(void **state)
{
    (void)state;
    char err[KS_ERRLEN];
    const char *pin = getenv("GP_TEST_PIN");
    if (vec_load(&vf, "scp03-transcript-c.txt") != 0 ||
        vec_load(&vfd, "scp03-aes256-transcript-d.txt") != 0 || !pin)
        return -1;
    if (ks_open(&ks, getenv("GP_SOFTHSM_MODULE"), err, sizeof err) != CKR_OK ||
        ks_select_token(ks, getenv("GP_TEST_TOKEN"), err, sizeof err) != CKR_OK ||
        ks_login(ks, (const uint8_t *)pin, strlen(pin), err, sizeof err) != CKR_OK) {
        fprintf(stderr, "keystore: %s\n", err);
        return -1;
    }
    if (ks_session_open(ks, &s) != CKR_OK)
        return -1;
    uint8_t v[48];
    memcpy(v, V("static_enc")->v, 16);
    memcpy(v + 16, V("static_mac")->v, 16);
    memcpy(v + 32, V("static_dek")->v, 16);
    ks_keyset_t aes128 = {0, 0, 0, 1, 16};
    CK_RV rv = ks_create_keyset_like(s, "vecc", &aes128, v, 0, &card_keys);
    ks_wipe(v, sizeof v);
    uint8_t w[96];
    memcpy(w, D("static_enc")->v, 32);
    memcpy(w + 32, D("static_mac")->v, 32);
    memcpy(w + 64, D("static_dek")->v, 32);
    ks_keyset_t aes256 = {0, 0, 0, 1, 32};
    if (rv == CKR_OK)
        rv = ks_create_keyset_like(s, "vecd", &aes256, w, 0, &card_keys_d);
    ks_wipe(w, sizeof w);
    if (rv != CKR_OK) {
        fprintf(stderr, "import: %s\n", ks_session_error(s));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_session_close(s);
    ks_close(ks);
    return 0;
}

static void assert_apdu_is(const apdu_t *a, const char *name)
{
    uint8_t b[APDU_MAX_CMD];
    size_t n = apdu_encode(a, b, sizeof b);
    const vec_entry_t *e = V(name);
    assert_int_equal(n, e->len);
    assert_memory_equal(b, e->v, n);
}

/* INITIALIZE UPDATE with the transcript's host challenge, up to a verified
 * card cryptogram. */
static void start_channel(scp03_t *ch, uint8_t level, const uint8_t *rsp, size_t rsp_len,
                          scp_err_t want)
{
    apdu_t cmd;
    assert_int_equal(scp03_init(ch, s, &card_keys, level), SCP_OK);
    assert_int_equal(scp03_initialize_update(ch, 0, V("init_update")->v + 5, &cmd), SCP_OK);
    assert_apdu_is(&cmd, "init_update");
    if (!rsp) {
        rsp = V("init_update_rsp")->v;
        rsp_len = V("init_update_rsp")->len;
    }
    assert_int_equal(scp03_on_initialize_update(ch, rsp, rsp_len), want);
}

static void test_stored_keys(void **state)
{
    (void)state;
    ks_keyset_t k;
    assert_int_equal(ks_find_keyset(s, "vecc", &k), CKR_OK);
    assert_true(k.aes);
    assert_int_equal(k.len, 16);
    /* least privilege: sensitive, unextractable; enc and mac derive and encrypt,
     * the DEK encrypts and wraps, none signs or decrypts */
    CK_OBJECT_HANDLE h[3] = {k.enc, k.mac, k.dek};
    for (int r = 0; r < 3; r++) {
        CK_BBOOL v[6];
        CK_ATTRIBUTE a[6] = {{CKA_SENSITIVE, &v[0], 1}, {CKA_EXTRACTABLE, &v[1], 1},
                             {CKA_DERIVE, &v[2], 1},    {CKA_SIGN, &v[3], 1},
                             {CKA_DECRYPT, &v[4], 1},   {CKA_WRAP, &v[5], 1}};
        assert_int_equal(ks_functions(ks)->C_GetAttributeValue(ks_session_handle(s), h[r], a, 6),
                         CKR_OK);
        assert_true(v[0]);
        assert_false(v[1]);
        assert_int_equal(v[2], r != KS_ROLE_DEK);
        assert_false(v[3]);
        assert_false(v[4]);
        assert_int_equal(v[5], r == KS_ROLE_DEK);
    }
}

/* The whole transcript: session keys by their effect, both cryptograms,
 * EXTERNAL AUTHENTICATE and the C-DEC + C-MAC GET STATUS, byte for byte. */
static void test_transcript(void **state)
{
    (void)state;
    scp03_t ch;
    start_channel(&ch, 0x03, NULL, 0, SCP_OK);
    assert_int_equal(ch.init.kvn, 0x30);
    assert_int_equal(ch.init.i, 0x70);
    assert_true(ch.init.has_seq);
    assert_memory_equal(ch.init.seq, "\x00\x00\x25", 3);

    /* S-ENC and S-MAC as the transcript has them: same output on the same input */
    CK_OBJECT_HANDLE ref_enc = reference_key("session_enc"), ref_mac = reference_key("session_mac");
    assert_int_not_equal(ref_enc, CK_INVALID_HANDLE);
    uint8_t probe[32] = "gp-p11 compares session keys...", a[32], b[32];
    assert_int_equal(ks_cipher(s, CKM_AES_ECB, ch.keys.enc, NULL, 0, 1, probe, 32, a), CKR_OK);
    assert_int_equal(ks_cipher(s, CKM_AES_ECB, ref_enc, NULL, 0, 1, probe, 32, b), CKR_OK);
    assert_memory_equal(a, b, 32);
    assert_int_equal(ks_aes_cmac(s, ch.keys.mac, probe, 32, a), CKR_OK);
    assert_int_equal(ks_aes_cmac(s, ref_mac, probe, 32, b), CKR_OK);
    assert_memory_equal(a, b, 16);
    ks_destroy(s, ref_enc);
    ks_destroy(s, ref_mac);

    /* the host cryptogram inside EXTERNAL AUTHENTICATE, and its C-MAC */
    apdu_t cmd;
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_OK);
    assert_apdu_is(&cmd, "external_auth");
    assert_memory_equal(cmd.data, V("host_cryptogram")->v, 8);
    assert_int_equal(scp03_on_external_authenticate(&ch, 0x9000), SCP_OK);

    /* GET STATUS (applications) at C-DEC + C-MAC: counter 1, C-MAC chained */
    static const uint8_t aids[] = {0x4F, 0x00};
    apdu_t plain, wire;
    apdu_set(&plain, 0x80, 0xF2, 0x40, 0x02, aids, 2, 1, 256);
    assert_int_equal(scp03_wrap(&ch, &plain, &wire), SCP_OK);
    assert_apdu_is(&wire, "get_status");
    /* C-DEC (one encryption) and C-MAC (one sign): two Init/op pairs */
    assert_int_equal(ch.ks_calls, 4);
    /* level 03 has no R-MAC: the answer passes as it came */
    uint8_t rsp[] = {0xE3, 0x00, 0x90, 0x00}, out[8];
    size_t ol;
    assert_int_equal(scp03_unwrap(&ch, rsp, sizeof rsp, out, &ol), SCP_OK);
    assert_int_equal(ol, 4);
    scp03_close(&ch);
    assert_int_equal(ch.keys.enc, CK_INVALID_HANDLE);
}

/* The AES-256 transcript (an eUICC, S8, i=70, level 03): 256-bit session
 * keys derived inside the keystore by their effect, both cryptograms,
 * EXTERNAL AUTHENTICATE and the C-DEC + C-MAC STORE DATA, byte for byte,
 * and the R-MAC-less answer; the keystore calls the handshake costs. */
static void test_transcript_aes256(void **state)
{
    (void)state;
    scp03_t ch;
    apdu_t cmd;
    uint8_t kcv[3];
    assert_int_equal(ks_scp03_kcv(s, card_keys_d.enc, kcv), CKR_OK);
    assert_memory_equal(kcv, D("kcv_enc_mac_dek")->v, 3);
    assert_int_equal(ks_scp03_kcv(s, card_keys_d.mac, kcv), CKR_OK);
    assert_memory_equal(kcv, D("kcv_enc_mac_dek")->v + 3, 3);
    assert_int_equal(ks_scp03_kcv(s, card_keys_d.dek, kcv), CKR_OK);
    assert_memory_equal(kcv, D("kcv_enc_mac_dek")->v + 6, 3);

    unsigned long before = ks_session_calls(s);
    assert_int_equal(scp03_init(&ch, s, &card_keys_d, 0x03), SCP_OK);
    assert_int_equal(scp03_initialize_update(&ch, 0x32, D("init_update")->v + 5, &cmd), SCP_OK);
    uint8_t b[APDU_MAX_CMD];
    size_t n = apdu_encode(&cmd, b, sizeof b);
    assert_int_equal(n, D("init_update")->len);
    assert_memory_equal(b, D("init_update")->v, n);
    assert_int_equal(scp03_on_initialize_update(&ch, D("init_update_rsp")->v,
                                                D("init_update_rsp")->len), SCP_OK);
    /* per static key one C_Encrypt (an Init/op pair) and one C_DeriveKey per
     * session key, then the card cryptogram's C_SignInit/C_Sign: 2+1 + 2+2 + 2 */
    assert_int_equal(ks_session_calls(s) - before, 9);
    assert_int_equal(ch.init.kvn, 0x32);
    assert_same_key(ch.keys.enc, D("session_enc"), 0);
    assert_same_key(ch.keys.mac, D("session_mac"), 1);
    assert_same_key(ch.keys.rmac, D("session_rmac"), 1);
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_OK);
    assert_memory_equal(cmd.data, D("host_cryptogram")->v, 8);
    n = apdu_encode(&cmd, b, sizeof b);
    assert_int_equal(n, D("external_auth")->len);
    assert_memory_equal(b, D("external_auth")->v, n);
    assert_int_equal(scp03_on_external_authenticate(&ch, 0x9000), SCP_OK);

    const vec_entry_t *p = D("store_data_plain");
    apdu_t plain, wire;
    apdu_set(&plain, p->v[0], p->v[1], p->v[2], p->v[3], p->v + 5, p->v[4], 1, 256);
    assert_int_equal(scp03_wrap(&ch, &plain, &wire), SCP_OK);
    n = apdu_encode(&wire, b, sizeof b);
    assert_int_equal(n, D("store_data_sent")->len);
    assert_memory_equal(b, D("store_data_sent")->v, n);
    uint8_t out[64];
    size_t ol;
    const vec_entry_t *r = D("store_data_rsp");
    assert_int_equal(scp03_unwrap(&ch, r->v, r->len, out, &ol), SCP_OK);
    assert_int_equal(ol, r->len);
    assert_memory_equal(out, r->v, ol);
    scp03_close(&ch);
    assert_int_equal(ch.keys.enc, CK_INVALID_HANDLE);
}

/* pysim's SCP03 sessions (tests/vectors/scp03-aes*-sessions-f.txt): AES-128,
 * AES-192 and AES-256 at levels 11, 03 and 33, each replayed through
 * SoftHSM: INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, five wrapped
 * commands (C-MAC chained, C-DEC with the counter moving for each), and
 * the STORE DATA answer's R-MAC (11, 33) and R-ENC (33) checked and
 * removed, byte for byte. */
static void replay_session(const char *file, size_t len, const char *level)
{
    vec_file_t f;
    assert_int_equal(vec_load(&f, file), 0);
    uint8_t v[96];
    memcpy(v, vec_get(&f, "static_enc")->v, len);
    memcpy(v + len, vec_get(&f, "static_mac")->v, len);
    memcpy(v + 2 * len, vec_get(&f, "static_dek")->v, len);
    ks_keyset_t like = {0, 0, 0, 1, len}, k;
    assert_int_equal(ks_create_keyset_like(s, "pysim", &like, v, 0, &k), CKR_OK);
    ks_wipe(v, sizeof v);
    char name[32];
#define F(what) (snprintf(name, sizeof name, "l%s_%s", level, what), vec_get(&f, name))
    const vec_entry_t *iu = F("init_update");
    uint8_t lv = (uint8_t)strtoul(level, NULL, 16), b[APDU_MAX_CMD];
    scp03_t ch;
    apdu_t cmd, plain, wire;
    assert_int_equal(scp03_init(&ch, s, &k, lv), SCP_OK);
    assert_int_equal(scp03_initialize_update(&ch, iu->v[2], iu->v + 5, &cmd), SCP_OK);
    size_t n = apdu_encode(&cmd, b, sizeof b);
    assert_int_equal(n, iu->len);
    assert_memory_equal(b, iu->v, n);
    const vec_entry_t *r = F("init_update_rsp");
    if (scp03_on_initialize_update(&ch, r->v, r->len) != SCP_OK)
        fail_msg("%s level %s: %s", file, level, scp03_error(&ch));
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_OK);
    n = apdu_encode(&cmd, b, sizeof b);
    assert_int_equal(n, F("external_auth")->len);
    assert_memory_equal(b, F("external_auth")->v, n);
    assert_int_equal(scp03_on_external_authenticate(&ch, 0x9000), SCP_OK);
    static const char *plains[] = {"80E2910006BF3E035C015A00", "80F22002", "80CA006600",
                                   "80F220020A4F0212345C054F9F70C5", "80F28002024F0000"};
    static const char *wired[] = {"store_data", "case1", "case2", "case3", "case4"};
    for (int c = 0; c < 5; c++) {
        uint8_t pb[64];
        int pl = hex_decode(plains[c], pb, sizeof pb);
        assert_int_equal(apdu_parse(pb, (size_t)pl, &plain), 0);
        assert_int_equal(scp03_wrap(&ch, &plain, &wire), SCP_OK);
        n = apdu_encode(&wire, b, sizeof b);
        const vec_entry_t *w = F(wired[c]);
        if (n != w->len || memcmp(b, w->v, n) != 0)
            fail_msg("%s level %s: %s wrapped differently", file, level, wired[c]);
        if (c == 0) { /* the answer: its R-MAC (and R-ENC) checked and removed */
            const vec_entry_t *a = F("store_data_rsp"), *e = vec_get(&f, "eid_plain");
            uint8_t out[300];
            size_t ol;
            if (scp03_unwrap(&ch, a->v, a->len, out, &ol) != SCP_OK)
                fail_msg("%s level %s: the answer: %s", file, level, scp03_error(&ch));
            assert_int_equal(ol, e->len + 2);
            assert_memory_equal(out, e->v, e->len);
            assert_memory_equal(out + e->len, "\x90\x00", 2);
        }
    }
#undef F
    scp03_close(&ch);
    ks_delete_keyset(s, "pysim");
}

static void test_pysim_sessions(void **state)
{
    (void)state;
    static const char *levels[] = {"11", "03", "33"};
    for (int l = 0; l < 3; l++) {
        replay_session("scp03-aes128-sessions-f.txt", 16, levels[l]);
        replay_session("scp03-aes192-sessions-f.txt", 24, levels[l]);
        if (l != 1) /* AES-256 at 03 is transcript d (test_transcript_aes256) */
            replay_session("scp03-aes256-sessions-f.txt", 32, levels[l]);
    }
}

/* KDF3 diversification of AES master keys inside the keystore, against
 * GlobalPlatformPro's own test vectors (kdf3_vectors.c) and an external
 * vector's derived ENC key. */
static void test_kdf3(void **state)
{
    (void)state;
    kdf3_check_vectors(ks, s);
    uint8_t em[32], ekdd[10], expected[32];
    hex_decode("8C72C72CF908411653018807950D82FBAD947562F0828A0B10B8B9606ABF3BCD", em, 32);
    hex_decode("D9B1DE5D0362DEDCE4FB", ekdd, 10);
    hex_decode("9AAC5D0B3601F89438A0D9D0B6B256CFB47E6462DFA5228D3420C4AC7C224781", expected, 32);
    CK_OBJECT_HANDLE master = kdf3_master_key(ks, s, em, 32), card,
                     ref = kdf3_master_key(ks, s, expected, 32);
    assert_int_equal(ks_scp03_kdf3(s, master, 32, ekdd, 1, KS_USE_ENCRYPT, &card), CKR_OK);
    uint8_t a[32], b[32], probe[32] = "gp-p11 compares diversified keys";
    assert_int_equal(ks_cipher(s, CKM_AES_ECB, card, NULL, 0, 1, probe, 32, a), CKR_OK);
    assert_int_equal(ks_cipher(s, CKM_AES_ECB, ref, NULL, 0, 1, probe, 32, b), CKR_OK);
    assert_memory_equal(a, b, 32); /* the derived ENC key is the vector's, by its effect */
    ks_destroy(s, card);
    ks_destroy(s, master);
    ks_destroy(s, ref);
}

/* A card cryptogram that does not verify: the channel closes, its session
 * keys are gone, and no EXTERNAL AUTHENTICATE can be built at all. */
static void test_card_cryptogram_mismatch(void **state)
{
    (void)state;
    uint8_t r[64];
    const vec_entry_t *e = V("init_update_rsp");
    memcpy(r, e->v, e->len);
    r[21 + 7] ^= 0x01; /* the last byte of the card cryptogram */
    scp03_t ch;
    start_channel(&ch, 0x03, r, e->len, SCP_E_CARD_CRYPTOGRAM);
    assert_non_null(strstr(scp03_error(&ch), "EXTERNAL AUTHENTICATE was not sent"));
    assert_int_equal(ch.keys.mac, CK_INVALID_HANDLE);
    apdu_t cmd;
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_E_STATE);
}

/* Every malformed or unexpected INITIALIZE UPDATE answer is refused, with
 * no keystore work and no EXTERNAL AUTHENTICATE. */
static void test_init_update_parse(void **state)
{
    (void)state;
    const vec_entry_t *e = V("init_update_rsp");
    struct {
        const char *what;
        size_t cut;         /* data bytes kept (0: all) */
        int extra;          /* data bytes added */
        int set_off;
        uint8_t set_val;
        scp_err_t want;
        uint8_t level;
    } cases[] = {
        {"short", 28, 0, -1, 0, SCP_E_RSP_SHORT, 0x03},
        {"29 bytes with i=70 (needs 32)", 29, 0, -1, 0, SCP_E_RSP_SHORT, 0x03},
        {"one byte too many", 0, 1, -1, 0, SCP_E_RSP_LONG, 0x03},
        {"SCP02 card", 0, 0, 11, 0x02, SCP_E_OTHER_SCP, 0x03},
        {"i=00 with a sequence counter", 0, 0, 12, 0x00, SCP_E_RSP_LONG, 0x03},
        {"S16 (i=71) with S8's lengths", 0, 0, 12, 0x71, SCP_E_RSP_SHORT, 0x03},
        {"unknown bits (i=72)", 0, 0, 12, 0x72, SCP_E_UNSUPPORTED, 0x03},
        {"R-ENC level, card without R-ENC (i=30)", 0, 0, 12, 0x30, SCP_E_UNSUPPORTED, 0x33},
        {"R-MAC level, card without R-MAC (i=10)", 0, 0, 12, 0x10, SCP_E_UNSUPPORTED, 0x13},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t r[64];
        size_t dl = e->len - 2;
        memcpy(r, e->v, dl);
        if (cases[k].cut)
            dl = cases[k].cut;
        for (int x = 0; x < cases[k].extra; x++)
            r[dl++] = 0x00;
        if (cases[k].set_off >= 0)
            r[cases[k].set_off] = cases[k].set_val;
        r[dl] = 0x90;
        r[dl + 1] = 0x00;
        unsigned long before = ks_session_calls(s);
        scp03_t ch;
        start_channel(&ch, cases[k].level, r, dl + 2, cases[k].want);
        if (cases[k].want != SCP_E_CARD_CRYPTOGRAM)
            assert_int_equal(ks_session_calls(s), before); /* refused before any key work */
        apdu_t cmd;
        assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_E_STATE);
    }
    /* a refusal (key version unknown) explains the status word */
    uint8_t r[2] = {0x6A, 0x88};
    scp03_t ch;
    start_channel(&ch, 0x03, r, 2, SCP_E_RSP_SW);
}

/* A DES key set cannot open SCP03, and AES keys that are not the card's do
 * not verify its cryptogram: both are refused before any EXTERNAL
 * AUTHENTICATE, with the reason. */
static void test_key_sets_refused(void **state)
{
    (void)state;
    ks_keyset_t des;
    assert_int_equal(ks_create_keyset(s, "des-for-scp03", NULL, 0, &des), CKR_OK);
    scp03_t ch;
    apdu_t cmd;
    assert_int_equal(scp03_init(&ch, s, &des, 0x01), SCP_OK);
    assert_int_equal(scp03_initialize_update(&ch, 0, V("init_update")->v + 5, &cmd), SCP_OK);
    assert_int_equal(scp03_on_initialize_update(&ch, V("init_update_rsp")->v,
                                                V("init_update_rsp")->len), SCP_E_UNSUPPORTED);
    assert_non_null(strstr(scp03_error(&ch), "AES key set"));
    ks_delete_keyset(s, "des-for-scp03");

    /* AES-256 keys that are not this card's: the card cryptogram does not
     * verify, and EXTERNAL AUTHENTICATE cannot be built */
    ks_keyset_t aes256 = {0, 0, 0, 1, 32}, k;
    assert_int_equal(ks_create_keyset_like(s, "aes256", &aes256, NULL, 0, &k), CKR_OK);
    assert_int_equal(ks_find_keyset(s, "aes256", &k), CKR_OK);
    assert_int_equal(k.len, 32);
    assert_int_equal(scp03_init(&ch, s, &k, 0x01), SCP_OK);
    assert_int_equal(scp03_initialize_update(&ch, 0, D("init_update")->v + 5, &cmd), SCP_OK);
    assert_int_equal(scp03_on_initialize_update(&ch, D("init_update_rsp")->v,
                                                D("init_update_rsp")->len), SCP_E_CARD_CRYPTOGRAM);
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_E_STATE);
    ks_delete_keyset(s, "aes256");
    /* a level SCP03 does not have */
    assert_int_equal(scp03_init(&ch, s, &card_keys, 0x23), SCP_E_UNSUPPORTED);
}

/* The SCP03 KCV of the transcript's keys, and the KDF input layout. */
static void test_kcv_and_kdf_input(void **state)
{
    (void)state;
    uint8_t kcv[3];
    assert_int_equal(ks_scp03_kcv(s, card_keys.enc, kcv), CKR_OK);
    assert_memory_equal(kcv, "\xA6\xC0\xD9", 3); /* AES(static_enc, 01 * 16), by OpenSSL */
    uint8_t in[32];
    ks_scp03_kdf_input(SCP03_DDC_S_MAC, 128, 1, (const uint8_t *)"0123456789abcdef", 16, in);
    static const uint8_t head[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x00, 0x00, 0x80, 0x01};
    assert_memory_equal(in, head, 16);
    assert_memory_equal(in + 16, "0123456789abcdef", 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_keys),
        cmocka_unit_test(test_transcript),
        cmocka_unit_test(test_transcript_aes256),
        cmocka_unit_test(test_pysim_sessions),
        cmocka_unit_test(test_kdf3),
        cmocka_unit_test(test_card_cryptogram_mismatch),
        cmocka_unit_test(test_init_update_parse),
        cmocka_unit_test(test_key_sets_refused),
        cmocka_unit_test(test_kcv_and_kdf_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
