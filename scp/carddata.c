/* Card data decoded: see carddata.h. */
#include "config.h"
#include "carddata.h"
#include "tlv.h"

#include <stdio.h>
#include <string.h>

static int bad(char *why, size_t wl, const char *what)
{
    if (why && wl)
        snprintf(why, wl, "%s", what);
    return -1;
}

/* --- CPLC --------------------------------------------------------------------- */

const gp_cplc_field_t gp_cplc_fields[GP_CPLC_FIELDS] = {
    {"ic_fabricator", "IC fabricator", 0, 2, 0},
    {"ic_type", "IC type", 2, 2, 0},
    {"os_id", "operating system", 4, 2, 0},
    {"os_release_date", "OS release date", 6, 2, 1},
    {"os_release_level", "OS release level", 8, 2, 0},
    {"ic_fabrication_date", "IC fabrication date", 10, 2, 1},
    {"ic_serial", "IC serial number", 12, 4, 0},
    {"ic_batch", "IC batch", 16, 2, 0},
    {"module_fabricator", "module fabricator", 18, 2, 0},
    {"module_packaging_date", "module packaging date", 20, 2, 1},
    {"icc_manufacturer", "ICC manufacturer", 22, 2, 0},
    {"ic_embedding_date", "IC embedding date", 24, 2, 1},
    {"prepersonalizer", "pre-personalizer", 26, 2, 0},
    {"prepersonalization_date", "pre-personalization date", 28, 2, 1},
    {"prepersonalization_equipment", "pre-personalization equipment", 30, 4, 0},
    {"personalizer", "personalizer", 34, 2, 0},
    {"personalization_date", "personalization date", 36, 2, 1},
    {"personalization_equipment", "personalization equipment", 38, 4, 0},
};

const uint8_t *gp_cplc_value(const uint8_t *d, size_t len, char *why, size_t wl)
{
    if (len >= 3 && d[0] == 0x9F && d[1] == 0x7F) {
        tlv_t t;
        if (tlv_find(d, len, 0x9F7F, &t) != 1) {
            bad(why, wl, "CPLC: broken TLV");
            return NULL;
        }
        d = t.v;
        len = t.len;
    }
    if (len != GP_CPLC_LEN) {
        if (why && wl)
            snprintf(why, wl, "CPLC: %zu bytes, not %d", len, GP_CPLC_LEN);
        return NULL;
    }
    return d;
}

int gp_cplc_date(const uint8_t b[2], int *year_digit, int *day)
{
    int digits[4] = {b[0] >> 4, b[0] & 15, b[1] >> 4, b[1] & 15};
    for (int k = 0; k < 4; k++)
        if (digits[k] > 9)
            return -1;
    int d = digits[1] * 100 + digits[2] * 10 + digits[3];
    if (d < 1 || d > 366)
        return -1;
    *year_digit = digits[0];
    *day = d;
    return 0;
}

const char *gp_ic_fabricator_name(unsigned code)
{
    switch (code) {
    case 0x4790: return "NXP";
    case 0x4090: return "Infineon";
    case 0x4180: return "Atmel";
    case 0x4250: return "Samsung";
    case 0x3060: return "Renesas";
    case 0x4070: return "Oberthur";
    case 0x5345: return "Giesecke+Devrient";
    default: return NULL;
    }
}

/* --- object identifiers and card recognition data -------------------------- */

int gp_oid_text(const uint8_t *oid, size_t len, char *out, size_t cap)
{
    if (len == 0 || cap == 0)
        return -1;
    size_t n = 0;
    unsigned long arc = 0;
    int first = 1, arc_bytes = 0;
    out[0] = 0;
    for (size_t k = 0; k < len; k++) {
        if (arc_bytes == 0 && oid[k] == 0x80)
            return -1; /* BER forbids leading 80 */
        if (++arc_bytes > 4)
            return -1; /* arcs beyond 28 bits: not from a card */
        arc = arc << 7 | (oid[k] & 0x7F);
        if (oid[k] & 0x80)
            continue;
        int w;
        if (first) {
            unsigned long a = arc < 40 ? 0 : arc < 80 ? 1 : 2;
            w = snprintf(out + n, cap - n, "%lu.%lu", a, arc - a * 40);
            first = 0;
        } else {
            w = snprintf(out + n, cap - n, ".%lu", arc);
        }
        if (w < 0 || (size_t)w >= cap - n)
            return -1;
        n += (size_t)w;
        arc = 0;
        arc_bytes = 0;
    }
    return arc_bytes ? -1 : 0; /* the last arc must be complete */
}

/* 1.2.840.114283 (GlobalPlatform) as BER: 2A 86 48 86 FC 6B */
static const uint8_t gp_rid[] = {0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B};

/* The first OID (06) inside v; 1 found, 0 not, -1 malformed. */
static int inner_oid(const tlv_t *t, tlv_t *oid)
{
    return tlv_find(t->v, t->len, 0x06, oid);
}

static int gp_arc(const tlv_t *oid, uint8_t arc)
{
    return oid->len > sizeof gp_rid && memcmp(oid->v, gp_rid, sizeof gp_rid) == 0 &&
           oid->v[sizeof gp_rid] == arc;
}

int gp_card_recognition_parse(const uint8_t *d, size_t len, gp_card_recognition_t *out,
                              char *why, size_t wl)
{
    memset(out, 0, sizeof *out);
    out->scp = out->i = -1;
    tlv_t t66, t73;
    if (len && d[0] == 0x66) {
        if (tlv_find(d, len, 0x66, &t66) != 1)
            return bad(why, wl, "card data: broken TLV");
        d = t66.v;
        len = t66.len;
    }
    if (tlv_find(d, len, 0x73, &t73) != 1)
        return bad(why, wl, "card data: no card recognition data (73)");
    size_t off = 0;
    tlv_t t, oid;
    int r;
    while ((r = tlv_next(t73.v, t73.len, &off, &t)) == 1) {
        switch (t.tag) {
        case 0x06:
            if (t.len == sizeof gp_rid + 1 && memcmp(t.v, gp_rid, sizeof gp_rid) == 0 &&
                t.v[sizeof gp_rid] == 0x01)
                out->is_gp = 1;
            break;
        case 0x60: /* 1.2.840.114283.2.<version arcs> */
            if (inner_oid(&t, &oid) == 1 && gp_arc(&oid, 0x02)) {
                char text[GP_OID_TEXT];
                /* the version arcs, dotted: everything after "1.2.840.114283.2." */
                if (gp_oid_text(oid.v, oid.len, text, sizeof text) == 0 &&
                    strlen(text) > strlen("1.2.840.114283.2."))
                    snprintf(out->gp_version, sizeof out->gp_version, "%s",
                             text + strlen("1.2.840.114283.2."));
            }
            break;
        case 0x63:
            if (inner_oid(&t, &oid) == 1)
                gp_oid_text(oid.v, oid.len, out->card_id_scheme, sizeof out->card_id_scheme);
            break;
        case 0x64: /* 1.2.840.114283.4.<scp>.<i> */
            if (inner_oid(&t, &oid) == 1 && gp_arc(&oid, 0x04) && oid.len == sizeof gp_rid + 3 &&
                !(oid.v[sizeof gp_rid + 1] & 0x80) && !(oid.v[sizeof gp_rid + 2] & 0x80)) {
                out->scp = oid.v[sizeof gp_rid + 1];
                out->i = oid.v[sizeof gp_rid + 2];
            }
            break;
        case 0x65:
            if (inner_oid(&t, &oid) == 1)
                gp_oid_text(oid.v, oid.len, out->config, sizeof out->config);
            break;
        case 0x66:
            if (inner_oid(&t, &oid) == 1)
                gp_oid_text(oid.v, oid.len, out->chip, sizeof out->chip);
            break;
        default:
            break;
        }
    }
    if (r < 0)
        return bad(why, wl, "card data: broken TLV inside 73");
    return 0;
}

/* --- key information -------------------------------------------------------- */

int gp_key_info_parse(const uint8_t *d, size_t len, gp_key_info_t *out, int max, char *why,
                      size_t wl)
{
    tlv_t e0, c0;
    if (tlv_find(d, len, 0xE0, &e0) != 1)
        return bad(why, wl, "key information: no template (E0)");
    size_t off = 0;
    int n = 0, r;
    while ((r = tlv_next(e0.v, e0.len, &off, &c0)) == 1) {
        if (c0.tag != 0xC0)
            continue;
        if (c0.len < 4)
            return bad(why, wl, "key information: an entry (C0) shorter than 4 bytes");
        if (n >= max)
            return n;
        gp_key_info_t *k = &out[n];
        memset(k, 0, sizeof *k);
        k->id = c0.v[0];
        k->version = c0.v[1];
        size_t p = 2;
        int extended = 0;
        while (p < c0.len) {
            const uint8_t *b = c0.v + p;
            size_t left = c0.len - p;
            if (b[0] == 0xFF) {
                if (left < 4)
                    return bad(why, wl, "key information: an extended key component is cut short");
                if (k->n < GP_KEY_COMPONENTS) {
                    k->type[k->n] = (uint16_t)(0xFF00 | b[1]);
                    k->len[k->n] = (uint16_t)(b[2] << 8 | b[3]);
                    k->n++;
                }
                extended = 1;
                p += 4;
            } else if (extended) {
                /* key usage, then key access: each a length and its bytes */
                for (int part = 0; part < 2 && p < c0.len; part++) {
                    size_t l = c0.v[p];
                    if (l > c0.len - p - 1)
                        return bad(why, wl, "key information: key usage or access cut short");
                    p += 1 + l;
                }
                if (p != c0.len)
                    return bad(why, wl, "key information: bytes after key access");
            } else {
                if (left < 2)
                    return bad(why, wl, "key information: a key component is cut short");
                if (k->n < GP_KEY_COMPONENTS) {
                    k->type[k->n] = b[0];
                    k->len[k->n] = b[1];
                    k->n++;
                }
                p += 2;
            }
        }
        if (k->n == 0)
            return bad(why, wl, "key information: a key without components");
        n++;
    }
    if (r < 0)
        return bad(why, wl, "key information: broken TLV");
    return n;
}

const char *gp_key_type_name(uint16_t type)
{
    switch (type & 0xFF) {
    case 0x80: return "DES";
    case 0x82: return "3DES-CBC";
    case 0x83: return "DES-ECB";
    case 0x84: return "DES-CBC";
    case 0x85: return "TLS PSK";
    case 0x88: return "AES";
    case 0x90: return "HMAC-SHA1";
    case 0x91: return "HMAC-SHA1-160";
    case 0xA0: return "RSA public exponent";
    case 0xA1: return "RSA modulus";
    case 0xA2: return "RSA private modulus";
    case 0xA3: return "RSA private exponent";
    case 0xA4: return "RSA CRT P";
    case 0xA5: return "RSA CRT Q";
    case 0xA6: return "RSA CRT PQ";
    case 0xA7: return "RSA CRT DP1";
    case 0xA8: return "RSA CRT DQ1";
    case 0xB0: return "ECC public key";
    case 0xB1: return "ECC private key";
    case 0xB2: return "ECC field P";
    case 0xB3: return "ECC field A";
    case 0xB4: return "ECC field B";
    case 0xB5: return "ECC field G";
    case 0xB6: return "ECC field N";
    case 0xB7: return "ECC field K";
    case 0xB8: return "ECC key parameters reference";
    default: return NULL;
    }
}

/* --- privileges ----------------------------------------------------------------- */

static const char *const privilege_bits[3][8] = {
    {"security domain", "DAP verification", "delegated management", "card lock",
     "card terminate", "card reset", "CVM management", "mandated DAP verification"},
    {"trusted path", "authorized management", "token verification", "global delete",
     "global lock", "global registry", "final application", "global service"},
    {"receipt generation", "ciphered load file data block", "contactless activation",
     "contactless self-activation", NULL, NULL, NULL, NULL},
};

int gp_privilege_names(const uint8_t *priv, size_t len, const char **names, int max)
{
    const char *const (*bits)[8] = privilege_bits;
    int n = 0;
    for (size_t b = 0; b < len && b < 3; b++)
        for (int k = 0; k < 8; k++)
            if ((priv[b] & (0x80 >> k)) && bits[b][k] && n < max)
                names[n++] = bits[b][k];
    return n;
}

/* a name's letters and digits, in lower case: "CVM management", "cvm-management"
 * and "CVMManagement" are all "cvmmanagement"; 0 when longer than out */
static int squeeze(const char *s, size_t len, char *out, size_t out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '-' || c == '_' || c == '\t')
            continue;
        if (n + 1 >= out_len)
            return 0;
        out[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[n] = 0;
    return 1;
}

int gp_privileges_from_names(const char *text, uint8_t priv[3], char *why, size_t why_len)
{
    static const struct { const char *name; uint8_t byte, bits; } shorts[] = {
        {"mandateddap", 0, 0xC1}, {"cipheredloadfile", 2, 0x40},
    };
    memset(priv, 0, 3);
    for (const char *p = text;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char word[48];
        int fits = squeeze(p, len, word, sizeof word), found = 0;
        if (fits && !*word) {
            snprintf(why, why_len, "an empty privilege name (two commas, or one at an end)");
            return -1;
        }
        if (fits && !strcmp(word, "none"))
            found = 1;
        for (int b = 0; fits && b < 3 && !found; b++)
            for (int k = 0; k < 8 && !found; k++) {
                char known[48];
                const char *nm = privilege_bits[b][k];
                if (nm && squeeze(nm, strlen(nm), known, sizeof known) && !strcmp(word, known)) {
                    priv[b] |= (uint8_t)(0x80 >> k);
                    found = 1;
                }
            }
        for (size_t i = 0; fits && i < sizeof shorts / sizeof *shorts && !found; i++)
            if (!strcmp(word, shorts[i].name)) {
                priv[shorts[i].byte] |= shorts[i].bits;
                found = 1;
            }
        if (!found) {
            snprintf(why, why_len, "unknown privilege '%.*s'", (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    /* table 6-1 codes DAP verification (11xxxxxx), delegated management
     * (1x1xxxxx) and mandated DAP verification (11xxxxx1) with the
     * security domain bit */
    if (priv[0] & 0x60)
        priv[0] |= 0x80;
    if (priv[0] & 0x01)
        priv[0] |= 0xC0;
    return (priv[1] || priv[2]) ? 3 : 1;
}
