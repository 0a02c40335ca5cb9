/* Status-word meanings: ISO/IEC 7816-4 section 5.1.3 and GlobalPlatform
 * Card Specification 2.2 (section 11 command responses, appendix E). */
#include "config.h"
#include "sw.h"

#include <stdio.h>

struct sw_entry {
    uint16_t sw;
    enum sw_context ctx; /* SW_CTX_ANY matches every context */
    const char *text;
};

static const struct sw_entry table[] = {
    {0x9000, SW_CTX_ANY, "success"},
    {0x6200, SW_CTX_ANY, "warning: no information given, state of non-volatile memory unchanged"},
    {0x6281, SW_CTX_ANY, "warning: part of the returned data may be corrupted"},
    {0x6283, SW_CTX_SELECT, "warning: the selected application or file is locked (card or application lifecycle LOCKED)"},
    {0x6283, SW_CTX_ANY, "warning: selected file deactivated"},
    {0x6300, SW_CTX_EXTERNAL_AUTHENTICATE, "authentication failed: the card did not accept the host cryptogram (GlobalPlatform); the card counted a failed authentication"},
    {0x6310, SW_CTX_ANY, "more data available: repeat the command with P2 'next occurrence'"},
    {0x6400, SW_CTX_ANY, "execution error, state of non-volatile memory unchanged"},
    {0x6581, SW_CTX_ANY, "memory failure on the card"},
    {0x6700, SW_CTX_ANY, "wrong length (Lc or Le)"},
    {0x6881, SW_CTX_ANY, "logical channel not supported"},
    {0x6882, SW_CTX_ANY, "secure messaging not supported"},
    {0x6883, SW_CTX_ANY, "last command of the chain expected"},
    {0x6884, SW_CTX_ANY, "command chaining not supported"},
    {0x6982, SW_CTX_INITIALIZE_UPDATE, "security status not satisfied: the card refuses to open a secure channel (a secure channel may be open already, or the key version is not usable)"},
    {0x6982, SW_CTX_EXTERNAL_AUTHENTICATE, "authentication failed: the card did not accept the host cryptogram or its C-MAC (wrong keys); the card counted a failed authentication"},
    {0x6982, SW_CTX_SECURED, "security status not satisfied: the card rejected the C-MAC or the security level of this command, did not execute it, and closed the secure channel"},
    {0x6982, SW_CTX_ANY, "security status not satisfied: the command needs an authenticated secure channel"},
    {0x6983, SW_CTX_ANY, "authentication method blocked: the card has locked this key after too many failed authentications; it cannot be unlocked from this host"},
    {0x6984, SW_CTX_ANY, "referenced data invalidated"},
    {0x6985, SW_CTX_DELETE, "conditions of use not satisfied: the object cannot be deleted now (another application still depends on it, or it is the security domain in use)"},
    {0x6985, SW_CTX_INSTALL, "conditions of use not satisfied: the card will not install this now (the load file or application AID is in use already, a LOAD was left unfinished, or the card's lifecycle forbids it)"},
    {0x6985, SW_CTX_LOAD, "conditions of use not satisfied: the card expected no LOAD here (no INSTALL [for load] before it, or a block out of sequence)"},
    {0x6985, SW_CTX_ANY, "conditions of use not satisfied: the card's state does not allow this command (lifecycle, a missing prior step, or a secure channel required)"},
    {0x6986, SW_CTX_ANY, "command not allowed: no current EF"},
    {0x6999, SW_CTX_SELECT, "selection failed: the application refused to be selected"},
    {0x6A80, SW_CTX_INSTALL, "incorrect values in the command data: the card refused an AID, the privileges or the parameters"},
    {0x6A80, SW_CTX_LOAD, "incorrect values in the command data: the card refused the load file (a component it cannot read or link, or a package it cannot accept)"},
    {0x6A80, SW_CTX_ANY, "incorrect values in the command data"},
    {0x6A81, SW_CTX_ANY, "function not supported (for example the card is locked or terminated)"},
    {0x6A82, SW_CTX_SELECT, "application not found: no application with this AID on the card"},
    {0x6A82, SW_CTX_ANY, "referenced application or file not found"},
    {0x6A84, SW_CTX_LOAD, "not enough memory space on the card for this load file: delete packages or applications you no longer need, or load a smaller one"},
    {0x6A84, SW_CTX_ANY, "not enough memory space on the card"},
    {0x6A86, SW_CTX_ANY, "incorrect parameters P1-P2"},
    {0x6A88, SW_CTX_INITIALIZE_UPDATE, "referenced data not found: the card has no key set with the requested key version number"},
    {0x6A88, SW_CTX_DELETE, "referenced data not found: nothing to delete with this AID"},
    {0x6A88, SW_CTX_INSTALL, "referenced data not found: the load file, module or security domain named is not on the card"},
    {0x6A88, SW_CTX_ANY, "referenced data not found (unknown key version, tag or object)"},
    {0x6D00, SW_CTX_ANY, "instruction code not supported by the card or by the selected application"},
    {0x6E00, SW_CTX_ANY, "class not supported: the card does not accept this CLA (for example a secure-messaging CLA outside a secure channel)"},
    {0x6F00, SW_CTX_ANY, "no precise diagnosis: the card failed internally"},
    {0x9484, SW_CTX_ANY, "algorithm not supported"},
    {0x9485, SW_CTX_ANY, "invalid key check value"},
};

const char *sw_meaning(uint16_t sw, enum sw_context ctx)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].sw == sw && (table[i].ctx == ctx || table[i].ctx == SW_CTX_ANY))
            return table[i].text;
    return NULL;
}

const char *sw_describe(uint16_t sw, enum sw_context ctx, char *out, size_t cap)
{
    const char *m = sw_meaning(sw, ctx);
    if (m) {
        snprintf(out, cap, "%04X: %s", sw, m);
        return out;
    }
    uint8_t sw1 = (uint8_t)(sw >> 8), sw2 = (uint8_t)sw;
    if (sw1 == 0x61)
        snprintf(out, cap, "%04X: %u more response bytes available (GET RESPONSE)", sw,
                 sw2 ? sw2 : 256u);
    else if (sw1 == 0x6C)
        snprintf(out, cap, "%04X: wrong Le: the card has %u bytes, resend with that Le", sw,
                 sw2 ? sw2 : 256u);
    else if (sw1 == 0x63 && (sw2 & 0xF0) == 0xC0)
        snprintf(out, cap, "%04X: verification failed, %u tries left", sw, sw2 & 0x0F);
    else if (sw1 == 0x62 || sw1 == 0x63)
        snprintf(out, cap, "%04X: warning, state of non-volatile memory %s", sw,
                 sw1 == 0x62 ? "unchanged" : "changed");
    else if (sw1 == 0x64 || sw1 == 0x65)
        snprintf(out, cap, "%04X: execution error, state of non-volatile memory %s", sw,
                 sw1 == 0x64 ? "unchanged" : "changed");
    else if (sw1 == 0x67)
        snprintf(out, cap, "%04X: wrong length", sw);
    else if (sw1 == 0x68)
        snprintf(out, cap, "%04X: functions in CLA not supported", sw);
    else if (sw1 == 0x69)
        snprintf(out, cap, "%04X: command not allowed", sw);
    else if (sw1 == 0x6A)
        snprintf(out, cap, "%04X: wrong parameters P1-P2", sw);
    else
        snprintf(out, cap, "%04X: status word unknown to gp-p11", sw);
    return out;
}

const char *gp_ins_name(uint8_t cla, uint8_t ins)
{
    switch (ins) {
    case 0xA4: return "SELECT";
    case 0xC0: return "GET RESPONSE";
    case 0x50: return (cla & 0x80) ? "INITIALIZE UPDATE" : NULL;
    case 0x82: return "EXTERNAL AUTHENTICATE";
    case 0xF2: return "GET STATUS";
    case 0xCA: case 0xCB: return "GET DATA";
    case 0xE4: return "DELETE";
    case 0xF0: return "SET STATUS";
    case 0xD8: return "PUT KEY";
    case 0xE2: return "STORE DATA";
    case 0xE6: return "INSTALL";
    case 0xE8: return "LOAD";
    case 0x78: return "END R-MAC SESSION";
    case 0x7A: return "BEGIN R-MAC SESSION";
    default: return NULL;
    }
}
