#include "test_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_keystore_open(ks_t **ks, ks_session_t **s, ks_keyset_t *keys)
{
    char err[KS_ERRLEN] = "";
    const char *pin = getenv("GP_TEST_PIN");
    *ks = NULL;
    *s = NULL;
    if (!pin || ks_open(ks, getenv("GP_SOFTHSM_MODULE"), err, sizeof err) != CKR_OK ||
        ks_select_token(*ks, getenv("GP_TEST_TOKEN"), err, sizeof err) != CKR_OK ||
        ks_login(*ks, (const uint8_t *)pin, strlen(pin), err, sizeof err) != CKR_OK ||
        ks_session_open(*ks, s) != CKR_OK) {
        fprintf(stderr, "keystore: %s\n", err[0] ? err : "GP_TEST_PIN not set");
        return -1;
    }
    if (keys && ks_find_keyset(*s, "default", keys) != CKR_OK) {
        fprintf(stderr, "%s\n", ks_session_error(*s));
        return -1;
    }
    return 0;
}

void test_keystore_close(ks_t *ks, ks_session_t *s)
{
    ks_session_close(s);
    ks_close(ks);
}

void test_connect(pcsc_ctx_t *pc, int k, test_conn_t *c)
{
    char var[32], err[256];
    snprintf(var, sizeof var, "GP_READER_%d", k);
    const char *reader = getenv(var);
    if (!reader)
        fail_msg("%s is not set", var);
    if (pcsc_connect(pc, reader, &c->card, err, sizeof err) != SCP_OK)
        fail_msg("connect: %s", err);
    gp_card_init(&c->gp, pcsc_transport(c->card));
}

void test_disconnect(test_conn_t *c)
{
    gp_close_channel(&c->gp);
    pcsc_disconnect(c->card);
}
