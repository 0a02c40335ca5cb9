/* The keystore of every token: loaded once, logged in while any token is,
 * and its PIN checked against the first login's (see module.h). */
#include "config.h"
#include "module.h"
#include "keystore/doctor.h"

#include <string.h>

/* Why the keystore instance is shared with other code in the process. */
static const char *shared_reason(void)
{
    return M.conf.keystore_shared ? "keystore_instance = shared"
                                  : "no private copy of the module could be loaded: is /proc "
                                    "mounted, and memfd allowed?";
}

/* The keystore layer restarts an instance that read its token half-written
 * by another process (SoftHSM's file store): said, since it explains a slower
 * login and points at the other process. */
static void say_reloads(unsigned before)
{
    unsigned n = ks_reloads(M.ks) - before;
    if (n)
        LOG_INFO("", "the keystore module read token \"%s\" while another process was writing it "
                     "and was started again (%u time%s)", M.conf.keystore_token, n,
                 n > 1 ? "s" : "");
}

/* Once per load: what the keystore's mechanism list says it can do for
 * gp-p11, so that a user knows before a login fails (log_level = info); a
 * warning when it lists no protocol's login at all. */
static void say_capabilities(void)
{
    ks_caps_t c;
    char err[KS_ERRLEN] = "", line[1024];
    if (ks_caps_listed(M.ks, &c, err, sizeof err) != CKR_OK) {
        LOG_WARN("", "%s: gp-p11 cannot tell what this keystore can do before it tries", err);
        return;
    }
    ks_caps_line(M.ks, &c, line, sizeof line);
    if (c.state[KS_CAP_SCP01] == KS_CAP_LISTED || c.state[KS_CAP_SCP02] == KS_CAP_LISTED ||
        c.state[KS_CAP_SCP03] == KS_CAP_LISTED)
        LOG_INFO("", "%s", line);
    else
        LOG_WARN("", "%s", line);
}

static CK_RV keystore_load(void) /* M.lock held */
{
    if (M.ks)
        return CKR_OK;
    char err[KS_ERRLEN] = "", why[600];
    if (config_trusted_file("keystore module", M.conf.keystore_module, why, sizeof why) < 0) {
        LOG_ERR("", "%s", why);
        return CKR_DEVICE_ERROR;
    }
    if (ks_open_args(&M.ks, M.conf.keystore_module, M.conf.keystore_shared,
                     M.conf.keystore_init_args, err, sizeof err) != CKR_OK) {
        LOG_ERR("", "%s", err);
        return CKR_DEVICE_ERROR;
    }
    if (!ks_private(M.ks))
        LOG_WARN("", "the keystore module %s is loaded as a shared instance (%s): other code in this "
                     "process that loads it shares its login and sessions", M.conf.keystore_module,
                 shared_reason());
    if (ks_select_token(M.ks, M.conf.keystore_token, err, sizeof err) != CKR_OK ||
        ks_session_open(M.ks, &M.ks_misc) != CKR_OK) {
        LOG_ERR("", "%s", err[0] ? err : "keystore: cannot open a session");
        ks_close(M.ks);
        M.ks = NULL;
        return CKR_DEVICE_ERROR;
    }
    say_reloads(0);
    say_capabilities();
    return CKR_OK;
}

CK_RV keystore_random(uint8_t *buf, size_t len)
{
    mutex_lock(M.lock);
    CK_RV rv = keystore_load();
    if (rv == CKR_OK && ks_random(M.ks_misc, buf, len) != CKR_OK) {
        LOG_ERR("", "%s", ks_session_error(M.ks_misc));
        rv = CKR_DEVICE_ERROR;
    }
    mutex_unlock(M.lock);
    return rv;
}

/* The keystore's login is the application's, not a card's: the first token
 * logs in with the PIN and keeps a salted SHA-256 verifier (computed by the
 * keystore), against which the next tokens' PINs are checked. */
CK_RV keystore_login(const uint8_t *pin, size_t pin_len)
{
    mutex_lock(M.lock);
    CK_RV rv = keystore_load();
    if (rv != CKR_OK)
        goto out;
    int state = ks_logged_in(M.ks);
    if (M.ks_logins > 0 && state != 1) {
        /* other code with the shared instance logged out or closed our sessions */
        LOG_WARN("", "gp-p11's keystore login was taken away by other code in this process, "
                     "which shares the keystore instance: logging in again with this PIN");
        M.ks_logins = 0;
    }
    if (state < 0) { /* the sessions are gone: open new ones */
        char e2[KS_ERRLEN] = "";
        ks_session_close(M.ks_misc);
        M.ks_misc = NULL;
        if (ks_select_token(M.ks, M.conf.keystore_token, e2, sizeof e2) != CKR_OK ||
            ks_session_open(M.ks, &M.ks_misc) != CKR_OK) {
            LOG_ERR("", "keystore: %s", e2[0] ? e2 : "cannot open a session");
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    }
    uint8_t digest[32];
    if (M.ks_logins == 0) {
        char err[KS_ERRLEN] = "";
        int already = 0;
        unsigned reloads = ks_reloads(M.ks);
        rv = ks_login_ex(M.ks, pin, pin_len, &already, err, sizeof err);
        say_reloads(reloads);
        if (rv != CKR_OK) {
            LOG_WARN("", "%s", err);
            goto out;
        }
        if (already) {
            /* someone else in this process logged the shared instance in:
             * the PIN was not checked, so it is not taken */
            LOG_ERR("", "the keystore token \"%s\" is already logged in by other code in this "
                        "process, which shares gp-p11's instance of %s (%s): gp-p11 cannot check "
                        "the PIN and refuses it", M.conf.keystore_token, M.conf.keystore_module,
                    shared_reason());
            rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
            goto out;
        }
        if (ks_random(M.ks_misc, M.pin_salt, sizeof M.pin_salt) != CKR_OK ||
            ks_sha256(M.ks_misc, M.pin_salt, sizeof M.pin_salt, pin, pin_len, M.pin_verifier) !=
                CKR_OK) {
            LOG_ERR("", "%s", ks_session_error(M.ks_misc));
            ks_logout(M.ks);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    } else {
        if (ks_sha256(M.ks_misc, M.pin_salt, sizeof M.pin_salt, pin, pin_len, digest) != CKR_OK) {
            LOG_ERR("", "%s", ks_session_error(M.ks_misc));
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        uint8_t d = 0;
        for (int i = 0; i < 32; i++)
            d |= (uint8_t)(digest[i] ^ M.pin_verifier[i]);
        ks_wipe(digest, sizeof digest);
        if (d) {
            LOG_WARN("", "keystore refused the PIN (CKR_PIN_INCORRECT)");
            rv = CKR_PIN_INCORRECT;
            goto out;
        }
    }
    M.ks_logins++;
out:
    mutex_unlock(M.lock);
    return rv;
}

void keystore_logout(void)
{
    mutex_lock(M.lock);
    if (M.ks_logins > 0 && --M.ks_logins == 0) {
        ks_logout(M.ks);
        ks_wipe(M.pin_salt, sizeof M.pin_salt);
        ks_wipe(M.pin_verifier, sizeof M.pin_verifier);
    }
    mutex_unlock(M.lock);
}

