/* SCP02 primitives through PKCS#11: see scp02_crypto.h. */
#include "config.h"
#include "scp02_crypto.h"

#include <stdlib.h>
#include <string.h>

static void derivation_data(uint16_t constant, const uint8_t seq[2], uint8_t d[16])
{
    memset(d, 0, 16);
    d[0] = (uint8_t)(constant >> 8);
    d[1] = (uint8_t)constant;
    d[2] = seq[0];
    d[3] = seq[1];
}

/* K1||K1 where K1 is the first half of the session key derived with
 * `constant`: with a zero IV the first CBC block is the ECB encryption of
 * the first 8 derivation bytes, so ECB over d1||d1 gives K1||K1. */
static CK_RV derive_k1(ks_session_t *s, CK_OBJECT_HANDLE base, uint16_t constant,
                       const uint8_t seq[2], CK_OBJECT_HANDLE *out)
{
    uint8_t d[16];
    derivation_data(constant, seq, d);
    memcpy(d + 8, d, 8);
    return ks_derive_des2(s, base, KS_DERIVE_ECB, d, 0, 0, out);
}

static CK_RV derive_session(ks_session_t *s, CK_OBJECT_HANDLE base, uint16_t constant,
                            const uint8_t seq[2], int wrap, CK_OBJECT_HANDLE *out)
{
    uint8_t d[16];
    derivation_data(constant, seq, d);
    return ks_derive_des2(s, base, KS_DERIVE_CBC, d, wrap, 0, out);
}

static void diversification_data(enum ks_diversification m, const uint8_t kdd[10], int key_no,
                                uint8_t out[16])
{
    uint8_t half[6];
    if (m == KS_DIV_VISA2) {
        memcpy(half, kdd, 2);
        memcpy(half + 2, kdd + 4, 4);
    } else {
        memcpy(half, kdd + 4, 6);
    }
    memcpy(out, half, 6);
    out[6] = 0xF0;
    out[7] = (uint8_t)key_no;
    memcpy(out + 8, half, 6);
    out[14] = 0x0F;
    out[15] = (uint8_t)key_no;
}

CK_RV ks_scp02_diversify(ks_session_t *s, CK_OBJECT_HANDLE master, enum ks_diversification m,
                         const uint8_t kdd[10], int key_no, CK_OBJECT_HANDLE *out)
{
    uint8_t d[16];
    diversification_data(m, kdd, key_no, d);
    return ks_derive_des2(s, master, KS_DERIVE_ECB, d, key_no == 3, 1, out);
}

CK_RV ks_scp02_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac,
                      CK_OBJECT_HANDLE dek, const uint8_t seq[2], ks_scp02_keys_t *k)
{
    memset(k, 0, sizeof *k);
    CK_RV rv = derive_session(s, enc, SCP02_DERIVE_ENC, seq, 0, &k->enc);
    if (rv == CKR_OK)
        rv = derive_session(s, mac, SCP02_DERIVE_CMAC, seq, 0, &k->cmac);
    if (rv == CKR_OK)
        rv = derive_k1(s, mac, SCP02_DERIVE_CMAC, seq, &k->cmac_k1);
    if (rv == CKR_OK)
        rv = derive_session(s, mac, SCP02_DERIVE_RMAC, seq, 0, &k->rmac);
    if (rv == CKR_OK)
        rv = derive_k1(s, mac, SCP02_DERIVE_RMAC, seq, &k->rmac_k1);
    if (rv == CKR_OK)
        rv = derive_session(s, dek, SCP02_DERIVE_DEK, seq, 1, &k->dek);
    if (rv != CKR_OK)
        ks_scp02_destroy(s, k);
    return rv;
}

void ks_scp02_destroy(ks_session_t *s, ks_scp02_keys_t *k)
{
    CK_OBJECT_HANDLE *all[] = {&k->enc, &k->cmac, &k->cmac_k1, &k->rmac, &k->rmac_k1, &k->dek};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] != CK_INVALID_HANDLE)
            ks_destroy(s, *all[i]);
        *all[i] = CK_INVALID_HANDLE;
    }
}

/* Pads data into a fresh buffer; *padded receives the length. */
static uint8_t *padded_copy(const uint8_t *data, size_t len, size_t *padded)
{
    size_t cap = (len / 8 + 1) * 8;
    uint8_t *b = malloc(cap);
    if (!b)
        return NULL;
    *padded = ks_pad80(data, len, b, cap);
    return b;
}

CK_RV ks_mac_3des(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t *data, size_t len,
                  uint8_t mac[8])
{
    static const uint8_t zero[8];
    return ks_mac_3des_icv(s, key, zero, data, len, mac);
}

CK_RV ks_mac_3des_icv(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t icv[8],
                      const uint8_t *data, size_t len, uint8_t mac[8])
{
    size_t n;
    uint8_t *b = padded_copy(data, len, &n);
    if (!b)
        return CKR_HOST_MEMORY;
    CK_RV rv = ks_encrypt(s, key, icv, b, n, b);
    if (rv == CKR_OK)
        memcpy(mac, b + n - 8, 8);
    free(b);
    return rv;
}

CK_RV ks_mac_retail(ks_session_t *s, CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE k1,
                    const uint8_t icv[8], const uint8_t *data, size_t len, uint8_t mac[8])
{
    size_t n;
    uint8_t *b = padded_copy(data, len, &n);
    if (!b)
        return CKR_HOST_MEMORY;
    uint8_t chain[8];
    memcpy(chain, icv, 8);
    CK_RV rv = CKR_OK;
    if (n > 8) {
        /* single DES CBC (EDE with K1=K2) over every block but the last */
        rv = ks_encrypt(s, k1, chain, b, n - 8, b);
        if (rv == CKR_OK)
            memcpy(chain, b + n - 16, 8);
    }
    if (rv == CKR_OK)
        rv = ks_encrypt(s, key, chain, b + n - 8, 8, mac);
    free(b);
    return rv;
}
