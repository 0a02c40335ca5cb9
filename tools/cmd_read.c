/* gp-p11 list, gp-p11 info: what is on the card, in words. The decoding is
 * scp/'s (registry.c, carddata.c), the same the module uses. */
#include "config.h"
#include "tool.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "scp/carddata.h"
#include "scp/registry.h"

#define MAX_ENTRIES 256

/* The registry in this order */
static const struct {
    CK_ULONG kind;
} kinds[] = {{GP_KIND_ISD}, {GP_KIND_SSD}, {GP_KIND_APP}, {GP_KIND_LOAD_FILE}};

int cmd_list(tool_t *t, int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return tool_fail(t, EX_USAGE, "list takes no arguments");
    int code = t->no_login ? p11_open(t) : p11_start(t);
    if (code != EX_OK)
        return code;
    json_bool(&t->j, "logged_in", !t->no_login);
    int listed = 0;
    static const char *const head[] = {"KIND", "AID", "LIFECYCLE", "PRIVILEGES", "FROM / MODULES"};
    table_t tab;
    table_init(&tab, 5, head);
    json_arr(&t->j, "registry");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_ULONG kind = kinds[k].kind;
        CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KIND, &kind, sizeof kind}};
        CK_OBJECT_HANDLE objs[MAX_ENTRIES];
        int n = p11_find(t, tmpl, 2, objs, MAX_ENTRIES);
        if (n < 0) {
            table_free(&tab);
            return EX_ERROR;
        }
        listed += n;
        for (int i = 0; i < n; i++) {
            gp_entry_t e;
            uint8_t mods[512];
            p11_entry(t, objs[i], &e);
            long ml = p11_attr(t, objs[i], CKA_GP_MODULES, mods, sizeof mods);
            char aid[2 * GP_AID_MAX + 1], lc[48], priv[400] = "", more[600] = "";
            hex_encode(e.aid, e.aid_len, aid);
            snprintf(lc, sizeof lc, "%s", gp_lifecycle_name(&e));
            const char *names[24];
            int np = gp_privilege_names(e.priv, e.priv_len, names, 24);
            json_obj(&t->j, NULL);
            json_str(&t->j, "aid", aid);
            json_str(&t->j, "kind", tool_kind_key(kinds[k].kind));
            json_lifecycle(&t->j, &e);
            if (kinds[k].kind != GP_KIND_LOAD_FILE) {
                json_obj(&t->j, "privileges");
                json_hex(&t->j, "value", e.priv, e.priv_len);
                json_arr(&t->j, "names");
                for (int p = 0; p < np; p++) {
                    json_str(&t->j, NULL, names[p]);
                    size_t l = strlen(priv);
                    snprintf(priv + l, sizeof priv - l, "%s%s", p ? ", " : "", names[p]);
                }
                json_end(&t->j, ']');
                json_end(&t->j, '}');
                if (!np)
                    snprintf(priv, sizeof priv, "none");
            }
            if (e.elf_len) {
                char elf[2 * GP_AID_MAX + 1];
                hex_encode(e.elf, e.elf_len, elf);
                json_str(&t->j, "load_file", elf);
                snprintf(more, sizeof more, "%s", elf);
            }
            if (kinds[k].kind == GP_KIND_LOAD_FILE) {
                json_arr(&t->j, "modules");
                /* length-AID pairs */
                for (long p = 0; ml > 0 && p < ml;) {
                    size_t l = mods[p];
                    if (l == 0 || (long)(p + 1 + (long)l) > ml || l > GP_AID_MAX)
                        break;
                    char m[2 * GP_AID_MAX + 1];
                    hex_encode(mods + p + 1, l, m);
                    json_str(&t->j, NULL, m);
                    size_t ol = strlen(more);
                    snprintf(more + ol, sizeof more - ol, "%s%s", ol ? " " : "", m);
                    p += 1 + (long)l;
                }
                json_end(&t->j, ']');
            }
            json_end(&t->j, '}');
            char lcw[64];
            snprintf(lcw, sizeof lcw, "%s (%02X)", lc, e.lifecycle);
            table_row(&tab, gp_entry_kind(&e), aid, lcw, priv, more);
        }
    }
    json_end(&t->j, ']');
    if (t->no_login && !listed) {
        json_arr(&t->j, "needs_login");
        json_str(&t->j, NULL, "registry");
        json_end(&t->j, ']');
        if (!t->json)
            printf("The card shows its registry only over a secure channel: run without "
                   "--no-login (its keys are needed).\n");
    } else if (!t->json) {
        table_print(&tab, stdout, 0, 1);
        if (t->no_login)
            printf("(read without a login, in the clear: not authenticated)\n");
    }
    table_free(&tab);
    return EX_OK;
}

/* --- info ----------------------------------------------------------------------- */

static long data_object(tool_t *t, const char *label, uint8_t *buf, size_t cap)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE o;
    if (p11_find(t, tmpl, 2, &o, 1) != 1)
        return -1;
    return p11_attr(t, o, CKA_VALUE, buf, cap);
}

static void field(table_t *tab, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void field(table_t *tab, const char *name, const char *fmt, ...)
{
    char v[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    table_row(tab, name, v);
}

/* A section for people: its title, then its table indented (header: the
 * table has column names worth showing) */
static void show(tool_t *t, const char *title, table_t *tab, int header)
{
    if (!t->json) {
        printf("%s\n", title);
        table_print(tab, stdout, 2, header);
    }
    table_free(tab);
}

static void info_card(tool_t *t)
{
    static const char *const head[] = {"", ""};
    table_t tab;
    table_init(&tab, 2, head);
    char label[33], manuf[33], model[17], serial[17];
    memcpy(label, t->ti.label, 32);
    memcpy(manuf, t->ti.manufacturerID, 32);
    memcpy(model, t->ti.model, 16);
    memcpy(serial, t->ti.serialNumber, 16);
    for (char *s[] = {label, manuf, model, serial}, **p = s; p < s + 4; p++) {
        size_t l = p == s + 2 || p == s + 3 ? 16 : 32;
        (*p)[l] = 0;
        while (l > 0 && (*p)[l - 1] == ' ')
            (*p)[--l] = 0;
    }
    json_obj(&t->j, "card");
    json_str(&t->j, "reader", t->reader_name);
    json_str(&t->j, "token", label);
    json_str(&t->j, "manufacturer", manuf);
    json_str(&t->j, "model", model);
    json_str(&t->j, "serial", serial);
    json_end(&t->j, '}');
    field(&tab, "reader", "%s", t->reader_name);
    field(&tab, "token", "%s", label);
    field(&tab, "manufacturer", "%s", manuf);
    field(&tab, "serial number", "%s", serial);
    show(t, "Card", &tab, 0);
}

static void info_cplc(tool_t *t)
{
    static const char *const head[] = {"", ""};
    uint8_t d[300];
    char why[120];
    long n = data_object(t, "CPLC", d, sizeof d);
    const uint8_t *v = n > 0 ? gp_cplc_value(d, (size_t)n, why, sizeof why) : NULL;
    if (!v) {
        json_str(&t->j, "cplc", NULL);
        if (!t->json)
            printf("CPLC\n  %s\n", n > 0 ? why : "the card gave none (GET DATA 9F7F)");
        return;
    }
    table_t tab;
    table_init(&tab, 2, head);
    json_obj(&t->j, "cplc");
    for (int f = 0; f < GP_CPLC_FIELDS; f++) {
        const gp_cplc_field_t *c = &gp_cplc_fields[f];
        char hex[9];
        hex_encode(v + c->off, c->len, hex);
        json_obj(&t->j, c->key);
        json_str(&t->j, "value", hex);
        if (c->off == 0) {
            const char *name = gp_ic_fabricator_name((unsigned)(v[0] << 8 | v[1]));
            json_str(&t->j, "name", name);
            field(&tab, c->words, "%s%s%s%s", hex, name ? " (" : "", name ? name : "",
                  name ? ")" : "");
        } else if (c->is_date) {
            int y, day;
            if (gp_cplc_date(v + c->off, &y, &day) == 0) {
                json_int(&t->j, "year_digit", y);
                json_int(&t->j, "day", day);
                field(&tab, c->words, "%s (day %d of a year ending in %d)", hex, day, y);
            } else {
                json_str(&t->j, "date", NULL);
                field(&tab, c->words, "%s (not a date)", hex);
            }
        } else {
            field(&tab, c->words, "%s", hex);
        }
        json_end(&t->j, '}');
    }
    json_end(&t->j, '}');
    show(t, "CPLC (card production life cycle)", &tab, 0);
}

static void info_recognition(tool_t *t)
{
    static const char *const head[] = {"", ""};
    uint8_t d[300];
    char why[120] = "the card gave none (GET DATA 66)";
    gp_card_recognition_t r;
    long n = data_object(t, "card data", d, sizeof d);
    if (n <= 0 || gp_card_recognition_parse(d, (size_t)n, &r, why, sizeof why) != 0) {
        json_str(&t->j, "card_recognition", NULL);
        if (!t->json)
            printf("Card recognition data\n  %s\n", why);
        return;
    }
    table_t tab;
    table_init(&tab, 2, head);
    json_obj(&t->j, "card_recognition");
    json_bool(&t->j, "globalplatform", r.is_gp);
    json_str(&t->j, "gp_version", r.gp_version[0] ? r.gp_version : NULL);
    field(&tab, "GlobalPlatform version", "%s", r.gp_version[0] ? r.gp_version : "not given");
    if (r.scp >= 0) {
        json_int(&t->j, "scp", r.scp);
        char i[3];
        snprintf(i, sizeof i, "%02X", r.i);
        json_str(&t->j, "i", i);
        field(&tab, "secure channel", "SCP%02X, i=%02X", r.scp, r.i);
    } else {
        json_str(&t->j, "scp", NULL);
        field(&tab, "secure channel", "not announced");
    }
    json_str(&t->j, "card_id_scheme", r.card_id_scheme[0] ? r.card_id_scheme : NULL);
    json_str(&t->j, "configuration", r.config[0] ? r.config : NULL);
    json_str(&t->j, "chip", r.chip[0] ? r.chip : NULL);
    if (r.card_id_scheme[0])
        field(&tab, "card identification scheme", "%s", r.card_id_scheme);
    if (r.config[0])
        field(&tab, "card configuration", "%s", r.config);
    if (r.chip[0])
        field(&tab, "card / chip details", "%s", r.chip);
    json_end(&t->j, '}');
    show(t, "Card recognition data", &tab, 0);
}

static void info_keys(tool_t *t)
{
    uint8_t d[512];
    char why[120] = "the card gave none (GET DATA E0)";
    gp_key_info_t k[64];
    long n = data_object(t, "key information", d, sizeof d);
    int nk = n > 0 ? gp_key_info_parse(d, (size_t)n, k, 64, why, sizeof why) : -1;
    if (nk < 0) {
        json_str(&t->j, "keys", NULL);
        if (!t->json)
            printf("Keys\n  %s\n", why);
        return;
    }
    static const char *const head[] = {"VERSION", "ID", "TYPE", "LENGTH"};
    table_t tab;
    table_init(&tab, 4, head);
    json_arr(&t->j, "keys");
    for (int i = 0; i < nk; i++) {
        char ver[8], id[8], type[64] = "", len[32] = "";
        snprintf(ver, sizeof ver, "%02X", k[i].version);
        snprintf(id, sizeof id, "%02X", k[i].id);
        json_obj(&t->j, NULL);
        json_int(&t->j, "version", k[i].version);
        json_int(&t->j, "id", k[i].id);
        json_arr(&t->j, "components");
        for (int c = 0; c < k[i].n; c++) {
            const char *name = gp_key_type_name(k[i].type[c]);
            char tn[40];
            if (name)
                snprintf(tn, sizeof tn, "%s", name);
            else
                snprintf(tn, sizeof tn, "type %02X", k[i].type[c] & 0xFF);
            json_obj(&t->j, NULL);
            char th[5];
            snprintf(th, sizeof th, "%02X", k[i].type[c] & 0xFF);
            json_str(&t->j, "type", th);
            json_str(&t->j, "name", name);
            json_int(&t->j, "length", k[i].len[c]);
            json_end(&t->j, '}');
            size_t tl = strlen(type), ll = strlen(len);
            snprintf(type + tl, sizeof type - tl, "%s%s", c ? " + " : "", tn);
            snprintf(len + ll, sizeof len - ll, "%s%u", c ? " + " : "", k[i].len[c]);
        }
        json_end(&t->j, ']');
        json_end(&t->j, '}');
        size_t ll = strlen(len);
        snprintf(len + ll, sizeof len - ll, " bytes");
        table_row(&tab, ver, id, type, len);
    }
    json_end(&t->j, ']');
    show(t, "Keys (key information template)", &tab, 1);
}

int cmd_info(tool_t *t, int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return tool_fail(t, EX_USAGE, "info takes no arguments");
    int code = t->no_login ? p11_open(t) : p11_start(t);
    if (code != EX_OK)
        return code;
    json_bool(&t->j, "logged_in", !t->no_login);
    if (t->no_login && !t->json)
        printf("Read without a login, in the clear (not authenticated); the registry needs one "
               "(gp-p11 list)\n");
    info_card(t);
    info_cplc(t);
    info_recognition(t);
    info_keys(t);
    return EX_OK;
}
