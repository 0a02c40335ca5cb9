/* Card-side SCP02 and SCP03 crypto of the simulator (OpenSSL, keys in memory: it is
 * the card). Single DES is done as two-key 3DES with K1=K2, so OpenSSL's
 * legacy provider is not needed. */
#ifndef GP_SIM_CRYPTO_H
#define GP_SIM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* 3DES (16-byte key) CBC with iv (or ECB when iv is NULL), len % 8 == 0. */
int sim_des3(const uint8_t key[16], const uint8_t *iv, const uint8_t *in, size_t len,
             uint8_t *out, int encrypt);
/* single DES with an 8-byte key, ECB, one block */
int sim_des1(const uint8_t key[8], const uint8_t in[8], uint8_t out[8], int encrypt);
size_t sim_pad80(const uint8_t *in, size_t len, uint8_t *out);
size_t sim_pad80_to(const uint8_t *in, size_t len, uint8_t *out, size_t block); /* 16: AES */
/* Session key: 3DES-CBC(static, zero IV) over constant || seq || 00*12. */
int sim_session_key(const uint8_t static_key[16], uint16_t constant, const uint8_t seq[2],
                    uint8_t out[16]);
/* Full 3DES CBC-MAC, zero IV, padding method 2 (cryptograms). */
int sim_mac_3des(const uint8_t key[16], const uint8_t *data, size_t len, uint8_t mac[8]);
/* The same with an ICV (SCP01's C-MAC chaining). */
int sim_mac_3des_icv(const uint8_t key[16], const uint8_t icv[8], const uint8_t *data, size_t len,
                     uint8_t mac[8]);
/* ISO 9797-1 algorithm 3 with ICV, padding method 2 (C-MAC, R-MAC). */
int sim_mac_retail(const uint8_t key[16], const uint8_t icv[8], const uint8_t *data, size_t len,
                   uint8_t mac[8]);
int sim_random(uint8_t *buf, size_t len);

/* AES with a 16-, 24- or 32-byte key: CBC with iv, ECB when iv is NULL. */
int sim_aes(const uint8_t *key, size_t klen, const uint8_t *iv, const uint8_t *in, size_t len,
            uint8_t *out, int encrypt);
int sim_aes_cmac(const uint8_t *key, size_t klen, const uint8_t *data, size_t len,
                 uint8_t mac[16]);
/* The SCP03 KDF (NIST SP 800-108 counter mode, AES-CMAC): l_bits of output
 * for a derivation constant and a context. */
int sim_scp03_kdf(const uint8_t *key, size_t klen, uint8_t constant, uint16_t l_bits,
                  const uint8_t *ctx, size_t ctx_len, uint8_t *out);
/* SHA-1 (the load file data block hash of INSTALL [for load]). */
void sim_sha1(const uint8_t *data, size_t len, uint8_t md[20]);

#endif
