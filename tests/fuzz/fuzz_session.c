/* A GP session fed any answers by the card: SELECT and its FCI, 61xx and
 * 6Cxx handling, GET STATUS with 6310 continuations, GET DATA. The input
 * is a list of card answers, each a 1-byte length and that many bytes. */
#include "scp/gp.h"

#include <stdio.h>
#include <string.h>

struct feed {
    const uint8_t *d;
    size_t n, off;
};

static scp_err_t transmit(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rsp_len,
                          char *err, size_t errlen)
{
    (void)cmd;
    (void)len;
    struct feed *f = ctx;
    if (f->off >= f->n) {
        snprintf(err, errlen, "the card is gone");
        return SCP_E_REMOVED;
    }
    size_t k = f->d[f->off++];
    if (k > f->n - f->off)
        k = f->n - f->off;
    if (k > *rsp_len)
        k = *rsp_len;
    memcpy(rsp, f->d + f->off, k);
    f->off += k;
    *rsp_len = k;
    return SCP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct feed f = {d, n, 0};
    gp_card_t g;
    gp_transport_t t = {transmit, &f};
    gp_card_init(&g, t);
    gp_select(&g, NULL, 0);
    if (g.selected_aid_len > sizeof g.selected_aid)
        __builtin_trap();
    gp_entry_t e[8];
    (void)gp_get_status(&g, GP_STATUS_APPS, 1, e, 8);
    uint8_t r[300];
    size_t rl;
    (void)gp_get_data(&g, 0x9F7F, r, sizeof r, &rl);
    apdu_t a;
    uint16_t sw;
    apdu_set(&a, 0x80, 0xCA, 0x00, 0x66, NULL, 0, 1, 5);
    (void)gp_send(&g, &a, r, sizeof r, &rl, &sw);
    return 0;
}
