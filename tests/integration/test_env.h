/* What programs run inside tests/harness/gp-env.sh share: the keystore token
 * the harness made (SOFTHSM2_CONF, GP_TEST_TOKEN, GP_TEST_PIN), logged in,
 * with its key set "default". */
#ifndef GP_TEST_ENV_H
#define GP_TEST_ENV_H

#include "keystore/keystore.h"
#include "scp/gp.h"
#include "scp/pcsc.h"

/* Returns 0 with the keystore open, logged in and a session on it, and
 * *keys set when keys is not NULL; -1 with a message on stderr. */
int test_keystore_open(ks_t **ks, ks_session_t **s, ks_keyset_t *keys);
void test_keystore_close(ks_t *ks, ks_session_t *s);

/* A connection to card k (reader GP_READER_k) with a GP session on it. */
typedef struct {
    pcsc_card_t *card;
    gp_card_t gp;
} test_conn_t;
void test_connect(pcsc_ctx_t *pc, int k, test_conn_t *c); /* fails the test on error */
void test_disconnect(test_conn_t *c);

#endif
