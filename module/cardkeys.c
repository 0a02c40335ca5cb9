/* The card's key sets seen from the keystore: PUT KEY with the never-lose-a-
 * key rules, key sets a PUT KEY left unsealed settled at the next login, and
 * the refusals of EXTERNAL AUTHENTICATE every process remembers. With the
 * token's lock held (see module.h). */
#include "config.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keystore/hex.h"

/* --- refusals of EXTERNAL AUTHENTICATE, remembered for every process ----------- */

/* The record of a refused EXTERNAL AUTHENTICATE is kept in the keystore
 * token beside the key sets (a note about the card's KDD), so that no
 * process tries that card again: asked before every EXTERNAL AUTHENTICATE. */
int token_may_authenticate(void *ctx, const uint8_t kdd[10], char *why, size_t why_len)
{
    token_t *t = ctx;
    char hex[21], text[256];
    hex_encode(kdd, 10, hex);
    int found = ks_note_find(t->kss, GP_REFUSAL_NOTE, hex, text, sizeof text);
    if (found == 0)
        return 1;
    if (found < 0)
        snprintf(why, why_len, "whether this card refused EXTERNAL AUTHENTICATE before cannot be "
                 "told (%s), so none is sent: every refusal brings a card nearer to locking",
                 ks_session_error(t->kss));
    else
        snprintf(why, why_len, "this card (key diversification data %s) refused EXTERNAL "
                 "AUTHENTICATE before (%s) although its card cryptogram verified; no gp-p11 "
                 "process tries it again, since each refusal brings it nearer to locking. Once "
                 "you know why, allow a try with: gp-p11 keys forget-refusal %s", hex, text, hex);
    return 0;
}

/* Says that this card refused, for every later process (the keystore
 * keeps it); the card's KDD names it. */
void token_note_refusal(token_t *t, uint16_t sw)
{
    char hex[21], text[160];
    hex_encode(gp_channel_kdd(&t->gp), 10, hex);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(text, sizeof text, "%04X to key version %02X, %s", sw, gp_channel_kvn(&t->gp), when);
    if (ks_note_find(t->kss, GP_REFUSAL_NOTE, hex, NULL, 0) == 0 &&
        ks_note_put(t->kss, GP_REFUSAL_NOTE, hex, text) != CKR_OK)
        LOG_ERR(t->reader, "%s: other processes may try this card again", ks_session_error(t->kss));
}

/* --- key sets a PUT KEY left unsealed ------------------------------------------- */

typedef struct {
    char name[64][96];
    char tag[64][128];
    int n;
} unsealed_t;

static void note_unsealed(void *ctx, const char *name, const char *tag)
{
    unsealed_t *u = ctx;
    if (u->n < 64) {
        snprintf(u->name[u->n], sizeof u->name[0], "%s", name);
        snprintf(u->tag[u->n++], sizeof u->tag[0], "%s", tag);
    }
}

/* A process that ended during PUT KEY (killed, or its machine stopped)
 * leaves its new keys extractable. The login finds them: those made for
 * this card are asked of the card (INITIALIZE UPDATE only, no try spent)
 * and sealed either way, kept, and said; those of another card wait for
 * that card's login. The channel is opened again if the check closed it. */
CK_RV token_settle_unsealed(token_t *t)
{
    unsealed_t *u = calloc(1, sizeof *u);
    if (!u)
        return CKR_HOST_MEMORY;
    if (ks_list_unsealed(t->kss, note_unsealed, u) != CKR_OK)
        LOG_WARN(t->reader, "%s", ks_session_error(t->kss));
    char kdd[21];
    hex_encode(gp_channel_kdd(&t->gp), 10, kdd);
    for (int i = 0; i < u->n; i++) {
        unsigned kvn = 0;
        char their[32] = "";
        int tagged = sscanf(u->tag[i], "gp-p11 put-key %2x kdd %20s", &kvn, their) == 2;
        if (tagged && strcmp(their, kdd) != 0) {
            LOG_INFO(t->reader, "key set \"%s\" was made for a PUT KEY to another card (key "
                                "diversification data %s) and is not sealed yet: that card's next "
                                "login settles it", u->name[i], their);
            continue;
        }
        ks_keyset_t k;
        if (ks_find_keyset(t->kss, u->name[i], &k) != CKR_OK) {
            LOG_WARN(t->reader, "key set \"%s\" has an extractable key but is not whole: %s; "
                                "delete it with gp-p11 keys delete %s", u->name[i],
                     ks_session_error(t->kss), u->name[i]);
            continue;
        }
        int has = tagged ? token_card_has_keys(t, (uint8_t)kvn, &k) : -1;
        CK_RV sr = ks_seal_keyset(t->kss, &k);
        if (sr != CKR_OK)
            LOG_ERR(t->reader, "key set \"%s\": %s", u->name[i], ks_session_error(t->kss));
        else if (has == 1)
            LOG_WARN(t->reader, "an earlier PUT KEY did not finish: the card holds key set \"%s\" "
                                "as key version %02X, so it is kept, and sealed now (its keys can "
                                "no longer leave the keystore)", u->name[i], kvn);
        else if (tagged)
            LOG_WARN(t->reader, "an earlier PUT KEY did not finish: the card does not hold key "
                                "set \"%s\" as key version %02X (%s). It is kept and sealed now; "
                                "once sure it is of no use, delete it with gp-p11 keys delete %s",
                     u->name[i], kvn, has == 0 ? "it has no such key version"
                                               : "its check could not tell", u->name[i]);
        else
            LOG_WARN(t->reader, "key set \"%s\" was made for a PUT KEY that ended before it was "
                                "sent, or before it said for which card: it is kept and sealed "
                                "now; once sure it is of no use, delete it with gp-p11 keys "
                                "delete %s", u->name[i], u->name[i]);
    }
    free(u);
    if (!gp_channel_open(&t->gp))
        return token_open_channel(t, 0);
    return CKR_OK;
}

/* --- key rotation ------------------------------------------------------------------ */

/* After a PUT KEY whose answer was lost or spoilt: does the card hold key
 * version kvn with the keys k? 1 yes (its card cryptogram verifies under
 * them), 0 no (it says it has no such key version), -1 cannot tell. Sends
 * INITIALIZE UPDATE only: no EXTERNAL AUTHENTICATE, no try spent. */
int token_card_has_keys(token_t *t, uint8_t kvn, const ks_keyset_t *k)
{
    uint8_t i = M.conf.scp_i ? M.conf.scp_i : token_card_scp_i(t);
    uint8_t scp = gp_channel_scp(&t->gp); /* the protocol PUT KEY went over */
    gp_channel_opts_t o = {.scp = scp, .i_param = i, .level = t->login.security_level, .kvn = kvn,
                           .isd_aid = t->login.isd_aid, .isd_aid_len = t->login.isd_aid_len,
                           .probe_only = 1};
    const gp_channel_ops_t *ops = gp_channel_ops(scp);
    if (ops->implicit && ops->implicit(&o))
        return -1; /* implicit opening has no INITIALIZE UPDATE to ask with */
    scp_err_t e = gp_open_channel(&t->gp, t->kss, k, &o);
    if (e == SCP_OK)
        return 1;
    if (e == SCP_E_RSP_SW && t->gp.sw == 0x6A88)
        return 0;
    LOG_INFO(t->reader, "PUT KEY check: %s", gp_error(&t->gp));
    return -1;
}

/* The new keys are on the card: they stay, unextractable from now on, and
 * the registry is read again (over a channel opened again if the check
 * closed it). */
static CK_RV put_key_kept(token_t *t, const ks_keyset_t *ns, int wrappable, uint8_t kvn,
                          int login_replaced, CK_OBJECT_HANDLE *out)
{
    if (wrappable && ks_seal_keyset(t->kss, ns) != CKR_OK)
        LOG_WARN(t->reader, "PUT KEY: %s", ks_session_error(t->kss));
    *out = CK_INVALID_HANDLE;
    /* the login's own key version replaced: its keys open nothing any more */
    if (!gp_channel_open(&t->gp) && (login_replaced || token_open_channel(t, 0) != CKR_OK)) {
        LOG_WARN(t->reader, "PUT KEY took effect, but the secure channel could not be opened again "
                            "with key set \"%s\": log in again (with the new key set if key "
                            "version %02X replaced the one this login used)", t->keyset_name, kvn);
        if (t->card)
            token_logout(t);
        return CKR_OK;
    }
    CK_RV rv = token_reload(t);
    for (int i = 0; i < t->n_objects; i++)
        if (t->objects[i].type == OBJ_KEY_SET && t->objects[i].kvn == kvn)
            *out = t->objects[i].handle;
    return rv;
}

CK_RV token_put_key(token_t *t, const char *name, uint8_t kvn, uint8_t replace,
                    const uint8_t *values, size_t values_len, CK_OBJECT_HANDLE *out)
{
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    int login_replaced = replace && replace == gp_channel_kvn(&t->gp);
    /* the new keys are of the channel's kind: DES for SCP02; AES for SCP03,
     * of the static keys' length unless the application gives values */
    ks_keyset_t like = gp_channel_keys(&t->gp);
    if (values && like.aes)
        like.len = values_len / 3;
    if (values && !like.aes && values_len != 48) {
        LOG_ERR(t->reader, "PUT KEY: SCP02 key sets are three double-length DES keys: "
                           "CKA_GP_KEY_VALUES has 48 bytes, not %zu", values_len);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    /* generated keys must be wrappable to reach the card (sensitive: never
     * readable), and are sealed once the card has them */
    ks_keyset_t ns;
    CK_OBJECT_HANDLE sendable[3];
    rv = ks_create_keyset_to_send(t->kss, name, &like, values, &ns, sendable);
    if (rv != CKR_OK) {
        LOG_ERR(t->reader, "PUT KEY: %s", ks_session_error(t->kss));
        return rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ARGUMENTS_BAD
                   ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_FUNCTION_FAILED;
    }
    if (!values) {
        /* what these extractable keys are for, should the process end before
         * they are sealed: the next login on this card settles them */
        char tag[64], kdd[21];
        hex_encode(gp_channel_kdd(&t->gp), 10, kdd);
        snprintf(tag, sizeof tag, "gp-p11 put-key %02X kdd %s", kvn, kdd);
        if (ks_tag_keyset(t->kss, &ns, tag) != CKR_OK)
            LOG_WARN(t->reader, "PUT KEY: %s", ks_session_error(t->kss));
    }
    size_t klen = ns.aes ? ns.len : 16;
    uint8_t enc[3][32], kcv[3][3];
    CK_OBJECT_HANDLE h[3] = {ns.enc, ns.mac, ns.dek};
    for (int r = 0; r < 3 && rv == CKR_OK; r++) {
        size_t n = sizeof enc[r];
        scp_err_t e = gp_encrypt_key(&t->gp, values ? values + klen * r : NULL, klen,
                                     sendable[r], enc[r], &n);
        if (e == SCP_OK && n != gp_key_data_len(ns.aes, klen))
            e = gp_fail(&t->gp, SCP_E_KEYSTORE, "the keystore wrapped a %zu-byte key into %zu "
                        "bytes, not %zu", klen, n, gp_key_data_len(ns.aes, klen));
        if (e == SCP_OK && (ns.aes ? ks_scp03_kcv(t->kss, h[r], kcv[r])
                                   : ks_kcv(t->kss, h[r], kcv[r])) != CKR_OK)
            e = gp_fail(&t->gp, SCP_E_KEYSTORE, "key check value: %s", ks_session_error(t->kss));
        if (e != SCP_OK) {
            /* the keystore cannot wrap (SoftHSM and DES keys): values can go */
            if (e == SCP_E_UNSUPPORTED && !values && strstr(gp_error(&t->gp), "wrapping the new key"))
                LOG_ERR(t->reader, "PUT KEY: %s. Keys generated inside this keystore cannot be "
                        "sent to the card; with put_key_plaintext = yes, C_CreateObject sends key "
                        "values the application supplies", gp_error(&t->gp));
            else
                LOG_ERR(t->reader, "PUT KEY: %s", gp_error(&t->gp));
            rv = CKR_FUNCTION_FAILED;
        }
    }
    if (rv != CKR_OK) { /* nothing was sent: the new keys go */
        ks_wipe(enc, sizeof enc);
        ks_drop_sendable(t->kss, &ns, sendable);
        ks_destroy_keyset(t->kss, &ns);
        return rv;
    }
    ks_drop_sendable(t->kss, &ns, sendable); /* wrapped: the sendable forms are done with */
    scp_err_t e = gp_put_key(&t->gp, replace, kvn, ns.aes, klen, enc, kcv);
    ks_wipe(enc, sizeof enc);
    if (e == SCP_OK) {
        LOG_INFO(t->reader, "PUT KEY: key version %02X %s; keystore key set \"%s\"", kvn,
                 replace ? "replaces the old one" : "added", name);
        return put_key_kept(t, &ns, values == NULL, kvn, login_replaced, out);
    }
    /* what went wrong, without gp_command's own "PUT KEY: " in front */
    const char *what = gp_error(&t->gp);
    if (!strncmp(what, "PUT KEY: ", 9))
        what += 9;
    if (gp_not_executed(&t->gp, e)) {
        LOG_ERR(t->reader, "PUT KEY: %s. The card did not execute it: nothing changed on the card, "
                           "and the new key set \"%s\" is deleted", what, name);
        ks_destroy_keyset(t->kss, &ns);
        t->refused_sw = t->gp.sw;
        return CKR_FUNCTION_FAILED;
    }
    /* The card may have executed it: nothing is deleted until it says. */
    char why[400];
    snprintf(why, sizeof why, "%s", what);
    int has = e == SCP_E_REMOVED || !t->card ? -1 : token_card_has_keys(t, kvn, &ns);
    if (has == 1) {
        LOG_WARN(t->reader, "PUT KEY: %s. A check on a fresh channel shows key version %02X with "
                            "the new keys on the card: PUT KEY took effect, and the new key set "
                            "\"%s\" is kept", why, kvn, name);
        return put_key_kept(t, &ns, values == NULL, kvn, login_replaced, out);
    }
    if (has == 0) {
        LOG_ERR(t->reader, "PUT KEY: %s. A check on a fresh channel shows the card has no key "
                           "version %02X: it did not execute PUT KEY, and the new key set \"%s\" "
                           "is deleted", why, kvn, name);
        ks_destroy_keyset(t->kss, &ns);
        return CKR_FUNCTION_FAILED;
    }
    if (!values && ks_seal_keyset(t->kss, &ns) != CKR_OK)
        LOG_WARN(t->reader, "PUT KEY: %s", ks_session_error(t->kss));
    LOG_ERR(t->reader, "PUT KEY: %s. Whether the card executed it is unknown, so no key is "
                       "deleted: the keystore keeps the new key set \"%s\" (key version %02X) and "
                       "the old one. Log in again: with key_set = %s and key_version = %u if the "
                       "card took the new keys, else as before", why, name, kvn, name, kvn);
    return token_map_scp(t, e == SCP_E_REMOVED ? SCP_E_REMOVED : SCP_E_TRANSPORT);
}

