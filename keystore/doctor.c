/* See doctor.h. */
#include "config.h"
#include "doctor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "internal.h"
#include "pkcs11_30.h"
#include "scp01_crypto.h"
#include "scp02_crypto.h"
#include "scp03_crypto.h"

static const char *const cap_names[KS_CAP_N] = {
    [KS_CAP_PIN] = "the PIN check of every login",
    [KS_CAP_SCP01] = "SCP01 logins",
    [KS_CAP_SCP02] = "SCP02 logins",
    [KS_CAP_SCP03] = "SCP03 logins",
    [KS_CAP_DIV_DES] = "EMV and VISA2 diversification",
    [KS_CAP_KDF3] = "KDF3 diversification",
    [KS_CAP_PUT_DES] = "SCP02 PUT KEY of keys generated in the keystore",
    [KS_CAP_PUT_AES] = "SCP03 PUT KEY of keys generated in the keystore",
};

const char *ks_cap_name(enum ks_cap c) { return c < KS_CAP_N ? cap_names[c] : "?"; }

/* --- by the mechanism list ------------------------------------------------ */

#define M(x) x, #x
/* What each capability needs: a mechanism (or its alternative) with a use. */
static const struct need {
    enum ks_cap cap;
    CK_MECHANISM_TYPE m;
    const char *name;
    CK_FLAGS flag;
    const char *use;
    CK_MECHANISM_TYPE alt; /* does as well (0: none) */
} needs[] = {
    {KS_CAP_PIN, M(CKM_SHA256), CKF_DIGEST, "digest", 0},
    {KS_CAP_SCP01, M(CKM_DES3_ECB_ENCRYPT_DATA), CKF_DERIVE, "derive", 0},
    {KS_CAP_SCP01, M(CKM_DES3_CBC), CKF_ENCRYPT, "encrypt", 0},
    {KS_CAP_SCP02, M(CKM_DES3_CBC_ENCRYPT_DATA), CKF_DERIVE, "derive", 0},
    {KS_CAP_SCP02, M(CKM_DES3_ECB_ENCRYPT_DATA), CKF_DERIVE, "derive", 0},
    {KS_CAP_SCP02, M(CKM_DES3_CBC), CKF_ENCRYPT, "encrypt", 0},
    {KS_CAP_SCP03, M(CKM_AES_ECB), CKF_ENCRYPT, "encrypt", 0},
    {KS_CAP_SCP03, M(CKM_AES_CMAC), CKF_SIGN, "sign", 0},
    {KS_CAP_SCP03, M(CKM_AES_CBC), CKF_ENCRYPT, "encrypt", 0},
    {KS_CAP_SCP03, M(CKM_AES_ECB_ENCRYPT_DATA), CKF_DERIVE, "derive", CKM_SP800_108_COUNTER_KDF},
    {KS_CAP_DIV_DES, M(CKM_DES3_ECB_ENCRYPT_DATA), CKF_DERIVE, "derive", 0},
    {KS_CAP_KDF3, M(CKM_AES_ECB), CKF_ENCRYPT, "encrypt", 0},
    {KS_CAP_KDF3, M(CKM_AES_ECB_ENCRYPT_DATA), CKF_DERIVE, "derive", CKM_SP800_108_COUNTER_KDF},
    {KS_CAP_PUT_DES, M(CKM_DES2_KEY_GEN), CKF_GENERATE, "generate", 0},
    {KS_CAP_PUT_DES, M(CKM_DES3_ECB), CKF_WRAP, "wrap", 0},
    {KS_CAP_PUT_AES, M(CKM_AES_KEY_GEN), CKF_GENERATE, "generate", 0},
    {KS_CAP_PUT_AES, M(CKM_AES_CBC), CKF_WRAP, "wrap", 0},
};
#undef M

/* -1 not listed, else the flags (~0 when the module lists it but tells no
 * flags: taken as able) */
static CK_FLAGS listed_flags(ks_t *ks, const CK_MECHANISM_TYPE *list, CK_ULONG n,
                             CK_MECHANISM_TYPE m, CK_FLAGS *cache, unsigned long *calls)
{
    for (CK_ULONG i = 0; i < n; i++) {
        if (list[i] != m)
            continue;
        if (cache[i] == 0) {
            CK_MECHANISM_INFO mi;
            memset(&mi, 0, sizeof mi);
            (*calls)++;
            cache[i] = ks->f->C_GetMechanismInfo(ks->slot, m, &mi) == CKR_OK && mi.flags
                           ? mi.flags
                           : ~(CK_FLAGS)0;
        }
        return cache[i];
    }
    return 0;
}

CK_RV ks_caps_listed(ks_t *ks, ks_caps_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!ks->have_slot) {
        msg_set(err, err_len, "keystore: no token selected");
        return CKR_GENERAL_ERROR;
    }
    CK_ULONG n = 0;
    out->calls++;
    CK_RV rv = ks->f->C_GetMechanismList(ks->slot, NULL, &n);
    if (rv != CKR_OK || n > 4096) {
        msg_set(err, err_len, "keystore: C_GetMechanismList failed: %s",
                rv != CKR_OK ? ks_rv_name(rv) : "it announces more than 4096 mechanisms");
        return rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
    }
    CK_MECHANISM_TYPE *list = calloc(n ? n : 1, sizeof *list);
    CK_FLAGS *cache = calloc(n ? n : 1, sizeof *cache);
    if (!list || !cache) {
        free(list);
        free(cache);
        msg_set(err, err_len, "out of memory");
        return CKR_HOST_MEMORY;
    }
    out->calls++;
    if (n && (rv = ks->f->C_GetMechanismList(ks->slot, list, &n)) != CKR_OK) {
        msg_set(err, err_len, "keystore: C_GetMechanismList failed: %s", ks_rv_name(rv));
        free(list);
        free(cache);
        return rv;
    }
    CK_FLAGS kdf = listed_flags(ks, list, n, CKM_SP800_108_COUNTER_KDF, cache, &out->calls);
    out->kdf108 = (kdf & CKF_DERIVE) != 0;
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
        const struct need *d = &needs[i];
        if (out->state[d->cap] != KS_CAP_LISTED)
            continue; /* the first missing one is said */
        CK_FLAGS fl = listed_flags(ks, list, n, d->m, cache, &out->calls);
        if (d->alt == CKM_SP800_108_COUNTER_KDF && out->kdf108 && !(fl & d->flag))
            continue;
        if (!fl) {
            out->state[d->cap] = KS_CAP_UNLISTED;
            out->missing[d->cap] = d->name;
        } else if (!(fl & d->flag)) {
            out->state[d->cap] = KS_CAP_NO_USE;
            out->missing[d->cap] = d->name;
            out->use[d->cap] = d->use;
        }
    }
    free(list);
    free(cache);
    return CKR_OK;
}

/* Appends the strings (up to a NULL) to buf, cut at cap. */
static void add(char *buf, size_t cap, ...)
{
    va_list ap;
    va_start(ap, cap);
    for (const char *p; (p = va_arg(ap, const char *));) {
        size_t l = strlen(buf);
        if (l + 1 < cap)
            snprintf(buf + l, cap - l, "%s", p);
    }
    va_end(ap);
}

int ks_caps_line(const ks_t *ks, const ks_caps_t *c, char *buf, size_t cap)
{
    const char *base = strrchr(ks->path, '/');
    snprintf(buf, cap, "keystore token \"%s\" (%s) by its mechanism list: ", ks->label,
             base ? base + 1 : ks->path);
    static const char *const heads[3] = {"can do ", "not in its list: ", "cannot do "};
    int all = 1, unlisted = 0;
    for (int st = KS_CAP_LISTED; st <= KS_CAP_NO_USE; st++) {
        int first = 1;
        for (int k = 0; k < KS_CAP_N; k++) {
            if ((int)c->state[k] != st)
                continue;
            if (first)
                add(buf, cap, st == KS_CAP_LISTED ? "" : "; ", heads[st], NULL);
            add(buf, cap, first ? "" : ", ", cap_names[k], NULL);
            if (st == KS_CAP_LISTED && k == KS_CAP_SCP03 && c->kdf108)
                add(buf, cap, " (SP 800-108 KDF)", NULL);
            if (st == KS_CAP_UNLISTED)
                add(buf, cap, " (", c->missing[k], ")", NULL);
            if (st == KS_CAP_NO_USE)
                add(buf, cap, " (", c->missing[k], " does not ", c->use[k], ")", NULL);
            first = 0;
            all = all && st == KS_CAP_LISTED;
            unlisted |= st == KS_CAP_UNLISTED;
        }
    }
    if (unlisted)
        add(buf, cap, "; a keystore may do what it does not list: \"gp-p11 keys doctor\" tries "
                      "each", NULL);
    return all;
}

/* --- by trying ------------------------------------------------------------ */

/* A session object of public test key bytes, for the probes only. */
static CK_RV test_key(ks_session_t *s, CK_KEY_TYPE kt, const char *hex, CK_BBOOL extractable,
                      CK_OBJECT_HANDLE *out)
{
    uint8_t v[32];
    int len = hex_decode(hex, v, sizeof v);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ULONG vl = len > 0 ? (CK_ULONG)len : 0;
    CK_ATTRIBUTE a[] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &f, sizeof f},           {CKA_PRIVATE, &t, sizeof t},
        {CKA_SENSITIVE, &t, sizeof t},       {CKA_EXTRACTABLE, &extractable, sizeof extractable},
        {CKA_ENCRYPT, &t, sizeof t},         {CKA_DERIVE, &t, sizeof t},
        {CKA_WRAP, &t, sizeof t},            {CKA_VALUE, v, vl},
    };
    s->calls++;
    CK_RV rv = len > 0 ? s->ks->f->C_CreateObject(s->h, a, 10, out) : CKR_GENERAL_ERROR;
    if (rv != CKR_OK)
        msg_set(s->err, sizeof s->err, "keystore: C_CreateObject of a %s session key failed: %s",
                kt == CKK_AES ? "AES" : "DES2", ks_rv_name(rv));
    ks_wipe(v, sizeof v);
    return rv;
}

static void hexv(const char *hex, uint8_t *out, size_t len)
{
    memset(out, 0, len);
    hex_decode(hex, out, len);
}

/* Ends a probe: a keystore refusal (rv), or got compared with the known
 * answer want (hex). */
static void verdict(ks_session_t *s, ks_probe_t *p, CK_RV rv, const uint8_t *got, const char *want)
{
    if (rv != CKR_OK) {
        p->result = KS_PROBE_NO;
        snprintf(p->detail, sizeof p->detail, "%s", ks_session_error(s)[0] ? ks_session_error(s)
                                                                            : ks_rv_name(rv));
        return;
    }
    if (!want) {
        p->result = KS_PROBE_YES;
        return;
    }
    uint8_t w[32];
    size_t wl = strlen(want) / 2;
    hexv(want, w, sizeof w);
    if (memcmp(got, w, wl) == 0) {
        p->result = KS_PROBE_YES;
        return;
    }
    char g[65];
    hex_encode(got, wl, g);
    p->result = KS_PROBE_WRONG;
    snprintf(p->detail, sizeof p->detail, "computed %s where the known answer is %s", g, want);
}

static void destroy(ks_session_t *s, CK_OBJECT_HANDLE *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (h[i] != CK_INVALID_HANDLE)
            ks_destroy(s, h[i]);
}

/* SHA-256 of "abc" (FIPS 180-2), split as gp-p11 splits salt and PIN. */
static void probe_pin(ks_session_t *s, ks_probe_t *p)
{
    uint8_t d[32];
    CK_RV rv = ks_sha256(s, (const uint8_t *)"ab", 2, (const uint8_t *)"c", 1, d);
    verdict(s, p, rv, d, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
}

/* SCP01: session e1 of tests/vectors/scp01-transcripts-e.txt (test keys). */
static void probe_scp01(ks_session_t *s, ks_probe_t *p)
{
    CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
    ks_scp01_keys_t sk = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    uint8_t host[8], card[8], in[16], mac[8];
    hexv("10DBADDE5E94FCE1", host, 8);
    hexv("F5571FE5ED3971F5", card, 8);
    memcpy(in, host, 8);
    memcpy(in + 8, card, 8);
    CK_RV rv = test_key(s, CKK_DES2, "404142434445464748494A4B4C4D4E4F", CK_FALSE, &k);
    if (rv == CKR_OK)
        rv = ks_scp01_derive(s, k, k, host, card, &sk);
    if (rv == CKR_OK)
        rv = ks_mac_3des(s, sk.enc, in, 16, mac);
    verdict(s, p, rv, mac, "D2FFBE28469E141D");
    ks_scp01_destroy(s, &sk);
    destroy(s, &k, 1);
}

/* SCP02: tests/vectors/scp02-transcript-b.txt: the card cryptogram, and the
 * C-MAC of EXTERNAL AUTHENTICATE. */
static void probe_scp02(ks_session_t *s, ks_probe_t *p)
{
    CK_OBJECT_HANDLE k[3] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    static const char *const v[3] = {"AEA57E0042780CEBBBD7CA2FE63CFF05",
                                     "888D0508C5AF62E085F7D3FB713DBA33",
                                     "42C9F4D5271376425FC49D5C7E697CA0"};
    ks_scp02_keys_t sk;
    memset(&sk, 0, sizeof sk);
    uint8_t in[16], seq[2] = {0x00, 0x01}, out[16], ea[13], zero[8] = {0};
    hexv("0B2A4CB667F8713E0001A52757BF48AD", in, 16);
    hexv("8482010010400B21163F105687", ea, 13);
    CK_RV rv = CKR_OK;
    for (int r = 0; r < 3 && rv == CKR_OK; r++)
        rv = test_key(s, CKK_DES2, v[r], CK_FALSE, &k[r]);
    int derived = rv == CKR_OK && (rv = ks_scp02_derive(s, k[0], k[1], k[2], seq, &sk)) == CKR_OK;
    if (rv == CKR_OK)
        rv = ks_mac_3des(s, sk.enc, in, 16, out);
    if (rv == CKR_OK)
        rv = ks_mac_retail(s, sk.cmac, sk.cmac_k1, zero, ea, sizeof ea, out + 8);
    verdict(s, p, rv, out, "E4D4258C4A99370682EDC1FA0F331E10");
    if (derived)
        ks_scp02_destroy(s, &sk);
    destroy(s, k, 3);
}

/* SCP03: the card cryptogram of a recorded session of each key length
 * (scp03-transcript-c, scp03-aes192-sessions-f l11, scp03-aes256-transcript-d),
 * then an AES-CBC encryption under S-ENC, as C-DECRYPTION does. */
static void probe_scp03(ks_session_t *s, ks_probe_t *p, int which)
{
    static const struct { const char *enc, *mac, *ctx, *cryptogram; } v[3] = {
        {"F995D0A069335C7DF42E590317FFEA6D", "58563362EC5A4541ABCD32B34B1EAE7D",
         "A6D40AEC55FE7986B6E362D0F90F8101", "C34B7B21A7455320"},
        {"000102030405060708090A0B0C0D0E0F0001020304050607",
         "101112131415161718191A1B1C1D1E1F1011121314151617", "7396430B768B085B8CFC23522FFDBF1E",
         "5DF5542CAC8FD866"},
        {"000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F",
         "101112131415161718191A1B1C1D1E1F101112131415161718191A1B1C1D1E1F",
         "C6066990FC426E1D8682CD81BBD8919F", "2DE3F2664581F118"},
    };
    size_t klen = strlen(v[which].enc) / 2;
    CK_OBJECT_HANDLE k[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    ks_scp03_keys_t sk = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    uint8_t ctx[16], out[16], iv[16] = {0};
    hexv(v[which].ctx, ctx, 16);
    CK_RV rv = test_key(s, CKK_AES, v[which].enc, CK_FALSE, &k[0]);
    if (rv == CKR_OK)
        rv = test_key(s, CKK_AES, v[which].mac, CK_FALSE, &k[1]);
    int derived = rv == CKR_OK && (rv = ks_scp03_derive(s, k[0], k[1], klen, ctx, 16, &sk)) == CKR_OK;
    if (rv == CKR_OK)
        rv = ks_scp03_cryptogram(s, sk.mac, 0x00, ctx, 16, out, 8);
    uint8_t block[16] = {0x80};
    if (rv == CKR_OK)
        rv = ks_cipher(s, CKM_AES_CBC, sk.enc, iv, 16, 1, block, 16, block);
    verdict(s, p, rv, out, v[which].cryptogram);
    if (p->result == KS_PROBE_YES && ks_kdf108(s))
        snprintf(p->detail, sizeof p->detail, "by the keystore's SP 800-108 KDF");
    if (derived)
        ks_scp03_destroy(s, &sk);
    destroy(s, k, 2);
}

/* The KCV of a card's key 1 diversified from master key 4041..; KDD 00..09.
 * EMV and VISA2 by their formulas (scp02_crypto.h; VISA2 as the SCP01
 * cards of scp01-transcripts-e e3/e4 have it), KDF3 GlobalPlatformPro's. */
static void probe_div(ks_session_t *s, ks_probe_t *p, enum ks_diversification m)
{
    static const uint8_t kdd[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int aes = m == KS_DIV_KDF3;
    const char *master = aes ? "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
                             : "404142434445464748494A4B4C4D4E4F";
    CK_OBJECT_HANDLE k[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    uint8_t kcv[3];
    CK_RV rv = test_key(s, aes ? CKK_AES : CKK_DES2, master, CK_FALSE, &k[0]);
    if (rv == CKR_OK)
        rv = aes ? ks_scp03_kdf3(s, k[0], 32, kdd, 1, KS_USE_ENCRYPT, &k[1])
                 : ks_scp02_diversify(s, k[0], m, kdd, 1, &k[1]);
    /* by encryption: SoftHSM 2.6.1 keeps a wrong CKA_CHECK_VALUE on the DES
     * keys it derives (8C11B2 on EMV's key here, which encrypts zeros to C33013) */
    uint8_t z[8] = {0};
    if (rv == CKR_OK && !aes && (rv = ks_encrypt(s, k[1], NULL, z, 8, z)) == CKR_OK)
        memcpy(kcv, z, 3);
    if (rv == CKR_OK && aes)
        rv = ks_scp03_kcv(s, k[1], kcv);
    verdict(s, p, rv, kcv, m == KS_DIV_EMV ? "C33013" : m == KS_DIV_VISA2 ? "2BE598" : "2972D2");
    destroy(s, k, 2);
}

/* A key generated inside the keystore, extractable only to be wrapped, and
 * wrapped under a DEK as PUT KEY sends it: no known answer, the keystore's
 * own key is random; the length is checked. */
static void probe_put_key(ks_session_t *s, ks_probe_t *p, int aes)
{
    CK_OBJECT_HANDLE k[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_RV rv = test_key(s, aes ? CKK_AES : CKK_DES2, "404142434445464748494A4B4C4D4E4F", CK_FALSE,
                        &k[0]);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = aes ? CKK_AES : CKK_DES2;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ULONG vl = 16;
    CK_ATTRIBUTE a[] = {
        {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &f, sizeof f},     {CKA_PRIVATE, &t, sizeof t},
        {CKA_SENSITIVE, &t, sizeof t}, {CKA_EXTRACTABLE, &t, sizeof t},
        {CKA_VALUE_LEN, &vl, sizeof vl},
    };
    CK_MECHANISM gen = {aes ? CKM_AES_KEY_GEN : CKM_DES2_KEY_GEN, NULL, 0};
    if (rv == CKR_OK) {
        s->calls++;
        rv = s->ks->f->C_GenerateKey(s->h, &gen, a, aes ? 7 : 6, &k[1]);
        if (rv != CKR_OK)
            msg_set(s->err, sizeof s->err, "keystore: C_GenerateKey(%s) failed: %s",
                    aes ? "CKM_AES_KEY_GEN" : "CKM_DES2_KEY_GEN", ks_rv_name(rv));
    }
    uint8_t out[32], zero[16] = {0};
    size_t n = sizeof out;
    if (rv == CKR_OK)
        rv = aes ? ks_wrap(s, CKM_AES_CBC, zero, 16, k[0], k[1], out, &n)
                 : ks_wrap_des3_ecb(s, k[0], k[1], out);
    if (rv == CKR_OK && aes && n != 16) {
        msg_set(s->err, sizeof s->err, "keystore: wrapped a 16-byte key into %zu bytes", n);
        rv = CKR_GENERAL_ERROR;
    }
    verdict(s, p, rv, NULL, NULL);
    ks_wipe(out, sizeof out);
    destroy(s, k, 2);
}

size_t ks_doctor(ks_session_t *s, ks_probe_t out[KS_PROBES_MAX])
{
    static const struct { enum ks_cap cap; const char *what; } plan[] = {
        {KS_CAP_PIN, "the PIN check of every login (SHA-256)"},
        {KS_CAP_SCP01, "SCP01 logins"},
        {KS_CAP_SCP02, "SCP02 logins"},
        {KS_CAP_SCP03, "SCP03 logins, AES-128"},
        {KS_CAP_SCP03, "SCP03 logins, AES-192"},
        {KS_CAP_SCP03, "SCP03 logins, AES-256"},
        {KS_CAP_DIV_DES, "EMV diversification"},
        {KS_CAP_DIV_DES, "VISA2 diversification"},
        {KS_CAP_KDF3, "KDF3 diversification"},
        {KS_CAP_PUT_DES, "SCP02 PUT KEY of keys generated in the keystore"},
        {KS_CAP_PUT_AES, "SCP03 PUT KEY of keys generated in the keystore"},
    };
    size_t n = sizeof plan / sizeof plan[0];
    for (size_t i = 0; i < n; i++) {
        ks_probe_t *p = &out[i];
        memset(p, 0, sizeof *p);
        p->cap = plan[i].cap;
        p->what = plan[i].what;
        s->err[0] = 0;
        switch (i) {
        case 0: probe_pin(s, p); break;
        case 1: probe_scp01(s, p); break;
        case 2: probe_scp02(s, p); break;
        case 3: case 4: case 5: probe_scp03(s, p, (int)i - 3); break;
        case 6: probe_div(s, p, KS_DIV_EMV); break;
        case 7: probe_div(s, p, KS_DIV_VISA2); break;
        case 8: probe_div(s, p, KS_DIV_KDF3); break;
        default: probe_put_key(s, p, i == 10); break;
        }
    }
    return n;
}
