/* CAP files: the load file data block built from CAP archives and raw load
 * files made by tests/cap/mkcap, and every kind of broken file refused with
 * words that name what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scp/cap.h"

static uint8_t *file;
static size_t file_len;

/* Runs mkcap with these options and reads what it wrote. */
static void make(const char *opts)
{
    char cmd[512];
    free(file);
    file = NULL;
    snprintf(cmd, sizeof cmd, "tests/cap/mkcap test_cap.tmp %s", opts);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen("test_cap.tmp", "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    file_len = (size_t)ftell(f);
    rewind(f);
    file = malloc(file_len);
    assert_int_equal(fread(file, 1, file_len, f), file_len);
    fclose(f);
    remove("test_cap.tmp");
}

/* The tags of the block's components, in order. */
static void tags(const gp_cap_t *c, char *out)
{
    const uint8_t *b = c->block;
    size_t o = b[1] == 0x82 ? 4 : b[1] == 0x81 ? 3 : b[1] == 0x83 ? 5 : 2;
    while (o < c->block_len) {
        out += sprintf(out, "%d ", b[o]);
        o += 3 + ((size_t)b[o + 1] << 8 | b[o + 2]);
    }
}

static void test_archive(void **state)
{
    (void)state;
    gp_cap_t c;
    char why[300], t[100] = "";
    make("--size 3000 --applets 2 --debug");
    assert_int_equal(gp_cap_parse(file, file_len, 1, &c, why, sizeof why), 0);
    assert_int_equal(c.pkg_aid_len, 6);
    assert_memory_equal(c.pkg_aid, "\xD2\x76\x00\x01\xAA\x01", 6);
    assert_int_equal(c.pkg_major, 1);
    assert_int_equal(c.pkg_minor, 0);
    assert_int_equal(c.n_applets, 2);
    assert_memory_equal(c.applet_aid[1], "\xD2\x76\x00\x01\xAA\x01\x02", 7);
    /* load order, Debug left out; C4 82 and the length of what follows */
    tags(&c, t);
    assert_string_equal(t, "1 2 4 3 6 7 8 10 5 9 11 ");
    assert_int_equal(c.block[0], 0xC4);
    assert_int_equal(c.block[1], 0x82);
    assert_int_equal((size_t)(c.block[2] << 8 | c.block[3]), c.block_len - 4);
    assert_true(c.block_len >= 3000 - 67 + 4); /* all but Debug's 3 + 64 bytes */
    gp_cap_free(&c);
    /* the same without Descriptor when asked */
    assert_int_equal(gp_cap_parse(file, file_len, 0, &c, why, sizeof why), 0);
    t[0] = 0;
    tags(&c, t);
    assert_string_equal(t, "1 2 4 3 6 7 8 10 5 9 ");
    gp_cap_free(&c);
}

static void test_raw_and_optional(void **state)
{
    (void)state;
    gp_cap_t c, z;
    char why[300], t[100] = "";
    make("--ijc --size 600 --no-export --no-descriptor");
    assert_int_equal(gp_cap_parse(file, file_len, 1, &c, why, sizeof why), 0);
    tags(&c, t);
    assert_string_equal(t, "1 2 4 3 6 7 8 5 9 ");
    assert_false(c.has[CAP_EXPORT]);
    assert_false(c.with_descriptor);
    /* the archive of the same package gives the same block */
    make("--size 600 --no-export --no-descriptor");
    assert_int_equal(gp_cap_parse(file, file_len, 1, &z, why, sizeof why), 0);
    assert_int_equal(z.block_len, c.block_len);
    assert_memory_equal(z.block, c.block, c.block_len);
    gp_cap_free(&c);
    gp_cap_free(&z);
    /* a library: no Applet component */
    make("--applets 0 --size 200");
    assert_int_equal(gp_cap_parse(file, file_len, 1, &c, why, sizeof why), 0);
    assert_int_equal(c.n_applets, 0);
    assert_int_equal(c.block[1], 0x81); /* 128 to 255 bytes */
    gp_cap_free(&c);
    /* a big one: 64 KiB of components */
    make("--size 70000");
    assert_int_equal(gp_cap_parse(file, file_len, 1, &c, why, sizeof why), 0);
    assert_int_equal(c.block[1], 0x83);
    gp_cap_free(&c);
}

static void refused(const char *opts, const char *words)
{
    gp_cap_t c;
    char why[300] = "";
    make(opts);
    assert_int_equal(gp_cap_parse(file, file_len, 1, &c, why, sizeof why), -1);
    if (!strstr(why, words))
        fail_msg("mkcap %s: \"%s\" does not say \"%s\"", opts, why, words);
    assert_null(c.block);
}

static void test_broken(void **state)
{
    (void)state;
    refused("--broken tag", "the Method component carries tag 6, which is Class's");
    refused("--broken size", "the Class component says it holds 25 bytes but holds 24");
    refused("--broken missing", "the Method component is missing");
    refused("--broken bomb", "a ZIP bomb");
    refused("--broken climb", "climbing path");
    refused("--broken twopkg", "two packages");
    refused("--broken magic", "DECAFFED");
    refused("--ijc --broken missing", "the Method component is missing");
    refused("--ijc --broken size", "stated size is wrong");
    /* cut files, and files that are not CAP files at all */
    gp_cap_t c;
    char why[300];
    make("--size 800");
    assert_int_equal(gp_cap_parse(file, file_len / 2, 1, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "ZIP"));
    make("--ijc --size 800");
    assert_int_equal(gp_cap_parse(file, file_len - 5, 1, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "follow"));
    assert_int_equal(gp_cap_parse((const uint8_t *)"hello world", 11, 1, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "neither a CAP file"));
}

/* A real card's first LOAD block: GlobalPlatformPro issue #355 shows, at
 * C-MAC, "84E80000 FF C48204B6 01001A..." that an NXP JCOP card answered
 * 00 9000. Its 247 plain bytes hold C4 82 04B6, then Header, Directory,
 * Import, Applet, Class and Method whole, and the start of StaticField (940
 * bytes). A load file made of those components, with StaticField,
 * ConstantPool and RefLocation completed by filler, must give the same
 * first 247 bytes but for the length: the order, the framing and the block
 * size of a LOAD a real card accepted. */
static const char real_block0[] =
    "C48204B601001ADECAFFED010204000010F0000000000000000000000000D1612202001F001A001F001400"
    "150022001C004203AC000D000000B0000C0006039002010004001502000107A0000000620001050107A000"
    "00006201010300140110F0000000000000000000000000D16123001306001C00800000FF00010000000081"
    "0300FF00040400000029FFFF00210033070042000110188C00007A0140188C0001188B00027A05308F0003"
    "3D181D1E8C00043B7A0110188C000504780110188C00057A00107A0121198B00062D188B000760037A7A08"
    "03AC000C0006000603000290000300000300100000000000000000000000000000";

static void test_real_card_block(void **state)
{
    (void)state;
    uint8_t real[247], raw[2048];
    for (size_t i = 0; i < sizeof real; i++)
        sscanf(real_block0 + 2 * i, "%2hhx", &real[i]);
    /* the whole components (bytes 4 to 213), then StaticField's 3-byte
     * head and first 30 bytes, its remaining 910 bytes filler */
    size_t n = sizeof real - 4;
    memcpy(raw, real + 4, n);
    memset(raw + n, 0x5A, 910);
    n += 910;
    static const uint8_t cp[] = {0x05, 0x00, 0x04, 1, 2, 3, 4}, rl[] = {0x09, 0x00, 0x02, 0, 0};
    memcpy(raw + n, cp, sizeof cp);
    n += sizeof cp;
    memcpy(raw + n, rl, sizeof rl);
    n += sizeof rl;
    gp_cap_t c;
    char why[300] = "";
    if (gp_cap_parse(raw, n, 1, &c, why, sizeof why) != 0)
        fail_msg("%s", why);
    assert_int_equal(c.block_len, n + 4);
    assert_memory_equal(c.block, "\xC4\x82", 2);
    assert_memory_equal(c.block + 4, real + 4, sizeof real - 4);
    assert_int_equal(c.cap_major, 2);
    assert_int_equal(c.cap_minor, 1);
    assert_int_equal(c.pkg_aid_len, 16);
    assert_memory_equal(c.pkg_aid, real + 17, 16);
    assert_int_equal(c.n_applets, 1);
    assert_memory_equal(c.applet_aid[0] + 13, "\xD1\x61\x23", 3);
    gp_cap_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive),
        cmocka_unit_test(test_raw_and_optional),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_real_card_block),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(file);
    return rc;
}
