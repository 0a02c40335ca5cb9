/* Unit tests: APDU codec, status-word meanings, hex. Pure logic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/hex.h"
#include "scp/apdu.h"
#include "scp/registry.h"
#include "scp/sw.h"

static void roundtrip(const char *hex, int expect_case)
{
    uint8_t buf[APDU_MAX_CMD], out[APDU_MAX_CMD];
    int n = hex_decode(hex, buf, sizeof buf);
    assert_true(n >= 4);
    apdu_t a;
    assert_int_equal(apdu_parse(buf, (size_t)n, &a), 0);
    assert_int_equal(apdu_case(&a), expect_case);
    size_t m = apdu_encode(&a, out, sizeof out);
    assert_int_equal(m, (size_t)n);
    assert_memory_equal(out, buf, m);
}

static void test_cases(void **state)
{
    (void)state;
    roundtrip("80F28000", 1);
    roundtrip("80CA9F7F00", 2);
    roundtrip("00A4040007A0000001510000", 3);
    roundtrip("00A4040007A000000151000000", 4);
    uint8_t buf[8];
    apdu_t a;
    hex_decode("80CA9F7F00", buf, sizeof buf);
    apdu_parse(buf, 5, &a);
    assert_int_equal(a.le, 256); /* Le 00 means 256 */
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t buf[300];
    apdu_t a;
    assert_int_equal(apdu_parse(buf, 3, &a), -1);         /* no header */
    assert_int_equal(apdu_parse(NULL, 4, &a), -1);
    int n = hex_decode("00A4040007A00000015100", buf, sizeof buf); /* Lc 7, 6 bytes */
    assert_int_equal(apdu_parse(buf, (size_t)n, &a), -1);
    n = hex_decode("00A4040002A0000000", buf, sizeof buf);         /* Lc 2, 4 bytes */
    assert_int_equal(apdu_parse(buf, (size_t)n, &a), -1);
    n = hex_decode("00A40400000001A0", buf, sizeof buf);           /* extended length */
    assert_int_equal(apdu_parse(buf, (size_t)n, &a), -1);
    apdu_set(&a, 0, 0xA4, 4, 0, buf, 5, 0, 0);
    uint8_t small[9];
    assert_int_equal(apdu_encode(&a, small, sizeof small), 0); /* does not fit */
}

static void test_rapdu(void **state)
{
    (void)state;
    uint8_t r[] = {0x01, 0x02, 0x90, 0x00};
    size_t dl;
    uint16_t sw;
    assert_int_equal(rapdu_split(r, sizeof r, &dl, &sw), 0);
    assert_int_equal(dl, 2);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(rapdu_split(r, 1, &dl, &sw), -1);
}

static void test_sw_words(void **state)
{
    (void)state;
    char b[256];
    /* context changes the explanation of 6982 */
    sw_describe(0x6982, SW_CTX_EXTERNAL_AUTHENTICATE, b, sizeof b);
    assert_non_null(strstr(b, "wrong keys"));
    sw_describe(0x6982, SW_CTX_SECURED, b, sizeof b);
    assert_non_null(strstr(b, "C-MAC"));
    sw_describe(0x6983, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "locked"));
    sw_describe(0x6985, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "conditions of use"));
    sw_describe(0x6A82, SW_CTX_SELECT, b, sizeof b);
    assert_non_null(strstr(b, "AID"));
    sw_describe(0x6A88, SW_CTX_INITIALIZE_UPDATE, b, sizeof b);
    assert_non_null(strstr(b, "key version"));
    sw_describe(0x6D00, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "instruction"));
    sw_describe(0x6E00, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "class"));
    sw_describe(0x63C2, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "2 tries left"));
    sw_describe(0x611C, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "28 more"));
    sw_describe(0x6C10, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "16 bytes"));
    sw_describe(0x9FFF, SW_CTX_ANY, b, sizeof b);
    assert_non_null(strstr(b, "unknown"));
    assert_string_equal(gp_ins_name(0x80, 0xF2), "GET STATUS");
    assert_string_equal(gp_ins_name(0x84, 0xE4), "DELETE");
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t b[4];
    assert_int_equal(hex_decode("0a Bc", b, sizeof b), 2);
    assert_int_equal(b[0], 0x0A);
    assert_int_equal(b[1], 0xBC);
    assert_int_equal(hex_decode("0", b, sizeof b), -1);       /* odd */
    assert_int_equal(hex_decode("zz", b, sizeof b), -1);      /* not hex */
    assert_int_equal(hex_decode("0102030405", b, sizeof b), -1); /* too long */
    char s[9];
    uint8_t in[] = {0xDE, 0xAD, 0x01, 0x00};
    hex_encode(in, 4, s);
    assert_string_equal(s, "DEAD0100");
}

/* A load file with many modules makes a legacy entry longer than 255
 * bytes: kept whole up to 512, refused beyond (found by fuzz_registry). */
static void test_long_registry_entry(void **state)
{
    (void)state;
    static uint8_t d[1200];
    static gp_entry_t e[2];
    char why[200];
    for (int modules = 20; modules <= 40; modules += 20) {
        size_t n = 0;
        d[n++] = 5;
        memcpy(d + n, "\xF0\x00\x00\x00\x01", 5);
        n += 5;
        d[n++] = 0x01; /* LOADED */
        d[n++] = 0x00;
        d[n++] = (uint8_t)modules;
        for (int m = 0; m < modules; m++) {
            d[n++] = 16;
            memset(d + n, m, 16);
            n += 16;
        }
        int k = gp_registry_parse(d, n, GP_STATUS_ELF_MOD, 0, e, 2, why, sizeof why);
        if (n <= GP_ENTRY_RAW_MAX) {
            assert_int_equal(k, 1);
            assert_int_equal(e[0].raw_len, n);
            assert_memory_equal(e[0].raw, d, n);
            assert_int_equal(e[0].n_modules, GP_MODULES_MAX); /* the first ones, as objects show */
        } else {
            assert_int_equal(k, -1);
            assert_non_null(strstr(why, "longer than gp-p11 keeps"));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_rapdu),
        cmocka_unit_test(test_sw_words),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_long_registry_entry),
    };
    return cmocka_run_group_tests_name("apdu", tests, NULL, NULL);
}
