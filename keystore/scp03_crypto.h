/*
 * SCP03 cryptographic primitives (GlobalPlatform Card Specification 2.2
 * Amendment D), each computed inside the keystore on key handles. Nothing
 * here sees a static or session key value.
 */
#ifndef GP_KEYSTORE_SCP03_CRYPTO_H
#define GP_KEYSTORE_SCP03_CRYPTO_H

#include "keystore.h"

/* Derivation constants of the SCP03 KDF (Amendment D 6.2.1). */
#define SCP03_DDC_CARD_CRYPTOGRAM 0x00
#define SCP03_DDC_HOST_CRYPTOGRAM 0x01
#define SCP03_DDC_CARD_CHALLENGE  0x02
#define SCP03_DDC_S_ENC           0x04
#define SCP03_DDC_S_MAC           0x06
#define SCP03_DDC_S_RMAC          0x07

/* The keys of one SCP03 session: session objects in the keystore. */
typedef struct {
    CK_OBJECT_HANDLE enc;  /* S-ENC: C-DECRYPTION, R-ENCRYPTION (encrypt and decrypt) */
    CK_OBJECT_HANDLE mac;  /* S-MAC: cryptograms and C-MAC (sign) */
    CK_OBJECT_HANDLE rmac; /* S-RMAC: R-MAC (sign) */
} ks_scp03_keys_t;

/* The KDF's fixed input for one iteration: a 12-byte label (11 zero bytes
 * and the constant), a zero separator, L in bits (2 bytes), the counter,
 * then the context. Writes 16 + ctx_len bytes. */
void ks_scp03_kdf_input(uint8_t constant, uint16_t l_bits, uint8_t counter, const uint8_t *ctx,
                        size_t ctx_len, uint8_t *out);

/* Is key_len (bytes) a length SCP03 session keys are derived for? AES-128,
 * AES-192 and AES-256: CKM_AES_ECB and CKM_AES_ECB_ENCRYPT_DATA. 0 yes. */
CK_RV ks_scp03_supported(ks_session_t *s, size_t key_len);

/* Derives S-ENC, S-MAC and S-RMAC of key_len bytes (16, 24 or 32) from the
 * static keys enc and mac with the context host challenge || card challenge
 * (16 bytes in S8 mode, 32 in S16; S16 takes one more C_Encrypt). The KDF (SP 800-108 counter mode, AES-CMAC) makes one 16-byte
 * block per counter, one for AES-128 and two for longer keys. With L =
 * AES(K, 0), K1 the CMAC subkey from L and M1_i the fixed input of block i,
 * block i is AES(K, F_i) with F_i = AES(K, M1_i) xor context xor K1, so
 * CKM_AES_ECB_ENCRYPT_DATA over F_1 (|| F_2) makes the key without its value
 * leaving the keystore. L and every AES(K, M1_i) come from one C_Encrypt
 * (AES-ECB) per static key, over public blocks; then one C_DeriveKey per
 * session key. On failure no session object is left behind. */
CK_RV ks_scp03_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac, size_t key_len,
                      const uint8_t *context, size_t ctx_len, ks_scp03_keys_t *out);
void ks_scp03_destroy(ks_session_t *s, ks_scp03_keys_t *k);

/* KDF3 diversification (GlobalPlatformPro's name; SP 800-108 counter mode
 * with AES-CMAC, as SCP03's KDF, over the card's KDD): the card's static key
 * number key_no (1 enc, 2 mac, 3 dek) of key_len bytes (the master's) is
 * block_1 (|| block_2) with block_i = CMAC(master, i || 00 00 00 key_no 00 ||
 * KDD), one 16-byte block each, so block_i = AES(master, M_i xor K1): one
 * C_Encrypt of 0^16 for K1, then one CKM_AES_ECB_ENCRYPT_DATA. The key is a
 * session object with the usages use (KS_USE_*). */
CK_RV ks_scp03_kdf3(ks_session_t *s, CK_OBJECT_HANDLE master, size_t key_len, const uint8_t kdd[10],
                    int key_no, unsigned use, CK_OBJECT_HANDLE *out);

/* AES-CMAC (16 bytes) of data under key, by CKM_AES_CMAC. */
CK_RV ks_aes_cmac(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t *data, size_t len,
                  uint8_t mac[16]);
/* A card or host cryptogram: the KDF under S-MAC over the context (16 or
 * 32 bytes), out_len bytes with L = 8 * out_len (S8: 8 bytes, S16: 16). */
CK_RV ks_scp03_cryptogram(ks_session_t *s, CK_OBJECT_HANDLE s_mac, uint8_t constant,
                          const uint8_t *context, size_t ctx_len, uint8_t *out, size_t out_len);
/* SCP03 key check value: the first 3 bytes of AES-ECB(key, 01 * 16). */
CK_RV ks_scp03_kcv(ks_session_t *s, CK_OBJECT_HANDLE key, uint8_t kcv[3]);

#endif
