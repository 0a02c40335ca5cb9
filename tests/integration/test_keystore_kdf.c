/*
 * SCP03's KDF on a keystore that offers PKCS#11 3.0's SP 800-108 counter KDF
 * (NSS's softoken): both paths, the keystore's CKM_SP800_108_COUNTER_KDF
 * and gp-p11's AES-ECB + CKM_AES_ECB_ENCRYPT_DATA, reproduce the eUICC's
 * AES-256 session of tests/vectors/scp03-aes256-transcript-d.txt byte for
 * byte (EXTERNAL AUTHENTICATE, the C-DEC STORE DATA) and GlobalPlatformPro's
 * KDF3 vectors, and the keystore's KDF takes fewer keystore calls. Run by
 * tests/integration/nss.sh with GP_NSS_MODULE, GP_NSS_ARGS and GP_NSS_PIN.
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
#include "vectors.h"

static vec_file_t vf;
static ks_t *ks;
static ks_session_t *s;
static ks_keyset_t keys;

#define V(name) vec_get(&vf, name)

static int setup(void **state)
{
    (void)state;
    char err[KS_ERRLEN];
    const char *pin = getenv("GP_NSS_PIN");
    if (vec_load(&vf, "scp03-aes256-transcript-d.txt") != 0 || !pin)
        return -1;
    if (ks_open_args(&ks, getenv("GP_NSS_MODULE"), 0, getenv("GP_NSS_ARGS"), err, sizeof err) !=
            CKR_OK ||
        ks_select_token(ks, "NSS Certificate DB", err, sizeof err) != CKR_OK ||
        ks_login(ks, (const uint8_t *)pin, strlen(pin), err, sizeof err) != CKR_OK ||
        ks_session_open(ks, &s) != CKR_OK) {
        fprintf(stderr, "keystore: %s\n", err);
        return -1;
    }
    uint8_t v[96];
    memcpy(v, V("static_enc")->v, 32);
    memcpy(v + 32, V("static_mac")->v, 32);
    memcpy(v + 64, V("static_dek")->v, 32);
    ks_keyset_t like = {0, 0, 0, 1, 32};
    CK_RV rv = ks_create_keyset_like(s, "kdf-vecd", &like, v, 0, &keys);
    ks_wipe(v, sizeof v);
    return rv == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ks_delete_keyset(s, "kdf-vecd");
    ks_session_close(s);
    ks_close(ks);
    return 0;
}

static void assert_is(const apdu_t *a, const char *name)
{
    uint8_t b[APDU_MAX_CMD];
    size_t n = apdu_encode(a, b, sizeof b);
    assert_int_equal(n, V(name)->len);
    assert_memory_equal(b, V(name)->v, n);
}

/* The transcript's session; returns the keystore calls of the session keys
 * and the card cryptogram. */
static unsigned long session(void)
{
    scp03_t ch;
    apdu_t cmd, plain, wire;
    assert_int_equal(scp03_init(&ch, s, &keys, 0x03), SCP_OK);
    assert_int_equal(scp03_initialize_update(&ch, 0x32, V("init_update")->v + 5, &cmd), SCP_OK);
    unsigned long before = ks_session_calls(s);
    if (scp03_on_initialize_update(&ch, V("init_update_rsp")->v, V("init_update_rsp")->len) != SCP_OK)
        fail_msg("%s", scp03_error(&ch));
    unsigned long calls = ks_session_calls(s) - before;
    assert_int_equal(scp03_external_authenticate(&ch, &cmd), SCP_OK);
    assert_is(&cmd, "external_auth");
    assert_int_equal(scp03_on_external_authenticate(&ch, 0x9000), SCP_OK);
    const vec_entry_t *p = V("store_data_plain");
    apdu_set(&plain, p->v[0], p->v[1], p->v[2], p->v[3], p->v + 5, p->v[4], 1, 256);
    assert_int_equal(scp03_wrap(&ch, &plain, &wire), SCP_OK);
    assert_is(&wire, "store_data_sent");
    scp03_close(&ch);
    return calls;
}

static void test_both_paths(void **state)
{
    (void)state;
    assert_int_equal(ks_kdf108(s), 1); /* NSS offers it */
    unsigned long kdf = session();
    ks_set_kdf108(ks, 0);
    unsigned long ecb = session();
    ks_set_kdf108(ks, 1);
    print_message("keystore calls for the session keys and the card cryptogram: %lu with "
                  "CKM_SP800_108_COUNTER_KDF, %lu with AES-ECB + CKM_AES_ECB_ENCRYPT_DATA\n", kdf, ecb);
    assert_int_equal(kdf, 3 + 2);     /* three derivations, one CMAC */
    assert_int_equal(ecb, 2 + 2 + 3 + 2); /* two C_Encrypt, three derivations, one CMAC */
}

static CK_OBJECT_HANDLE master(const uint8_t *v, size_t len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL f = CK_FALSE, t = CK_TRUE;
    uint8_t copy[32];
    memcpy(copy, v, len);
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &f, sizeof f},     {CKA_ENCRYPT, &t, sizeof t},
                           {CKA_DERIVE, &t, sizeof t},    {CKA_VALUE, copy, len}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    ks_functions(ks)->C_CreateObject(ks_session_handle(s), tmpl, 6, &h);
    return h;
}

/* GlobalPlatformPro's KDF3 KCVs (master 4041..5F, KDD 00..09), both paths */
static void test_kdf3_both_paths(void **state)
{
    (void)state;
    static const struct { size_t len; const char *kcv[3]; } v[] = {
        {16, {"E79C05", "D1BD77", "3FDE8C"}},
        {24, {"1DE8EA", "47C00C", "C04D76"}},
        {32, {"2972D2", "036F94", "5D57B8"}},
    };
    uint8_t m[32], kdd[10];
    for (int i = 0; i < 32; i++)
        m[i] = (uint8_t)(0x40 + i);
    for (int i = 0; i < 10; i++)
        kdd[i] = (uint8_t)i;
    for (int path = 1; path >= 0; path--) {
        ks_set_kdf108(ks, path);
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
            CK_OBJECT_HANDLE mk = master(m, v[k].len);
            for (int r = 0; r < 3; r++) {
                CK_OBJECT_HANDLE card;
                uint8_t kcv[3], want[3];
                assert_int_equal(ks_scp03_kdf3(s, mk, v[k].len, kdd, r + 1, KS_USE_ENCRYPT, &card),
                                 CKR_OK);
                assert_int_equal(ks_scp03_kcv(s, card, kcv), CKR_OK);
                hex_decode(v[k].kcv[r], want, 3);
                if (memcmp(kcv, want, 3))
                    fail_msg("%s path, AES-%zu key %d", path ? "KDF" : "ECB", v[k].len * 8, r + 1);
                ks_destroy(s, card);
            }
            ks_destroy(s, mk);
        }
    }
    ks_set_kdf108(ks, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_paths),
        cmocka_unit_test(test_kdf3_both_paths),
    };
    return cmocka_run_group_tests_name("keystore-kdf", tests, setup, teardown);
}
