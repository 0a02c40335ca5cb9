/* R-MAC unwrapping of any answer, with the keys in a real SoftHSM token
 * (tests/fuzz/run.sh makes it): only a verified answer is returned. */
#include "keystore/keystore.h"
#include "scp/scp02.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ks_t *ks;
static ks_session_t *s;
static scp02_t ch;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[KS_ERRLEN];
    const char *pin = getenv("GP_TEST_PIN");
    ks_keyset_t keys;
    if (!pin || ks_open(&ks, getenv("GP_SOFTHSM_MODULE"), err, sizeof err) != CKR_OK ||
        ks_select_token(ks, getenv("GP_TEST_TOKEN"), err, sizeof err) != CKR_OK ||
        ks_login(ks, (const uint8_t *)pin, strlen(pin), err, sizeof err) != CKR_OK ||
        ks_session_open(ks, &s) != CKR_OK || ks_find_keyset(s, "default", &keys) != CKR_OK) {
        fprintf(stderr, "fuzz_rmac: no keystore (run through tests/fuzz/run.sh)\n");
        exit(1);
    }
    /* an open channel without a card: implicit opening, then the R-MAC level */
    static const uint8_t seq[2] = {0x00, 0x2A}, aid[] = {0xA0, 0x00, 0x00, 0x01, 0x51, 0x00};
    if (scp02_init(&ch, s, &keys, 0x1B, 0x01) != SCP_OK ||
        scp02_implicit_open(&ch, seq, aid, sizeof aid) != SCP_OK) {
        fprintf(stderr, "fuzz_rmac: %s\n", scp02_error(&ch));
        exit(1);
    }
    ch.i_param |= SCP02_I_RMAC;
    ch.level |= SCP02_LEVEL_RMAC;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n > 256 + 10)
        return 0;
    uint8_t out[300], icv[8];
    size_t ol = 12345;
    memcpy(icv, ch.rmac_icv, 8);
    scp_err_t e = scp02_unwrap(&ch, d, n, out, &ol);
    if (e == SCP_OK && (ol + 8 != n || memcmp(out, d, ol - 2) != 0))
        __builtin_trap(); /* returned something other than the verified answer */
    if (e != SCP_OK && ol != 0)
        __builtin_trap(); /* returned data from an answer that did not verify */
    memcpy(ch.rmac_icv, icv, 8); /* every input against the same chain */
    return 0;
}
