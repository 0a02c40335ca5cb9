/* gp-p11 lock-card, unlock-card, terminate-card, put-key, apdu. */
#include "config.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/sw.h"

/* --- the card's lifecycle --------------------------------------------------------- */

/* Terminating is for good: asked on the terminal, unless --yes. */
static int confirm_terminate(tool_t *t)
{
    if (t->yes)
        return EX_OK;
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return tool_fail(t, EX_USAGE, "terminate-card ends the card for good and asks first; "
                                      "with no terminal to ask on, give --yes");
    fprintf(tty, "terminate-card: the card in \"%s\" will accept no command ever again, and "
                 "nothing can undo it.\nType 'terminate' to go on: ", t->reader_name);
    fflush(tty);
    char line[64] = "";
    int ok = fgets(line, sizeof line, tty) && !strncmp(line, "terminate", 9) &&
             (line[9] == '\n' || line[9] == 0);
    fclose(tty);
    return ok ? EX_OK : tool_fail(t, EX_USAGE, "terminate-card: not confirmed; nothing sent");
}

/* The card's lifecycle as every command's JSON has a lifecycle: value and name. */
static void card_lifecycle(tool_t *t, uint8_t lc)
{
    gp_entry_t e;
    memset(&e, 0, sizeof e);
    e.p1 = GP_STATUS_ISD;
    e.lifecycle = lc;
    json_lifecycle(&t->j, &e);
}

int cmd_card_state(tool_t *t, int argc, char **argv, const char *which)
{
    (void)argv;
    if (argc != 0)
        return tool_fail(t, EX_USAGE, "%s takes no arguments", which);
    int terminate = !strcmp(which, "terminate-card"), lock = !strcmp(which, "lock-card");
    int code = p11_start(t);
    if (code != EX_OK)
        return code;
    CK_OBJECT_HANDLE isd = p11_isd(t, &code);
    if (isd == CK_INVALID_HANDLE)
        return code;
    uint8_t lc = 0;
    p11_attr(t, isd, CKA_GP_LIFECYCLE, &lc, 1);
    uint8_t value = terminate ? 0xFF : lock ? 0x7F : 0x0F;
    if (lc == value || (!terminate && !lock && lc != 0x7F)) {
        if (!t->json)
            printf("the card is %s already (lifecycle %02X)\n", lock ? "locked" : "not locked",
                   lc);
        json_bool(&t->j, "changed", 0);
        card_lifecycle(t, lc);
        return EX_OK;
    }
    if (terminate && (code = confirm_terminate(t)) != EX_OK)
        return code;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE a[] = {{CKA_GP_LIFECYCLE, &value, 1}, {CKA_GP_CONFIRM_TERMINATE, &yes, sizeof yes}};
    tool_hold(t, 0);
    CK_RV rv = t->f->C_SetAttributeValue(t->h, isd, a, terminate ? 2 : 1);
    tool_unhold(t);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, which, SW_CTX_SECURED);
    json_bool(&t->j, "changed", 1);
    card_lifecycle(t, value);
    if (!t->json)
        printf("%s: the card's lifecycle is now %02X (%s)\n", which, value,
               terminate ? "TERMINATED" : lock ? "CARD_LOCKED" : "SECURED");
    return EX_OK;
}

/* --- PUT KEY ---------------------------------------------------------------------- */

int put_key_run(tool_t *t, const char *name, int version, int replace, const char *from_file)
{
    tool_keys_t keys;
    memset(&keys, 0, sizeof keys);
    if (from_file) {
        if (!strcmp(from_file, "-")) {
            if (t->pin_file && !strcmp(t->pin_file, "-"))
                return tool_fail(t, EX_USAGE, "the keys and the PIN cannot both come from "
                                              "standard input");
            t->stdin_taken = 1;
        }
        if (tool_read_key_file(t->prog, from_file, -1, &keys) != 0)
            return tool_fail(t, EX_USAGE, "put-key: no usable key file");
    }
    int code = p11_start(t);
    if (code != EX_OK) {
        ks_wipe(&keys, sizeof keys);
        return code;
    }
    CK_BYTE v = (CK_BYTE)version, r = (CK_BYTE)replace;
    CK_OBJECT_CLASS cls = CKO_GP_KEY_SET;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_LABEL, (void *)name, strlen(name)},
        {CKA_GP_KEY_VERSION, &v, 1},
        {CKA_GP_REPLACE_KEY_VERSION, &r, 1},
        {CKA_GP_KEY_VALUES, keys.v, 3 * keys.len}, /* the channel's protocol takes them */
    };
    CK_OBJECT_HANDLE obj;
    CK_RV rv;
    tool_hold(t, 0); /* keys are made, sent and sealed whole */
    if (from_file) {
        rv = t->f->C_CreateObject(t->h, tmpl, 5, &obj);
    } else {
        CK_MECHANISM m = {CKM_GP_PUT_KEY, NULL, 0};
        rv = t->f->C_GenerateKey(t->h, &m, tmpl, 4, &obj);
    }
    tool_unhold(t);
    ks_wipe(&keys, sizeof keys);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, "PUT KEY", SW_CTX_SECURED);
    json_int(&t->j, "key_version", version);
    json_int(&t->j, "replaced", replace);
    json_str(&t->j, "key_set", name);
    if (!t->json)
        printf("key version %02X %s on the card; keystore key set \"%s\" holds its keys\n",
               version, replace ? "replaces the old version" : "added", name);
    return EX_OK;
}

int cmd_put_key(tool_t *t, int argc, char **argv)
{
    opts_t *o = &t->o;
    if (argc != 1 || !(o->given & OPT_VERSION) || o->version < 1 || o->version > 0x7F ||
        o->replace < 0 || o->replace > 0x7F)
        return tool_fail(t, EX_USAGE, "put-key NAME --version N (1 to 127) [--replace M] "
                                      "[--from-file FILE]");
    return put_key_run(t, argv[0], o->version, o->replace, o->from_file);
}

/* DELETE [key] of a card key version, through its CKO_GP_KEY_SET object; the
 * keystore's key sets are left as they are. */
int cmd_delete_key(tool_t *t, int argc, char **argv)
{
    (void)argv;
    opts_t *o = &t->o;
    if (argc != 0 || !(o->given & OPT_VERSION) || o->version < 1 || o->version > 0xFF)
        return tool_fail(t, EX_USAGE, "delete-key --version N (the card's key version, 1 to 255)");
    int code = p11_start(t);
    if (code != EX_OK)
        return code;
    CK_OBJECT_CLASS cls = CKO_GP_KEY_SET;
    CK_BYTE v = (CK_BYTE)o->version;
    CK_ATTRIBUTE q[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KEY_VERSION, &v, 1}};
    CK_OBJECT_HANDLE ks;
    int n = p11_find(t, q, 2, &ks, 1);
    if (n < 0)
        return EX_ERROR;
    if (n == 0)
        return tool_fail(t, EX_USAGE, "the card has no key version %02X ('%s info' lists its key "
                                      "versions)", o->version, t->prog);
    tool_hold(t, 0);
    CK_RV rv = t->f->C_DestroyObject(t->h, ks);
    tool_unhold(t);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, "delete-key", SW_CTX_DELETE);
    json_int(&t->j, "key_version", o->version);
    if (!t->json)
        printf("deleted key version %02X from the card; the keystore's key sets are kept\n",
               o->version);
    return EX_OK;
}

/* --- APDUs through the secure channel ----------------------------------------------- */

static int send_apdu(tool_t *t, CK_OBJECT_HANDLE channel, const char *text, unsigned *last_sw)
{
    uint8_t cmd[261 + 8];
    int n = hex_decode(text, cmd, sizeof cmd);
    if (n < 4)
        return tool_fail(t, EX_USAGE, "APDU \"%s\": %s", text,
                         n < 0 ? "not hexadecimal, or longer than 261 bytes"
                               : "shorter than a command header (CLA INS P1 P2)");
    CK_MECHANISM m = {t->o.plain ? CKM_GP_APDU_PLAIN : CKM_GP_APDU, NULL, 0};
    uint8_t rsp[258];
    CK_ULONG rl = sizeof rsp;
    CK_RV rv = t->f->C_SignInit(t->h, &m, channel);
    if (rv == CKR_OK) {
        tool_hold(t, 0);
        rv = t->f->C_Sign(t->h, cmd, (CK_ULONG)n, rsp, &rl);
        tool_unhold(t);
    }
    char hex[2 * sizeof cmd + 1];
    hex_encode(cmd, (size_t)n, hex);
    tool_module_said(t); /* the trace (-v) as it goes */
    if (rv != CKR_OK) {
        char what[600];
        snprintf(what, sizeof what, "APDU %s", hex);
        if (rv == CKR_DATA_INVALID && t->o.plain)
            return tool_fail(t, EX_USAGE, "%s: not sent (the gp-p11 line above says why)", what);
        if (rv == CKR_DATA_INVALID)
            return tool_fail(t, EX_USAGE, "%s: gp-p11 does not send this command through the "
                                          "secure channel (SELECT, INITIALIZE UPDATE, EXTERNAL "
                                          "AUTHENTICATE, GET RESPONSE, MANAGE CHANNEL, R-MAC "
                                          "session commands and other logical channels would "
                                          "end or upset the channel it keeps)", what);
        return tool_fail_rv(t, rv, what, SW_CTX_SECURED);
    }
    if (rl < 2)
        return tool_fail(t, EX_ERROR, "APDU %s: an answer without a status word", hex);
    unsigned sw = (unsigned)(rsp[rl - 2] << 8 | rsp[rl - 1]);
    char words[300];
    sw_describe((uint16_t)sw, SW_CTX_SECURED, words, sizeof words);
    char data[2 * sizeof rsp + 1], swh[5];
    hex_encode(rsp, rl - 2, data);
    snprintf(swh, sizeof swh, "%04X", sw);
    /* in the JSON the words alone, as in every sw_words: the status word is "sw" */
    const char *bare = !strncmp(words, swh, 4) && words[4] == ':' ? words + 6 : words;
    json_obj(&t->j, NULL);
    json_str(&t->j, "command", hex);
    json_str(&t->j, "data", data);
    json_str(&t->j, "sw", swh);
    json_str(&t->j, "sw_words", bare);
    json_end(&t->j, '}');
    if (!t->json) {
        printf("> %s\n", hex);
        if (rl > 2)
            printf("< %s\n", data);
        printf("< %s\n", words);
        fflush(stdout);
    }
    *last_sw = sw;
    return EX_OK;
}

int cmd_apdu(tool_t *t, int argc, char **argv)
{
    int from_stdin = argc == 0 || (argc == 1 && !strcmp(argv[0], "-"));
    if (from_stdin && t->pin_file && !strcmp(t->pin_file, "-"))
        return tool_fail(t, EX_USAGE, "the APDUs come from standard input, so the PIN cannot: "
                                      "use --pin-file FILE or the prompt");
    if (from_stdin)
        t->stdin_taken = 1;
    if (t->o.sd && !t->o.plain)
        return tool_fail(t, EX_USAGE, "--select goes with --plain (the secure channel is the "
                                      "security domain's)");
    /* --plain: outside the secure channel, without a login or a PIN */
    int code = t->o.plain ? p11_open(t) : p11_start(t);
    if (code != EX_OK)
        return code;
    const char *label = t->o.plain ? "plain channel" : "secure channel";
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE channel;
    if (p11_find(t, tmpl, 2, &channel, 1) != 1)
        return tool_fail(t, EX_ERROR, "no %s object%s", label, t->o.plain ? "" : " after login");
    unsigned last = 0;
    int sent = 0;
    json_bool(&t->j, "plain", t->o.plain);
    json_arr(&t->j, "responses");
    if (t->o.sd) { /* SELECT by AID first: the application the commands go to */
        uint8_t aid[16];
        int al = hex_decode(t->o.sd, aid, sizeof aid);
        if (al < 5)
            return tool_fail(t, EX_USAGE, "--select %s: an AID of 5 to 16 bytes in hex", t->o.sd);
        char sel[64];
        snprintf(sel, sizeof sel, "00A40400%02X%s00", al, t->o.sd);
        code = send_apdu(t, channel, sel, &last);
        sent++;
        if (code == EX_OK && last != 0x9000) {
            json_end(&t->j, ']');
            return tool_fail_sw(t, EX_REFUSED, CKR_OK, last, SW_CTX_ANY, "apdu --select");
        }
    }
    if (!from_stdin) {
        for (int i = 0; i < argc && code == EX_OK; i++, sent++)
            code = send_apdu(t, channel, argv[i], &last);
    } else {
        char line[1200];
        while (code == EX_OK && fgets(line, sizeof line, stdin)) {
            char *p = tool_line_text(line);
            if (!*p)
                continue;
            code = send_apdu(t, channel, p, &last);
            sent++;
        }
    }
    json_end(&t->j, ']');
    if (code != EX_OK)
        return code;
    if (!sent)
        return tool_fail(t, EX_USAGE, "no APDU given (as arguments, or one per line on standard "
                                      "input)");
    json_int(&t->j, "sent", sent);
    if (last != 0x9000) /* exit 1, with the error every failure has */
        return tool_fail_sw(t, EX_REFUSED, CKR_OK, last, SW_CTX_SECURED, "apdu: the last command");
    return EX_OK;
}
