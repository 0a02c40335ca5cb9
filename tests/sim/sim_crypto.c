/* Card-side crypto for the simulator: see sim_crypto.h. */
#include "sim_crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

int sim_des3(const uint8_t key[16], const uint8_t *iv, const uint8_t *in, size_t len,
             uint8_t *out, int encrypt)
{
    if (len % 8)
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_CipherInit_ex(c, iv ? EVP_des_ede_cbc() : EVP_des_ede_ecb(), NULL, key, iv,
                                    encrypt) == 1;
    int n = 0, m = 0;
    if (ok)
        ok = EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
             EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
             EVP_CipherFinal_ex(c, out + n, &m) == 1 && (size_t)(n + m) == len;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
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
    size_t padded = (len / 8 + 1) * 8;
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
    uint8_t buf[600];
    static const uint8_t zero[8];
    if (len + 8 > sizeof buf)
        return -1;
    size_t n = sim_pad80(data, len, buf);
    if (sim_des3(key, zero, buf, n, buf, 1) != 0)
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
