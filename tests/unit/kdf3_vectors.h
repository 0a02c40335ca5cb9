/* GlobalPlatformPro's KDF3 test vectors (its TestPlaintextKeys.java): the
 * KCVs of the card's ENC, MAC and DEK diversified from the master key
 * 4041..5F (16, 24 and 32 bytes) with KDD 00..09, checked through a keystore
 * (test_scp03 on SoftHSM, test_keystore_kdf on NSS's softoken). */
#ifndef GP_TEST_KDF3_VECTORS_H
#define GP_TEST_KDF3_VECTORS_H

#include "keystore/keystore.h"

/* An AES key of len bytes that derives and encrypts: a test fixture. */
CK_OBJECT_HANDLE kdf3_master_key(ks_t *ks, ks_session_t *s, const uint8_t *v, size_t len);
/* Checks every vector; fails the test (cmocka) on the first wrong KCV. */
void kdf3_check_vectors(ks_t *ks, ks_session_t *s);

#endif
