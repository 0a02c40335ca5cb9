/*
 * gp-p11: the PKCS#11 entry points and the function list, nothing else.
 * Each checks its arguments and what it needs of the session, in the order
 * PKCS#11 gives the error codes, then hands over: the module's life
 * (life.c), slots (slot.c) and their events (events.c), sessions
 * (session.c), a card as a token (token.c), its objects (object.c), the
 * templates (template.c), card management (manage.c, cardkeys.c,
 * applet.c) and the keystore login (keystore_login.c).
 */
#include "config.h"
#include "module.h"

#include <string.h>

/* --- how each entry point starts ---------------------------------------------------- */

#define CHECK_INIT()                                                                               \
    do {                                                                                           \
        if (!module_live())                                                                        \
            return CKR_CRYPTOKI_NOT_INITIALIZED;                                                   \
    } while (0)

/* A session's call: s and t, its token locked, or the entry's CKR returned
 * (session_enter). What the call needs of the session (session_may) is said
 * where the call checks it; every exit goes through session_done or
 * session_finish. */
#define ENTER_SESSION(h)                                                                           \
    session_t *s;                                                                                  \
    token_t *t;                                                                                    \
    CK_RV rv = session_enter((h), &s, &t);                                                         \
    if (rv != CKR_OK)                                                                              \
        return rv

static int card_present(token_t *t)
{
    return M.pc && pcsc_card_present(M.pc, t->reader) > 0;
}

/* --- general ----------------------------------------------------------------- */

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    return module_initialize(pInitArgs);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved)
        return module_live() ? CKR_ARGUMENTS_BAD : CKR_CRYPTOKI_NOT_INITIALIZED;
    return module_finalize();
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    pad_text(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "gp-p11");
    pad_text(pInfo->libraryDescription, sizeof pInfo->libraryDescription,
        "GlobalPlatform cards, SCP02/03");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
    return CKR_OK;
}

/* --- slots and tokens --------------------------------------------------------- */

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    CHECK_INIT();
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    mutex_lock(M.lock);
    if (!pSlotList)
        slots_refresh(); /* the list may change between length queries, not after */
    CK_SLOT_ID ids[MAX_SLOTS];
    CK_ULONG n = 0;
    for (int i = 0; i < MAX_SLOTS; i++) {
        token_t *t = &M.tokens[i];
        if (t->used && t->listed && (!tokenPresent || card_present(t)))
            ids[n++] = t->id;
    }
    CK_RV rv = CKR_OK;
    if (pSlotList) {
        if (*pulCount < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            memcpy(pSlotList, ids, n * sizeof ids[0]);
    }
    *pulCount = n;
    mutex_unlock(M.lock);
    return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    mutex_lock(M.lock);
    token_t *t = slot_token(slotID);
    if (t)
        slot_info(t, pInfo, t->listed && card_present(t));
    mutex_unlock(M.lock);
    return t ? CKR_OK : CKR_SLOT_ID_INVALID;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    token_t *t;
    CK_RV rv = slot_enter(slotID, &t);
    if (rv != CKR_OK)
        return rv;
    rv = token_info(t, pInfo);
    if (rv == CKR_DEVICE_REMOVED)
        rv = CKR_TOKEN_NOT_PRESENT;
    return token_leave(t, rv);
}

static const CK_MECHANISM_TYPE mechanisms[] = {CKM_GP_APDU, CKM_GP_APDU_PLAIN, CKM_GP_PUT_KEY};

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList, CK_ULONG_PTR pulCount)
{
    CHECK_INIT();
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    mutex_lock(M.lock);
    token_t *t = slot_token(slotID);
    int present = t && card_present(t);
    mutex_unlock(M.lock);
    if (!t)
        return CKR_SLOT_ID_INVALID;
    if (!present)
        return CKR_TOKEN_NOT_PRESENT;
    CK_ULONG n = sizeof mechanisms / sizeof mechanisms[0];
    CK_RV rv = CKR_OK;
    if (pList) {
        if (*pulCount < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            memcpy(pList, mechanisms, sizeof mechanisms);
    }
    *pulCount = n;
    return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    mutex_lock(M.lock);
    token_t *t = slot_token(slotID);
    int present = t && card_present(t);
    mutex_unlock(M.lock);
    if (!t)
        return CKR_SLOT_ID_INVALID;
    if (!present)
        return CKR_TOKEN_NOT_PRESENT;
    if (type != CKM_GP_APDU && type != CKM_GP_APDU_PLAIN && type != CKM_GP_PUT_KEY)
        return CKR_MECHANISM_INVALID;
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->flags = CKF_HW | (type == CKM_GP_PUT_KEY ? CKF_GENERATE : CKF_SIGN);
    if (type == CKM_GP_PUT_KEY) { /* bytes per key: DES2 (SCP02), AES-128 to 256 (SCP03) */
        pInfo->ulMinKeySize = 16;
        pInfo->ulMaxKeySize = 32;
    }
    return CKR_OK;
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pOld, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNew,
               CK_ULONG ulNewLen)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* --- sessions ------------------------------------------------------------------ */

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
    CHECK_INIT();
    if (!phSession)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    token_t *t;
    CK_RV rv = slot_enter(slotID, &t);
    if (rv != CKR_OK)
        return rv;
    rv = token_present(t);
    if (rv != CKR_OK)
        return token_leave(t, rv);
    mutex_lock(M.lock);
    session_t *s = session_new((int)t->id, flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION), t->generation);
    if (s) {
        t->n_sessions++;
        s->notify = Notify;
        s->app = pApplication;
        *phSession = s->handle;
    }
    mutex_unlock(M.lock);
    return token_leave(t, s ? CKR_OK : CKR_SESSION_COUNT);
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
    CHECK_INIT();
    session_t *s;
    token_t *t;
    CK_RV rv = session_lock(h, &s, &t);
    if (rv != CKR_OK)
        return rv;
    session_close_locked(t, s);
    return token_leave(t, CKR_OK);
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    CHECK_INIT();
    token_t *t;
    CK_RV rv = slot_enter(slotID, &t);
    if (rv != CKR_OK)
        return rv;
    mutex_lock(M.lock);
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (M.sessions[i].handle && M.sessions[i].slot == (int)t->id)
            session_free(&M.sessions[i]);
    t->n_sessions = 0;
    mutex_unlock(M.lock);
    token_logout(t);
    return token_leave(t, CKR_OK);
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR pInfo)
{
    ENTER_SESSION(h);
    if (!pInfo)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    int rw = (s->flags & CKF_RW_SESSION) != 0;
    pInfo->slotID = t->id;
    pInfo->flags = s->flags;
    pInfo->state = t->logged_in ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
                                : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
    pInfo->ulDeviceError = s->device_error;
    return session_finish(t, s, CKR_OK);
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n, CK_OBJECT_HANDLE e,
                          CK_OBJECT_HANDLE a)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    ENTER_SESSION(h);
    if (userType == CKU_CONTEXT_SPECIFIC)
        return session_done(t, s, CKR_OPERATION_NOT_INITIALIZED);
    if (userType == CKU_SO) {
        if (t->logged_in) /* PKCS#11 2.40 5.6: the user is logged in already */
            return session_done(t, s, CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
        LOG_WARN(t->reader, "gp-p11 has no security officer: log in as user (CKU_USER)");
        return session_done(t, s, CKR_USER_TYPE_INVALID);
    }
    if (userType != CKU_USER)
        return session_done(t, s, CKR_USER_TYPE_INVALID);
    if (!pPin)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    return session_done(t, s, token_login(t, pPin, ulPinLen, &s->run));
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
    ENTER_SESSION(h);
    rv = session_may(s, t, NEEDS_USER);
    if (rv != CKR_OK)
        return session_done(t, s, rv);
    token_logout(t);
    return session_done(t, s, CKR_OK);
}

/* --- objects ------------------------------------------------------------------- */


CK_RV C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
    ENTER_SESSION(h);
    if ((!pTemplate && ulCount) || !phObject)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    /* without a class there is nothing to create (PKCS#11: CKR_TEMPLATE_INCOMPLETE); a
     * class this token does not create is refused first, wherever it stands */
    CK_OBJECT_CLASS cls;
    int have_class = template_class(pTemplate, ulCount, &cls);
    int data = have_class && cls == CKO_DATA, known = data || (have_class && cls == CKO_GP_KEY_SET);
    if (!have_class)
        return session_done(t, s, CKR_TEMPLATE_INCOMPLETE);
    if (cls == CKO_GP_LOGIN_OPTIONS) /* a run's channel choices, before C_Login */
        return session_done(t, s, login_opts_create(t, s, pTemplate, ulCount, phObject));
    if (!known) {
        LOG_WARN(t->reader, "C_CreateObject: this token creates a CAP file's load file or "
                            "application (CKO_DATA), a card key set (CKO_GP_KEY_SET) and login "
                            "options (CKO_GP_LOGIN_OPTIONS), nothing of another class");
        return session_done(t, s, CKR_ATTRIBUTE_VALUE_INVALID);
    }
    if (data) { /* a CAP file to load (and install) */
        applet_req_t ar;
        rv = applet_parse(pTemplate, ulCount, &ar);
        ar.notify = s->notify;
        ar.notify_app = s->app;
        ar.session = h;
        if (rv == CKR_OK)
            rv = session_may(s, t, NEEDS_USER | NEEDS_RW);
        if (rv == CKR_OK)
            rv = token_applet(t, &ar, phObject);
        return session_done(t, s, rv);
    }
    put_key_t p;
    rv = template_put_key(pTemplate, ulCount, &p);
    if (rv == CKR_OK && !p.have_values)
        rv = CKR_TEMPLATE_INCOMPLETE;
    if (rv == CKR_OK)
        rv = session_may(s, t, NEEDS_USER | NEEDS_RW);
    if (rv == CKR_OK && !M.conf.put_key_plaintext) {
        LOG_ERR(t->reader, "PUT KEY with key values from the application is refused: it needs "
                           "put_key_plaintext = yes (C_GenerateKey with CKM_GP_PUT_KEY keeps the "
                           "keys inside the keystore)");
        rv = CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK)
        rv = token_put_key(t, p.name, p.kvn, p.replace, p.values, p.values_len, phObject);
    ks_wipe(&p, sizeof p);
    return session_done(t, s, rv);
}

CK_RV C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                   CK_OBJECT_HANDLE_PTR p)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* An object this session can see: objects are private, so only after login. */
/* Logged in: every object; else the public ones read before a login. */
static object_t *visible(token_t *t, CK_OBJECT_HANDLE h)
{
    object_t *o = token_object(t, h);
    return o && (t->logged_in || o->public_obj) ? o : NULL;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hObject)
{
    ENTER_SESSION(h);
    if (s->run.handle && hObject == s->run.handle) { /* the login options: forgotten */
        memset(&s->run, 0, sizeof s->run);
        return session_done(t, s, CKR_OK);
    }
    object_t *o = visible(t, hObject);
    if (!o)
        return session_done(t, s, CKR_OBJECT_HANDLE_INVALID);
    if ((rv = session_may(s, t, NEEDS_USER | NEEDS_RW)) != CKR_OK)
        return session_done(t, s, rv);
    return session_done(t, s, token_destroy_object(t, o));
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    ENTER_SESSION(h);
    object_t *o = visible(t, hObject);
    if (!o)
        return session_done(t, s, CKR_OBJECT_HANDLE_INVALID);
    if (!pulSize)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    *pulSize = o->type == OBJ_CHANNEL || o->type == OBJ_PLAIN ? CK_UNAVAILABLE_INFORMATION
                                                                : o->value_len;
    return session_done(t, s, CKR_OK);
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    ENTER_SESSION(h);
    int run = s->run.handle && hObject == s->run.handle; /* the login options */
    object_t *o = run ? NULL : visible(t, hObject);
    if (!o && !run)
        return session_done(t, s, CKR_OBJECT_HANDLE_INVALID);
    if (!pTemplate && ulCount)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    return session_done(t, s, run ? login_opts_get(&s->run, pTemplate, ulCount)
                                   : object_get_attributes(o, pTemplate, ulCount));
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    ENTER_SESSION(h);
    object_t *o = visible(t, hObject);
    if (!o)
        return session_done(t, s, CKR_OBJECT_HANDLE_INVALID);
    if (!pTemplate && ulCount)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    set_req_t q;
    rv = template_set(pTemplate, ulCount, o->type == OBJ_REGISTRY,
                      o->type == OBJ_REGISTRY ? o->kind : (CK_ULONG)-1, &q);
    if (rv == CKR_ATTRIBUTE_READ_ONLY)
        object_say_read_only(t, o);
    if (rv != CKR_OK)
        return session_done(t, s, rv);
    if (q.have_lifecycle + q.have_store + (q.related >= 0) > 1)
        return session_done(t, s, CKR_TEMPLATE_INCONSISTENT); /* one change at a time */
    if (!q.have_lifecycle && !q.have_store && q.related < 0)
        return session_done(t, s, ulCount ? CKR_TEMPLATE_INCONSISTENT : CKR_OK);
    if ((rv = session_may(s, t, NEEDS_USER | NEEDS_RW)) != CKR_OK)
        return session_done(t, s, rv);
    if (q.related >= 0) {
        o->delete_related = q.related;
        return session_done(t, s, CKR_OK);
    }
    if (q.have_store)
        return session_done(t, s, token_store_data(t, o, q.store, q.store_len, q.format));
    return session_done(t, s, token_set_lifecycle(t, o, q.lifecycle, q.confirm));
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    ENTER_SESSION(h);
    if (s->find_active)
        return session_done(t, s, CKR_OPERATION_ACTIVE);
    if (!pTemplate && ulCount)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    s->n_found = s->found_pos = 0;
    if (!t->logged_in && (rv = token_load_public(t)) != CKR_OK)
        return session_done(t, s, rv);
    for (int i = 0; i < t->n_objects; i++)
        if (object_matches(&t->objects[i], pTemplate, ulCount))
            s->found[s->n_found++] = t->objects[i].handle;
    s->find_active = 1;
    return session_done(t, s, CKR_OK);
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                    CK_ULONG_PTR pulObjectCount)
{
    ENTER_SESSION(h);
    if (!s->find_active)
        return session_done(t, s, CKR_OPERATION_NOT_INITIALIZED);
    if ((!phObject && ulMaxObjectCount) || !pulObjectCount)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    CK_ULONG n = 0;
    while (n < ulMaxObjectCount && s->found_pos < s->n_found)
        phObject[n++] = s->found[s->found_pos++];
    *pulObjectCount = n;
    return session_done(t, s, CKR_OK);
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    ENTER_SESSION(h);
    if (!s->find_active)
        return session_done(t, s, CKR_OPERATION_NOT_INITIALIZED);
    s->find_active = 0;
    return session_done(t, s, CKR_OK);
}

/* --- CKM_GP_APDU: C_Sign sends an APDU through the secure channel ------------- */

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTER_SESSION(h);
    if (!pMechanism)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    if (s->sign_active)
        return session_done(t, s, CKR_OPERATION_ACTIVE);
    int plain = pMechanism->mechanism == CKM_GP_APDU_PLAIN; /* no login needed */
    if (!plain && (rv = session_may(s, t, NEEDS_USER)) != CKR_OK)
        return session_done(t, s, rv);
    if (!plain && pMechanism->mechanism != CKM_GP_APDU)
        return session_done(t, s, CKR_MECHANISM_INVALID);
    if (pMechanism->pParameter || pMechanism->ulParameterLen)
        return session_done(t, s, CKR_MECHANISM_PARAM_INVALID);
    object_t *o = visible(t, hKey);
    if (!o || o->cls != CKO_SECRET_KEY)
        return session_done(t, s, CKR_KEY_HANDLE_INVALID);
    if ((o->type == OBJ_PLAIN) != plain)
        return session_done(t, s, CKR_KEY_TYPE_INCONSISTENT);
    s->sign_plain = plain;
    s->sign_active = 1;
    s->have_kept = 0;
    return session_done(t, s, CKR_OK);
}

static void end_sign(session_t *s)
{
    s->sign_plain = 0;
    ks_wipe(s->kept, sizeof s->kept);
    s->have_kept = 0;
    s->kept_len = 0;
    s->sign_active = 0;
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
             CK_ULONG_PTR pulSignatureLen)
{
    ENTER_SESSION(h);
    if (!s->sign_active)
        return session_done(t, s, CKR_OPERATION_NOT_INITIALIZED);
    if (!pulSignatureLen || (!pData && ulDataLen)) {
        end_sign(s);
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    }
    if (!pSignature) {
        /* a length query: enough for any answer, and the APDU is not sent */
        *pulSignatureLen = s->have_kept ? s->kept_len : RESPONSE_MAX;
        return session_done(t, s, CKR_OK);
    }
    if (!s->have_kept) {
        size_t n = 0;
        if (s->sign_plain)
            rv = token_apdu_plain(t, s, pData, ulDataLen, s->kept, &n);
        else if ((rv = session_may(s, t, NEEDS_USER)) == CKR_OK)
            /* the APDU rules ask whether the session may change the card */
            rv = token_apdu(t, pData, ulDataLen, session_may(s, t, NEEDS_RW) == CKR_OK, s->kept, &n);
        if (rv != CKR_OK) {
            end_sign(s);
            return session_done(t, s, rv);
        }
        s->kept_len = n;
        s->have_kept = 1;
    }
    if (*pulSignatureLen < s->kept_len) {
        *pulSignatureLen = s->kept_len; /* kept: the APDU is not sent again */
        return session_done(t, s, CKR_BUFFER_TOO_SMALL);
    }
    memcpy(pSignature, s->kept, s->kept_len);
    *pulSignatureLen = s->kept_len;
    end_sign(s);
    return session_done(t, s, CKR_OK);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n)
{
    ENTER_SESSION(h);
    if (!s->sign_active)
        return session_done(t, s, CKR_OPERATION_NOT_INITIALIZED);
    end_sign(s); /* CKM_GP_APDU is single-part */
    return session_done(t, s, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
    return C_SignUpdate(h, NULL, 0);
}

/* --- key rotation: CKM_GP_PUT_KEY ------------------------------------------------ */

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
                    CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    ENTER_SESSION(h);
    if (!pMechanism || !phKey || (!pTemplate && ulCount))
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    if (pMechanism->mechanism != CKM_GP_PUT_KEY)
        return session_done(t, s, CKR_MECHANISM_INVALID);
    if (pMechanism->pParameter || pMechanism->ulParameterLen)
        return session_done(t, s, CKR_MECHANISM_PARAM_INVALID);
    put_key_t p;
    rv = template_put_key(pTemplate, ulCount, &p);
    if (rv == CKR_OK && p.have_values)
        rv = CKR_TEMPLATE_INCONSISTENT; /* generated keys have no values to give */
    if (rv == CKR_OK)
        rv = session_may(s, t, NEEDS_USER | NEEDS_RW);
    if (rv == CKR_OK)
        rv = token_put_key(t, p.name, p.kvn, p.replace, NULL, 0, phKey);
    ks_wipe(&p, sizeof p);
    return session_done(t, s, rv);
}

/* --- random numbers, from the keystore --------------------------------------- */

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    ENTER_SESSION(h);
    return session_done(t, s, CKR_RANDOM_SEED_NOT_SUPPORTED);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
    ENTER_SESSION(h);
    if (!pRandomData && ulRandomLen)
        return session_done(t, s, CKR_ARGUMENTS_BAD);
    return session_done(t, s, ulRandomLen ? keystore_random(pRandomData, ulRandomLen) : CKR_OK);
}

/* --- legacy parallel functions and events ----------------------------------------- */

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
    ENTER_SESSION(h);
    return session_done(t, s, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE h)
{
    return C_GetFunctionStatus(h);
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    CK_RV rv = module_wait_begin(); /* C_Finalize waits for it to leave */
    if (rv != CKR_OK)
        return rv;
    rv = !pSlot || pReserved ? CKR_ARGUMENTS_BAD : events_wait(!(flags & CKF_DONT_BLOCK), pSlot);
    module_wait_end();
    return rv;
}

/* --- everything else is not offered -------------------------------------------- */

#define NOT_SUPPORTED(name, args)                                                                  \
    CK_RV name args { return CKR_FUNCTION_NOT_SUPPORTED; }

NOT_SUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Encrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_EncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG_PTR b))
NOT_SUPPORTED(C_DecryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Decrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DecryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG_PTR b))
NOT_SUPPORTED(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m))
NOT_SUPPORTED(C_Digest, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b))
NOT_SUPPORTED(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG_PTR b))
NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_SignRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_VerifyInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Verify, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG d))
NOT_SUPPORTED(C_VerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b))
NOT_SUPPORTED(C_VerifyFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b))
NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_GenerateKeyPair, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR a, CK_ULONG b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e, CK_OBJECT_HANDLE_PTR f))
NOT_SUPPORTED(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b, CK_BYTE_PTR c, CK_ULONG_PTR d))
NOT_SUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f))
NOT_SUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d))

/* --- the function list ------------------------------------------------------------- */

static CK_FUNCTION_LIST function_list = {
    .version = {2, 40},
#define F(name) .name = name
    F(C_Initialize), F(C_Finalize), F(C_GetInfo), F(C_GetFunctionList), F(C_GetSlotList),
    F(C_GetSlotInfo), F(C_GetTokenInfo), F(C_GetMechanismList), F(C_GetMechanismInfo),
    F(C_InitToken), F(C_InitPIN), F(C_SetPIN), F(C_OpenSession), F(C_CloseSession),
    F(C_CloseAllSessions), F(C_GetSessionInfo), F(C_GetOperationState), F(C_SetOperationState),
    F(C_Login), F(C_Logout), F(C_CreateObject), F(C_CopyObject), F(C_DestroyObject),
    F(C_GetObjectSize), F(C_GetAttributeValue), F(C_SetAttributeValue), F(C_FindObjectsInit),
    F(C_FindObjects), F(C_FindObjectsFinal), F(C_EncryptInit), F(C_Encrypt), F(C_EncryptUpdate),
    F(C_EncryptFinal), F(C_DecryptInit), F(C_Decrypt), F(C_DecryptUpdate), F(C_DecryptFinal),
    F(C_DigestInit), F(C_Digest), F(C_DigestUpdate), F(C_DigestKey), F(C_DigestFinal),
    F(C_SignInit), F(C_Sign), F(C_SignUpdate), F(C_SignFinal), F(C_SignRecoverInit),
    F(C_SignRecover), F(C_VerifyInit), F(C_Verify), F(C_VerifyUpdate), F(C_VerifyFinal),
    F(C_VerifyRecoverInit), F(C_VerifyRecover), F(C_DigestEncryptUpdate),
    F(C_DecryptDigestUpdate), F(C_SignEncryptUpdate), F(C_DecryptVerifyUpdate), F(C_GenerateKey),
    F(C_GenerateKeyPair), F(C_WrapKey), F(C_UnwrapKey), F(C_DeriveKey), F(C_SeedRandom),
    F(C_GenerateRandom), F(C_GetFunctionStatus), F(C_CancelFunction), F(C_WaitForSlotEvent),
#undef F
};

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &function_list;
    return CKR_OK;
}
