/* A login's channel choices: the configuration's, or those a run sets over
 * them with a CKO_GP_LOGIN_OPTIONS object (gp-p11.h), never below the
 * configuration's floor. */
#include "config.h"
#include "module.h"

#include <string.h>

#include "scp/names.h"

void login_opts_conf(login_opts_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->key_set, sizeof o->key_set, "%s", M.conf.key_set);
    o->key_version = M.conf.key_version;
    o->security_level = M.conf.security_level;
    o->scp = M.conf.scp;
    o->diversification = M.conf.diversification;
    memcpy(o->isd_aid, M.conf.isd_aid, M.conf.isd_aid_len);
    o->isd_aid_len = M.conf.isd_aid_len;
}

void login_opts_apply(login_opts_t *o, const run_opts_t *r)
{
    if (!r || !r->handle)
        return;
    if (r->have & RUN_KEY_SET)
        snprintf(o->key_set, sizeof o->key_set, "%s", r->v.key_set);
    if (r->have & RUN_KEY_VERSION)
        o->key_version = r->v.key_version;
    if (r->have & RUN_LEVEL)
        o->security_level = r->v.security_level;
    if (r->have & RUN_SCP)
        o->scp = r->v.scp;
    if (r->have & RUN_DIV)
        o->diversification = r->v.diversification;
    if (r->have & RUN_AID) {
        memcpy(o->isd_aid, r->v.isd_aid, r->v.isd_aid_len);
        o->isd_aid_len = r->v.isd_aid_len;
    }
}

static const char *level_words(uint8_t level, char buf[8])
{
    const char *n = gp_level_name(level);
    if (n)
        return n;
    snprintf(buf, 8, "%02X", level);
    return buf;
}

/* The floor: a run may ask for more than the configuration, not for less. */
static CK_RV floor_check(const char *reader, const run_opts_t *r)
{
    char a[8], b[8];
    if ((r->have & RUN_LEVEL) &&
        (r->v.security_level & M.conf.security_level) != M.conf.security_level) {
        LOG_ERR(reader, "login options refused: security level %s is below the configuration's "
                        "security_level = %s (%s): a run may raise the level, not lower it",
                level_words(r->v.security_level, a), level_words(M.conf.security_level, b),
                M.conf.path[0] ? M.conf.path : "built-in default");
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if ((r->have & RUN_SCP) && r->v.scp == 1 && M.conf.scp != 1 && !M.conf.allow_scp01) {
        LOG_ERR(reader, "login options refused: SCP01 is weaker than SCP02 and SCP03 and the "
                        "configuration (%s) does not allow it: set scp01_allow = yes there",
                M.conf.path[0] ? M.conf.path : "built-in default");
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    return CKR_OK;
}

CK_RV login_opts_parse(const char *reader, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, run_opts_t *r)
{
    memset(r, 0, sizeof *r);
    for (CK_ULONG i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = &tmpl[i];
        if (template_null(a))
            return CKR_ARGUMENTS_BAD;
        CK_RV rv = CKR_OK;
        const char *what = NULL;
        int b = 0;
        switch (a->type) {
        case CKA_CLASS:
            continue;
        case CKA_TOKEN:
            rv = template_bool(a, &b);
            if (rv == CKR_OK && b) {
                LOG_ERR(reader, "login options are a session object: CKA_TOKEN must be false");
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            what = "CKA_TOKEN (a CK_BBOOL)";
            break;
        case CKA_GP_KEY_SET_NAME:
            if (a->ulValueLen == 0 || a->ulValueLen >= sizeof r->v.key_set ||
                memchr(a->pValue, 0, a->ulValueLen)) {
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
                what = "the key set name (1 to 59 bytes of text)";
                break;
            }
            memcpy(r->v.key_set, a->pValue, a->ulValueLen);
            r->v.key_set[a->ulValueLen] = 0;
            r->have |= RUN_KEY_SET;
            break;
        case CKA_GP_KEY_VERSION:
            rv = template_byte(a, &r->v.key_version);
            r->have |= RUN_KEY_VERSION;
            what = "the key version (one byte)";
            break;
        case CKA_GP_SECURITY_LEVEL:
            rv = template_byte(a, &r->v.security_level);
            if (rv == CKR_OK && !gp_level_name(r->v.security_level))
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            r->have |= RUN_LEVEL;
            what = "the security level (one byte: 01, 03, 11, 13 or 33)";
            break;
        case CKA_GP_SCP:
            rv = template_byte(a, &r->v.scp);
            if (rv == CKR_OK && r->v.scp > 3)
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            r->have |= RUN_SCP;
            what = "the protocol (one byte: 0 auto, 1, 2 or 3)";
            break;
        case CKA_GP_DIVERSIFICATION: {
            CK_ULONG d = 0;
            if (a->ulValueLen != sizeof d)
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            else
                memcpy(&d, a->pValue, sizeof d);
            if (rv == CKR_OK && !gp_div_name((int)(d > GP_DIV_KDF3 ? 99 : d)))
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            r->v.diversification = (int)d;
            r->have |= RUN_DIV;
            what = "the diversification (a CK_ULONG: GP_DIV_NONE, _EMV, _VISA2 or _KDF3)";
            break;
        }
        case CKA_GP_AID:
            rv = template_aid(a, r->v.isd_aid, &r->v.isd_aid_len);
            r->have |= RUN_AID;
            what = "the security domain's AID (5 to 16 bytes)";
            break;
        default:
            LOG_ERR(reader, "login options take a key set name, key version, security level, "
                            "protocol, diversification and security domain AID, not attribute "
                            "0x%lX", (unsigned long)a->type);
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        if (rv != CKR_OK) {
            LOG_ERR(reader, "login options refused: %s is not valid", what);
            return rv;
        }
    }
    return floor_check(reader, r);
}

CK_RV login_opts_get(const run_opts_t *r, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    CK_RV rv = CKR_OK;
    static const CK_OBJECT_CLASS cls = CKO_GP_LOGIN_OPTIONS;
    static const CK_BBOOL f = CK_FALSE;
    CK_ULONG div = (CK_ULONG)r->v.diversification;
    for (CK_ULONG i = 0; i < n; i++) {
        const void *v = NULL;
        CK_ULONG len = 0;
        switch (tmpl[i].type) {
        case CKA_CLASS: v = &cls, len = sizeof cls; break;
        case CKA_TOKEN: v = &f, len = sizeof f; break;
        case CKA_GP_KEY_SET_NAME:
            if (r->have & RUN_KEY_SET)
                v = r->v.key_set, len = strlen(r->v.key_set);
            break;
        case CKA_GP_KEY_VERSION:
            if (r->have & RUN_KEY_VERSION)
                v = &r->v.key_version, len = 1;
            break;
        case CKA_GP_SECURITY_LEVEL:
            if (r->have & RUN_LEVEL)
                v = &r->v.security_level, len = 1;
            break;
        case CKA_GP_SCP:
            if (r->have & RUN_SCP)
                v = &r->v.scp, len = 1;
            break;
        case CKA_GP_DIVERSIFICATION:
            if (r->have & RUN_DIV)
                v = &div, len = sizeof div;
            break;
        case CKA_GP_AID:
            if (r->have & RUN_AID)
                v = r->v.isd_aid, len = r->v.isd_aid_len;
            break;
        default: break;
        }
        if (!v) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (!tmpl[i].pValue) {
            tmpl[i].ulValueLen = len;
        } else if (tmpl[i].ulValueLen < len) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            memcpy(tmpl[i].pValue, v, len);
            tmpl[i].ulValueLen = len;
        }
    }
    return rv;
}

CK_RV login_opts_create(token_t *t, session_t *s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                        CK_OBJECT_HANDLE *out)
{
    run_opts_t r;
    CK_RV rv = login_opts_parse(t->reader, tmpl, n, &r);
    if (rv != CKR_OK)
        return rv;
    mutex_lock(M.lock);
    r.handle = ++M.next_object;
    mutex_unlock(M.lock);
    s->run = r;
    *out = r.handle;
    if (t->logged_in)
        LOG_INFO(t->reader, "login options taken: they apply to this session's next C_Login, "
                            "not to the login now open");
    return CKR_OK;
}
