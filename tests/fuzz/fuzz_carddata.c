/* What the card says about itself, as the gp-p11 tool decodes it: CPLC,
 * card recognition data, key information, privileges. Every decoded text
 * must be terminated and within its buffer; every count within bounds. */
#include <string.h>

#include "scp/carddata.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    gp_card_recognition_t r;
    if (gp_card_recognition_parse(d, n, &r, NULL, 0) == 0) {
        if (strlen(r.gp_version) >= sizeof r.gp_version || strlen(r.chip) >= sizeof r.chip ||
            strlen(r.config) >= sizeof r.config || r.scp > 127 || r.i > 127)
            __builtin_trap();
    }
    char why[80], oid[GP_OID_TEXT];
    if (gp_oid_text(d, n, oid, sizeof oid) == 0 && strlen(oid) >= sizeof oid)
        __builtin_trap();
    gp_key_info_t k[8];
    int nk = gp_key_info_parse(d, n, k, 8, why, sizeof why);
    if (nk > 8)
        __builtin_trap();
    for (int i = 0; i < nk; i++)
        if (k[i].n < 1 || k[i].n > GP_KEY_COMPONENTS)
            __builtin_trap();
        else
            (void)gp_key_type_name(k[i].type[0]);
    const uint8_t *v = gp_cplc_value(d, n, why, sizeof why);
    if (v) {
        if (v < d || v + GP_CPLC_LEN > d + n)
            __builtin_trap();
        for (int f = 0; f < GP_CPLC_FIELDS; f++) {
            int y, day;
            if (gp_cplc_fields[f].is_date &&
                gp_cplc_date(v + gp_cplc_fields[f].off, &y, &day) == 0 &&
                (y > 9 || day < 1 || day > 366))
                __builtin_trap();
        }
    }
    const char *names[24];
    if (gp_privilege_names(d, n, names, 24) > 24)
        __builtin_trap();
    /* the same bytes as a --privileges list of names */
    char text[512];
    size_t tl = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, d, tl);
    text[tl] = 0;
    uint8_t priv[3];
    int pl = gp_privileges_from_names(text, priv, why, sizeof why);
    if (pl != -1 && pl != 1 && pl != 3)
        __builtin_trap();
    if (pl == 1 && (priv[1] || priv[2]))
        __builtin_trap();
    return 0;
}
