/* Plain APDUs outside the secure channel (CKM_GP_APDU_PLAIN, gp-p11.h):
 * to an application, without a login. With the token's lock held. */
#include "config.h"
#include "module.h"

#include <string.h>

/* Commands that belong to gp-p11's own protocol work: authentication is a
 * login's alone (an EXTERNAL AUTHENTICATE sent by hand would spend one of the
 * card's tries), GET RESPONSE is the transport's, and the secure channel and
 * the held card live on the basic logical channel. */
static CK_RV plain_refused(token_t *t, const apdu_t *a)
{
    const char *why = NULL;
    if (apdu_logical_channel(a->cla))
        why = "other logical channels are not opened here: use CLA 00 (the basic channel)";
    else if (a->ins == 0x50 || a->ins == 0x82)
        why = "INITIALIZE UPDATE and EXTERNAL AUTHENTICATE are a login's alone (C_Login): sent by "
              "hand, an EXTERNAL AUTHENTICATE spends one of the card's tries";
    else if (a->ins == 0xC0)
        why = "GET RESPONSE is sent by gp-p11 itself when the card answers 61xx";
    else if (a->ins == 0x70)
        why = "MANAGE CHANNEL would open or close a logical channel gp-p11 does not keep";
    if (!why)
        return CKR_OK;
    LOG_WARN(t->reader, "CKM_GP_APDU_PLAIN: INS %02X is not sent: %s", a->ins, why);
    return CKR_DATA_INVALID;
}

CK_RV token_apdu_plain(token_t *t, session_t *s, const uint8_t *cmd, size_t len, uint8_t *rsp,
                       size_t *rsp_len)
{
    apdu_t a;
    if (apdu_parse(cmd, len, &a) != 0) {
        LOG_WARN(t->reader, "CKM_GP_APDU_PLAIN: %zu bytes are not a short command APDU", len);
        return CKR_DATA_INVALID;
    }
    CK_RV rv = plain_refused(t, &a);
    if (rv == CKR_OK)
        rv = apdu_never(t, &a, "CKM_GP_APDU_PLAIN");
    if (rv != CKR_OK)
        return rv;
    if (!s->plain_hold) { /* this session's plain APDUs reach the same application */
        if (!t->logged_in && (rv = card_hold(t)) != CKR_OK)
            return rv;
        s->plain_hold = 1;
        t->plain_holds++;
    }
    if (gp_channel_open(&t->gp)) {
        /* a plain command would make the card end the session, or run unauthenticated
         * in the middle of it: the channel is closed first, and said */
        gp_close_channel(&t->gp);
        LOG_INFO(t->reader, "the secure channel is closed: plain APDUs go outside it; the next "
                            "secured command opens a new one");
    }
    uint16_t sw;
    size_t dl = 0;
    scp_err_t e = gp_send(&t->gp, &a, rsp, RESPONSE_MAX - 2, &dl, &sw);
    if (e != SCP_OK) {
        LOG_ERR(t->reader, "CKM_GP_APDU_PLAIN: %s", gp_error(&t->gp));
        return e == SCP_E_TOO_LONG ? CKR_DATA_LEN_RANGE : token_map_scp(t, e);
    }
    rsp[dl] = (uint8_t)(sw >> 8);
    rsp[dl + 1] = (uint8_t)sw;
    *rsp_len = dl + 2;
    return CKR_OK;
}

void plain_session_closed(token_t *t, session_t *s)
{
    if (!s->plain_hold)
        return;
    s->plain_hold = 0;
    if (--t->plain_holds <= 0) {
        t->plain_holds = 0;
        card_unhold(t);
    }
}
