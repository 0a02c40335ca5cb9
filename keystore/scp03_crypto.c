/* SCP03 primitives through PKCS#11: see scp03_crypto.h. */
#include "config.h"
#include "scp03_crypto.h"
#include "scp02_crypto.h"

#include <string.h>

void ks_scp03_kdf_input(uint8_t constant, uint16_t l_bits, uint8_t counter, const uint8_t *ctx,
                        size_t ctx_len, uint8_t *out)
{
    memset(out, 0, 11);
    out[11] = constant;
    out[12] = 0x00; /* separation indicator */
    out[13] = (uint8_t)(l_bits >> 8);
    out[14] = (uint8_t)l_bits;
    out[15] = counter;
    if (ctx_len)
        memcpy(out + 16, ctx, ctx_len);
}

CK_RV ks_scp03_supported(ks_session_t *s, size_t key_len)
{
    (void)s;
    /* every length the KDF's blocks can make: each is one derivation */
    return key_len == 16 || key_len == 24 || key_len == 32 ? CKR_OK : CKR_MECHANISM_INVALID;
}

/* The CMAC subkey K1 from L = AES(K, 0^16): L doubled in GF(2^128). */
static void cmac_k1(const uint8_t l[16], uint8_t k1[16])
{
    uint8_t carry = l[0] >> 7;
    for (int i = 0; i < 15; i++)
        k1[i] = (uint8_t)(l[i] << 1 | l[i + 1] >> 7);
    k1[15] = (uint8_t)(l[15] << 1);
    if (carry)
        k1[15] ^= 0x87;
}

/* n session keys of key_len bytes from one static key. The KDF's block i
 * (counter i, 1 or 2) is CMAC(K, M1_i || context), the context 16 bytes (S8)
 * or 32 (S16). Its last AES input is F_i = C_i xor (the context's last 16
 * bytes) xor K1, with C_i = AES(K, M1_i) in S8 and, in S16, C_i =
 * AES(K, AES(K, M1_i) xor the context's first 16 bytes): public data and
 * one more C_Encrypt. AES-ECB over F_1 .. F_b inside the keystore
 * (CKM_AES_ECB_ENCRYPT_DATA) then makes the key, the first key_len bytes of
 * block_1 || block_2. One C_Encrypt gives L = AES(K, 0^16) and every
 * AES(K, M1_i), then one derivation per key. */
static CK_RV derive_from(ks_session_t *s, CK_OBJECT_HANDLE base, size_t key_len,
                         const uint8_t *constants, const unsigned *use, int n,
                         const uint8_t *context, size_t ctx_len, CK_OBJECT_HANDLE *out)
{
    if (ks_kdf108(s)) { /* the keystore's own KDF: one C_DeriveKey per key */
        CK_RV rv = CKR_OK;
        for (int k = 0; rv == CKR_OK && k < n; k++) {
            uint8_t label[13] = {0};
            label[11] = constants[k]; /* 11 zero bytes, the constant, the separator 00 */
            rv = ks_derive_kdf108(s, base, label, sizeof label, 1, context, ctx_len, key_len,
                                  use[k], &out[k]);
        }
        return rv;
    }
    int b = key_len > 16 ? 2 : 1; /* KDF blocks per key */
    uint16_t l_bits = (uint16_t)(key_len * 8);
    uint8_t blocks[16 * (1 + 2 * 2)];
    memset(blocks, 0, 16);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < b; i++)
            ks_scp03_kdf_input(constants[k], l_bits, (uint8_t)(i + 1), NULL, 0,
                               blocks + 16 * (1 + k * b + i));
    CK_RV rv = ks_cipher(s, CKM_AES_ECB, base, NULL, 0, 1, blocks, 16 * (size_t)(1 + n * b), blocks);
    uint8_t k1[16], data[32];
    if (rv == CKR_OK)
        cmac_k1(blocks, k1);
    const uint8_t *last = context + ctx_len - 16;
    if (rv == CKR_OK && ctx_len == 32) { /* S16: one more block of the CMAC chain */
        for (int j = 0; j < n * b; j++)
            for (int x = 0; x < 16; x++)
                blocks[16 * (1 + j) + x] ^= context[x];
        rv = ks_cipher(s, CKM_AES_ECB, base, NULL, 0, 1, blocks + 16, 16 * (size_t)(n * b),
                       blocks + 16);
    }
    for (int k = 0; rv == CKR_OK && k < n; k++) {
        for (int i = 0; i < b; i++)
            for (int j = 0; j < 16; j++)
                data[16 * i + j] = (uint8_t)(blocks[16 * (1 + k * b + i) + j] ^ last[j] ^ k1[j]);
        rv = ks_derive_aes(s, base, data, 16 * (size_t)b, key_len, use[k], &out[k]);
    }
    ks_wipe(blocks, sizeof blocks);
    ks_wipe(k1, sizeof k1);
    ks_wipe(data, sizeof data);
    return rv;
}

CK_RV ks_scp03_kdf3(ks_session_t *s, CK_OBJECT_HANDLE master, size_t key_len, const uint8_t kdd[10],
                    int key_no, unsigned use, CK_OBJECT_HANDLE *out)
{
    *out = CK_INVALID_HANDLE;
    if (key_len != 16 && key_len != 24 && key_len != 32)
        return CKR_KEY_SIZE_RANGE;
    if (ks_kdf108(s)) { /* i || 00 00 00 k 00 || KDD: no label, no length */
        uint8_t suffix[15] = {0, 0, 0, (uint8_t)key_no, 0};
        memcpy(suffix + 5, kdd, 10);
        return ks_derive_kdf108(s, master, NULL, 0, 0, suffix, sizeof suffix, key_len, use, out);
    }
    uint8_t l[16] = {0}, k1[16], data[32];
    CK_RV rv = ks_cipher(s, CKM_AES_ECB, master, NULL, 0, 1, l, 16, l);
    if (rv != CKR_OK)
        return rv;
    cmac_k1(l, k1);
    int b = key_len > 16 ? 2 : 1;
    for (int i = 0; i < b; i++) {
        uint8_t m[16] = {(uint8_t)(i + 1), 0, 0, 0, (uint8_t)key_no, 0};
        memcpy(m + 6, kdd, 10);
        for (int j = 0; j < 16; j++)
            data[16 * i + j] = (uint8_t)(m[j] ^ k1[j]);
    }
    rv = ks_derive_aes(s, master, data, 16 * (size_t)b, key_len, use, out);
    ks_wipe(l, sizeof l);
    ks_wipe(k1, sizeof k1);
    ks_wipe(data, sizeof data);
    return rv;
}

CK_RV ks_scp03_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac, size_t key_len,
                      const uint8_t *context, size_t ctx_len, ks_scp03_keys_t *k)
{
    k->enc = k->mac = k->rmac = CK_INVALID_HANDLE;
    CK_RV rv = ks_scp03_supported(s, key_len);
    if (rv != CKR_OK)
        return rv;
    static const uint8_t c_enc[1] = {SCP03_DDC_S_ENC};
    static const uint8_t c_mac[2] = {SCP03_DDC_S_MAC, SCP03_DDC_S_RMAC};
    static const unsigned u_enc[1] = {KS_USE_ENCRYPT | KS_USE_DECRYPT};
    static const unsigned u_mac[2] = {KS_USE_SIGN, KS_USE_SIGN};
    CK_OBJECT_HANDLE macs[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    rv = derive_from(s, enc, key_len, c_enc, u_enc, 1, context, ctx_len, &k->enc);
    if (rv == CKR_OK)
        rv = derive_from(s, mac, key_len, c_mac, u_mac, 2, context, ctx_len, macs);
    k->mac = macs[0];
    k->rmac = macs[1];
    if (rv != CKR_OK)
        ks_scp03_destroy(s, k);
    return rv;
}

void ks_scp03_destroy(ks_session_t *s, ks_scp03_keys_t *k)
{
    CK_OBJECT_HANDLE *all[] = {&k->enc, &k->mac, &k->rmac};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] != CK_INVALID_HANDLE)
            ks_destroy(s, *all[i]);
        *all[i] = CK_INVALID_HANDLE;
    }
}

CK_RV ks_aes_cmac(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t *data, size_t len,
                  uint8_t mac[16])
{
    return ks_sign(s, CKM_AES_CMAC, key, data, len, mac, 16);
}

CK_RV ks_scp03_cryptogram(ks_session_t *s, CK_OBJECT_HANDLE s_mac, uint8_t constant,
                          const uint8_t *context, size_t ctx_len, uint8_t *out, size_t out_len)
{
    uint8_t in[16 + 32], mac[16];
    if (ctx_len > 32 || out_len > 16)
        return CKR_ARGUMENTS_BAD;
    ks_scp03_kdf_input(constant, (uint16_t)(out_len * 8), 1, context, ctx_len, in);
    CK_RV rv = ks_aes_cmac(s, s_mac, in, 16 + ctx_len, mac);
    if (rv == CKR_OK)
        memcpy(out, mac, out_len);
    ks_wipe(mac, sizeof mac);
    return rv;
}

CK_RV ks_scp03_kcv(ks_session_t *s, CK_OBJECT_HANDLE key, uint8_t kcv[3])
{
    uint8_t b[16];
    memset(b, 0x01, sizeof b);
    CK_RV rv = ks_cipher(s, CKM_AES_ECB, key, NULL, 0, 1, b, 16, b);
    if (rv == CKR_OK)
        memcpy(kcv, b, 3);
    return rv;
}
