/* SCP01 primitives through PKCS#11: see scp01_crypto.h. */
#include "config.h"
#include "scp01_crypto.h"

#include <string.h>

void ks_scp01_derivation_data(const uint8_t hc[8], const uint8_t cc[8], uint8_t out[16])
{
    memcpy(out, cc + 4, 4);
    memcpy(out + 4, hc, 4);
    memcpy(out + 8, cc, 4);
    memcpy(out + 12, hc + 4, 4);
}

CK_RV ks_scp01_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac,
                      const uint8_t hc[8], const uint8_t cc[8], ks_scp01_keys_t *k)
{
    uint8_t d[16];
    ks_scp01_derivation_data(hc, cc, d);
    k->enc = k->mac = CK_INVALID_HANDLE;
    CK_RV rv = ks_derive_des2(s, enc, KS_DERIVE_ECB, d, 0, 0, &k->enc);
    if (rv == CKR_OK)
        rv = ks_derive_des2(s, mac, KS_DERIVE_ECB, d, 0, 0, &k->mac);
    if (rv != CKR_OK)
        ks_scp01_destroy(s, k);
    return rv;
}

void ks_scp01_destroy(ks_session_t *s, ks_scp01_keys_t *k)
{
    ks_destroy(s, k->enc);
    ks_destroy(s, k->mac);
    k->enc = k->mac = CK_INVALID_HANDLE;
}
