/* Card data decoders (scp/carddata.c), anchored to what real cards sent:
 *   card recognition data of a JCOP card (GlobalPlatformPro's test suite) and
 *   of an eUICC that announces no secure channel protocol (from a modem's
 *   AT+CSIM log), the key information template of a JCOP card in its default
 *   state, and the CPLC of an NXP embedded secure element (from a public
 *   tool's README). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keystore/hex.h"
#include "scp/carddata.h"
#include "scp/gp.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    int n = hex_decode(h, out, cap);
    assert_true(n >= 0);
    return (size_t)n;
}

static void test_card_recognition_jcop(void **state)
{
    (void)state;
    uint8_t d[128];
    size_t n = unhex("664C734A06072A864886FC6B01600C060A2A864886FC6B02020101630906072A864886FC6B"
                     "03640B06092A864886FC6B040215650B06092B8510864864020103660C060A2B060104012A"
                     "026E0102", d, sizeof d);
    gp_card_recognition_t r;
    char why[80];
    assert_int_equal(gp_card_recognition_parse(d, n, &r, why, sizeof why), 0);
    assert_true(r.is_gp);
    assert_string_equal(r.gp_version, "2.1.1");
    assert_int_equal(r.scp, 2);
    assert_int_equal(r.i, 0x15);
    assert_string_equal(r.card_id_scheme, "1.2.840.114283.3");
    assert_string_equal(r.config, "1.3.656.840.100.2.1.3");
    assert_string_equal(r.chip, "1.3.6.1.4.1.42.2.110.1.2"); /* Java Card 2.2 */
    /* the module's own reading of i goes through the same decoder */
    uint8_t scp, i;
    assert_int_equal(gp_card_data_scp(d, n, &scp, &i), 0);
    assert_int_equal(scp, 2);
    assert_int_equal(i, 0x15);
}

static void test_card_recognition_no_scp(void **state)
{
    (void)state;
    uint8_t d[128];
    size_t n = unhex("734A06072A864886FC6B01600B06092A864886FC6B020202630906072A864886FC6B03650D"
                     "060B2A864886FC6B05040200006618060A2B060104012A026E0103060A535433334A324D30"
                     "0200", d, sizeof d);
    gp_card_recognition_t r;
    assert_int_equal(gp_card_recognition_parse(d, n, &r, NULL, 0), 0);
    assert_string_equal(r.gp_version, "2.2");
    assert_int_equal(r.scp, -1);
    assert_int_equal(r.i, -1);
    assert_string_equal(r.chip, "1.3.6.1.4.1.42.2.110.1.3");
    uint8_t scp, i;
    assert_int_equal(gp_card_data_scp(d, n, &scp, &i), -1);
}

static void test_card_recognition_broken(void **state)
{
    (void)state;
    uint8_t d[64];
    char why[80] = "";
    size_t n = unhex("6610730E06072A864886FC6B01600C06", d, sizeof d); /* 73 cut short */
    assert_int_equal(gp_card_recognition_parse(d, n, &(gp_card_recognition_t){0}, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "card data"));
    n = unhex("6603800100", d, sizeof d); /* no 73 */
    assert_int_equal(gp_card_recognition_parse(d, n, &(gp_card_recognition_t){0}, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "73"));
}

static void test_oid_text(void **state)
{
    (void)state;
    char t[GP_OID_TEXT];
    uint8_t o[] = {0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x04, 0x02, 0x55};
    assert_int_equal(gp_oid_text(o, sizeof o, t, sizeof t), 0);
    assert_string_equal(t, "1.2.840.114283.4.2.85");
    uint8_t cut[] = {0x2A, 0x86}; /* last arc unfinished */
    assert_int_equal(gp_oid_text(cut, sizeof cut, t, sizeof t), -1);
    uint8_t lead[] = {0x2A, 0x80, 0x01}; /* leading 80: not BER */
    assert_int_equal(gp_oid_text(lead, sizeof lead, t, sizeof t), -1);
    uint8_t huge[] = {0x2A, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    assert_int_equal(gp_oid_text(huge, sizeof huge, t, sizeof t), -1);
    char small[6];
    assert_int_equal(gp_oid_text(o, sizeof o, small, sizeof small), -1);
}

static void test_key_info_jcop_default(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t n = unhex("E012C00401FF8010C00402FF8010C00403FF8010", d, sizeof d);
    gp_key_info_t k[8];
    assert_int_equal(gp_key_info_parse(d, n, k, 8, NULL, 0), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(k[i].id, i + 1);
        assert_int_equal(k[i].version, 0xFF);
        assert_int_equal(k[i].n, 1);
        assert_int_equal(k[i].type[0], 0x80);
        assert_int_equal(k[i].len[0], 16);
    }
    assert_string_equal(gp_key_type_name(0x80), "DES");
    assert_string_equal(gp_key_type_name(0x88), "AES");
    assert_null(gp_key_type_name(0x7E));
}

static void test_key_info_extended_and_broken(void **state)
{
    (void)state;
    uint8_t d[64];
    gp_key_info_t k[4];
    char why[80] = "";
    /* extended: FF88 0010 (AES, 16 bytes), usage 01 18, access 01 00 */
    size_t n = unhex("E00CC00A0130FF88001001180100", d, sizeof d);
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), 1);
    assert_int_equal(k[0].version, 0x30);
    assert_int_equal(k[0].type[0], 0xFF88);
    assert_int_equal(k[0].len[0], 16);
    assert_string_equal(gp_key_type_name(k[0].type[0]), "AES");
    n = unhex("E00DC00B0130FF8800100118010000", d, sizeof d); /* a byte after key access */
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), -1);
    n = unhex("E006C0040101FF88", d, sizeof d); /* extended component cut short */
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), -1);
    assert_non_null(strstr(why, "cut short"));
    n = unhex("E004C0020101", d, sizeof d);
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), -1);
    n = unhex("E005C003010180", d, sizeof d); /* type without its length */
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), -1);
    n = unhex("C00401018010", d, sizeof d); /* no E0 */
    assert_int_equal(gp_key_info_parse(d, n, k, 4, why, sizeof why), -1);
    /* more keys than room: the first max */
    n = unhex("E012C00401FF8010C00402FF8010C00403FF8010", d, sizeof d);
    assert_int_equal(gp_key_info_parse(d, n, k, 2, why, sizeof why), 2);
}

static void test_cplc_real_ese(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t n = unhex("9F7F2A479009DC4703D0430600418613900741042048100000005100000449307D58259002"
                     "0000000000365233", d, sizeof d);
    char why[80];
    const uint8_t *v = gp_cplc_value(d, n, why, sizeof why);
    assert_non_null(v);
    assert_ptr_equal(v, d + 3);
    assert_string_equal(gp_ic_fabricator_name((unsigned)(v[0] << 8 | v[1])), "NXP");
    const gp_cplc_field_t *f = gp_cplc_fields;
    assert_string_equal(f[6].key, "ic_serial");
    assert_int_equal(f[6].off, 12);
    assert_int_equal(f[17].off + f[17].len, GP_CPLC_LEN);
    for (int i = 1; i < GP_CPLC_FIELDS; i++)
        assert_int_equal(f[i].off, f[i - 1].off + f[i - 1].len);
    int y, day;
    /* this card's OS release date D043 is not BCD; it was made on day 186 of a year ending in 4 */
    assert_int_equal(gp_cplc_date(v + 6, &y, &day), -1);
    assert_int_equal(gp_cplc_date(v + 10, &y, &day), 0);
    assert_int_equal(y, 4);
    assert_int_equal(day, 186);
    uint8_t ok[2] = {0x5, 0x38}; /* year ...5, day 038 */
    ok[0] = 0x50;
    assert_int_equal(gp_cplc_date(ok, &y, &day), 0);
    assert_int_equal(y, 5);
    assert_int_equal(day, 38);
    uint8_t zero[2] = {0, 0};
    assert_int_equal(gp_cplc_date(zero, &y, &day), -1);
    /* the value alone is accepted too; a wrong length is refused in words */
    assert_non_null(gp_cplc_value(d + 3, GP_CPLC_LEN, why, sizeof why));
    assert_null(gp_cplc_value(d + 3, 40, why, sizeof why));
    assert_non_null(strstr(why, "40 bytes"));
    d[2] = 0x40; /* length past the end */
    assert_null(gp_cplc_value(d, n, why, sizeof why));
}

static void test_privileges(void **state)
{
    (void)state;
    const char *names[24];
    uint8_t isd[3] = {0x9E, 0xFE, 0x80};
    int n = gp_privilege_names(isd, 3, names, 24);
    assert_int_equal(n, 13);
    assert_string_equal(names[0], "security domain");
    assert_string_equal(names[1], "card lock");
    assert_string_equal(names[4], "CVM management");
    assert_string_equal(names[5], "trusted path");
    assert_string_equal(names[12], "receipt generation");
    uint8_t none = 0;
    assert_int_equal(gp_privilege_names(&none, 1, names, 24), 0);
    uint8_t rfu[3] = {0, 0, 0x0F}; /* RFU bits have no name */
    assert_int_equal(gp_privilege_names(rfu, 3, names, 24), 0);
    assert_int_equal(gp_privilege_names(isd, 3, names, 2), 2);
}

static void test_privileges_from_names(void **state)
{
    (void)state;
    uint8_t p[3];
    char why[96];
    assert_int_equal(gp_privileges_from_names("none", p, why, sizeof why), 1);
    assert_int_equal(p[0], 0);
    assert_int_equal(gp_privileges_from_names("card-lock,CVM management", p, why, sizeof why), 1);
    assert_int_equal(p[0], 0x12);
    /* GlobalPlatformPro's words; bytes 2 and 3 make it three bytes */
    assert_int_equal(gp_privileges_from_names("SecurityDomain,AuthorizedManagement,"
                                              "ReceiptGeneration", p, why, sizeof why), 3);
    assert_memory_equal(p, "\x80\x40\x80", 3);
    /* table 6-1: DAP verification, delegated management and mandated DAP
     * verification are coded with the security domain bit */
    assert_int_equal(gp_privileges_from_names("dap_verification", p, why, sizeof why), 1);
    assert_int_equal(p[0], 0xC0);
    assert_int_equal(gp_privileges_from_names("delegated-management", p, why, sizeof why), 1);
    assert_int_equal(p[0], 0xA0);
    assert_int_equal(gp_privileges_from_names("mandated-dap", p, why, sizeof why), 1);
    assert_int_equal(p[0], 0xC1);
    assert_int_equal(gp_privileges_from_names("ciphered-load-file", p, why, sizeof why), 3);
    assert_memory_equal(p, "\x00\x00\x40", 3);
    /* every name the list prints reads back as its bit */
    uint8_t all[3] = {0xFF, 0xFF, 0xF0};
    const char *names[24];
    int n = gp_privilege_names(all, 3, names, 24);
    assert_int_equal(n, 20);
    char text[600] = "";
    for (int i = 0; i < n; i++) {
        strcat(text, names[i]);
        if (i + 1 < n)
            strcat(text, ",");
    }
    assert_int_equal(gp_privileges_from_names(text, p, why, sizeof why), 3);
    assert_memory_equal(p, all, 3);
    /* refusals say what */
    assert_int_equal(gp_privileges_from_names("card-lock,ZZ", p, why, sizeof why), -1);
    assert_string_equal(why, "unknown privilege 'ZZ'");
    assert_int_equal(gp_privileges_from_names("card-lock,", p, why, sizeof why), -1);
    assert_non_null(strstr(why, "empty"));
    assert_int_equal(gp_privileges_from_names("", p, why, sizeof why), -1);
    memset(text, 'a', 200);
    text[200] = 0;
    assert_int_equal(gp_privileges_from_names(text, p, why, sizeof why), -1);
    assert_non_null(strstr(why, "unknown privilege 'aaaa"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card_recognition_jcop),
        cmocka_unit_test(test_card_recognition_no_scp),
        cmocka_unit_test(test_card_recognition_broken),
        cmocka_unit_test(test_oid_text),
        cmocka_unit_test(test_key_info_jcop_default),
        cmocka_unit_test(test_key_info_extended_and_broken),
        cmocka_unit_test(test_cplc_real_ese),
        cmocka_unit_test(test_privileges),
        cmocka_unit_test(test_privileges_from_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
