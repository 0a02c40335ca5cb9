/* A way to move APDUs to a card: PC/SC in production (pcsc.h), anything
 * that moves bytes in tests. */
#ifndef GP_SCP_TRANSPORT_H
#define GP_SCP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "scp02.h"

typedef struct {
    /* Sends cmd, receives the raw response (data + SW). On failure returns
     * SCP_E_TRANSPORT or SCP_E_REMOVED and explains in err. */
    scp_err_t (*transmit)(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp,
                          size_t *rsp_len, char *err, size_t errlen);
    void *ctx;
} gp_transport_t;

#endif
