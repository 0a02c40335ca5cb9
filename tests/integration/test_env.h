/* What programs run inside tests/harness/gp-env.sh share: the keystore token
 * the harness made (SOFTHSM2_CONF, GP_TEST_TOKEN, GP_TEST_PIN), logged in,
 * with its key set "default". */
#ifndef GP_TEST_ENV_H
#define GP_TEST_ENV_H

#include "keystore/keystore.h"

/* Returns 0 with the keystore open, logged in and a session on it, and
 * *keys set when keys is not NULL; -1 with a message on stderr. */
int test_keystore_open(ks_t **ks, ks_session_t **s, ks_keyset_t *keys);
void test_keystore_close(ks_t *ks, ks_session_t *s);

#endif
