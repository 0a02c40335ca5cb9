/* GET STATUS parsing (GlobalPlatform 2.2 section 11.4.3). */
#include "config.h"
#include "registry.h"
#include "tlv.h"

#include <stdio.h>
#include <string.h>

static int bad(char *why, size_t n, const char *msg, size_t off)
{
    snprintf(why, n, "GET STATUS answer malformed at byte %zu: %s", off, msg);
    return -1;
}

static int too_many(char *why, size_t n, int max)
{
    snprintf(why, n, "the card lists more than %d entries of this kind, more than gp-p11 holds: "
             "none of this kind is shown", max);
    return -1;
}

static int parse_legacy(const uint8_t *d, size_t len, uint8_t p1, gp_entry_t *out, int max,
                        char *why, size_t wl)
{
    size_t i = 0;
    int n = 0;
    while (i < len) {
        if (n >= max)
            return too_many(why, wl, max);
        gp_entry_t *e = &out[n];
        memset(e, 0, sizeof *e);
        e->p1 = p1;
        size_t start = i;
        size_t al = d[i++];
        if (al < 5 || al > GP_AID_MAX || i + al + 2 > len)
            return bad(why, wl, "AID length out of range or entry cut short", start);
        memcpy(e->aid, d + i, al);
        e->aid_len = al;
        i += al;
        e->lifecycle = d[i++];
        e->priv[0] = d[i++];
        e->priv_len = 1;
        if (p1 == GP_STATUS_ELF_MOD) {
            if (i >= len)
                return bad(why, wl, "module count missing", i);
            int nm = d[i++];
            for (int m = 0; m < nm; m++) {
                if (i >= len || d[i] < 1 || d[i] > GP_AID_MAX || i + 1 + d[i] > len)
                    return bad(why, wl, "module AID out of range", i);
                if (e->n_modules < GP_MODULES_MAX) {
                    memcpy(e->module[e->n_modules], d + i + 1, d[i]);
                    e->module_len[e->n_modules++] = d[i];
                }
                i += 1 + (size_t)d[i];
            }
        }
        e->raw_len = i - start;
        if (e->raw_len > sizeof e->raw)
            return bad(why, wl, "entry longer than gp-p11 keeps (512 bytes)", start);
        memcpy(e->raw, d + start, e->raw_len);
        n++;
    }
    return n;
}

static int parse_tlv(const uint8_t *d, size_t len, uint8_t p1, gp_entry_t *out, int max,
                     char *why, size_t wl)
{
    size_t off = 0;
    int n = 0, r;
    tlv_t e3;
    for (;;) {
        size_t begin = off;
        while (begin < len && (d[begin] == 0x00 || d[begin] == 0xFF))
            begin++; /* padding, as tlv_next skips it */
        if ((r = tlv_next(d, len, &off, &e3)) != 1)
            break;
        if (e3.tag != 0xE3)
            return bad(why, wl, "expected tag E3", (size_t)(e3.v - d));
        if (n >= max)
            return too_many(why, wl, max);
        gp_entry_t *e = &out[n];
        memset(e, 0, sizeof *e);
        e->p1 = p1;
        size_t in = 0;
        tlv_t t;
        int have_aid = 0, have_lc = 0;
        while ((r = tlv_next(e3.v, e3.len, &in, &t)) == 1) {
            switch (t.tag) {
            case 0x4F:
                if (t.len < 5 || t.len > GP_AID_MAX)
                    return bad(why, wl, "AID length out of range", (size_t)(t.v - d));
                memcpy(e->aid, t.v, t.len);
                e->aid_len = t.len;
                have_aid = 1;
                break;
            case 0x9F70:
                if (t.len < 1)
                    return bad(why, wl, "empty lifecycle", (size_t)(t.v - d));
                e->lifecycle = t.v[0];
                have_lc = 1;
                break;
            case 0xC5:
                e->priv_len = t.len < 3 ? t.len : 3;
                memcpy(e->priv, t.v, e->priv_len);
                break;
            case 0xC4:
                if (t.len <= GP_AID_MAX) {
                    memcpy(e->elf, t.v, t.len);
                    e->elf_len = t.len;
                }
                break;
            case 0x84:
                if (t.len < 1 || t.len > GP_AID_MAX)
                    return bad(why, wl, "module AID out of range", (size_t)(t.v - d));
                if (e->n_modules < GP_MODULES_MAX) {
                    memcpy(e->module[e->n_modules], t.v, t.len);
                    e->module_len[e->n_modules++] = t.len;
                }
                break;
            default:
                break; /* CE version, CC associated SD... kept in raw */
            }
        }
        if (r < 0)
            return bad(why, wl, "broken TLV inside E3", (size_t)(e3.v - d));
        if (!have_aid || !have_lc)
            return bad(why, wl, "entry without AID (4F) or lifecycle (9F70)", (size_t)(e3.v - d));
        e->raw_len = off - begin;
        if (e->raw_len > sizeof e->raw)
            return bad(why, wl, "entry longer than gp-p11 keeps (512 bytes)", begin);
        memcpy(e->raw, d + begin, e->raw_len);
        n++;
    }
    if (r < 0)
        return bad(why, wl, "broken TLV", off);
    return n;
}

int gp_registry_parse(const uint8_t *d, size_t len, uint8_t p1, int tlv, gp_entry_t *out,
                      int max, char *why, size_t why_len)
{
    return tlv ? parse_tlv(d, len, p1, out, max, why, why_len)
               : parse_legacy(d, len, p1, out, max, why, why_len);
}

const char *gp_entry_kind(const gp_entry_t *e)
{
    switch (e->p1) {
    case GP_STATUS_ISD: return "issuer security domain";
    case GP_STATUS_APPS: return (e->priv[0] & 0x80) ? "security domain" : "application";
    default: return "load file";
    }
}

const char *gp_lifecycle_name(const gp_entry_t *e)
{
    uint8_t l = e->lifecycle;
    if (e->p1 == GP_STATUS_ISD) {
        switch (l) {
        case 0x01: return "OP_READY";
        case 0x07: return "INITIALIZED";
        case 0x0F: return "SECURED";
        case 0x7F: return "CARD_LOCKED";
        case 0xFF: return "TERMINATED";
        default: return "unknown";
        }
    }
    if (e->p1 == GP_STATUS_ELF || e->p1 == GP_STATUS_ELF_MOD)
        return l == 0x01 ? "LOADED" : "unknown";
    if (l & 0x80)
        return "LOCKED";
    if (l == 0x03)
        return "INSTALLED";
    if (e->priv[0] & 0x80) {
        if (l == 0x07) return "SELECTABLE";
        if (l == 0x0F) return "PERSONALIZED";
        return "unknown";
    }
    if ((l & 0x07) == 0x07)
        return l == 0x07 ? "SELECTABLE" : "application specific";
    return "unknown";
}
