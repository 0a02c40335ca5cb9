/*
 * SCP01 cryptographic primitives (GlobalPlatform 2.1.1 Appendix D), each
 * computed inside the keystore on key handles. The MACs and cryptograms are
 * SCP02's full 3DES CBC-MAC (scp02_crypto.h); only the session keys differ.
 */
#ifndef GP_KEYSTORE_SCP01_CRYPTO_H
#define GP_KEYSTORE_SCP01_CRYPTO_H

#include "keystore.h"

/* The keys of one SCP01 session: session objects in the keystore. */
typedef struct {
    CK_OBJECT_HANDLE enc; /* S-ENC: cryptograms, C-DEC */
    CK_OBJECT_HANDLE mac; /* S-MAC: C-MAC */
} ks_scp01_keys_t;

/* The derivation data of SCP01's session keys (D.3.1): card challenge
 * bytes 4..7, host challenge 0..3, card challenge 0..3, host challenge 4..7. */
void ks_scp01_derivation_data(const uint8_t host_challenge[8], const uint8_t card_challenge[8],
                              uint8_t out[16]);
/* S-ENC and S-MAC: 3DES-ECB of the derivation data under the static ENC and
 * MAC keys (CKM_DES3_ECB_ENCRYPT_DATA), usable for encryption only. On
 * failure no session object is left behind. */
CK_RV ks_scp01_derive(ks_session_t *s, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE mac,
                      const uint8_t host_challenge[8], const uint8_t card_challenge[8],
                      ks_scp01_keys_t *out);
void ks_scp01_destroy(ks_session_t *s, ks_scp01_keys_t *k);

#endif
