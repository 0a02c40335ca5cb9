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
#include "kdf3_vectors.h"
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

/* GlobalPlatformPro's KDF3 vectors, both paths */
static void test_kdf3_both_paths(void **state)
{
    (void)state;
    for (int path = 1; path >= 0; path--) {
        ks_set_kdf108(ks, path);
        kdf3_check_vectors(ks, s);
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
