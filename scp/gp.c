/* GlobalPlatform commands: see gp.h. */
#include "config.h"
#include "gp.h"
#include "carddata.h"
#include "tlv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

scp_err_t gp_fail(gp_card_t *g, scp_err_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    return e;
}

void gp_card_init(gp_card_t *g, gp_transport_t t)
{
    memset(g, 0, sizeof *g);
    g->t = t;
}

const char *gp_error(const gp_card_t *g) { return g->err; }
int gp_channel_open(const gp_card_t *g) { return g->ops && g->ops->is_open(g); }

void gp_channel_info(const gp_card_t *g, gp_channel_info_t *out)
{
    memset(out, 0, sizeof *out);
    if (g->ops)
        g->ops->info(g, out);
}

uint8_t gp_channel_level(const gp_card_t *g)
{
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.level;
}
uint8_t gp_channel_kvn(const gp_card_t *g)
{
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.kvn;
}
const uint8_t *gp_channel_kdd(const gp_card_t *g)
{
    static const uint8_t none[10];
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.kdd ? i.kdd : none;
}
uint8_t gp_channel_scp(const gp_card_t *g) { return g->ops ? g->ops->scp : 2; }
uint8_t gp_channel_i(const gp_card_t *g)
{
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.i;
}
ks_keyset_t gp_channel_keys(const gp_card_t *g)
{
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.keys;
}
unsigned long gp_channel_ks_calls(const gp_card_t *g)
{
    gp_channel_info_t i;
    gp_channel_info(g, &i);
    return i.ks_calls;
}

int gp_level_allowed(uint8_t scp, uint8_t level, char *why, size_t why_len)
{
    const gp_channel_ops_t *ops = gp_channel_ops(scp);
    if (!ops) {
        snprintf(why, why_len, "gp-p11 speaks SCP01, SCP02 and SCP03, not SCP%02X", scp);
        return 0;
    }
    return ops->level_ok(level, why, why_len);
}

static const char *channel_error(const gp_card_t *g) { return g->ops ? g->ops->error(g) : ""; }

scp_err_t gp_encrypt_key(gp_card_t *g, const uint8_t *in, size_t len, CK_OBJECT_HANDLE key,
                         uint8_t *out, size_t *out_len)
{
    if (!gp_channel_open(g))
        return gp_fail(g, SCP_E_STATE, "no open secure channel");
    scp_err_t e = g->ops->encrypt_key(g, in, len, key, out, out_len);
    return e == SCP_OK || e == SCP_E_ARGS ? e : gp_fail(g, e, "%s", channel_error(g));
}

int gp_secret_ins(uint8_t ins)
{
    switch (ins) {
    case 0xD8: /* PUT KEY */
    case 0xE2: /* STORE DATA */
    case 0x82: /* EXTERNAL AUTHENTICATE */
    case 0x50: /* INITIALIZE UPDATE (host challenge) */
    case 0x20: /* VERIFY */
    case 0x21:
    case 0x24: /* CHANGE REFERENCE DATA */
    case 0x2C: /* RESET RETRY COUNTER */
    case 0x2A: /* PERFORM SECURITY OPERATION */
    case 0x86: /* GENERAL AUTHENTICATE */
    case 0x87:
    case 0x88: /* INTERNAL AUTHENTICATE */
        return 1;
    default:
        return 0;
    }
}

/* One exchange on the wire, then GET RESPONSE while the card says 61xx. */
static scp_err_t exchange(gp_card_t *g, const apdu_t *plain, const apdu_t *wire, int secured,
                          uint8_t *rsp, size_t cap, size_t *rlen, uint16_t *sw)
{
    uint8_t cmd[APDU_MAX_CMD], r[APDU_MAX_RSP];
    size_t n = apdu_encode(wire, cmd, sizeof cmd);
    if (!n)
        return gp_fail(g, SCP_E_ARGS, "command cannot be encoded");
    size_t got = 0;
    /* the answer's data, and GET RESPONSE's after it, hidden as the command's */
    int hide_rsp = plain && gp_secret_ins(plain->ins) ? GP_TRACE_RSP_SECRET : 0;
    if (secured && g->trace) {
        gp_channel_info_t ci;
        gp_channel_info(g, &ci);
        if (ci.renc)
            hide_rsp |= GP_TRACE_RSP_ENCRYPTED;
    }
    for (int round = 0; round < 64; round++) {
        size_t rl = sizeof r;
        g->sent = 1;
        scp_err_t e = g->t.transmit(g->t.ctx, cmd, n, r, &rl, g->err, sizeof g->err);
        if (e != SCP_OK)
            return e;
        if (g->trace) {
            int how = secured ? GP_TRACE_SECURED : 0;
            gp_channel_info_t ci;
            gp_channel_info(g, &ci);
            if (secured && plain && plain->lc && ci.cdec)
                how |= GP_TRACE_ENCRYPTED;
            how |= hide_rsp;
            g->trace(g->trace_ctx, round ? NULL : plain, cmd, n, r, rl, how);
        }
        size_t dl;
        if (rapdu_split(r, rl, &dl, sw) != 0)
            return gp_fail(g, SCP_E_RSP_SHORT, "the card answered %zu byte%s, no status word%s", rl,
                           rl == 1 ? "" : "s", round ? " to GET RESPONSE" : "");
        if (got + dl > cap)
            return gp_fail(g, SCP_E_RSP_LONG, "the card answered more data (%zu bytes) than expected "
                                           "(%zu)", got + dl, cap);
        memcpy(rsp + got, r, dl);
        got += dl;
        if (round == 0)
            g->cmd_sw = *sw;
        else
            g->via_get_response = 1;
        if ((*sw >> 8) != 0x61)
            break;
        /* T=0: more data waits; GET RESPONSE is never secured */
        cmd[0] = 0x00;
        cmd[1] = 0xC0;
        cmd[2] = 0x00;
        cmd[3] = 0x00;
        cmd[4] = (uint8_t)*sw;
        n = 5;
        secured = 0;
        plain = NULL;
    }
    *rlen = got;
    return SCP_OK;
}

int gp_sw_refused(uint16_t sw)
{
    switch (sw >> 8) {
    case 0x64:                                     /* execution error, memory unchanged */
    case 0x67: case 0x68: case 0x69: case 0x6A: case 0x6B: /* checking errors */
    case 0x6D: case 0x6E:                          /* INS or CLA not supported */
    case 0x94:                                     /* GlobalPlatform: key refused */
        return 1;
    default:
        return 0;
    }
}

int gp_not_executed(const gp_card_t *g, scp_err_t e)
{
    if (e == SCP_OK)
        return 0;
    return !g->sent || (e == SCP_E_RSP_SW && g->not_executed);
}

int gp_outcome_unknown(const gp_card_t *g, scp_err_t e)
{
    return e != SCP_OK && !gp_not_executed(g, e);
}

/* Is the status word of an answer authenticated? At the R-MAC levels only
 * one whose R-MAC verified is: SCP03 sends error status words alone, and a
 * card that closed its SCP02 session answers 6982 without one. Below them
 * nothing is, and the card's word is taken (the card is held: README,
 * "Sharing a reader"). */
static int sw_authenticated(int rmac_level, int rmac_checked)
{
    return !rmac_level || rmac_checked;
}

scp_err_t gp_send(gp_card_t *g, const apdu_t *plain, uint8_t *rsp, size_t cap, size_t *rlen,
                  uint16_t *sw)
{
    apdu_t p = *plain, wire;
    g->sent = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        g->not_executed = 0;
        g->sw_trusted = 0;
        g->via_get_response = 0;
        g->cmd_sw = 0;
        int secured = gp_channel_open(g);
        if (secured) {
            scp_err_t e = g->ops->wrap(g, &p, &wire);
            if (e != SCP_OK)
                return gp_fail(g, e, "%s", channel_error(g));
        } else {
            wire = p;
        }
        gp_channel_info_t ci;
        gp_channel_info(g, &ci);
        int rmac_level = secured && ci.rmac;
        scp_err_t e = exchange(g, &p, &wire, secured, rsp, cap, rlen, sw);
        if (e != SCP_OK) {
            /* no usable answer to a secured command: whether the card executed
             * it, and where its R-MAC chain stands, is unknown. The channel is
             * closed cleanly rather than left out of step. */
            if (secured && e != SCP_E_REMOVED && e != SCP_E_TRANSPORT) {
                size_t n = strlen(g->err);
                snprintf(g->err + n, sizeof g->err - n, "; whether the card executed the "
                         "command is unknown, and the secure channel is closed");
            }
            gp_close_channel(g);
            return e;
        }
        int rmac_checked = 0;
        /* an SCP02 card answers 6982 without R-MAC once it has closed its
         * side; SCP03 leaves every error SW unprotected */
        if (rmac_level && g->ops->answer_has_rmac(*sw, *rlen)) {
            /* R-MAC: data || R-MAC || SW, checked before anything is returned */
            uint8_t full[APDU_MAX_RSP + 2];
            size_t fl;
            if (*rlen + 2 > sizeof full) {
                gp_close_channel(g);
                return gp_fail(g, SCP_E_RSP_LONG, "answer too long; the secure channel is closed");
            }
            memcpy(full, rsp, *rlen);
            full[*rlen] = (uint8_t)(*sw >> 8);
            full[*rlen + 1] = (uint8_t)*sw;
            e = g->ops->unwrap(g, full, *rlen + 2, full, &fl);
            if (e != SCP_OK) {
                *rlen = 0;
                ks_wipe(rsp, cap);
                gp_fail(g, e, "%s; whether the card executed the command is unknown, and the "
                        "secure channel is closed", channel_error(g));
                gp_close_channel(g);
                return e;
            }
            *rlen = fl - 2;
            memcpy(rsp, full, *rlen);
            rmac_checked = 1;
        } else if (rmac_level && *rlen) {
            /* an error answer that carries data: none of it is authenticated */
            ks_wipe(rsp, cap);
            *rlen = 0;
        }
        g->sw = *sw;
        g->sw_trusted = sw_authenticated(rmac_level, rmac_checked);
        g->not_executed = g->sw_trusted && !g->via_get_response && gp_sw_refused(*sw);
        if ((*sw >> 8) == 0x6C && attempt == 0 && !g->via_get_response && p.lc == 0) {
            /* wrong Le to a command without data: the card tells the right
             * one; a secured command is wrapped again (new C-MAC) with it */
            p.has_le = 1;
            p.le = (*sw & 0xFF) ? (*sw & 0xFF) : 256;
            continue;
        }
        if (secured && *sw == 0x6982)
            gp_close_channel(g); /* the card closed its side */
        return SCP_OK;
    }
    return SCP_OK;
}

scp_err_t gp_command(gp_card_t *g, const char *what, enum sw_context ctx, const apdu_t *plain,
                     uint8_t *rsp, size_t cap, size_t *rlen)
{
    uint16_t sw;
    uint8_t dummy[APDU_MAX_RSP];
    size_t dl;
    if (!rsp) {
        rsp = dummy;
        cap = sizeof dummy;
        rlen = &dl;
    }
    scp_err_t e = gp_send(g, plain, rsp, cap, rlen, &sw);
    if (e != SCP_OK)
        return e;
    if (sw != 0x9000) {
        char d[240];
        if (g->via_get_response)
            return gp_fail(g, SCP_E_RSP_SW, "%s: the card ran it (%04X: its answer waits) but "
                           "answered GET RESPONSE with %s", what, g->cmd_sw,
                           sw_describe(sw, SW_CTX_ANY, d, sizeof d));
        if (!g->sw_trusted)
            return gp_fail(g, SCP_E_RSP_SW, "%s: %s (an answer without R-MAC, which does not "
                           "prove the card's refusal)", what, sw_describe(sw, ctx, d, sizeof d));
        return gp_fail(g, SCP_E_RSP_SW, "%s: %s", what, sw_describe(sw, ctx, d, sizeof d));
    }
    return SCP_OK;
}

scp_err_t gp_select(gp_card_t *g, const uint8_t *aid, size_t aid_len)
{
    apdu_t a;
    uint8_t fci[APDU_MAX_RSP];
    size_t fl;
    uint16_t sw;
    gp_close_channel(g); /* selecting ends any channel on the card too */
    apdu_set(&a, 0x00, 0xA4, 0x04, 0x00, aid, aid_len, 1, 256);
    scp_err_t e = gp_send(g, &a, fci, sizeof fci, &fl, &sw);
    if (e != SCP_OK)
        return e;
    if (sw != 0x9000 && sw != 0x6283) {
        char d[240];
        return gp_fail(g, SCP_E_RSP_SW, "SELECT of the security domain: %s",
                    sw_describe(sw, SW_CTX_SELECT, d, sizeof d));
    }
    tlv_t fcit, name;
    g->selected_aid_len = 0;
    if (tlv_find(fci, fl, 0x6F, &fcit) == 1 && tlv_find(fcit.v, fcit.len, 0x84, &name) == 1 &&
        name.len >= 5 && name.len <= sizeof g->selected_aid) {
        memcpy(g->selected_aid, name.v, name.len);
        g->selected_aid_len = name.len;
    } else if (aid_len >= 5 && aid_len <= sizeof g->selected_aid) {
        memcpy(g->selected_aid, aid, aid_len);
        g->selected_aid_len = aid_len;
    }
    return SCP_OK;
}

/* The last word before a try of the card's is spent: the caller's. */
static int authentication_allowed(gp_card_t *g, const gp_channel_opts_t *o, const uint8_t kdd[10])
{
    if (!o->may_authenticate)
        return 1;
    char why[sizeof g->err] = "";
    if (o->may_authenticate(o->select_ctx, kdd, why, sizeof why))
        return 1;
    gp_fail(g, SCP_E_HELD, "%s", why[0] ? why : "EXTERNAL AUTHENTICATE held back");
    return 0;
}

scp_err_t gp_open_channel(gp_card_t *g, ks_session_t *ks, const ks_keyset_t *keys,
                          const gp_channel_opts_t *o)
{
    scp_err_t e = o->selected ? SCP_OK : gp_select(g, o->isd_aid, o->isd_aid ? o->isd_aid_len : 0);
    if (e != SCP_OK)
        return e;
    gp_close_channel(g);
    const gp_channel_ops_t *ops = gp_channel_ops(o->scp ? o->scp : 2);
    if (!ops)
        return gp_fail(g, SCP_E_UNSUPPORTED, "gp-p11 speaks SCP01, SCP02 and SCP03, not SCP%02X", o->scp);
    g->ops = ops;
    e = ops->init(g, ks, keys, o);
    if (e != SCP_OK)
        return gp_fail(g, e, "%s", ops->error(g));
    if (ops->implicit && ops->implicit(o))
        return ops->open_implicit(g, o);
    /* INITIALIZE UPDATE, the card cryptogram, EXTERNAL AUTHENTICATE */
    apdu_t cmd;
    e = ops->initialize_update(g, o->kvn, &cmd);
    if (e != SCP_OK)
        return gp_fail(g, e, "%s", ops->error(g));
    uint8_t r[APDU_MAX_RSP];
    size_t rl;
    uint16_t sw;
    e = gp_send(g, &cmd, r, sizeof r - 2, &rl, &sw);
    if (e == SCP_OK && ops->another_mode && ops->another_mode(g, sw)) {
        /* INITIALIZE UPDATE changes nothing on the card and spends no try:
         * the one command sent again, once, in the card's mode */
        e = ops->initialize_update(g, o->kvn, &cmd);
        if (e != SCP_OK)
            return gp_fail(g, e, "%s", ops->error(g));
        e = gp_send(g, &cmd, r, sizeof r - 2, &rl, &sw);
    }
    if (e != SCP_OK) {
        ops->close(g);
        return e;
    }
    r[rl] = (uint8_t)(sw >> 8);
    r[rl + 1] = (uint8_t)sw;
    e = ops->on_initialize_update(g, r, rl + 2);
    if (e != SCP_OK)
        return gp_fail(g, e, "%s", ops->error(g));
    if (o->probe_only) {
        ops->close(g); /* the card stays in its INITIALIZE UPDATE state: no try spent */
        return SCP_OK;
    }
    gp_channel_info_t ci;
    ops->info(g, &ci);
    if (!authentication_allowed(g, o, ci.kdd)) {
        ops->close(g);
        return SCP_E_HELD;
    }
    e = ops->external_authenticate(g, &cmd);
    if (e != SCP_OK)
        return gp_fail(g, e, "%s", ops->error(g));
    e = exchange(g, &cmd, &cmd, 1, r, sizeof r, &rl, &sw);
    if (e != SCP_OK) {
        ops->close(g);
        return e;
    }
    g->sw = sw;
    e = ops->on_external_authenticate(g, sw);
    if (e != SCP_OK) {
        g->auth_refused = 1;
        return gp_fail(g, e, "%s", ops->error(g));
    }
    return SCP_OK;
}

void gp_close_channel(gp_card_t *g)
{
    /* each protocol's state, whichever was in use */
    for (uint8_t scp = 1; scp <= 3; scp++)
        gp_channel_ops(scp)->close(g);
}

int gp_get_status(gp_card_t *g, uint8_t p1, int tlv, gp_entry_t *out, int max)
{
    size_t cap = 4096, len = 0;
    uint8_t *all = malloc(cap);
    if (!all) {
        gp_fail(g, SCP_E_ARGS, "out of memory");
        return -1;
    }
    static const uint8_t all_aids[] = {0x4F, 0x00};
    uint8_t p2 = tlv ? 0x02 : 0x00;
    int n = -1;
    for (int round = 0; round < 64; round++) {
        apdu_t a;
        uint8_t r[APDU_MAX_RSP];
        size_t rl;
        uint16_t sw;
        apdu_set(&a, 0x80, 0xF2, p1, (uint8_t)(p2 | (round ? 0x01 : 0x00)), all_aids,
                 sizeof all_aids, 1, 256);
        if (gp_send(g, &a, r, sizeof r, &rl, &sw) != SCP_OK)
            goto out;
        if (sw == 0x6A88 && round == 0) { /* nothing of this kind on the card */
            n = 0;
            goto out;
        }
        if (sw != 0x9000 && sw != 0x6310) {
            char d[240];
            gp_fail(g, SCP_E_RSP_SW, "GET STATUS: %s", sw_describe(sw, SW_CTX_GET_STATUS, d, sizeof d));
            goto out;
        }
        if (len + rl > cap) {
            uint8_t *bigger = realloc(all, cap * 2);
            if (!bigger)
                goto out;
            all = bigger;
            cap *= 2;
        }
        memcpy(all + len, r, rl);
        len += rl;
        if (sw == 0x9000) {
            n = gp_registry_parse(all, len, p1, tlv, out, max, g->err, sizeof g->err);
            goto out;
        }
    }
    gp_fail(g, SCP_E_RSP_LONG, "GET STATUS: the card kept answering 6310 (more data) 64 times");
out:
    free(all);
    return n;
}

scp_err_t gp_get_data(gp_card_t *g, uint16_t tag, uint8_t *out, size_t cap, size_t *len)
{
    apdu_t a;
    apdu_set(&a, 0x80, 0xCA, (uint8_t)(tag >> 8), (uint8_t)tag, NULL, 0, 1, 256);
    char what[32];
    snprintf(what, sizeof what, "GET DATA %04X", tag);
    return gp_command(g, what, SW_CTX_ANY, &a, out, cap, len);
}

scp_err_t gp_delete(gp_card_t *g, const uint8_t *aid, size_t aid_len, int related)
{
    if (aid_len < 5 || aid_len > GP_AID_MAX)
        return gp_fail(g, SCP_E_ARGS, "an AID has 5 to 16 bytes, not %zu", aid_len);
    uint8_t d[2 + GP_AID_MAX];
    d[0] = 0x4F;
    d[1] = (uint8_t)aid_len;
    memcpy(d + 2, aid, aid_len);
    apdu_t a;
    apdu_set(&a, 0x80, 0xE4, 0x00, related ? 0x80 : 0x00, d, aid_len + 2, 1, 256);
    return gp_command(g, "DELETE", SW_CTX_DELETE, &a, NULL, 0, NULL);
}

scp_err_t gp_delete_key(gp_card_t *g, uint8_t kvn, int id)
{
    uint8_t d[6];
    size_t n = 0;
    if (id >= 0) {
        d[n++] = 0xD0;
        d[n++] = 1;
        d[n++] = (uint8_t)id;
    }
    d[n++] = 0xD2;
    d[n++] = 1;
    d[n++] = kvn;
    apdu_t a;
    apdu_set(&a, 0x80, 0xE4, 0x00, 0x00, d, n, 1, 256);
    return gp_command(g, "DELETE [key]", SW_CTX_DELETE, &a, NULL, 0, NULL);
}

scp_err_t gp_set_status(gp_card_t *g, uint8_t p1, uint8_t p2, const uint8_t *aid, size_t aid_len)
{
    apdu_t a;
    apdu_set(&a, 0x80, 0xF0, p1, p2, aid, aid_len, 0, 0);
    return gp_command(g, "SET STATUS", SW_CTX_ANY, &a, NULL, 0, NULL);
}

int gp_card_data_scp(const uint8_t *data, size_t len, uint8_t *scp, uint8_t *i)
{
    gp_card_recognition_t r;
    if (gp_card_recognition_parse(data, len, &r, NULL, 0) != 0 || r.scp < 0)
        return -1;
    *scp = (uint8_t)r.scp;
    *i = (uint8_t)r.i;
    return 0;
}

size_t gp_key_data_len(int aes, size_t key_len)
{
    return aes ? (key_len + 15) / 16 * 16 : 16;
}

scp_err_t gp_put_key(gp_card_t *g, uint8_t replace_kvn, uint8_t new_kvn, int aes,
                     size_t key_len, const uint8_t enc_keys[3][32], const uint8_t kcv[3][3])
{
    if ((aes && key_len != 16 && key_len != 24 && key_len != 32) || (!aes && key_len != 16))
        return gp_fail(g, SCP_E_ARGS, "PUT KEY: a key of %zu bytes", key_len);
    size_t cl = gp_key_data_len(aes, key_len);
    uint8_t d[1 + 3 * (1 + 2 + 32 + 1 + 3)];
    size_t n = 0;
    d[n++] = new_kvn;
    for (int k = 0; k < 3; k++) {
        if (aes) {
            /* AES (88): the length of the encrypted key data (whole blocks) and
             * of the key's own length byte, then the key's own length */
            d[n++] = 0x88;
            d[n++] = (uint8_t)(cl + 1);
            d[n++] = (uint8_t)key_len;
        } else {
            d[n++] = 0x80; /* DES in ECB/CBC mode */
            d[n++] = 0x10;
        }
        memcpy(d + n, enc_keys[k], cl);
        n += cl;
        d[n++] = 0x03;
        memcpy(d + n, kcv[k], 3);
        n += 3;
    }
    apdu_t a;
    apdu_set(&a, 0x80, 0xD8, replace_kvn, 0x81, d, n, 1, 256); /* several keys, from key id 1 */
    ks_wipe(d, sizeof d);
    uint8_t r[APDU_MAX_RSP];
    size_t rl;
    scp_err_t e = gp_command(g, "PUT KEY", SW_CTX_ANY, &a, r, sizeof r, &rl);
    ks_wipe(a.data, sizeof a.data);
    if (e != SCP_OK)
        return e;
    if (rl != 10 || r[0] != new_kvn)
        return gp_fail(g, SCP_E_RSP_SHORT, "PUT KEY: the card confirmed %zu bytes, not key version %02X "
                                     "and three key check values", rl, new_kvn);
    for (int k = 0; k < 3; k++)
        if (memcmp(r + 1 + 3 * k, kcv[k], 3) != 0)
            return gp_fail(g, SCP_E_RSP_SHORT, "PUT KEY: the card's key check value of key %d differs "
                                         "from the keystore's: the card holds another key", k + 1);
    return SCP_OK;
}
