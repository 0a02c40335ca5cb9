/*
 * The one template reader (module/template.c): the null and length rules,
 * booleans, bytes, AIDs, and the three templates the module takes (a CAP
 * file's, a PUT KEY's, a change to a registry object), each refusal with the
 * CKR PKCS#11 names and in the order the attributes come.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "module/module.h"

static void test_reader(void **state)
{
    (void)state;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE aid[17] = {0xA0, 0, 0, 1, 0x51, 0, 0, 0}, out[32];
    size_t len = 99;
    int b = -1;
    uint8_t v = 0;
    CK_ATTRIBUTE null_len = {CKA_LABEL, NULL, 4}, null_empty = {CKA_LABEL, NULL, 0};
    assert_true(template_null(&null_len));
    assert_false(template_null(&null_empty));
    CK_ATTRIBUTE t = {CKA_GP_SELECTABLE, &yes, sizeof yes}, f = {CKA_GP_SELECTABLE, &no, 1};
    assert_int_equal(template_bool(&t, &b), CKR_OK);
    assert_int_equal(b, 1);
    assert_int_equal(template_bool(&f, &b), CKR_OK);
    assert_int_equal(b, 0);
    CK_ATTRIBUTE long_bool = {CKA_GP_SELECTABLE, aid, 2};
    b = 7;
    assert_int_equal(template_bool(&long_bool, &b), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(b, 7); /* nothing written */
    CK_ATTRIBUTE one = {CKA_GP_LIFECYCLE, aid, 1}, two = {CKA_GP_LIFECYCLE, aid, 2};
    assert_int_equal(template_byte(&one, &v), CKR_OK);
    assert_int_equal(v, 0xA0);
    assert_int_equal(template_byte(&two, &v), CKR_ATTRIBUTE_VALUE_INVALID);
    for (size_t n = 0; n <= 17; n++) {
        CK_ATTRIBUTE a = {CKA_GP_AID, aid, n};
        CK_RV want = n >= 5 && n <= 16 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
        assert_int_equal(template_aid(&a, out, &len), want);
        if (want == CKR_OK)
            assert_int_equal(len, n);
    }
    CK_ATTRIBUTE text = {CKA_APPLICATION, "load file", 9}, shorter = {CKA_APPLICATION, "load", 4};
    assert_true(template_is(&text, "load file"));
    assert_false(template_is(&shorter, "load file"));
}

/* C_CreateObject's class: none, a class, a value that is no class, the last one counting */
static void test_class(void **state)
{
    (void)state;
    CK_OBJECT_CLASS data = CKO_DATA, keys = CKO_GP_KEY_SET, cls = 0;
    CK_BYTE short_value[2] = {0};
    CK_ATTRIBUTE none[] = {{CKA_LABEL, "x", 1}};
    assert_int_equal(template_class(none, 1, &cls), 0);
    assert_int_equal(template_class(NULL, 0, &cls), 0);
    CK_ATTRIBUTE one[] = {{CKA_LABEL, "x", 1}, {CKA_CLASS, &data, sizeof data}};
    assert_int_equal(template_class(one, 2, &cls), 1);
    assert_int_equal(cls, CKO_DATA);
    CK_ATTRIBUTE bad[] = {{CKA_CLASS, short_value, sizeof short_value}};
    assert_int_equal(template_class(bad, 1, &cls), 1);
    assert_int_equal(cls, CK_UNAVAILABLE_INFORMATION);
    CK_ATTRIBUTE null_value[] = {{CKA_CLASS, NULL, sizeof data}};
    assert_int_equal(template_class(null_value, 1, &cls), 1);
    assert_int_equal(cls, CK_UNAVAILABLE_INFORMATION);
    CK_ATTRIBUTE two[] = {{CKA_CLASS, &data, sizeof data}, {CKA_CLASS, &keys, sizeof keys}};
    assert_int_equal(template_class(two, 2, &cls), 1);
    assert_int_equal(cls, CKO_GP_KEY_SET);
}

static void test_cap_template(void **state)
{
    (void)state;
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BYTE cap[8] = {1}, aid5[5] = {0xA0, 0, 0, 0, 1}, priv2[2] = {0};
    CK_BBOOL no = CK_FALSE;
    applet_req_t r;
    CK_ATTRIBUTE ok[] = {{CKA_CLASS, &data, sizeof data}, {CKA_APPLICATION, "application", 11},
                         {CKA_VALUE, cap, sizeof cap}, {CKA_GP_SELECTABLE, &no, 1}};
    assert_int_equal(applet_parse(ok, 4, &r), CKR_OK);
    assert_int_equal(r.install, 1);
    assert_int_equal(r.selectable, 0);
    assert_int_equal(r.descriptor, 1); /* the default */
    assert_ptr_equal(r.cap, cap);
    CK_ATTRIBUTE no_app[] = {{CKA_CLASS, &data, sizeof data}, {CKA_VALUE, cap, sizeof cap}};
    assert_int_equal(applet_parse(no_app, 2, &r), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE bad_priv[] = {{CKA_APPLICATION, "application", 11}, {CKA_GP_PRIVILEGES, priv2, 2}};
    assert_int_equal(applet_parse(bad_priv, 2, &r), CKR_ATTRIBUTE_VALUE_INVALID);
    /* the order the attributes come in decides which refusal is said */
    CK_ATTRIBUTE short_then_null[] = {{CKA_APPLICATION, "load file", 9},
                                      {CKA_GP_SECURITY_DOMAIN, aid5, 4}, {CKA_VALUE, NULL, 8}};
    assert_int_equal(applet_parse(short_then_null, 3, &r), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE null_then_short[] = {{CKA_APPLICATION, "load file", 9}, {CKA_VALUE, NULL, 8},
                                      {CKA_GP_SECURITY_DOMAIN, aid5, 4}};
    assert_int_equal(applet_parse(null_then_short, 3, &r), CKR_ARGUMENTS_BAD);
    CK_ATTRIBUTE unknown[] = {{CKA_APPLICATION, "load file", 9}, {CKA_ID, aid5, 5}};
    assert_int_equal(applet_parse(unknown, 2, &r), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ATTRIBUTE load_only_install[] = {{CKA_APPLICATION, "load file", 9},
                                        {CKA_VALUE, cap, sizeof cap},
                                        {CKA_GP_INSTALL_ONLY, &(CK_BBOOL){CK_TRUE}, 1}};
    assert_int_equal(applet_parse(load_only_install, 3, &r), CKR_TEMPLATE_INCONSISTENT);
}

static void test_put_key_template(void **state)
{
    (void)state;
    CK_OBJECT_CLASS set = CKO_GP_KEY_SET, other = CKO_DATA;
    CK_BYTE kvn = 0x31, zero = 0, big = 0x80, values[96] = {0};
    put_key_t p;
    CK_ATTRIBUTE ok[] = {{CKA_CLASS, &set, sizeof set}, {CKA_LABEL, "next", 4},
                         {CKA_GP_KEY_VERSION, &kvn, 1}, {CKA_GP_KEY_VALUES, values, 48}};
    assert_int_equal(template_put_key(ok, 4, &p), CKR_OK);
    assert_string_equal(p.name, "next");
    assert_int_equal(p.kvn, 0x31);
    assert_int_equal(p.values_len, 48);
    assert_true(p.have_values);
    assert_int_equal(template_put_key(ok, 3, &p), CKR_OK);
    assert_false(p.have_values);
    CK_ATTRIBUTE no_kvn[] = {{CKA_LABEL, "next", 4}};
    assert_int_equal(template_put_key(no_kvn, 1, &p), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE kvn0[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &zero, 1}};
    assert_int_equal(template_put_key(kvn0, 2, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE kvn80[] = {{CKA_LABEL, "next", 4}, {CKA_GP_KEY_VERSION, &big, 1}};
    assert_int_equal(template_put_key(kvn80, 2, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE odd_values[] = {{CKA_GP_KEY_VALUES, values, 50}};
    assert_int_equal(template_put_key(odd_values, 1, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE empty_label[] = {{CKA_LABEL, "", 0}};
    assert_int_equal(template_put_key(empty_label, 1, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    char long_label[64];
    memset(long_label, 'k', sizeof long_label);
    CK_ATTRIBUTE too_long[] = {{CKA_LABEL, long_label, 64}};
    assert_int_equal(template_put_key(too_long, 1, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE zero_in_label[] = {{CKA_LABEL, "\0ext", 4}, {CKA_GP_KEY_VERSION, &kvn, 1}};
    assert_int_equal(template_put_key(zero_in_label, 2, &p), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE wrong_class[] = {{CKA_CLASS, &other, sizeof other}};
    assert_int_equal(template_put_key(wrong_class, 1, &p), CKR_TEMPLATE_INCONSISTENT);
    CK_ATTRIBUTE null_value[] = {{CKA_LABEL, NULL, 4}};
    assert_int_equal(template_put_key(null_value, 1, &p), CKR_ARGUMENTS_BAD);
}

static void test_set_template(void **state)
{
    (void)state;
    CK_BYTE lc = 0x83, fmt = 0x20, fmt_last = 0x80;
    CK_BBOOL yes = CK_TRUE;
    set_req_t q;
    CK_ATTRIBUTE lock[] = {{CKA_GP_LIFECYCLE, &lc, 1}};
    assert_int_equal(template_set(lock, 1, 1, GP_KIND_APP, &q), CKR_OK);
    assert_true(q.have_lifecycle);
    assert_int_equal(q.lifecycle, 0x83);
    assert_int_equal(q.related, -1);
    CK_ATTRIBUTE store[] = {{CKA_GP_STORE_DATA, "ab", 2}, {CKA_GP_STORE_DATA_FORMAT, &fmt, 1}};
    assert_int_equal(template_set(store, 2, 1, GP_KIND_APP, &q), CKR_OK);
    assert_true(q.have_store);
    assert_int_equal(q.format, 0x20);
    /* STORE DATA goes to an application, not a load file: read-only there */
    assert_int_equal(template_set(store, 2, 1, GP_KIND_LOAD_FILE, &q), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE last_bit[] = {{CKA_GP_STORE_DATA_FORMAT, &fmt_last, 1}};
    assert_int_equal(template_set(last_bit, 1, 1, GP_KIND_APP, &q), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE related[] = {{CKA_GP_DELETE_RELATED, &yes, sizeof yes}};
    assert_int_equal(template_set(related, 1, 1, GP_KIND_LOAD_FILE, &q), CKR_OK);
    assert_int_equal(q.related, 1);
    /* an object that cannot be changed at all (GET DATA, the channel); its
     * lifecycle is refused later, by the card management that knows it */
    assert_int_equal(template_set(store, 1, 0, (CK_ULONG)-1, &q), CKR_ACTION_PROHIBITED);
    CK_ATTRIBUTE empty_store[] = {{CKA_GP_STORE_DATA, "", 0}};
    assert_int_equal(template_set(empty_store, 1, 1, GP_KIND_APP, &q), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE null_value[] = {{CKA_GP_LIFECYCLE, NULL, 1}};
    assert_int_equal(template_set(null_value, 1, 1, GP_KIND_APP, &q), CKR_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_class),
        cmocka_unit_test(test_cap_template),
        cmocka_unit_test(test_put_key_template),
        cmocka_unit_test(test_set_template),
    };
    return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
