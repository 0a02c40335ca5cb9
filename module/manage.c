/* Card management on a logged-in token: destroy, CKM_GP_APDU's rules,
 * lifecycle, the one place that sends a command again (6982), and finding
 * out what the card holds after an outcome unknown. With the token's lock
 * held (see module.h). */
#include "config.h"
#include "module.h"

#include <stdio.h>
#include <string.h>

/* --- card management ----------------------------------------------------------- */

/* The card closed its side of the channel (6982 to a secured command): the
 * keys are still in the keystore, so the channel is opened again. */
CK_RV token_ensure_channel(token_t *t)
{
    if (gp_channel_open(&t->gp))
        return CKR_OK;
    LOG_INFO(t->reader, "the secure channel was closed; opening a new one");
    return token_open_channel(t, 0);
}

/* The one place that decides to send a command again: the card answered a
 * secured command with 6982, which means it closed the secure channel
 * without executing the command. A new channel is opened and the command
 * may go once more. Only when the 6982 proves that (gp_not_executed: at
 * the R-MAC levels it carries no R-MAC and proves nothing), or when the
 * command only reads. Returns 1 when it may. */
static int again_after_6982(token_t *t, scp_err_t e, int attempt, int reads)
{
    if (attempt > 0 || (e != SCP_OK && e != SCP_E_RSP_SW) || t->gp.sw != 0x6982 ||
        gp_channel_open(&t->gp) || (!reads && !gp_not_executed(&t->gp, e)))
        return 0;
    LOG_WARN(t->reader, "the card closed the secure channel (6982) without executing the command; "
                        "sending it once more on a new channel");
    return token_open_channel(t, 0) == CKR_OK;
}

scp_err_t token_run_step(token_t *t, int reads, token_step_fn step, void *ctx, int *went_again)
{
    scp_err_t e;
    int repeatable = 1;
    if (went_again)
        *went_again = 0;
    for (int attempt = 0;; attempt++) {
        e = step(t, ctx, &repeatable);
        if (!repeatable || !again_after_6982(t, e, attempt, reads))
            return e;
        if (went_again)
            *went_again = 1;
    }
}

object_t *token_registry_object(token_t *t, const uint8_t *aid, size_t len)
{
    for (int i = 0; i < t->n_objects; i++) {
        object_t *o = &t->objects[i];
        if (o->type == OBJ_REGISTRY && o->entry.aid_len == len && !memcmp(o->entry.aid, aid, len))
            return o;
    }
    return NULL;
}

int token_find_out(token_t *t, int fresh, const uint8_t *aid, size_t aid_len, object_t **now)
{
    /* the AID first: it may point into an object the reload replaces */
    uint8_t a[GP_AID_MAX];
    size_t n = aid_len < sizeof a ? aid_len : sizeof a;
    if (n)
        memcpy(a, aid, n);
    *now = NULL;
    if (!t->card || !t->logged_in)
        return 0;
    /* fresh: the channel the command went on is out of step with the
     * card's if the answer was not the card's own */
    if (fresh)
        gp_close_channel(&t->gp);
    if (token_ensure_channel(t) != CKR_OK || token_reload(t) != CKR_OK)
        return 0;
    *now = token_registry_object(t, a, n);
    return 1;
}

static scp_err_t delete_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    const object_t *o = ctx;
    return gp_delete(&t->gp, o->entry.aid, o->entry.aid_len, o->delete_related);
}

static scp_err_t delete_key_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    return gp_delete_key(&t->gp, *(const uint8_t *)ctx, -1);
}

/* DELETE [key] of a card key version (its CKO_GP_KEY_SET object). Never the
 * version of this login's channel, nor the card's last one: a security
 * domain without keys can no longer be managed. The keystore's key sets
 * stay as they are. */
static CK_RV destroy_key_version(token_t *t, object_t *o)
{
    uint8_t kvn = o->kvn;
    int others = 0;
    for (int i = 0; i < t->n_objects; i++)
        others += t->objects[i].type == OBJ_KEY_SET && t->objects[i].kvn != kvn;
    if (gp_channel_open(&t->gp) && gp_channel_kvn(&t->gp) == kvn) {
        LOG_ERR(t->reader, "key version %02X is not deleted: this login's secure channel was opened "
                           "with it; log in with another key version to delete it", kvn);
        return CKR_ACTION_PROHIBITED;
    }
    if (!others) {
        LOG_ERR(t->reader, "key version %02X is not deleted: it is the card's only key version, "
                           "and a security domain without keys can no longer be managed", kvn);
        return CKR_ACTION_PROHIBITED;
    }
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    scp_err_t e = token_run_step(t, 0, delete_key_step, &kvn, NULL);
    if (gp_outcome_unknown(&t->gp, e)) {
        char why[sizeof t->gp.err];
        snprintf(why, sizeof why, "%s", gp_error(&t->gp));
        rv = token_command_rv(t, e);
        object_t *none;
        if (!token_find_out(t, 1, NULL, 0, &none)) { /* the key information read again */
            LOG_ERR(t->reader, "deleting key version %02X: %s. Whether the card deleted it is "
                               "unknown, and its key information could not be read to find out: "
                               "log in again and look", kvn, why);
            return rv;
        }
        int still = 0;
        for (int i = 0; i < t->n_objects; i++)
            still += t->objects[i].type == OBJ_KEY_SET && t->objects[i].kvn == kvn;
        LOG_WARN(t->reader, "deleting key version %02X: %s. Its outcome was unknown; the card's "
                            "key information, read again, shows it %s", kvn, why,
                 still ? "still on the card: it was not deleted" : "gone: the card deleted it");
        return still ? rv : CKR_OK;
    }
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "deleting key version %02X: %s", kvn, gp_error(&t->gp));
        if (e != SCP_E_RSP_SW || t->gp.sw != 0x6A88)
            return token_command_rv(t, e);
        rv = CKR_OBJECT_HANDLE_INVALID; /* gone already: forget it too */
    } else {
        LOG_INFO(t->reader, "deleted key version %02X from the card; the keystore's key sets are "
                            "kept", kvn);
    }
    CK_RV lr = token_reload(t); /* the key information read again */
    return rv != CKR_OK ? rv : lr;
}

CK_RV token_destroy_object(token_t *t, object_t *o)
{
    if (o->type == OBJ_KEY_SET)
        return destroy_key_version(t, o);
    if (o->type != OBJ_REGISTRY || o->kind == GP_KIND_ISD) {
        LOG_WARN(t->reader, "\"%s\" cannot be destroyed%s", o->label,
                 o->kind == GP_KIND_ISD ? ": it is the issuer security domain" : "");
        return CKR_ACTION_PROHIBITED;
    }
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    scp_err_t e = token_run_step(t, 0, delete_step, o, NULL);
    if (gp_outcome_unknown(&t->gp, e)) {
        /* the card may have deleted it: its registry says */
        char why[sizeof t->gp.err], label[sizeof o->label], kind[32]; /* o goes with the reload */
        snprintf(why, sizeof why, "%s", gp_error(&t->gp));
        snprintf(label, sizeof label, "%s", o->label);
        snprintf(kind, sizeof kind, "%s", gp_entry_kind(&o->entry));
        rv = token_command_rv(t, e);
        object_t *now;
        if (!token_find_out(t, 1, o->entry.aid, o->entry.aid_len, &now)) {
            LOG_ERR(t->reader, "deleting %s: %s. Whether the card deleted it is unknown, and its "
                               "registry could not be read to find out: log in again and look",
                    label, why);
            return rv;
        }
        int still = now != NULL;
        LOG_WARN(t->reader, "deleting %s: %s. Its outcome was unknown; the card's registry, read "
                            "again, shows %s %s", label, why, kind,
                 still ? "still on the card: it was not deleted" : "gone: the card deleted it");
        return still ? rv : CKR_OK;
    }
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "deleting %s: %s", o->label, gp_error(&t->gp));
        if (t->gp.sw == 0x6985 && o->kind == GP_KIND_LOAD_FILE && !o->delete_related)
            LOG_ERR(t->reader, "%s is a load file: while applications installed from it remain, "
                               "destroy them first, or set CKA_GP_DELETE_RELATED = CK_TRUE on "
                               "it to delete them with it", o->label);
        if (e != SCP_E_RSP_SW || t->gp.sw != 0x6A88)
            return token_command_rv(t, e);
        rv = CKR_OBJECT_HANDLE_INVALID; /* gone already: forget it too */
    } else {
        LOG_INFO(t->reader, "deleted %s %s%s", gp_entry_kind(&o->entry), o->label,
                 o->delete_related ? " with its applications" : "");
    }
    /* the registry changed: load it again (dependents may have gone too) */
    CK_RV lr = token_reload(t);
    return rv != CKR_OK ? rv : lr;
}

/* Commands that only read: the ones a read-only session may send. */
static int reads_only(uint8_t ins)
{
    switch (ins) {
    case 0xCA: case 0xCB: /* GET DATA */
    case 0xF2:            /* GET STATUS */
    case 0xB0: case 0xB1: /* READ BINARY */
    case 0xB2: case 0xB3: /* READ RECORD */
        return 1;
    default:
        return 0;
    }
}

/* The AID of the issuer security domain, from the registry; 0 if unknown. */
static size_t isd_aid(token_t *t, const uint8_t **aid)
{
    for (int i = 0; i < t->n_objects; i++)
        if (t->objects[i].type == OBJ_REGISTRY && t->objects[i].kind == GP_KIND_ISD) {
            *aid = t->objects[i].entry.aid;
            return t->objects[i].entry.aid_len;
        }
    if (t->gp.selected_aid_len) {
        *aid = t->gp.selected_aid;
        return t->gp.selected_aid_len;
    }
    return 0;
}

CK_RV apdu_never(token_t *t, const apdu_t *a, const char *what)
{
    const uint8_t *isd = NULL;
    size_t isd_len = isd_aid(t, &isd);
    if (a->ins == 0xE4 && a->lc >= 2 && a->data[0] == 0x4F && a->data[1] == isd_len && isd_len &&
        (size_t)a->data[1] + 2 <= a->lc && memcmp(a->data + 2, isd, isd_len) == 0) {
        LOG_WARN(t->reader, "%s: DELETE of the issuer security domain is refused, as "
                            "C_DestroyObject refuses it", what);
        return CKR_ACTION_PROHIBITED;
    }
    if (a->ins == 0xF0 && (a->p1 & 0x80) && a->p2 == 0xFF) {
        LOG_WARN(t->reader, "%s: terminating the card cannot be undone and is refused "
                            "here: use C_SetAttributeValue(CKA_GP_LIFECYCLE = FF) with "
                            "CKA_GP_CONFIRM_TERMINATE = CK_TRUE on the issuer security domain", what);
        return CKR_ACTION_PROHIBITED;
    }
    return CKR_OK;
}

typedef struct {
    const apdu_t *a;
    uint8_t *rsp;
    size_t *dl;
    uint16_t *sw;
} apdu_step_t;

static scp_err_t apdu_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    apdu_step_t *st = ctx;
    return gp_send(&t->gp, st->a, st->rsp, RESPONSE_MAX - 2, st->dl, st->sw);
}

CK_RV token_apdu(token_t *t, const uint8_t *cmd, size_t len, int rw, uint8_t *rsp, size_t *rsp_len)
{
    apdu_t a;
    if (apdu_parse(cmd, len, &a) != 0) {
        LOG_WARN(t->reader, "CKM_GP_APDU: %zu bytes are not a short command APDU", len);
        return CKR_DATA_INVALID;
    }
    if (apdu_logical_channel(a.cla)) {
        LOG_WARN(t->reader, "CKM_GP_APDU: CLA %02X addresses logical channel %d; gp-p11's secure "
                            "channel lives on the basic channel (0): use CLA 00 or 80", a.cla,
                 apdu_logical_channel(a.cla));
        return CKR_DATA_INVALID;
    }
    if (a.cla & 0x04) {
        LOG_WARN(t->reader, "CKM_GP_APDU: pass the plain command (CLA %02X announces secure "
                            "messaging; gp-p11 adds it)", a.cla);
        return CKR_DATA_INVALID;
    }
    /* commands that would end, replace or desynchronise the channel gp-p11 keeps */
    if (a.ins == 0xA4 || a.ins == 0x50 || a.ins == 0x82 || a.ins == 0xC0 || a.ins == 0x70 ||
        a.ins == 0x78 || a.ins == 0x7A) {
        const char *name = gp_ins_name(a.cla, a.ins);
        LOG_WARN(t->reader, "CKM_GP_APDU: %s (INS %02X) is not passed through: it would end or "
                            "confuse the secure channel gp-p11 keeps open",
                 name ? name : "this command", a.ins);
        return CKR_DATA_INVALID;
    }
    /* the same rules as the object API */
    if (!rw && !reads_only(a.ins)) {
        LOG_WARN(t->reader, "CKM_GP_APDU: INS %02X can change the card: it needs a read-write "
                            "session", a.ins);
        return CKR_SESSION_READ_ONLY;
    }
    CK_RV rv = apdu_never(t, &a, "CKM_GP_APDU");
    if (rv != CKR_OK)
        return rv;
    rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    uint16_t sw;
    size_t dl;
    int sent_again;
    apdu_step_t st = {&a, rsp, &dl, &sw};
    scp_err_t e = token_run_step(t, reads_only(a.ins), apdu_step, &st, &sent_again);
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "CKM_GP_APDU: %s", gp_error(&t->gp));
        return e == SCP_E_TOO_LONG ? CKR_DATA_LEN_RANGE : token_map_scp(t, e);
    }
    if (sw == 0x6982) {
        char d[240];
        if (sent_again || t->gp.sw_trusted)
            LOG_ERR(t->reader, "CKM_GP_APDU: %s, %s", sw_describe(sw, SW_CTX_SECURED, d, sizeof d),
                    sent_again ? "also on a new channel" : "and no new channel could be opened");
        else
            LOG_ERR(t->reader, "CKM_GP_APDU: %s, without R-MAC: that proves nothing, so a command "
                               "that may change the card is not sent again; whether the card ran "
                               "it is unknown (the secure channel is closed, and the next command "
                               "opens a new one)", sw_describe(sw, SW_CTX_ANY, d, sizeof d));
        return CKR_FUNCTION_FAILED;
    }
    rsp[dl] = (uint8_t)(sw >> 8);
    rsp[dl + 1] = (uint8_t)sw;
    *rsp_len = dl + 2;
    return CKR_OK;
}

/* --- lifecycle ------------------------------------------------------------------ */

typedef struct {
    const object_t *o;
    uint8_t p1, value;
    int make_selectable;
} lifecycle_step_t;

static scp_err_t lifecycle_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    const lifecycle_step_t *st = ctx;
    const object_t *o = st->o;
    if (st->make_selectable)
        return gp_install_for_make_selectable(&t->gp, o->entry.aid, o->entry.aid_len, o->entry.priv,
                                              o->entry.priv_len ? o->entry.priv_len : 1);
    return gp_set_status(&t->gp, st->p1, st->value, st->p1 == 0x40 ? o->entry.aid : NULL,
                         st->p1 == 0x40 ? o->entry.aid_len : 0);
}

CK_RV token_set_lifecycle(token_t *t, object_t *o, uint8_t value, int confirm_terminate)
{
    if (o->type != OBJ_REGISTRY || o->kind == GP_KIND_LOAD_FILE)
        return CKR_ACTION_PROHIBITED;
    uint8_t p1 = 0x40;
    if (o->kind == GP_KIND_ISD) {
        p1 = 0x80;
        if (value != 0x7F && value != 0x0F && value != 0xFF) {
            LOG_WARN(t->reader, "card lifecycle %02X: use 7F (lock), 0F (unlock) or FF (terminate)",
                     value);
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        if (value == 0xFF && !confirm_terminate) {
            LOG_WARN(t->reader, "terminating the card cannot be undone: add "
                                "CKA_GP_CONFIRM_TERMINATE = CK_TRUE to the template");
            return CKR_TEMPLATE_INCONSISTENT;
        }
    }
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    /* an application only INSTALLED becomes SELECTABLE through INSTALL */
    int make_selectable = o->kind == GP_KIND_APP && o->entry.lifecycle == 0x03 && value == 0x07;
    lifecycle_step_t st = {o, p1, value, make_selectable};
    scp_err_t e = token_run_step(t, 0, lifecycle_step, &st, NULL);
    if (gp_outcome_unknown(&t->gp, e)) {
        char why[sizeof t->gp.err], label[sizeof o->label]; /* o goes with the reload */
        snprintf(why, sizeof why, "%s", gp_error(&t->gp));
        snprintf(label, sizeof label, "%s", o->label);
        CK_RV rv2 = token_command_rv(t, e);
        object_t *now;
        if (!token_find_out(t, 1, o->entry.aid, o->entry.aid_len, &now) || !now) {
            LOG_ERR(t->reader, "lifecycle of %s: %s. Whether the card changed it is unknown, and "
                               "its registry could not be read to find out: log in again and look",
                    label, why);
            return rv2;
        }
        int done = now->entry.lifecycle == value ||
                   (p1 == 0x40 && !make_selectable && (value & 0x80) == (now->entry.lifecycle & 0x80));
        LOG_WARN(t->reader, "lifecycle of %s: %s. Its outcome was unknown; the card's registry, read "
                            "again, shows lifecycle %02X: %s", label, why, now->entry.lifecycle,
                 done ? "the card made the change" : "the card did not make the change");
        return done ? CKR_OK : rv2;
    }
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "lifecycle of %s: %s", o->label, gp_error(&t->gp));
        return token_command_rv(t, e);
    }
    LOG_INFO(t->reader, "lifecycle of %s %s set to %02X", gp_entry_kind(&o->entry), o->label, value);
    if (p1 == 0x80 && value == 0xFF) {
        /* a terminated card lists nothing any more (6A81): what was read
         * stays, the card's lifecycle now TERMINATED */
        o->entry.lifecycle = 0xFF;
        LOG_INFO(t->reader, "the card is TERMINATED: it takes no more management commands, and "
                            "its objects are shown as they were read before");
        return CKR_OK;
    }
    return token_reload(t); /* the registry as the card now says */
}
