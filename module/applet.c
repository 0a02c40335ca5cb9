/* Applets through PKCS#11: C_CreateObject of a CAP file loads (and
 * installs) it; STORE DATA personalises an application. See gp-p11.h. */
#include "config.h"
#include "module.h"
#include "log.h"

#include "keystore/hex.h"
#include "scp/cap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    token_t *t;
    const applet_req_t *r;
    char label[40];
    size_t said;
} progress_t;

/* LOAD's progress: at info every tenth and at the end; to the application
 * through CKA_GP_PROGRESS and a CKN_SURRENDER notification after each block,
 * whose CKR_CANCEL stops the LOAD. */
static int progress(void *ctx, size_t done, size_t total)
{
    progress_t *p = ctx;
    size_t tenth = done * 10 / total;
    if (done == total || tenth != p->said) {
        LOG_INFO(p->t->reader, "LOAD %s: block %zu of %zu", p->label, done, total);
        p->said = tenth;
    }
    if (p->r->progress) {
        p->r->progress[0] = done;
        p->r->progress[1] = total;
    }
    return p->r->notify &&
           p->r->notify(p->r->session, CKN_SURRENDER, p->r->notify_app) == CKR_CANCEL;
}

/* The steps that may go once more after 6982 (token_run_step). */
typedef struct {
    const applet_req_t *r;
    const gp_cap_t *cap;
    const uint8_t *elf;
    size_t elf_len;
    const uint8_t *hash;     /* NULL: none */
    progress_t *pg;
    const char *step;        /* the command that failed, for the words */
} load_step_t;

/* INSTALL [for load] and the LOAD: after 6982 the card has dropped the
 * LOAD, so both go again */
static scp_err_t load_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    load_step_t *st = ctx;
    st->step = "INSTALL [for load]";
    scp_err_t e = gp_install_for_load(&t->gp, st->elf, st->elf_len, st->r->sd, st->r->sd_len,
                                      st->hash, st->hash ? 20 : 0, NULL, 0);
    if (e != SCP_OK)
        return e;
    st->step = "LOAD";
    st->pg->said = 99;
    return gp_load(&t->gp, st->cap->block, st->cap->block_len, progress, st->pg);
}

static scp_err_t install_step(token_t *t, void *ctx, int *repeatable)
{
    (void)repeatable;
    return gp_install_for_install(&t->gp, ctx);
}

typedef struct {
    const object_t *o;
    const uint8_t *data;
    size_t len;
    uint8_t format;
    size_t taken;            /* bytes the application took */
} store_step_t;

static scp_err_t store_step(token_t *t, void *ctx, int *repeatable)
{
    store_step_t *st = ctx;
    scp_err_t e = gp_store_data(&t->gp, st->o->entry.aid, st->o->entry.aid_len, st->data, st->len,
                                st->format, &st->taken);
    /* once the application has taken a block, none is sent again */
    *repeatable = st->taken == 0;
    return e;
}

/* An error from the card, said with what the card holds now. */
static CK_RV card_failed(token_t *t, const char *step, scp_err_t e, const uint8_t *elf,
                         size_t elf_len)
{
    char why[sizeof t->gp.err];
    snprintf(why, sizeof why, "%s", gp_error(&t->gp));
    /* (a LOAD the application stopped is known: the card drops it) */
    int unknown = gp_outcome_unknown(&t->gp, e) && e != SCP_E_CANCELED;
    CK_RV rv = token_command_rv(t, e);
    char aid[40];
    hex_encode(elf, elf_len, aid);
    if (!t->card || !t->logged_in) {
        LOG_ERR(t->reader, "%s: %s. The card is gone: whether it holds load file %s is known "
                           "only once it is back (a LOAD cut short is not kept by the card)",
                step, why, aid);
        return rv;
    }
    /* find out what the card has now, and say it */
    int have = 0;
    object_t *now;
    if (token_find_out(t, unknown, elf, elf_len, &now))
        have = now ? 1 : -1;
    log_msg(e == SCP_E_CANCELED ? LOG_LVL_WARNING : LOG_LVL_ERROR, t->reader, "%s: %s.%s %s",
            step, why, unknown ? " Whether the card executed it was unknown, so its registry was "
                                 "read again on a new channel:" : "",
            have > 0 ? "Load file now on the card (listed as its registry object): install from "
                       "it with CKA_GP_INSTALL_ONLY, or destroy it"
            : have < 0 ? "Nothing of this load file is on the card"
                       : "What the card holds could not be read (a LOAD cut short is not kept "
                         "by the card)");
    return rv;
}

CK_RV token_applet(token_t *t, const applet_req_t *r, CK_OBJECT_HANDLE *out)
{
    gp_cap_t cap;
    memset(&cap, 0, sizeof cap);
    char why[300];
    if (r->cap && gp_cap_parse(r->cap, r->cap_len, r->descriptor, &cap, why, sizeof why) != 0) {
        LOG_ERR(t->reader, "the CAP file is refused before anything is sent to the card: %s", why);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    const uint8_t *elf = r->cap ? cap.pkg_aid : r->elf;
    size_t elf_len = r->cap ? cap.pkg_aid_len : r->elf_len;
    if (r->cap && r->elf_len && (r->elf_len != elf_len || memcmp(r->elf, elf, elf_len))) {
        LOG_ERR(t->reader, "CKA_GP_LOAD_FILE names another package than the CAP file's");
        gp_cap_free(&cap);
        return CKR_TEMPLATE_INCONSISTENT;
    }
    /* the applets to install: the one named, or every one of the package */
    int n_mod = 0;
    const uint8_t *mods[GP_CAP_APPLETS_MAX];
    size_t mod_len[GP_CAP_APPLETS_MAX];
    if (r->install && r->module_len) {
        int known = !r->cap;
        for (int i = 0; r->cap && i < cap.n_applets; i++)
            known |= cap.applet_aid_len[i] == r->module_len &&
                     !memcmp(cap.applet_aid[i], r->module, r->module_len);
        if (!known) {
            LOG_ERR(t->reader, "CKA_GP_MODULE is not one of the CAP file's applets");
            gp_cap_free(&cap);
            return CKR_TEMPLATE_INCONSISTENT;
        }
        mods[0] = r->module;
        mod_len[0] = r->module_len;
        n_mod = 1;
    } else if (r->install) {
        for (int i = 0; i < cap.n_applets; i++) {
            mods[n_mod] = cap.applet_aid[i];
            mod_len[n_mod++] = cap.applet_aid_len[i];
        }
        if (!n_mod) {
            LOG_ERR(t->reader, "the package has no applet to install (a library): load it with "
                               "CKA_APPLICATION \"load file\"");
            gp_cap_free(&cap);
            return CKR_TEMPLATE_INCONSISTENT;
        }
    }
    if (r->app_len && n_mod != 1) {
        LOG_ERR(t->reader, "CKA_GP_AID names one instance, but %d applets would be installed: "
                           "choose one with CKA_GP_MODULE", n_mod);
        gp_cap_free(&cap);
        return CKR_TEMPLATE_INCONSISTENT;
    }
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK) {
        gp_cap_free(&cap);
        return rv;
    }
    progress_t pg = {t, r, "", 99};
    hex_encode(elf, elf_len, pg.label);
    scp_err_t e = SCP_OK;
    if (!r->install_only) {
        uint8_t hash[20];
        if (r->hash && ks_sha1(t->kss, cap.block, cap.block_len, hash) != CKR_OK) {
            LOG_ERR(t->reader, "%s", ks_session_error(t->kss));
            gp_cap_free(&cap);
            return CKR_FUNCTION_FAILED;
        }
        LOG_INFO(t->reader, "loading %s: %zu bytes in blocks of %zu%s", pg.label, cap.block_len,
                 gp_max_data(&t->gp), cap.with_descriptor ? "" : ", without Descriptor");
        load_step_t st = {r, &cap, elf, elf_len, r->hash ? hash : NULL, &pg, "INSTALL [for load]"};
        /* 6982: the card closed the channel and dropped the LOAD; all again */
        e = token_run_step(t, 0, load_step, &st, NULL);
        if (e != SCP_OK) { /* cancelled too: the registry read ends the unfinished LOAD */
            gp_cap_free(&cap);
            return card_failed(t, st.step, e, elf, elf_len);
        }
        LOG_INFO(t->reader, "loaded %s", pg.label);
    }
    for (int i = 0; i < n_mod && e == SCP_OK; i++) {
        gp_install_t in = {.elf = elf, .elf_len = elf_len, .module = mods[i],
                           .module_len = mod_len[i],
                           .app = r->app_len ? r->app : mods[i],
                           .app_len = r->app_len ? r->app_len : mod_len[i],
                           .priv = r->priv_len ? r->priv : (const uint8_t *)"\x00",
                           .priv_len = r->priv_len ? r->priv_len : 1,
                           .params = r->params, .params_len = r->params_len,
                           .make_selectable = r->selectable};
        e = token_run_step(t, 0, install_step, &in, NULL);
        char app[40];
        hex_encode(in.app, in.app_len, app);
        if (e != SCP_OK) {
            char step[80];
            snprintf(step, sizeof step, "installing application %s", app);
            gp_cap_free(&cap);
            return card_failed(t, step, e, elf, elf_len);
        }
        LOG_INFO(t->reader, "installed application %s from %s%s", app, pg.label,
                 r->selectable ? ", selectable" : "");
    }
    rv = token_reload(t);
    if (rv == CKR_OK) {
        const uint8_t *want = n_mod ? (r->app_len ? r->app : mods[0]) : elf;
        size_t want_len = n_mod ? (r->app_len ? r->app_len : mod_len[0]) : elf_len;
        object_t *o = token_registry_object(t, want, want_len);
        if (o) {
            *out = o->handle;
        } else {
            LOG_ERR(t->reader, "the card accepted every command, but its registry does not list "
                               "what was installed");
            rv = CKR_FUNCTION_FAILED;
        }
    }
    gp_cap_free(&cap);
    return rv;
}

CK_RV token_store_data(token_t *t, object_t *o, const uint8_t *data, size_t len, uint8_t format)
{
    if (o->type != OBJ_REGISTRY || o->kind != GP_KIND_APP) {
        LOG_WARN(t->reader, "STORE DATA goes to an application; %s is not one", o->label);
        return CKR_ACTION_PROHIBITED;
    }
    CK_RV rv = token_ensure_channel(t);
    if (rv != CKR_OK)
        return rv;
    scp_err_t e;
    store_step_t st = {o, data, len, format, 0};
    e = token_run_step(t, 0, store_step, &st, NULL);
    size_t taken = st.taken;
    if (e == SCP_E_ARGS) {
        LOG_ERR(t->reader, "personalising %s: %s", o->label, gp_error(&t->gp));
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (e != SCP_OK) {
        if (taken)
            LOG_ERR(t->reader, "personalising %s: %s. The application took the first %zu of the "
                               "%zu bytes; %s, and nothing is sent again: send the rest, from "
                               "byte %zu on, in a new personalisation", o->label, gp_error(&t->gp),
                    taken, len,
                    gp_outcome_unknown(&t->gp, e) ? "whether it took the next block is unknown"
                                                  : "it refused the next block",
                    taken);
        else
            LOG_ERR(t->reader, "personalising %s: %s%s", o->label, gp_error(&t->gp),
                    gp_outcome_unknown(&t->gp, e)
                        ? ". Whether the application took the data is unknown: nothing is sent "
                          "again" : "");
        return token_command_rv(t, e);
    }
    LOG_INFO(t->reader, "personalised %s: %zu bytes of STORE DATA", o->label, len);
    return CKR_OK;
}
