/* gp-sim card logic: see sim_card.h. Written from the GlobalPlatform Card
 * Specification 2.2 (sections 11.x and appendix E) and ISO/IEC 7816-4. */
#include "sim_card.h"
#include "sim_crypto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW(r, n, sw) ((r)[(n)] = (uint8_t)((sw) >> 8), (r)[(n) + 1] = (uint8_t)(sw), (n) + 2)

static int unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        unsigned v;
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || n >= cap ||
            sscanf(s, "%2x", &v) != 1)
            return -1;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return (int)n;
}

static sim_entry_t *add_entry(sim_card_t *c, enum sim_kind kind, const char *aid_hex,
                              uint8_t lifecycle, uint8_t priv)
{
    if (c->n_entries >= SIM_MAX_ENTRIES)
        return NULL;
    sim_entry_t *e = &c->entries[c->n_entries];
    memset(e, 0, sizeof *e);
    int n = unhex(aid_hex, e->aid, SIM_AID_MAX);
    if (n < 5)
        return NULL;
    e->aid_len = (size_t)n;
    e->kind = kind;
    e->lifecycle = lifecycle;
    e->priv[0] = priv;
    c->n_entries++;
    return e;
}

static void add_module(sim_entry_t *e, const char *aid_hex)
{
    if (e->n_modules < SIM_MAX_MODULES) {
        int n = unhex(aid_hex, e->module[e->n_modules], SIM_AID_MAX);
        if (n > 0)
            e->module_len[e->n_modules++] = (size_t)n;
    }
}

static void set_elf(sim_entry_t *e, const char *aid_hex)
{
    int n = unhex(aid_hex, e->elf, SIM_AID_MAX);
    e->elf_len = n > 0 ? (size_t)n : 0;
}

void sim_default_profile(sim_card_t *c)
{
    memset(c, 0, sizeof *c);
    static const char atr[] = "3BF81300008131FE454A434F5076323431B7";
    c->atr_len = (size_t)unhex(atr, c->atr, sizeof c->atr);
    c->scp = 2;
    c->i_param = 0x15;
    c->n_keysets = 1;
    c->keysets[0].kvn = 0x01;
    c->keysets[0].len = 16;
    for (int i = 0; i < 16; i++)
        c->keysets[0].enc[i] = c->keysets[0].mac[i] = c->keysets[0].dek[i] = (uint8_t)(0x40 + i);
    unhex("00001234567890ABCDEF", c->key_div, sizeof c->key_div);
    c->seq[0] = 0x00;
    c->seq[1] = 0x01;
    memcpy(c->keysets[0].seq, c->seq, 3);
    c->max_failed_auth = 3;
    /* CPLC: fabricator, type, OS id, dates, serial, batch, module fab... 42 bytes */
    unhex("4790 5167 4791 1210 0100 1234 5678 9ABC 4812 0000 0000 0000 0000 0000 0000 0000"
          "0000 0000 0000 0000 0000", c->cplc, sizeof c->cplc);
    c->iin_len = (size_t)unhex("0699999999", c->iin, sizeof c->iin);
    c->cin_len = (size_t)unhex("1122334455667788", c->cin, sizeof c->cin);
    c->max_response = 240;
    c->mem_free = 200 * 1024;
    add_entry(c, SIM_ISD, "A000000151000000", 0x0F, 0x9E);
    sim_entry_t *e = add_entry(c, SIM_ELF, "A0000000620001", 0x01, 0x00);
    add_module(e, "A0000000620001");
    e = add_entry(c, SIM_ELF, "F000000001", 0x01, 0x00);
    add_module(e, "F00000000101");
    add_module(e, "F00000000102");
    e = add_entry(c, SIM_APP, "F00000000101", 0x07, 0x00);
    set_elf(e, "F000000001");
    e = add_entry(c, SIM_APP, "F00000000102", 0x07, 0x00);
    set_elf(e, "F000000001");
    e = add_entry(c, SIM_ELF, "F000000002", 0x01, 0x00);
    add_module(e, "F00000000201");
    e = add_entry(c, SIM_APP, "F00000000201", 0x07, 0x00);
    set_elf(e, "F000000002");
    e = add_entry(c, SIM_ELF, "A0000001515350", 0x01, 0x00); /* the SSD's own load file */
    add_module(e, "A000000151535341");
    e = add_entry(c, SIM_SSD, "A000000151535344", 0x0F, 0x80);
    set_elf(e, "A0000001515350");
    sim_reset(c);
}

int sim_locked(const sim_card_t *c)
{
    return c->max_failed_auth > 0 && c->failed_auth >= c->max_failed_auth;
}

static void close_channel(sim_card_t *c)
{
    c->ch = SIM_CH_NONE;
    c->level = 0;
    memset(c->s_enc, 0, sizeof c->s_enc);
    memset(c->s_mac, 0, sizeof c->s_mac);
}

void sim_reset(sim_card_t *c)
{
    close_channel(c);
    c->isd_selected = 1; /* the ISD is the default selected application */
    c->selected = &c->entries[0];
    c->pending_len = 0;
    c->gs_next = -1;
    c->loading = 0; /* what was being loaded is gone */
    c->load_len = 0;
    c->perso = NULL;
}

/* --- profile file -------------------------------------------------------- */

static int parse_byte(const char *s, uint8_t *out)
{
    uint8_t b[1];
    if (unhex(s, b, 1) != 1)
        return -1;
    *out = b[0];
    return 0;
}

int sim_load_profile(sim_card_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open profile %s", path);
        return -1;
    }
    char line[1024];
    int lineno = 0, registry_reset = 0, keys_reset = 0, rc = 0, i_given = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        char key[32], *v = eq + 1;
        if (sscanf(line, "%31s", key) != 1)
            continue;
        v[strcspn(v, "\r\n")] = 0;
        char t[6][80];
        memset(t, 0, sizeof t);
        int nt = sscanf(v, "%79s %79s %79s %79s %79s %79s", t[0], t[1], t[2], t[3], t[4], t[5]);
        int bad = 0;
        if (strcmp(key, "i") == 0) {
            bad = nt != 1 || parse_byte(t[0], &c->i_param);
            i_given = 1;
        } else if (strcmp(key, "scp") == 0) { /* 01, 02 or 03 */
            bad = nt != 1 || parse_byte(t[0], &c->scp) || c->scp < 1 || c->scp > 3;
            if (!bad && c->scp == 3 && !i_given)
                c->i_param = 0x70;
            if (!bad && c->scp == 1 && !i_given)
                c->i_param = 0x05; /* GP 2.1.1's SCP01 option */
        } else if (strcmp(key, "keys") == 0) { /* kvn enc mac dek */
            if (!keys_reset) {
                c->n_keysets = 0;
                keys_reset = 1;
            }
            sim_keyset_t *k = &c->keysets[c->n_keysets];
            int n = nt == 4 ? unhex(t[1], k->enc, 32) : -1;
            bad = nt != 4 || c->n_keysets >= SIM_MAX_KEYSETS || parse_byte(t[0], &k->kvn) ||
                  (n != 16 && n != 24 && n != 32) || unhex(t[2], k->mac, 32) != n ||
                  unhex(t[3], k->dek, 32) != n;
            k->len = n > 0 ? (size_t)n : 16;
            if (!bad)
                c->n_keysets++;
        } else if (strcmp(key, "diversify") == 0) { /* keys = master keys, diversified */
            c->diversify = !strcmp(t[0], "emv") ? 1 : !strcmp(t[0], "visa2") ? 2
                           : !strcmp(t[0], "kdf3") ? 3 : -1;
            bad = c->diversify < 0;
        } else if (strcmp(key, "key_div") == 0) {
            bad = unhex(v, c->key_div, 10) != 10;
        } else if (strcmp(key, "seq") == 0) {
            int n = unhex(v, c->seq, 3);
            bad = n != 2 && n != 3;
        } else if (strcmp(key, "max_failed_auth") == 0) {
            c->max_failed_auth = atoi(v);
        } else if (strcmp(key, "failed_auth") == 0) { /* a card that starts with failures */
            c->failed_auth = atoi(v);
        } else if (strcmp(key, "status_refuse") == 0) { /* P1:P2=SW ..., P2 02 or 00 */
            for (int k = 0; k < nt && !bad; k++) {
                unsigned p1, p2, sw;
                if (c->n_status_refuse >= 8 || sscanf(t[k], "%2x:%2x=%4x", &p1, &p2, &sw) != 3 ||
                    (p2 != 0 && p2 != 2)) {
                    bad = 1;
                    break;
                }
                c->status_refuse[c->n_status_refuse].p1 = (uint8_t)p1;
                c->status_refuse[c->n_status_refuse].tlv = p2 == 2;
                c->status_refuse[c->n_status_refuse++].sw = (uint16_t)sw;
            }
        } else if (strcmp(key, "get_data_unauthenticated") == 0) { /* an SW: refused so */
            unsigned sw;
            bad = nt != 1 || sscanf(t[0], "%4x", &sw) != 1;
            c->get_data_unauth_sw = (uint16_t)sw;
        } else if (strcmp(key, "card_data") == 0) { /* no: GET DATA 66 answers 6A88 */
            bad = nt != 1 || (strcmp(t[0], "yes") && strcmp(t[0], "no"));
            c->no_card_data = !strcmp(t[0], "no");
        } else if (strcmp(key, "cplc") == 0) {
            bad = unhex(v, c->cplc, 42) != 42;
        } else if (strcmp(key, "iin") == 0 || strcmp(key, "cin") == 0) {
            int n = unhex(v, key[0] == 'i' ? c->iin : c->cin, 16);
            bad = n < 1;
            if (!bad)
                *(key[0] == 'i' ? &c->iin_len : &c->cin_len) = (size_t)n;
        } else if (strcmp(key, "protocol") == 0) {
            c->t0 = strcmp(t[0], "t0") == 0;
            bad = !c->t0 && strcmp(t[0], "t1") != 0;
        } else if (strcmp(key, "max_response") == 0) {
            c->max_response = (size_t)atoi(v);
            bad = c->max_response < 32 || c->max_response > 256;
        } else if (strcmp(key, "atr") == 0) {
            int n = unhex(v, c->atr, sizeof c->atr);
            bad = n < 2;
            if (!bad)
                c->atr_len = (size_t)n;
        } else if (!strcmp(key, "isd") || !strcmp(key, "app") || !strcmp(key, "ssd") ||
                   !strcmp(key, "elf")) {
            if (!registry_reset) {
                c->n_entries = 0;
                registry_reset = 1;
            }
            enum sim_kind kind = key[0] == 'i' ? SIM_ISD : key[0] == 'a' ? SIM_APP
                               : key[0] == 's' ? SIM_SSD : SIM_ELF;
            uint8_t lc = 0, pv = 0;
            bad = nt < 3 || parse_byte(t[1], &lc) || parse_byte(t[2], &pv) ||
                  (kind == SIM_ISD && c->n_entries != 0);
            sim_entry_t *e = bad ? NULL : add_entry(c, kind, t[0], lc, pv);
            bad = bad || !e;
            for (int i = 3; !bad && i < nt; i++) {
                if (kind == SIM_ELF)
                    add_module(e, t[i]);
                else
                    set_elf(e, t[i]);
            }
        } else {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
            rc = -1;
        }
        if (bad && rc == 0) {
            snprintf(err, errlen, "%s:%d: bad value for '%s'", path, lineno, key);
            rc = -1;
        }
    }
    fclose(f);
    for (int i = 0; i < c->n_keysets; i++) {
        memcpy(c->keysets[i].seq, c->seq, 3);
        if (rc == 0 && (c->scp != 3 ? c->keysets[i].len != 16 : 0)) {
            snprintf(err, errlen, "%s: an SCP01 or SCP02 card's keys are 16 bytes (DES2)", path);
            rc = -1;
        }
    }
    if (rc == 0 && c->diversify && (c->scp == 3) != (c->diversify == 3)) {
        snprintf(err, errlen, "%s: diversify emv and visa2 are for DES cards (SCP01, SCP02), kdf3 "
                 "for SCP03 cards", path);
        rc = -1;
    }
    if (rc == 0 && c->diversify)
        for (int i = 0; i < c->n_keysets; i++) {
            sim_keyset_t *k = &c->keysets[i];
            uint8_t *keys[3] = {k->enc, k->mac, k->dek};
            for (int r = 0; r < 3; r++) {
                if (c->diversify == 3) {
                    /* KDF3: CMAC(master, i || 00 00 00 r 00 || KDD) per 16 bytes */
                    uint8_t out[32];
                    for (int b = 0; b < (k->len > 16 ? 2 : 1); b++) {
                        uint8_t m[16] = {(uint8_t)(b + 1), 0, 0, 0, (uint8_t)(r + 1), 0};
                        memcpy(m + 6, c->key_div, 10);
                        sim_aes_cmac(keys[r], k->len, m, 16, out + 16 * b);
                    }
                    memcpy(keys[r], out, k->len);
                    continue;
                }
                uint8_t d[16];
                sim_diversification(c->diversify, c->key_div, r + 1, d);
                sim_des3(keys[r], NULL, d, 16, keys[r], 1); /* the card's key from the master */
            }
        }
    if (rc == 0 && (c->n_entries == 0 || c->entries[0].kind != SIM_ISD)) {
        snprintf(err, errlen, "%s: the registry must start with the isd", path);
        rc = -1;
    }
    sim_reset(c);
    return rc;
}

/* --- helpers --------------------------------------------------------------- */

typedef struct {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    int has_le;
    unsigned le;
} cmd_t;

/* SCP03, card side (below) */
static size_t scp03_initialize_update(sim_card_t *c, const cmd_t *cmd, uint8_t *r);
static size_t scp03_external_authenticate(sim_card_t *c, const cmd_t *cmd, uint8_t *r);
static uint16_t scp03_unwrap(sim_card_t *c, const cmd_t *cmd, uint8_t *plain, size_t *plen);
static size_t scp01_initialize_update(sim_card_t *c, const cmd_t *cmd, uint8_t *r);
static size_t scp01_external_authenticate(sim_card_t *c, const cmd_t *cmd, uint8_t *r);
static uint16_t scp01_unwrap(sim_card_t *c, const cmd_t *cmd, uint8_t *plain, size_t *plen);
static size_t scp03_protect(sim_card_t *c, uint8_t *r, size_t n);

static int parse_cmd(const uint8_t *b, size_t len, cmd_t *c)
{
    memset(c, 0, sizeof *c);
    if (len < 4)
        return -1;
    c->cla = b[0];
    c->ins = b[1];
    c->p1 = b[2];
    c->p2 = b[3];
    if (len == 4)
        return 0;
    if (len == 5) {
        c->has_le = 1;
        c->le = b[4] ? b[4] : 256;
        return 0;
    }
    c->lc = b[4];
    if (c->lc == 0 || (len != 5 + c->lc && len != 6 + c->lc))
        return -1;
    c->data = b + 5;
    if (len == 6 + c->lc) {
        c->has_le = 1;
        c->le = b[5 + c->lc] ? b[5 + c->lc] : 256;
    }
    return 0;
}

static sim_entry_t *find_entry(sim_card_t *c, const uint8_t *aid, size_t len)
{
    for (int i = 0; i < c->n_entries; i++) {
        sim_entry_t *e = &c->entries[i];
        if (!e->deleted && e->aid_len == len && memcmp(e->aid, aid, len) == 0)
            return e;
    }
    return NULL;
}

static size_t put_tlv(uint8_t *out, unsigned tag, const uint8_t *v, size_t len)
{
    size_t n = 0;
    if (tag > 0xFF)
        out[n++] = (uint8_t)(tag >> 8);
    out[n++] = (uint8_t)tag;
    if (len > 127)
        out[n++] = 0x81;
    out[n++] = (uint8_t)len;
    memcpy(out + n, v, len);
    return n + len;
}

/* --- SCP02 ----------------------------------------------------------------- */

/* EMV CPS 1.1 (1) and VISA2 (2) diversification data for key k (1..3). */
void sim_diversification(int method, const uint8_t kdd[10], int k, uint8_t d[16])
{
    uint8_t h[6];
    if (method == 2) {
        h[0] = kdd[0];
        h[1] = kdd[1];
        memcpy(h + 2, kdd + 4, 4);
    } else {
        memcpy(h, kdd + 4, 6);
    }
    memcpy(d, h, 6);
    d[6] = 0xF0;
    d[7] = (uint8_t)k;
    memcpy(d + 8, h, 6);
    d[14] = 0x0F;
    d[15] = (uint8_t)k;
}

/* The length of challenges, cryptograms and MACs: 16 in SCP03's S16 mode
 * (i bit 01), 8 otherwise. */
static size_t sim_s(const sim_card_t *c)
{
    return c->scp == 3 && (c->i_param & 0x01) ? 16 : 8;
}

/* The sequence counter of the key version in use (one per key version; a key
 * version that PUT KEY writes starts again from 0). */
static uint8_t *seq_of(sim_card_t *c)
{
    return c->keys ? ((sim_keyset_t *)c->keys)->seq : c->keysets[0].seq;
}

static void derive_keys(sim_card_t *c, const sim_keyset_t *k, const uint8_t seq[2])
{
    int one_key = !(c->i_param & 0x01);
    sim_session_key(k->enc, 0x0182, seq, c->s_enc);
    sim_session_key(one_key ? k->enc : k->mac, 0x0101, seq, c->s_mac);
    sim_session_key(one_key ? k->enc : k->mac, 0x0102, seq, c->s_rmac);
    sim_session_key(one_key ? k->enc : k->dek, 0x0181, seq, c->s_dek);
}

static void next_seq(sim_card_t *c)
{
    uint8_t *q = seq_of(c);
    unsigned s = (unsigned)(q[0] << 8 | q[1]) + 1;
    q[0] = (uint8_t)(s >> 8);
    q[1] = (uint8_t)s;
}

/* What INITIALIZE UPDATE checks first, in either protocol: the channel
 * closes, then class, lock, length and key version. Returns 0 with the key
 * set chosen and the host challenge kept, or the SW to answer. */
static uint16_t initialize_update_start(sim_card_t *c, const cmd_t *cmd)
{
    close_channel(c);
    if (cmd->cla != 0x80)
        return 0x6E00;
    if (sim_locked(c))
        return 0x6983;
    if (cmd->lc != sim_s(c)) /* an S16 card takes 16 bytes, every other 8 */
        return 0x6700;
    const sim_keyset_t *k = NULL;
    for (int i = 0; i < c->n_keysets && !k; i++)
        if (cmd->p1 == 0 || c->keysets[i].kvn == cmd->p1)
            k = &c->keysets[i];
    if (!k)
        return 0x6A88;
    c->keys = k;
    memcpy(c->host_chal, cmd->data, cmd->lc);
    return 0;
}

static size_t initialize_update(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (c->scp == 3)
        return scp03_initialize_update(c, cmd, r);
    if (c->scp == 1)
        return scp01_initialize_update(c, cmd, r);
    uint16_t refused = initialize_update_start(c, cmd);
    if (refused)
        return SW(r, 0, refused);
    const sim_keyset_t *k = c->keys;
    if (sim_random(c->card_chal, 6) != 0)
        return SW(r, 0, 0x6F00);
    if (!(c->i_param & 0x04))
        return SW(r, 0, 0x6985); /* this card opens its channel implicitly */
    derive_keys(c, k, k->seq);
    uint8_t in[16];
    memcpy(in, c->host_chal, 8);
    memcpy(in + 8, k->seq, 2);
    memcpy(in + 10, c->card_chal, 6);
    size_t n = 0;
    memcpy(r, c->key_div, 10);
    r[10] = k->kvn;
    r[11] = 0x02;
    memcpy(r + 12, k->seq, 2);
    memcpy(r + 14, c->card_chal, 6);
    sim_mac_3des(c->s_enc, in, 16, r + 20);
    if (c->fault_wrong_cryptogram) {
        r[27] ^= 0x5A;
        c->fault_wrong_cryptogram = 0;
    }
    n = 28;
    c->ch = SIM_CH_INIT;
    return SW(r, n, 0x9000);
}

/* C-MAC over the (modified or unmodified) header and the plain data. */
static void expected_cmac(const sim_card_t *c, uint8_t cla, const cmd_t *cmd, const uint8_t *plain,
                          size_t plen, const uint8_t icv[8], uint8_t mac[8])
{
    uint8_t buf[5 + 256];
    int unmodified = c->i_param & 0x02;
    buf[0] = unmodified ? (uint8_t)(cla & ~0x04) : cla;
    buf[1] = cmd->ins;
    buf[2] = cmd->p1;
    buf[3] = cmd->p2;
    buf[4] = (uint8_t)(unmodified ? plen : plen + 8);
    memcpy(buf + 5, plain, plen);
    sim_mac_retail(c->s_mac, icv, buf, 5 + plen, mac);
}

static int equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

static size_t external_authenticate(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (c->scp == 3)
        return scp03_external_authenticate(c, cmd, r);
    if (c->scp == 1)
        return scp01_external_authenticate(c, cmd, r);
    if (c->ch != SIM_CH_INIT) {
        close_channel(c);
        return SW(r, 0, 0x6985);
    }
    if (cmd->lc != 16)
        return SW(r, 0, 0x6700);
    uint8_t lvl = cmd->p1;
    int rmac_ok = (c->i_param & 0x20) != 0;
    if (!(lvl == 0x00 || lvl == 0x01 || lvl == 0x03 || (rmac_ok && (lvl == 0x11 || lvl == 0x13)))) {
        close_channel(c);
        return SW(r, 0, 0x6A86);
    }
    c->ext_auth_received++;
    uint8_t in[16], host[8], mac[8];
    static const uint8_t zero[8];
    memcpy(in, seq_of(c), 2);
    memcpy(in + 2, c->card_chal, 6);
    memcpy(in + 8, c->host_chal, 8);
    sim_mac_3des(c->s_enc, in, 16, host);
    expected_cmac(c, cmd->cla, cmd, cmd->data, 8, zero, mac);
    if (c->fault_refuse_auth) { /* a card that says no all the same */
        c->fault_refuse_auth = 0;
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6300);
    }
    if (cmd->cla != 0x84 || !equal(host, cmd->data, 8) || !equal(mac, cmd->data + 8, 8)) {
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6982);
    }
    c->failed_auth = 0;
    c->ext_auth_ok++;
    c->sessions++;
    c->ch = SIM_CH_OPEN;
    c->level = lvl;
    memcpy(c->last_mac, cmd->data + 8, 8);
    memcpy(c->rmac_icv, cmd->data + 8, 8); /* R-MAC chaining starts from this C-MAC */
    next_seq(c); /* the sequence counter moves on with every opened session */
    return SW(r, 0, 0x9000);
}

/* Checks and strips secure messaging; on success *plain/plen hold the
 * command data. Returns 0 or a status word. */
/* Implicit initiation: the first secured command opens the channel. */
static void implicit_open(sim_card_t *c)
{
    c->keys = &c->keysets[0];
    derive_keys(c, c->keys, seq_of(c));
    memset(c->last_mac, 0, 8);
    if (c->i_param & 0x08) { /* ICV: a MAC over the selected application's AID */
        static const uint8_t zero[8];
        const sim_entry_t *isd = &c->entries[0];
        sim_mac_retail(c->s_mac, zero, isd->aid, isd->aid_len, c->last_mac);
    }
    c->first_icv = 1;
    c->ch = SIM_CH_OPEN;
    c->level = 0x01;
    c->sessions++;
    next_seq(c);
}

static uint16_t unwrap(sim_card_t *c, const cmd_t *cmd, uint8_t *plain, size_t *plen)
{
    if (c->scp == 3)
        return scp03_unwrap(c, cmd, plain, plen);
    if (c->scp == 1)
        return scp01_unwrap(c, cmd, plain, plen);
    if (c->ch == SIM_CH_NONE && !(c->i_param & 0x04) && c->n_keysets)
        implicit_open(c);
    if (c->ch != SIM_CH_OPEN || c->level == 0)
        return 0x6982;
    if (cmd->lc < 8)
        return 0x6982;
    size_t dlen = cmd->lc - 8;
    const uint8_t *mac = cmd->data + dlen;
    memcpy(plain, cmd->data, dlen);
    *plen = dlen;
    if ((c->level & 0x02) && dlen) {
        static const uint8_t zero[8];
        if (dlen % 8 || sim_des3(c->s_enc, zero, cmd->data, dlen, plain, 0) != 0)
            return 0x6982;
        size_t n = dlen;
        while (n && plain[n - 1] == 0)
            n--;
        if (!n || plain[n - 1] != 0x80 || dlen - n >= 8)
            return 0x6982;
        *plen = n - 1;
    }
    uint8_t icv[8], want[8];
    memcpy(icv, c->last_mac, 8);
    if (c->first_icv)
        c->first_icv = 0;
    else if (c->i_param & 0x10)
        sim_des1(c->s_mac, icv, icv, 1);
    expected_cmac(c, cmd->cla, cmd, plain, *plen, icv, want);
    if (!equal(want, mac, 8)) {
        c->cmac_bad++;
        return 0x6982;
    }
    c->cmac_ok++;
    memcpy(c->last_mac, mac, 8);
    return 0;
}

/* --- SCP01 (GP 2.1.1 Appendix D), card side ------------------------------------ */

/* S-ENC and S-MAC: 3DES-ECB of cc[4..7] hc[0..3] cc[0..3] hc[4..7]. */
static void scp01_derive(sim_card_t *c, const sim_keyset_t *k)
{
    uint8_t d[16];
    memcpy(d, c->card_chal + 4, 4);
    memcpy(d + 4, c->host_chal, 4);
    memcpy(d + 8, c->card_chal, 4);
    memcpy(d + 12, c->host_chal + 4, 4);
    sim_des3(k->enc, NULL, d, 16, c->s_enc, 1);
    sim_des3(k->mac, NULL, d, 16, c->s_mac, 1);
}

static size_t scp01_initialize_update(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    uint16_t refused = initialize_update_start(c, cmd);
    if (refused)
        return SW(r, 0, refused);
    if (sim_random(c->card_chal, 8) != 0)
        return SW(r, 0, 0x6F00);
    scp01_derive(c, c->keys);
    uint8_t in[16];
    memcpy(in, c->host_chal, 8);
    memcpy(in + 8, c->card_chal, 8);
    memcpy(r, c->key_div, 10);
    r[10] = c->keys->kvn;
    r[11] = 0x01;
    memcpy(r + 12, c->card_chal, 8);
    sim_mac_3des(c->s_enc, in, 16, r + 20);
    if (c->fault_wrong_cryptogram) {
        r[27] ^= 0x5A;
        c->fault_wrong_cryptogram = 0;
    }
    c->ch = SIM_CH_INIT;
    return SW(r, 28, 0x9000);
}

/* The C-MAC: full 3DES CBC-MAC under S-MAC over the modified header (Lc of
 * the plain data + 8) and the plain data, chained on the previous C-MAC. */
static void scp01_cmac(const sim_card_t *c, const cmd_t *cmd, const uint8_t *plain, size_t plen,
                       const uint8_t icv[8], uint8_t mac[8])
{
    uint8_t buf[5 + 256];
    buf[0] = cmd->cla;
    buf[1] = cmd->ins;
    buf[2] = cmd->p1;
    buf[3] = cmd->p2;
    buf[4] = (uint8_t)(plen + 8);
    memcpy(buf + 5, plain, plen);
    sim_mac_3des_icv(c->s_mac, icv, buf, 5 + plen, mac);
}

static size_t scp01_external_authenticate(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (c->ch != SIM_CH_INIT) {
        close_channel(c);
        return SW(r, 0, 0x6985);
    }
    if (cmd->lc != 16)
        return SW(r, 0, 0x6700);
    uint8_t lvl = cmd->p1;
    if (lvl != 0x00 && lvl != 0x01 && lvl != 0x03) {
        close_channel(c);
        return SW(r, 0, 0x6A86);
    }
    c->ext_auth_received++;
    uint8_t in[16], host[8], mac[8];
    static const uint8_t zero[8];
    memcpy(in, c->card_chal, 8);
    memcpy(in + 8, c->host_chal, 8);
    sim_mac_3des(c->s_enc, in, 16, host);
    scp01_cmac(c, cmd, cmd->data, 8, zero, mac);
    if (c->fault_refuse_auth) {
        c->fault_refuse_auth = 0;
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6300);
    }
    if (cmd->cla != 0x84 || !equal(host, cmd->data, 8) || !equal(mac, cmd->data + 8, 8)) {
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6982);
    }
    c->failed_auth = 0;
    c->ext_auth_ok++;
    c->sessions++;
    c->ch = SIM_CH_OPEN;
    c->level = lvl;
    memcpy(c->last_mac, cmd->data + 8, 8);
    return SW(r, 0, 0x9000);
}

/* C-DEC: the data decrypts to its length byte, the data and, unless that
 * is whole blocks, padding 80 00..; the C-MAC is over the plain command. */
static uint16_t scp01_unwrap(sim_card_t *c, const cmd_t *cmd, uint8_t *plain, size_t *plen)
{
    if (c->ch != SIM_CH_OPEN || c->level == 0 || cmd->lc < 8)
        return 0x6982;
    size_t dlen = cmd->lc - 8;
    const uint8_t *mac = cmd->data + dlen;
    memcpy(plain, cmd->data, dlen);
    *plen = dlen;
    if ((c->level & 0x02) && dlen) {
        static const uint8_t zero[8];
        uint8_t d[256];
        if (dlen % 8 || sim_des3(c->s_enc, zero, cmd->data, dlen, d, 0) != 0)
            return 0x6982;
        size_t l = d[0];
        if (1 + l > dlen)
            return 0x6982;
        if ((1 + l) % 8) { /* padded: 80 then zeros, to the end */
            if ((1 + l + 7) / 8 * 8 != dlen || d[1 + l] != 0x80)
                return 0x6982;
            for (size_t i = 2 + l; i < dlen; i++)
                if (d[i])
                    return 0x6982;
        } else if (1 + l != dlen) {
            return 0x6982;
        }
        memcpy(plain, d + 1, l);
        *plen = l;
    }
    uint8_t want[8];
    scp01_cmac(c, cmd, plain, *plen, c->last_mac, want);
    if (!equal(want, mac, 8)) {
        c->cmac_bad++;
        return 0x6982;
    }
    c->cmac_ok++;
    memcpy(c->last_mac, mac, 8);
    return 0;
}

/* --- SCP03 (Amendment D), card side ------------------------------------------ */

/* 9000, 62xx and 63xx are protected; an error SW goes out alone. */
static int scp03_sw_protected(uint16_t sw)
{
    return sw == 0x9000 || (sw >> 8) == 0x62 || (sw >> 8) == 0x63;
}

static size_t scp03_initialize_update(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    uint16_t refused = initialize_update_start(c, cmd);
    if (refused)
        return SW(r, 0, refused);
    const sim_keyset_t *k = c->keys;
    uint8_t *seq = ((sim_keyset_t *)k)->seq;
    if (c->i_param & 0x10) {
        /* pseudo-random: the counter moves on, the challenge is the KDF of
         * the static ENC key over the counter and the ISD's AID */
        unsigned v = (unsigned)(seq[0] << 16 | seq[1] << 8 | seq[2]) + 1;
        seq[0] = (uint8_t)(v >> 16);
        seq[1] = (uint8_t)(v >> 8);
        seq[2] = (uint8_t)v;
        uint8_t ctx[3 + SIM_AID_MAX];
        memcpy(ctx, seq, 3);
        memcpy(ctx + 3, c->entries[0].aid, c->entries[0].aid_len);
        sim_scp03_kdf(k->enc, k->len, 0x02, (uint16_t)(sim_s(c) * 8), ctx,
                      3 + c->entries[0].aid_len, c->card_chal);
    } else if (sim_random(c->card_chal, sim_s(c)) != 0) {
        return SW(r, 0, 0x6F00);
    }
    size_t m = sim_s(c);
    uint8_t ctx[32];
    memcpy(ctx, c->host_chal, m);
    memcpy(ctx + m, c->card_chal, m);
    uint16_t l = (uint16_t)(k->len * 8);
    sim_scp03_kdf(k->enc, k->len, 0x04, l, ctx, 2 * m, c->s_enc);
    sim_scp03_kdf(k->mac, k->len, 0x06, l, ctx, 2 * m, c->s_mac);
    sim_scp03_kdf(k->mac, k->len, 0x07, l, ctx, 2 * m, c->s_rmac);
    size_t n = 0;
    memcpy(r, c->key_div, 10);
    r[10] = k->kvn;
    r[11] = 0x03;
    r[12] = c->i_param;
    memcpy(r + 13, c->card_chal, m);
    sim_scp03_kdf(c->s_mac, k->len, 0x00, (uint16_t)(m * 8), ctx, 2 * m, r + 13 + m);
    if (c->fault_wrong_cryptogram) {
        r[13 + 2 * m - 1] ^= 0x5A;
        c->fault_wrong_cryptogram = 0;
    }
    n = 13 + 2 * m;
    if (c->i_param & 0x10) {
        memcpy(r + n, seq, 3);
        n += 3;
    }
    c->ch = SIM_CH_INIT;
    return SW(r, n, 0x9000);
}

/* C-MAC of a secured command as received: chaining value || header || data
 * (the MAC's 8 bytes counted in Lc, not MACed). */
static void scp03_cmac(const sim_card_t *c, const cmd_t *cmd, uint8_t full[16])
{
    uint8_t buf[16 + 5 + 256];
    size_t dl = cmd->lc - sim_s(c);
    memcpy(buf, c->chain, 16);
    buf[16] = cmd->cla;
    buf[17] = cmd->ins;
    buf[18] = cmd->p1;
    buf[19] = cmd->p2;
    buf[20] = (uint8_t)cmd->lc;
    memcpy(buf + 21, cmd->data, dl);
    sim_aes_cmac(c->s_mac, c->keys->len, buf, 21 + dl, full);
}

static size_t scp03_external_authenticate(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (c->ch != SIM_CH_INIT) {
        close_channel(c);
        return SW(r, 0, 0x6985);
    }
    size_t m = sim_s(c);
    if (cmd->lc != 2 * m)
        return SW(r, 0, 0x6700);
    uint8_t lvl = cmd->p1;
    int rmac = (c->i_param & 0x20) != 0, renc = (c->i_param & 0x40) != 0;
    if (!(lvl == 0x01 || lvl == 0x03 || (rmac && (lvl == 0x11 || lvl == 0x13)) ||
          (renc && lvl == 0x33))) {
        close_channel(c);
        return SW(r, 0, 0x6A86);
    }
    c->ext_auth_received++;
    uint8_t ctx[32], host[16], full[16];
    memcpy(ctx, c->host_chal, m);
    memcpy(ctx + m, c->card_chal, m);
    sim_scp03_kdf(c->s_mac, c->keys->len, 0x01, (uint16_t)(m * 8), ctx, 2 * m, host);
    memset(c->chain, 0, 16);
    scp03_cmac(c, cmd, full);
    if (c->fault_refuse_auth) {
        c->fault_refuse_auth = 0;
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6300);
    }
    if (cmd->cla != 0x84 || !equal(host, cmd->data, m) || !equal(full, cmd->data + m, m)) {
        c->failed_auth++;
        close_channel(c);
        return SW(r, 0, 0x6982);
    }
    c->failed_auth = 0;
    c->ext_auth_ok++;
    c->sessions++;
    c->ch = SIM_CH_OPEN;
    c->level = lvl;
    memcpy(c->chain, full, 16);
    c->counter = 0;
    return SW(r, 0, 0x9000);
}

static void scp03_counter_block(uint32_t counter, uint8_t top, uint8_t b[16])
{
    memset(b, 0, 16);
    b[0] = top;
    b[12] = (uint8_t)(counter >> 24);
    b[13] = (uint8_t)(counter >> 16);
    b[14] = (uint8_t)(counter >> 8);
    b[15] = (uint8_t)counter;
}

static uint16_t scp03_unwrap(sim_card_t *c, const cmd_t *cmd, uint8_t *plain, size_t *plen)
{
    size_t m = sim_s(c);
    if (c->ch != SIM_CH_OPEN || c->level == 0 || cmd->lc < m)
        return 0x6982;
    uint8_t full[16];
    scp03_cmac(c, cmd, full);
    if (!equal(full, cmd->data + cmd->lc - m, m)) {
        c->cmac_bad++;
        return 0x6982;
    }
    c->cmac_ok++;
    memcpy(c->chain, full, 16);
    size_t dlen = cmd->lc - m;
    memcpy(plain, cmd->data, dlen);
    *plen = dlen;
    if (c->level & 0x02) {
        c->counter++; /* for every command, with or without data */
        if (dlen) {
            uint8_t icv[16];
            scp03_counter_block(c->counter, 0x00, icv);
            if (dlen % 16 || sim_aes(c->s_enc, c->keys->len, NULL, icv, 16, icv, 1) != 0 ||
                sim_aes(c->s_enc, c->keys->len, icv, cmd->data, dlen, plain, 0) != 0)
                return 0x6982;
            size_t n = dlen;
            while (n && plain[n - 1] == 0)
                n--;
            if (!n || plain[n - 1] != 0x80 || dlen - n >= 16)
                return 0x6982;
            *plen = n - 1;
        }
    }
    return 0;
}

/* R-ENC (level 33: the answer's data encrypted, ICV from 80 || counter) and
 * R-MAC over the chaining value, the data and the SW. */
static size_t scp03_protect(sim_card_t *c, uint8_t *r, size_t n)
{
    uint16_t sw = (uint16_t)(r[n - 2] << 8 | r[n - 1]);
    if (!scp03_sw_protected(sw))
        return SW(r, 0, sw); /* the SW alone */
    size_t dl = n - 2;
    if ((c->level & 0x20) && dl) {
        uint8_t icv[16];
        scp03_counter_block(c->counter, 0x80, icv);
        dl = sim_pad80_to(r, dl, r, 16);
        sim_aes(c->s_enc, c->keys->len, NULL, icv, 16, icv, 1);
        sim_aes(c->s_enc, c->keys->len, icv, r, dl, r, 1);
    }
    uint8_t buf[16 + 272 + 2], mac[16];
    memcpy(buf, c->chain, 16);
    memcpy(buf + 16, r, dl);
    buf[16 + dl] = (uint8_t)(sw >> 8);
    buf[17 + dl] = (uint8_t)sw;
    sim_aes_cmac(c->s_rmac, c->keys->len, buf, 18 + dl, mac);
    if (c->fault_bad_rmac) {
        mac[0] ^= 0x01;
        c->fault_bad_rmac = 0;
    }
    memcpy(r + dl, mac, sim_s(c));
    c->rmacs++;
    return SW(r, dl + sim_s(c), sw);
}

/* --- card content ------------------------------------------------------ */

static int kind_matches(const sim_entry_t *e, uint8_t p1)
{
    switch (p1) {
    case 0x80: return e->kind == SIM_ISD;
    case 0x40: return e->kind == SIM_APP || e->kind == SIM_SSD;
    case 0x20: case 0x10: return e->kind == SIM_ELF;
    default: return 0;
    }
}

static size_t encode_entry(const sim_card_t *c, const sim_entry_t *e, uint8_t p1, int tlv,
                           uint8_t *out)
{
    size_t n = 0;
    if (!tlv) {
        out[n++] = (uint8_t)e->aid_len;
        memcpy(out + n, e->aid, e->aid_len);
        n += e->aid_len;
        out[n++] = e->lifecycle;
        out[n++] = e->priv[0];
        if (p1 == 0x10) {
            out[n++] = (uint8_t)e->n_modules;
            for (int m = 0; m < e->n_modules; m++) {
                out[n++] = (uint8_t)e->module_len[m];
                memcpy(out + n, e->module[m], e->module_len[m]);
                n += e->module_len[m];
            }
        }
        return n;
    }
    uint8_t body[200];
    size_t b = put_tlv(body, 0x4F, e->aid, e->aid_len);
    b += put_tlv(body + b, 0x9F70, &e->lifecycle, 1);
    if (e->kind != SIM_ELF)
        b += put_tlv(body + b, 0xC5, e->priv, 3);
    if ((e->kind == SIM_APP || e->kind == SIM_SSD) && e->elf_len)
        b += put_tlv(body + b, 0xC4, e->elf, e->elf_len);
    if (e != &c->entries[0]) /* its associated security domain: the ISD (GP 2.2.1 11.4.2.2) */
        b += put_tlv(body + b, 0xCC, c->entries[0].aid, c->entries[0].aid_len);
    if (p1 == 0x10)
        for (int m = 0; m < e->n_modules; m++)
            b += put_tlv(body + b, 0x84, e->module[m], e->module_len[m]);
    return put_tlv(out, 0xE3, body, b);
}

static size_t get_status(sim_card_t *c, const cmd_t *cmd, const uint8_t *data, size_t dlen,
                         uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    uint8_t p1 = cmd->p1, p2 = cmd->p2;
    int tlv = (p2 & 0x02) != 0, next = (p2 & 0x01) != 0;
    if (!(p1 == 0x80 || p1 == 0x40 || p1 == 0x20 || p1 == 0x10) || (p2 & ~0x03))
        return SW(r, 0, 0x6A86);
    for (int k = 0; k < c->n_status_refuse; k++) /* a way this card does not know */
        if (c->status_refuse[k].p1 == p1 && c->status_refuse[k].tlv == tlv)
            return SW(r, 0, c->status_refuse[k].sw);
    if (dlen < 2 || data[0] != 0x4F || (size_t)data[1] + 2 > dlen)
        return SW(r, 0, 0x6A80);
    const uint8_t *prefix = data + 2;
    size_t plen = data[1];
    int start = 0;
    if (next) {
        if (c->gs_next < 0 || c->gs_p1 != p1 || (c->gs_p2 & 0x02) != (p2 & 0x02))
            return SW(r, 0, 0x6A86);
        start = c->gs_next;
    }
    c->gs_next = -1;
    size_t n = 0;
    int found = 0;
    for (int i = start; i < c->n_entries; i++) {
        const sim_entry_t *e = &c->entries[i];
        if (e->deleted || !kind_matches(e, p1) || e->aid_len < plen ||
            memcmp(e->aid, prefix, plen) != 0)
            continue;
        uint8_t one[256];
        size_t m = encode_entry(c, e, p1, tlv, one);
        /* R-ENC pads the answer to AES blocks and adds the R-MAC: keep it short */
        size_t cap = c->scp == 3 && (c->level & 0x20) && c->max_response > 231 ? 231
                                                                                : c->max_response;
        if (n + m > cap && n) { /* a page carries at least one entry, however long */
            c->gs_next = i;
            c->gs_p1 = p1;
            c->gs_p2 = p2;
            return SW(r, n, 0x6310);
        }
        memcpy(r + n, one, m);
        n += m;
        found++;
    }
    if (!found && !next)
        return SW(r, 0, 0x6A88);
    return SW(r, n, 0x9000);
}

static size_t get_data(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (c->get_data_unauth_sw && c->ch != SIM_CH_OPEN) /* only over a secure channel */
        return SW(r, 0, c->get_data_unauth_sw);
    unsigned tag = (unsigned)(cmd->p1 << 8 | cmd->p2);
    size_t n = 0;
    uint8_t body[200];
    size_t b = 0;
    switch (tag) {
    case 0x9F7F:
        n = put_tlv(r, 0x9F7F, c->cplc, 42);
        break;
    case 0x0042:
        n = put_tlv(r, 0x42, c->iin, c->iin_len);
        break;
    case 0x0045:
        n = put_tlv(r, 0x45, c->cin, c->cin_len);
        break;
    case 0x00C1: /* sequence counter of the default key version */
        n = put_tlv(r, 0xC1, c->keysets[0].seq, 2);
        break;
    case 0x0066: {
        if (c->no_card_data) /* a GP 2.0.1 card: no card recognition data */
            return SW(r, 0, 0x6A88);
        /* card recognition data: GP OID, version 2.1.1, card id, SCP02 + i */
        static const uint8_t gp_oid[] = {0x06, 0x07, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x01};
        static const uint8_t ver[] = {0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B,
                                      0x02, 0x02, 0x01, 0x01};
        static const uint8_t cid[] = {0x06, 0x07, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x03};
        uint8_t scp[] = {0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x04, c->scp, c->i_param};
        uint8_t inner[80];
        size_t k = 0;
        memcpy(inner, gp_oid, sizeof gp_oid);
        k = sizeof gp_oid;
        k += put_tlv(inner + k, 0x60, ver, sizeof ver);
        k += put_tlv(inner + k, 0x63, cid, sizeof cid);
        k += put_tlv(inner + k, 0x64, scp, sizeof scp);
        b = put_tlv(body, 0x73, inner, k);
        n = put_tlv(r, 0x66, body, b);
        break;
    }
    case 0x00E0:
        for (int i = 0; i < c->n_keysets; i++)
            for (uint8_t id = 1; id <= 3; id++) {
                uint8_t ki[4] = {id, c->keysets[i].kvn, c->scp == 3 ? 0x88 : 0x80,
                                 (uint8_t)c->keysets[i].len};
                b += put_tlv(body + b, 0xC0, ki, 4);
            }
        n = put_tlv(r, 0xE0, body, b);
        break;
    default:
        return SW(r, 0, 0x6A88);
    }
    if (c->t0 && cmd->has_le && cmd->le != 256 && cmd->le != n)
        return SW(r, 0, 0x6C00 | (n & 0xFF)); /* T=0: wrong Le, resend with this one */
    return SW(r, n, 0x9000);
}

static size_t delete_object(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen,
                            uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    if (dlen >= 3 && (d[0] == 0xD0 || d[0] == 0xD2)) {
        /* DELETE [key]: D0 key identifier, D2 key version number (GP 2.2
         * 11.2.2.3); this card keeps whole key versions, so D2 names one */
        int kvn = -1;
        for (size_t off = 0; off + 2 <= dlen && off + 2 + d[off + 1] <= dlen; off += 2 + d[off + 1])
            if (d[off] == 0xD2 && d[off + 1] == 1)
                kvn = d[off + 2];
        if (kvn < 0)
            return SW(r, 0, 0x6A80);
        for (int i = 0; i < c->n_keysets; i++) {
            if (c->keysets[i].kvn != kvn)
                continue;
            if (c->keys == &c->keysets[i])
                return SW(r, 0, 0x6985); /* the key version of this channel */
            int in_use = c->keys && c->keys > &c->keysets[i];
            memmove(&c->keysets[i], &c->keysets[i + 1],
                    sizeof c->keysets[0] * (size_t)(c->n_keysets - i - 1));
            c->n_keysets--;
            if (in_use)
                c->keys--;
            r[0] = 0x00;
            return SW(r, 1, 0x9000);
        }
        return SW(r, 0, 0x6A88);
    }
    if (dlen < 2 || d[0] != 0x4F || (size_t)d[1] + 2 > dlen || d[1] < 5)
        return SW(r, 0, 0x6A80);
    sim_entry_t *e = find_entry(c, d + 2, d[1]);
    if (!e)
        return SW(r, 0, 0x6A88);
    if (e->kind == SIM_ISD)
        return SW(r, 0, 0x6985);
    int related = (cmd->p2 & 0x80) != 0;
    if (e->kind == SIM_ELF) {
        for (int i = 0; i < c->n_entries; i++) {
            sim_entry_t *a = &c->entries[i];
            if (!a->deleted && a->kind != SIM_ELF && a->elf_len == e->aid_len &&
                memcmp(a->elf, e->aid, e->aid_len) == 0) {
                if (!related)
                    return SW(r, 0, 0x6985); /* an instance still depends on it */
                a->deleted = 1;
            }
        }
        c->mem_free += e->size; /* the load file's memory is free again */
    }
    e->deleted = 1;
    r[0] = 0x00;
    return SW(r, 1, 0x9000);
}

static size_t set_status(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen,
                         uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    sim_entry_t *isd = &c->entries[0];
    if (cmd->p1 == 0x80) {
        uint8_t to = cmd->p2, from = isd->lifecycle;
        int ok = (to == 0x7F && from != 0xFF) || (to == 0xFF) ||
                 (from == 0x7F && (to == 0x0F || to == 0x07)) ||
                 (to > from && (to == 0x07 || to == 0x0F) && from != 0x7F);
        if (!ok)
            return SW(r, 0, 0x6985);
        isd->lifecycle = to;
        return SW(r, 0, 0x9000);
    }
    if (cmd->p1 != 0x40)
        return SW(r, 0, 0x6A86);
    if (dlen < 5)
        return SW(r, 0, 0x6A80);
    sim_entry_t *e = find_entry(c, d, dlen);
    if (!e || e->kind == SIM_ISD || e->kind == SIM_ELF)
        return SW(r, 0, 0x6A88);
    if (cmd->p2 & 0x80)
        e->lifecycle |= 0x80;
    else
        e->lifecycle &= 0x7F;
    return SW(r, 0, 0x9000);
}

/* SCP03's PUT KEY of three AES keys: 88, length + 1, length, the key
 * encrypted under the static DEK (AES-CBC, zero IV), 03 and its KCV
 * (AES(key, 01 * 16)). */
static uint16_t scp03_new_keys(sim_card_t *c, const uint8_t *d, size_t dlen, sim_keyset_t *nk,
                               uint8_t kcv[3][3])
{
    uint8_t *dst[3] = {nk->enc, nk->mac, nk->dek};
    size_t o = 1;
    for (int k = 0; k < 3; k++) {
        if (o + 3 > dlen)
            return 0x6A80;
        if (d[o] != 0x88)
            return 0x9484; /* algorithm not supported */
        /* 88, the length of what follows up to the KCV (1 + the encrypted
         * key, whole AES blocks: an AES-192 key is padded to 32 bytes), the
         * key's own length, the encrypted key (GP 2.2 11.8.2.3, Amendment D) */
        size_t l = d[o + 2], cl = (size_t)d[o + 1] - 1;
        if ((l != 16 && l != 24 && l != 32) || d[o + 1] == 0 || cl != (l + 15) / 16 * 16 ||
            o + 3 + cl + 4 > dlen || d[o + 3 + cl] != 0x03 || (k && l != nk->len))
            return 0x6A80;
        uint8_t plain[32];
        if (sim_aes(c->keys->dek, c->keys->len, (const uint8_t[16]){0}, d + o + 3, cl, plain, 0) != 0)
            return 0x6A80;
        memcpy(dst[k], plain, l); /* the padding is ignored, as real cards do */
        nk->len = l;
        uint8_t b[16];
        memset(b, 0x01, 16);
        sim_aes(dst[k], l, NULL, b, 16, b, 1);
        if (memcmp(b, d + o + 4 + cl, 3) != 0)
            return 0x9485; /* wrong key check value */
        memcpy(kcv[k], b, 3);
        o += 3 + cl + 4;
    }
    return o == dlen ? 0 : 0x6A80;
}

/* PUT KEY of three keys (P2 81): DES under the session DEK (SCP02), AES
 * under the static DEK (SCP03). */
static size_t put_key(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen, uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    if (cmd->p2 != 0x81)
        return SW(r, 0, 0x6A86);
    sim_keyset_t nk;
    memset(&nk, 0, sizeof nk);
    uint8_t kcv[3][3];
    if (dlen < 1)
        return SW(r, 0, 0x6A80);
    nk.kvn = d[0];
    nk.len = 16;
    uint16_t bad = c->scp == 3 ? scp03_new_keys(c, d, dlen, &nk, kcv) : dlen != 1 + 3 * 22 ? 0x6A80 : 0;
    if (bad)
        return SW(r, 0, bad);
    uint8_t *dst[3] = {nk.enc, nk.mac, nk.dek};
    /* DES keys under the session DEK (SCP02) or the static DEK (SCP01) */
    const uint8_t *kek = c->scp == 1 ? c->keys->dek : c->s_dek;
    for (int k = 0; c->scp != 3 && k < 3; k++) {
        const uint8_t *b = d + 1 + 22 * k;
        if (b[0] != 0x80)
            return SW(r, 0, 0x9484); /* algorithm not supported */
        if (b[1] != 0x10 || b[18] != 0x03)
            return SW(r, 0, 0x6A80);
        sim_des3(kek, NULL, b + 2, 16, dst[k], 0);
        uint8_t z[8] = {0};
        sim_des3(dst[k], NULL, z, 8, z, 1);
        if (memcmp(z, b + 19, 3) != 0)
            return SW(r, 0, 0x9485); /* wrong key check value */
        memcpy(kcv[k], z, 3);
    }
    sim_keyset_t *slot = NULL;
    for (int i = 0; i < c->n_keysets; i++)
        if (c->keysets[i].kvn == (cmd->p1 ? cmd->p1 : nk.kvn))
            slot = &c->keysets[i];
    if (cmd->p1 && !slot)
        return SW(r, 0, 0x6A88); /* no key set to replace */
    if (!cmd->p1 && slot)
        return SW(r, 0, 0x6A80); /* that key version exists already */
    if (!slot) {
        if (c->n_keysets >= SIM_MAX_KEYSETS)
            return SW(r, 0, 0x6A84);
        slot = &c->keysets[c->n_keysets++];
    }
    /* the key set in use changes under the channel: keep its identity; a
     * key version written anew counts its sessions from 0 */
    int in_use = c->keys == slot;
    *slot = nk;
    if (in_use)
        c->keys = slot;
    c->keys_put++;
    r[0] = nk.kvn;
    for (int k = 0; k < 3; k++)
        memcpy(r + 1 + 3 * k, kcv[k], 3);
    return SW(r, 10, 0x9000);
}

/* --- applets: INSTALL, LOAD, STORE DATA ------------------------------------- */

/* A free registry slot: a new one, or the oldest deleted entry's. */
static sim_entry_t *new_entry(sim_card_t *c)
{
    sim_entry_t *e = NULL;
    if (c->n_entries < SIM_MAX_ENTRIES)
        e = &c->entries[c->n_entries++];
    for (int i = 1; !e && i < c->n_entries; i++)
        if (c->entries[i].deleted)
            e = &c->entries[i];
    if (e)
        memset(e, 0, sizeof *e);
    return e;
}

/* Reads the length-prefixed fields of an INSTALL command; -1 if they do
 * not add up to the data. */
static int install_fields(const uint8_t *d, size_t dlen, const uint8_t *f[], size_t fl[], int n)
{
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (o >= dlen || o + 1 + d[o] > dlen)
            return -1;
        fl[i] = d[o];
        f[i] = d + o + 1;
        o += 1 + d[o];
    }
    return o == dlen ? 0 : -1;
}

static void abort_load(sim_card_t *c)
{
    c->loading = 0;
    c->load_len = 0;
}

/* The card's own reading of a completed load file data block: C4 and its
 * length, then components, each tag and u2 size; the Header (magic DECAFFED,
 * package AID) must name the load file of INSTALL [for load]; the Applet
 * component gives the modules. Returns 0 or the status word. */
static uint16_t link_load_file(sim_card_t *c, sim_entry_t *out)
{
    const uint8_t *b = c->load_buf;
    size_t n = c->load_len, h, len;
    if (n < 2 || b[0] != 0xC4)
        return 0x6A80;
    if (b[1] < 0x80) {
        h = 2;
        len = b[1];
    } else if (b[1] >= 0x81 && b[1] <= 0x83 && n >= (size_t)(b[1] & 3) + 2) {
        h = 2 + (b[1] & 3);
        len = 0;
        for (size_t i = 2; i < h; i++)
            len = len << 8 | b[i];
    } else {
        return 0x6A80;
    }
    if (h + len != n)
        return 0x6A80;
    int seen_header = 0;
    for (size_t o = h; o < n;) {
        if (n - o < 3)
            return 0x6A80;
        uint8_t tag = b[o];
        size_t size = (size_t)b[o + 1] << 8 | b[o + 2];
        const uint8_t *v = b + o + 3;
        if (o + 3 + size > n || tag < 1 || tag > 11 || (o == h && tag != 1))
            return 0x6A80;
        if (tag == 1) { /* Header */
            if (size < 10 || memcmp(v, "\xDE\xCA\xFF\xED", 4) != 0 || (size_t)v[9] + 10 > size ||
                v[9] != c->load_elf_len || memcmp(v + 10, c->load_elf, v[9]) != 0)
                return 0x6A80;
            seen_header = 1;
        }
        if (tag == 3) { /* Applet: count, then AID length, AID, u2 offset */
            size_t p = 1;
            for (int k = 0; size >= 1 && k < v[0]; k++) {
                if (p >= size || p + 1 + v[p] + 2 > size || v[p] < 5 || v[p] > SIM_AID_MAX)
                    return 0x6A80;
                if (out->n_modules < SIM_MAX_MODULES) {
                    memcpy(out->module[out->n_modules], v + p + 1, v[p]);
                    out->module_len[out->n_modules++] = v[p];
                }
                p += 1 + v[p] + 2;
            }
        }
        o += 3 + size;
    }
    return seen_header ? 0 : 0x6A80;
}

static size_t install(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen, uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    const uint8_t *f[6];
    size_t fl[6];
    abort_load(c);  /* any INSTALL ends a LOAD under way */
    c->perso = NULL;
    if (cmd->p2 != 0x00)
        return SW(r, 0, 0x6A86);
    switch (cmd->p1) {
    case 0x02: { /* for load: load file, security domain, hash, parameters, token */
        if (install_fields(d, dlen, f, fl, 5) < 0 || fl[0] < 5 || fl[0] > SIM_AID_MAX)
            return SW(r, 0, 0x6A80);
        if (find_entry(c, f[0], fl[0]))
            return SW(r, 0, 0x6985); /* a load file with this AID is on the card */
        if (fl[1]) {
            const sim_entry_t *sd = find_entry(c, f[1], fl[1]);
            if (!sd || (sd->kind != SIM_ISD && sd->kind != SIM_SSD))
                return SW(r, 0, 0x6A88);
        }
        if (fl[2] > sizeof c->load_hash)
            return SW(r, 0, 0x6A80);
        memcpy(c->load_elf, f[0], fl[0]);
        c->load_elf_len = fl[0];
        memcpy(c->load_hash, f[2], fl[2]);
        c->load_hash_len = fl[2];
        c->loading = 1;
        c->load_next = 0;
        c->load_len = 0;
        break;
    }
    case 0x04: case 0x0C: { /* for install (and make selectable) */
        if (install_fields(d, dlen, f, fl, 6) < 0)
            return SW(r, 0, 0x6A80);
        if ((fl[3] != 1 && fl[3] != 3) || fl[4] < 2 || f[4][0] != 0xC9 ||
            (size_t)f[4][1] + 2 > fl[4] || fl[2] < 5 || fl[2] > SIM_AID_MAX)
            return SW(r, 0, 0x6A80);
        const sim_entry_t *elf = find_entry(c, f[0], fl[0]);
        if (!elf || elf->kind != SIM_ELF)
            return SW(r, 0, 0x6A88);
        int m = 0;
        while (m < elf->n_modules &&
               (elf->module_len[m] != fl[1] || memcmp(elf->module[m], f[1], fl[1]) != 0))
            m++;
        if (m == elf->n_modules)
            return SW(r, 0, 0x6A88); /* no such module in the load file */
        if (find_entry(c, f[2], fl[2]))
            return SW(r, 0, 0x6985); /* the instance AID is in use */
        sim_entry_t *e = new_entry(c);
        if (!e)
            return SW(r, 0, 0x6A84);
        e->kind = SIM_APP;
        memcpy(e->aid, f[2], fl[2]);
        e->aid_len = fl[2];
        e->lifecycle = cmd->p1 == 0x0C ? 0x07 : 0x03;
        memcpy(e->priv, f[3], fl[3]);
        memcpy(e->elf, elf->aid, elf->aid_len);
        e->elf_len = elf->aid_len;
        c->installs++;
        break;
    }
    case 0x08: { /* for make selectable */
        if (install_fields(d, dlen, f, fl, 6) < 0 || fl[0] || fl[1])
            return SW(r, 0, 0x6A80);
        sim_entry_t *e = find_entry(c, f[2], fl[2]);
        if (!e || e->kind != SIM_APP)
            return SW(r, 0, 0x6A88);
        if (e->lifecycle != 0x03)
            return SW(r, 0, 0x6985); /* only an installed application */
        e->lifecycle = 0x07;
        if (fl[3] == 1 || fl[3] == 3)
            memcpy(e->priv, f[3], fl[3]);
        break;
    }
    case 0x20: { /* for personalization */
        if (install_fields(d, dlen, f, fl, 6) < 0 || fl[0] || fl[1])
            return SW(r, 0, 0x6A80);
        const sim_entry_t *e = find_entry(c, f[2], fl[2]);
        if (!e || e->kind != SIM_APP)
            return SW(r, 0, 0x6A88);
        if ((e->lifecycle & 0x07) != 0x07 || (e->lifecycle & 0x80))
            return SW(r, 0, 0x6985); /* not selectable, or locked */
        c->perso = e;
        c->store_next = 0;
        c->store_len = 0;
        break;
    }
    default:
        return SW(r, 0, 0x6A86);
    }
    r[0] = 0x00;
    return SW(r, 1, 0x9000);
}

static size_t load(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen, uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    if (!c->loading)
        return SW(r, 0, 0x6985);
    if (cmd->p2 != (uint8_t)c->load_next || (cmd->p1 & 0x7F)) {
        abort_load(c); /* a block out of sequence ends the load */
        return SW(r, 0, cmd->p1 & 0x7F ? 0x6A86 : 0x6985);
    }
    if (c->load_len + dlen > c->mem_free || c->load_len + dlen > sizeof c->load_buf) {
        abort_load(c);
        return SW(r, 0, 0x6A84);
    }
    memcpy(c->load_buf + c->load_len, d, dlen);
    c->load_len += dlen;
    c->load_next++;
    c->load_blocks++;
    if (cmd->p1 & 0x80) { /* the last block: link it */
        sim_entry_t tmp;
        memset(&tmp, 0, sizeof tmp);
        uint16_t sw = link_load_file(c, &tmp);
        if (!sw && c->load_hash_len) {
            uint8_t md[20];
            sim_sha1(c->load_buf, c->load_len, md);
            if (c->load_hash_len != 20 || memcmp(md, c->load_hash, 20) != 0)
                sw = 0x6A80;
        }
        sim_entry_t *e = sw ? NULL : new_entry(c);
        if (!sw && !e)
            sw = 0x6A84;
        if (sw) {
            abort_load(c);
            return SW(r, 0, sw);
        }
        *e = tmp;
        e->kind = SIM_ELF;
        memcpy(e->aid, c->load_elf, c->load_elf_len);
        e->aid_len = c->load_elf_len;
        e->lifecycle = 0x01;
        e->size = c->load_len;
        c->mem_free -= c->load_len;
        c->loads++;
        abort_load(c);
    }
    r[0] = 0x00;
    return SW(r, 1, 0x9000);
}

static size_t store_data(sim_card_t *c, const cmd_t *cmd, const uint8_t *d, size_t dlen, uint8_t *r)
{
    if (c->ch != SIM_CH_OPEN)
        return SW(r, 0, 0x6982);
    if (!c->perso && cmd->p2 == 0 && !c->store_isd) {
        /* no INSTALL [for personalization]: the data goes to the selected
         * security domain itself (GP 2.2.1 11.11.2.1) */
        c->store_isd = 1;
        c->store_next = 0;
    }
    if (!c->perso && !c->store_isd)
        return SW(r, 0, 0x6985);
    if (cmd->p2 != (uint8_t)c->store_next) {
        c->store_isd = 0;
        c->perso = NULL;
        return SW(r, 0, 0x6A86);
    }
    if (c->store_len + dlen > sizeof c->store)
        return SW(r, 0, 0x6A84);
    memcpy(c->store + c->store_len, d, dlen);
    c->store_len += dlen;
    c->store_next++;
    c->store_p1 = cmd->p1;
    c->store_blocks++;
    c->store_to_isd = c->store_isd;
    if (cmd->p1 & 0x80) {
        c->perso = NULL;
        c->store_isd = 0;
    }
    return SW(r, 0, 0x9000);
}

static size_t select_aid(sim_card_t *c, const cmd_t *cmd, uint8_t *r)
{
    if (cmd->p1 != 0x04)
        return SW(r, 0, 0x6A86);
    close_channel(c);
    sim_entry_t *isd = &c->entries[0];
    if (isd->lifecycle == 0xFF)
        return SW(r, 0, 0x6A81);
    const sim_entry_t *e = cmd->lc ? find_entry(c, cmd->data, cmd->lc) : isd;
    /* a locked application cannot be selected, and a locked card lets only
     * its issuer security domain be selected (GP 2.2 5.3.1, 9.1.1) */
    if (e && e != isd && ((e->lifecycle & 0x80) || isd->lifecycle == 0x7F))
        e = NULL;
    if (!e || e->kind == SIM_ELF) {
        c->isd_selected = 0;
        return SW(r, 0, 0x6A82);
    }
    c->isd_selected = e == isd;
    c->selected = e;
    uint8_t fci[64], body[48];
    size_t b = 0;
    static const uint8_t pdata[] = {0x9F, 0x65, 0x01, 0xFF}; /* max command length */
    memcpy(body, pdata, sizeof pdata);
    b = sizeof pdata;
    uint8_t a5[48];
    size_t k = put_tlv(a5, 0x84, e->aid, e->aid_len);
    k += put_tlv(a5 + k, 0xA5, body, b);
    size_t n = put_tlv(fci, 0x6F, a5, k);
    if ((cmd->p2 & 0x0C) == 0x0C)
        n = 0; /* P2 0C: no response data */
    memcpy(r, fci, n);
    if (e == isd && isd->lifecycle == 0x7F)
        return SW(r, n, 0x6283);
    return SW(r, n, 0x9000);
}

/* R-MAC: over the plain command (CLA without SM and channel bits, Lc and
 * data) and the answer (Li, data, SW), ICV the previous R-MAC; it goes
 * between the data and the status word. */
static size_t add_rmac(sim_card_t *c, const cmd_t *cmd, const uint8_t *plain, size_t plen,
                       uint8_t *r, size_t n)
{
    uint8_t buf[600];
    size_t k = 0, dl = n - 2;
    buf[k++] = cmd->cla & (uint8_t)~0x07;
    buf[k++] = cmd->ins;
    buf[k++] = cmd->p1;
    buf[k++] = cmd->p2;
    buf[k++] = (uint8_t)plen;
    memcpy(buf + k, plain, plen);
    k += plen;
    buf[k++] = (uint8_t)dl;
    memcpy(buf + k, r, dl);
    k += dl;
    buf[k++] = r[n - 2];
    buf[k++] = r[n - 1];
    uint8_t mac[8];
    sim_mac_retail(c->s_rmac, c->rmac_icv, buf, k, mac);
    memcpy(c->rmac_icv, mac, 8);
    if (c->fault_bad_rmac) {
        mac[0] ^= 0x01;
        c->fault_bad_rmac = 0;
    }
    uint8_t sw1 = r[n - 2], sw2 = r[n - 1];
    memcpy(r + dl, mac, 8);
    r[dl + 8] = sw1;
    r[dl + 9] = sw2;
    c->rmacs++;
    return n + 8;
}

/* T=0: data goes out through GET RESPONSE. */
static size_t t0_answer(sim_card_t *c, uint8_t *r, size_t n)
{
    if (!c->t0 || n <= 2)
        return n;
    uint16_t sw = (uint16_t)(r[n - 2] << 8 | r[n - 1]);
    if (sw != 0x9000)
        return n;
    c->pending_len = n - 2;
    memcpy(c->pending, r, n - 2);
    size_t len = c->pending_len;
    return SW(r, 0, 0x6100 | (len >= 256 ? 0 : len));
}

size_t sim_process(sim_card_t *c, const uint8_t *raw, size_t len, uint8_t *r)
{
    cmd_t cmd;
    c->apdus++;
    if (parse_cmd(raw, len, &cmd) != 0)
        return SW(r, 0, 0x6700);
    /* GET RESPONSE, with any class byte of the basic channel but secure
     * messaging's: real cards take the command's (GlobalPlatformPro sends 80) */
    if ((cmd.cla == 0x00 || cmd.cla == 0x80) && cmd.ins == 0xC0) {
        if (!c->pending_len)
            return SW(r, 0, 0x6985);
        size_t want = cmd.has_le ? cmd.le : 256;
        size_t give = want < c->pending_len ? want : c->pending_len;
        memcpy(r, c->pending, give);
        memmove(c->pending, c->pending + give, c->pending_len - give);
        c->pending_len -= give;
        if (c->pending_len)
            return SW(r, give, 0x6100 | (c->pending_len >= 256 ? 0 : c->pending_len));
        return SW(r, give, 0x9000);
    }
    c->pending_len = 0;
    uint8_t base = cmd.cla & (uint8_t)~0x03; /* logical channel bits aside */
    if (base != 0x00 && base != 0x80 && base != 0x84)
        return SW(r, 0, 0x6E00);
    if (cmd.ins == 0xA4) {
        if (base != 0x00)
            return SW(r, 0, 0x6E00);
        return t0_answer(c, r, select_aid(c, &cmd, r));
    }
    if (!c->isd_selected) {
        /* the selected application: a careless applet that answers GET DATA
         * with data of its own whatever the class byte says, and knows no
         * other command. A host that does not hold the card while its
         * channel is open can take this for the security domain's answer. */
        if (cmd.ins == 0xCA && c->selected) {
            size_t n = 0;
            r[n++] = cmd.p1;
            r[n++] = cmd.p2;
            r[n++] = (uint8_t)(c->selected->aid_len + 4);
            memcpy(r + n, c->selected->aid, c->selected->aid_len);
            n += c->selected->aid_len;
            memset(r + n, 0xA5, 4);
            n += 4;
            return t0_answer(c, r, SW(r, n, 0x9000));
        }
        return SW(r, 0, 0x6D00);
    }
    if (cmd.ins == 0x50)
        return t0_answer(c, r, initialize_update(c, &cmd, r));
    if (cmd.ins == 0x82)
        return external_authenticate(c, &cmd, r);
    if (c->entries[0].lifecycle == 0xFF && cmd.ins != 0xCA)
        return SW(r, 0, 0x6A81); /* terminated card */

    uint8_t plain[256];
    size_t plen = cmd.lc;
    int secured = 0;
    if (cmd.lc)
        memcpy(plain, cmd.data, cmd.lc);
    if (cmd.cla & 0x04) {
        uint16_t sw = unwrap(c, &cmd, plain, &plen);
        if (sw) {
            close_channel(c);
            return SW(r, 0, sw);
        }
        secured = 1;
    } else if (cmd.cla == 0x80 && c->ch == SIM_CH_OPEN && c->level != 0) {
        /* the channel demands secure messaging: a plain command ends it */
        close_channel(c);
        return SW(r, 0, 0x6982);
    }
    size_t n;
    switch (cmd.ins) {
    case 0xF2: n = get_status(c, &cmd, plain, plen, r); break;
    case 0xCA: n = get_data(c, &cmd, r); break;
    case 0xE4: n = delete_object(c, &cmd, plain, plen, r); break;
    case 0xF0: n = set_status(c, &cmd, plain, plen, r); break;
    case 0xD8: n = put_key(c, &cmd, plain, plen, r); break;
    case 0xE6: n = install(c, &cmd, plain, plen, r); break;
    case 0xE8: n = load(c, &cmd, plain, plen, r); break;
    case 0xE2: n = store_data(c, &cmd, plain, plen, r); break;
    default: n = SW(r, 0, 0x6D00); break;
    }
    /* a LOAD or a personalisation goes on only with its own commands */
    if (cmd.ins != 0xE8 && cmd.ins != 0xE6)
        abort_load(c);
    if (cmd.ins != 0xE2 && cmd.ins != 0xE6)
        c->perso = NULL;
    if (cmd.ins != 0xE2)
        c->store_isd = 0;
    if (secured && c->ch == SIM_CH_OPEN && (c->level & 0x10))
        n = c->scp == 3 ? scp03_protect(c, r, n) : add_rmac(c, &cmd, plain, plen, r, n);
    return t0_answer(c, r, n);
}
