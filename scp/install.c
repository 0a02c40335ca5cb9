/* INSTALL, LOAD and STORE DATA (GlobalPlatform Card Specification 2.2.1,
 * 11.5, 11.6, 11.11): see gp.h. */
#include "config.h"
#include "gp.h"

#include <stdio.h>
#include <string.h>

size_t gp_max_data(const gp_card_t *g)
{
    if (!gp_channel_open(g))
        return APDU_MAX_DATA;
    /* the C-MAC takes 8 bytes of Lc 255 (16 in SCP03's S16 mode); C-DEC pads
     * to whole cipher blocks, always adding at least one byte (80) */
    gp_channel_info_t ci;
    gp_channel_info(g, &ci);
    size_t mac = ci.mac_len ? ci.mac_len : 8;
    if (ci.cdec) {
        size_t block = g->ops->block; /* AES or DES blocks */
        return (((APDU_MAX_DATA - mac) / block) * block) - 1;
    }
    return APDU_MAX_DATA - mac;
}

/* Appends a length-prefixed field; 0 when it does not fit. */
static int field(uint8_t *d, size_t *o, size_t cap, const uint8_t *v, size_t n)
{
    if (n > 255 || *o + 1 + n > cap)
        return 0;
    d[(*o)++] = (uint8_t)n;
    if (n)
        memcpy(d + *o, v, n);
    *o += n;
    return 1;
}

static int aid_ok(size_t n) { return n >= 5 && n <= GP_AID_MAX; }

scp_err_t gp_install_for_load(gp_card_t *g, const uint8_t *elf, size_t elf_len,
                              const uint8_t *sd, size_t sd_len, const uint8_t *hash,
                              size_t hash_len, const uint8_t *params, size_t params_len)
{
    if (!aid_ok(elf_len) || (sd_len && !aid_ok(sd_len)))
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for load]: an AID has 5 to 16 bytes");
    uint8_t d[APDU_MAX_DATA];
    size_t o = 0;
    if (!field(d, &o, sizeof d, elf, elf_len) || !field(d, &o, sizeof d, sd, sd_len) ||
        !field(d, &o, sizeof d, hash, hash_len) || !field(d, &o, sizeof d, params, params_len) ||
        !field(d, &o, sizeof d, NULL, 0) /* no load token */ || o > gp_max_data(g))
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for load]: the load parameters are too long");
    apdu_t a;
    apdu_set(&a, 0x80, 0xE6, 0x02, 0x00, d, o, 1, 256);
    return gp_command(g, "INSTALL [for load]", SW_CTX_INSTALL, &a, NULL, 0, NULL);
}

scp_err_t gp_load(gp_card_t *g, const uint8_t *block, size_t len, gp_progress_fn progress,
                  void *ctx)
{
    size_t step = gp_max_data(g);
    size_t total = (len + step - 1) / step;
    for (size_t i = 0; i < total; i++) {
        size_t off = i * step, n = len - off < step ? len - off : step;
        int last = i + 1 == total;
        apdu_t a;
        /* P2 counts blocks modulo 256: a load file of more than 256 blocks
         * (about 62 KiB at C-MAC) goes on from 00 again, as cards expect */
        apdu_set(&a, 0x80, 0xE8, last ? 0x80 : 0x00, (uint8_t)i, block + off, n, 1, 256);
        scp_err_t e = gp_command(g, "LOAD", SW_CTX_LOAD, &a, NULL, 0, NULL);
        if (e != SCP_OK) {
            char why[sizeof g->err];
            snprintf(why, sizeof why, "%s", g->err);
            return gp_fail(g, e, "block %zu of %zu (bytes %zu to %zu of the load file): %s", i + 1,
                       total, off, off + n - 1, why);
        }
        if (progress && progress(ctx, i + 1, total) && !last)
            return gp_fail(g, SCP_E_CANCELED, "LOAD stopped by the application after block %zu of %zu",
                       i + 1, total);
    }
    return SCP_OK;
}

scp_err_t gp_install_for_install(gp_card_t *g, const gp_install_t *in)
{
    if (!aid_ok(in->elf_len) || !aid_ok(in->module_len) || !aid_ok(in->app_len))
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for install]: an AID has 5 to 16 bytes");
    if (in->priv_len != 1 && in->priv_len != 3)
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for install]: privileges are 1 or 3 bytes, not %zu",
                   in->priv_len);
    uint8_t d[APDU_MAX_DATA], params[2 + 255];
    /* install parameters: C9 with the application's own, C9 00 when none */
    if (in->params_len > 253)
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for install]: the install parameters are too long");
    size_t pl = 0;
    params[pl++] = 0xC9;
    params[pl++] = (uint8_t)in->params_len;
    if (in->params_len)
        memcpy(params + pl, in->params, in->params_len);
    pl += in->params_len;
    size_t o = 0;
    if (!field(d, &o, sizeof d, in->elf, in->elf_len) ||
        !field(d, &o, sizeof d, in->module, in->module_len) ||
        !field(d, &o, sizeof d, in->app, in->app_len) ||
        !field(d, &o, sizeof d, in->priv, in->priv_len) || !field(d, &o, sizeof d, params, pl) ||
        !field(d, &o, sizeof d, NULL, 0) || o > gp_max_data(g))
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for install]: the command would be too long for the "
                                  "secure channel (install parameters of %zu bytes)",
                   in->params_len);
    apdu_t a;
    apdu_set(&a, 0x80, 0xE6, in->make_selectable ? 0x0C : 0x04, 0x00, d, o, 1, 256);
    return gp_command(g, in->make_selectable ? "INSTALL [for install and make selectable]"
                                             : "INSTALL [for install]",
                      SW_CTX_INSTALL, &a, NULL, 0, NULL);
}

/* The INSTALL variants that name an application only (no load file, no
 * module): for make selectable (P1 08, with its privileges) and for
 * personalization (P1 20). */
static scp_err_t install_app(gp_card_t *g, uint8_t p1, const char *what, const uint8_t *app,
                             size_t app_len, const uint8_t *priv, size_t priv_len)
{
    if (!aid_ok(app_len))
        return gp_fail(g, SCP_E_ARGS, "%s: an AID has 5 to 16 bytes", what);
    uint8_t d[4 + GP_AID_MAX + 5];
    size_t o = 0;
    field(d, &o, sizeof d, NULL, 0);
    field(d, &o, sizeof d, NULL, 0);
    field(d, &o, sizeof d, app, app_len);
    field(d, &o, sizeof d, priv, priv_len);
    field(d, &o, sizeof d, NULL, 0);
    field(d, &o, sizeof d, NULL, 0);
    apdu_t a;
    apdu_set(&a, 0x80, 0xE6, p1, 0x00, d, o, 1, 256);
    return gp_command(g, what, SW_CTX_INSTALL, &a, NULL, 0, NULL);
}

scp_err_t gp_install_for_make_selectable(gp_card_t *g, const uint8_t *app, size_t app_len,
                                         const uint8_t *priv, size_t priv_len)
{
    if (priv_len != 1 && priv_len != 3)
        return gp_fail(g, SCP_E_ARGS, "INSTALL [for make selectable]: privileges are 1 or 3 bytes");
    return install_app(g, 0x08, "INSTALL [for make selectable]", app, app_len, priv, priv_len);
}

scp_err_t gp_store_data(gp_card_t *g, const uint8_t *app, size_t app_len, const uint8_t *data,
                        size_t len, uint8_t format, size_t *taken)
{
    *taken = 0;
    if (!len)
        return gp_fail(g, SCP_E_ARGS, "STORE DATA: nothing to store");
    scp_err_t e = install_app(g, 0x20, "INSTALL [for personalization]", app, app_len, NULL, 0);
    if (e != SCP_OK)
        return e;
    apdu_t a;
    size_t step = gp_max_data(g);
    size_t total = (len + step - 1) / step;
    if (total > 256)
        return gp_fail(g, SCP_E_ARGS, "STORE DATA: %zu bytes need %zu blocks, more than the 256 its "
                                  "block number counts", len, total);
    for (size_t i = 0; i < total; i++) {
        size_t off = i * step, n = len - off < step ? len - off : step;
        apdu_set(&a, 0x80, 0xE2, (uint8_t)((format & 0x7F) | (i + 1 == total ? 0x80 : 0)),
                 (uint8_t)i, data + off, n, 1, 256);
        e = gp_command(g, "STORE DATA", SW_CTX_ANY, &a, NULL, 0, NULL);
        if (e != SCP_OK) {
            char why[sizeof g->err];
            snprintf(why, sizeof why, "%s", g->err);
            return gp_fail(g, e, "block %zu of %zu: %s", i + 1, total, why);
        }
        *taken = off + n;
    }
    return SCP_OK;
}
