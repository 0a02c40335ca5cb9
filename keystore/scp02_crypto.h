/*
 * SCP02 cryptographic primitives, each computed inside the keystore on key
 * handles. Nothing here sees a key value.
 */
#ifndef GP_KEYSTORE_SCP02_CRYPTO_H
#define GP_KEYSTORE_SCP02_CRYPTO_H

#include "keystore.h"

/* Derivation constants of GlobalPlatform 2.2 Appendix E (SCP02). */
#define SCP02_DERIVE_CMAC 0x0101
#define SCP02_DERIVE_RMAC 0x0102
#define SCP02_DERIVE_DEK  0x0181
#define SCP02_DERIVE_ENC  0x0182

/* The keys of one secure-channel session: session objects in the keystore. */
typedef struct {
    CK_OBJECT_HANDLE enc;     /* S-ENC: cryptograms, C-DEC */
    CK_OBJECT_HANDLE cmac;    /* C-MAC session key */
    CK_OBJECT_HANDLE cmac_k1; /* K1||K1 of C-MAC: single DES for the retail MAC and ICV */
    CK_OBJECT_HANDLE rmac;    /* R-MAC session key */
    CK_OBJECT_HANDLE rmac_k1; /* K1||K1 of R-MAC */
    CK_OBJECT_HANDLE dek;     /* session DEK: key wrapping */
} ks_scp02_keys_t;

/* Derives the session keys from static keys enc/mac/dek (pass the same handle
 * three times for a single base key) and the 2-byte sequence counter. On
 * failure no session object is left behind. */
CK_RV ks_scp02_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac,
                      CK_OBJECT_HANDLE dek, const uint8_t seq[2], ks_scp02_keys_t *out);
/* Destroys the session objects and resets the handles. */
void ks_scp02_destroy(ks_session_t *s, ks_scp02_keys_t *k);

/* Key diversification: a card's static keys derived from an issuer master
 * key and the key diversification data (KDD, 10 bytes) the card returns in
 * INITIALIZE UPDATE, by 3DES-ECB of 16 bytes under the master:
 *   EMV CPS 1.1: KDD[4..9] || F0 || k || KDD[4..9] || 0F || k
 *   VISA2:       KDD[0..1] || KDD[4..7] || F0 || k || KDD[0..1] || KDD[4..7] || 0F || k
 * with k = 01 (enc), 02 (mac), 03 (dek). KDF3 diversifies AES master keys
 * for SCP03 (scp03_crypto.h). */
/* (enum ks_diversification: keystore.h) */
/* Derives the card's static key number key_no (1..3) into a session object
 * usable for session-key derivation (and wrapping, for the DEK). */
CK_RV ks_scp02_diversify(ks_session_t *s, CK_OBJECT_HANDLE master, enum ks_diversification m,
                         const uint8_t kdd[10], int key_no, CK_OBJECT_HANDLE *out);

/* ISO/IEC 9797-1 MAC algorithm 1 with 3DES (full triple-DES CBC-MAC), zero
 * IV, padding method 2: the SCP02 card and host cryptograms. */
CK_RV ks_mac_3des(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t *data, size_t len,
                  uint8_t mac[8]);
/* The same with an ICV (SCP01's C-MAC chains on the previous C-MAC). */
CK_RV ks_mac_3des_icv(ks_session_t *s, CK_OBJECT_HANDLE key, const uint8_t icv[8],
                      const uint8_t *data, size_t len, uint8_t mac[8]);
/* ISO/IEC 9797-1 MAC algorithm 3 (retail MAC), padding method 2, with ICV:
 * single DES under K1 (k1 = K1||K1) over all blocks but the last, then
 * 3DES under key over the last block. */
CK_RV ks_mac_retail(ks_session_t *s, CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE k1,
                    const uint8_t icv[8], const uint8_t *data, size_t len, uint8_t mac[8]);

#endif
