/* Card-side crypto for the simulator: see sim_crypto.h. */
#include "sim_crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

/* One unpadded CBC or ECB pass over whole blocks. */
static int evp_crypt(const EVP_CIPHER *cipher, size_t block, const uint8_t *key, const uint8_t *iv,
                     const uint8_t *in, size_t len, uint8_t *out, int encrypt)
{
    if (!cipher || len % block)
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_CipherInit_ex(c, cipher, NULL, key, iv, encrypt) == 1;
    int n = 0, m = 0;
    if (ok)
        ok = EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
             EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
             EVP_CipherFinal_ex(c, out + n, &m) == 1 && (size_t)(n + m) == len;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int sim_des3(const uint8_t key[16], const uint8_t *iv, const uint8_t *in, size_t len,
             uint8_t *out, int encrypt)
{
    return evp_crypt(iv ? EVP_des_ede_cbc() : EVP_des_ede_ecb(), 8, key, iv, in, len, out, encrypt);
}

int sim_des1(const uint8_t key[8], const uint8_t in[8], uint8_t out[8], int encrypt)
{
    uint8_t k[16];
    memcpy(k, key, 8);
    memcpy(k + 8, key, 8);
    return sim_des3(k, NULL, in, 8, out, encrypt);
}

size_t sim_pad80(const uint8_t *in, size_t len, uint8_t *out)
{
    return sim_pad80_to(in, len, out, 8);
}

size_t sim_pad80_to(const uint8_t *in, size_t len, uint8_t *out, size_t block)
{
    size_t padded = (len / block + 1) * block;
    memmove(out, in, len);
    out[len] = 0x80;
    memset(out + len + 1, 0, padded - len - 1);
    return padded;
}

int sim_session_key(const uint8_t static_key[16], uint16_t constant, const uint8_t seq[2],
                    uint8_t out[16])
{
    uint8_t d[16] = {0};
    static const uint8_t zero[8];
    d[0] = (uint8_t)(constant >> 8);
    d[1] = (uint8_t)constant;
    d[2] = seq[0];
    d[3] = seq[1];
    return sim_des3(static_key, zero, d, 16, out, 1);
}

int sim_mac_3des(const uint8_t key[16], const uint8_t *data, size_t len, uint8_t mac[8])
{
    static const uint8_t zero[8];
    return sim_mac_3des_icv(key, zero, data, len, mac);
}

int sim_mac_3des_icv(const uint8_t key[16], const uint8_t icv[8], const uint8_t *data, size_t len,
                     uint8_t mac[8])
{
    uint8_t buf[600];
    if (len + 8 > sizeof buf)
        return -1;
    size_t n = sim_pad80(data, len, buf);
    if (sim_des3(key, icv, buf, n, buf, 1) != 0)
        return -1;
    memcpy(mac, buf + n - 8, 8);
    return 0;
}

int sim_mac_retail(const uint8_t key[16], const uint8_t icv[8], const uint8_t *data, size_t len,
                   uint8_t mac[8])
{
    uint8_t buf[600], chain[8];
    if (len + 8 > sizeof buf)
        return -1;
    size_t n = sim_pad80(data, len, buf);
    memcpy(chain, icv, 8);
    for (size_t i = 0; i + 8 < n; i += 8) {
        for (int j = 0; j < 8; j++)
            chain[j] ^= buf[i + j];
        if (sim_des1(key, chain, chain, 1) != 0)
            return -1;
    }
    return sim_des3(key, chain, buf + n - 8, 8, mac, 1);
}

int sim_random(uint8_t *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

void sim_sha1(const uint8_t *data, size_t len, uint8_t md[20])
{
    unsigned int n = 20;
    if (EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) != 1)
        memset(md, 0, 20);
}

static const EVP_CIPHER *aes_cipher(size_t klen, int cbc)
{
    switch (klen) {
    case 16: return cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb();
    case 24: return cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb();
    case 32: return cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb();
    default: return NULL;
    }
}

int sim_aes(const uint8_t *key, size_t klen, const uint8_t *iv, const uint8_t *in, size_t len,
            uint8_t *out, int encrypt)
{
    return evp_crypt(aes_cipher(klen, iv != NULL), 16, key, iv, in, len, out, encrypt);
}

int sim_aes_cmac(const uint8_t *key, size_t klen, const uint8_t *data, size_t len,
                 uint8_t mac[16])
{
    const char *name = klen == 16 ? "AES-128-CBC" : klen == 24 ? "AES-192-CBC" : "AES-256-CBC";
    EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("cipher", (char *)name, 0),
                      OSSL_PARAM_construct_end()};
    size_t out = 0;
    int ok = c && EVP_MAC_init(c, key, klen, p) == 1 && EVP_MAC_update(c, data, len) == 1 &&
             EVP_MAC_final(c, mac, &out, 16) == 1 && out == 16;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return ok ? 0 : -1;
}

int sim_scp03_kdf(const uint8_t *key, size_t klen, uint8_t constant, uint16_t l_bits,
                  const uint8_t *ctx, size_t ctx_len, uint8_t *out)
{
    uint8_t in[16 + 64], block[16];
    if (ctx_len > 64)
        return -1;
    size_t want = l_bits / 8;
    for (uint8_t i = 1; (size_t)(i - 1) * 16 < want; i++) {
        memset(in, 0, 11);
        in[11] = constant;
        in[12] = 0x00;
        in[13] = (uint8_t)(l_bits >> 8);
        in[14] = (uint8_t)l_bits;
        in[15] = i;
        memcpy(in + 16, ctx, ctx_len);
        if (sim_aes_cmac(key, klen, in, 16 + ctx_len, block) != 0)
            return -1;
        size_t take = want - (size_t)(i - 1) * 16 < 16 ? want - (size_t)(i - 1) * 16 : 16;
        memcpy(out + (size_t)(i - 1) * 16, block, take);
    }
    return 0;
}
