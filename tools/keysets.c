/* Key sets in the keystore token: import, generate, list (with KCVs),
 * delete. gp-p11 keys and gp-p11-keys both run this; it talks to the
 * keystore directly, since the gp-p11 module shows no keystore keys. */
#include "config.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

#include "keystore/doctor.h"
#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "keystore/scp03_crypto.h"

struct list_ctx {
    tool_t *t;
    ks_session_t *s;
    int count;
    int failed;
};

static void show_set(void *vctx, const char *name)
{
    struct list_ctx *c = vctx;
    tool_t *t = c->t;
    ks_keyset_t set;
    c->count++;
    json_obj(&t->j, NULL);
    json_str(&t->j, "name", name);
    if (ks_find_keyset(c->s, name, &set) != CKR_OK) {
        json_str(&t->j, "problem", ks_session_error(c->s));
        json_end(&t->j, '}');
        if (!t->json)
            printf("%-24s incomplete: %s\n", name, ks_session_error(c->s));
        c->failed = 1;
        return;
    }
    CK_OBJECT_HANDLE hs[3] = {set.enc, set.mac, set.dek};
    char type[8];
    snprintf(type, sizeof type, set.aes ? "aes%zu" : "des", set.len * 8);
    json_str(&t->j, "type", type);
    json_str(&t->j, "protocol", set.aes ? "SCP03" : "SCP02");
    if (!t->json)
        printf("%-24s %-6s", name, type);
    json_obj(&t->j, "kcv");
    for (int r = 0; r < 3; r++) {
        uint8_t kcv[3];
        char hex[7];
        /* SCP03's KCV is AES(key, 01 * 16); SCP02's 3DES(key, 00 * 8) */
        if ((set.aes ? ks_scp03_kcv(c->s, hs[r], kcv) : ks_kcv(c->s, hs[r], kcv)) == CKR_OK) {
            hex_encode(kcv, 3, hex);
            json_str(&t->j, ks_role_names[r], hex);
            if (!t->json)
                printf(" %s KCV=%s", ks_role_names[r], hex);
        } else {
            json_str(&t->j, ks_role_names[r], NULL);
            if (!t->json)
                printf(" %s KCV=(unavailable: %s)", ks_role_names[r], ks_session_error(c->s));
            c->failed = 1;
        }
    }
    json_end(&t->j, '}');
    json_end(&t->j, '}');
    if (!t->json)
        printf("\n");
}

/* What the keystore can do for gp-p11: its mechanism list, then each
 * capability tried on session keys of public test values against known
 * answers. Exit 0 unless the keystore computed a wrong answer (or could
 * not be asked): a keystore that cannot do something is told, not failed. */
static int doctor(tool_t *t, ks_t *ks, ks_session_t *s)
{
    ks_caps_t c;
    char err[KS_ERRLEN] = "", line[1024];
    if (ks_caps_listed(ks, &c, err, sizeof err) != CKR_OK)
        return tool_fail(t, EX_ERROR, "%s", err);
    ks_caps_line(ks, &c, line, sizeof line);
    json_str(&t->j, "listed", line);
    if (!t->json)
        printf("%s\ntried on session keys of public test values, against known answers:\n", line);
    ks_probe_t p[KS_PROBES_MAX];
    unsigned long before = ks_session_calls(s);
    size_t n = ks_doctor(s, p);
    static const char *const words[] = {"yes", "no", "WRONG"};
    int wrong = 0;
    json_arr(&t->j, "tried");
    for (size_t i = 0; i < n; i++) {
        const char *hint = "";
        if (p[i].result == KS_PROBE_NO && p[i].cap == KS_CAP_PUT_DES)
            hint = "; SCP02 put-key then needs --from-file and put_key_plaintext = yes";
        else if (p[i].result == KS_PROBE_NO && p[i].cap == KS_CAP_PUT_AES)
            hint = "; SCP03 put-key then needs --from-file and put_key_plaintext = yes";
        else if (p[i].result == KS_PROBE_WRONG)
            hint = "; this keystore must not be used for that";
        wrong |= p[i].result == KS_PROBE_WRONG;
        json_obj(&t->j, NULL);
        json_str(&t->j, "what", p[i].what);
        json_str(&t->j, "result", words[p[i].result]);
        json_str(&t->j, "detail", p[i].detail[0] ? p[i].detail : NULL);
        json_end(&t->j, '}');
        if (!t->json)
            printf("  %-5s %s%s%s%s\n", words[p[i].result], p[i].what, p[i].detail[0] ? ": " : "",
                   p[i].detail, hint);
    }
    json_end(&t->j, ']');
    json_int(&t->j, "keystore_calls", (long long)(ks_session_calls(s) - before));
    if (!t->json)
        printf("(%lu keystore calls for the list, %lu to try)\n", c.calls,
               ks_session_calls(s) - before);
    if (wrong)
        return tool_fail(t, EX_ERROR, "the keystore computed a wrong answer (see WRONG above)");
    return EX_OK;
}

static void show_refusal(void *vctx, const char *kdd, const char *text)
{
    struct list_ctx *c = vctx;
    c->count++;
    json_obj(&c->t->j, NULL);
    json_str(&c->t->j, "kdd", kdd);
    json_str(&c->t->j, "refused", text);
    json_end(&c->t->j, '}');
    if (!c->t->json)
        printf("%s  refused EXTERNAL AUTHENTICATE: %s\n", kdd, text);
}

int keysets_check_args(const char *cmd, int argc)
{
    if (!strcmp(cmd, "import"))
        return argc >= 1 && argc <= 2 ? 0 : -1;
    if (!strcmp(cmd, "generate") || !strcmp(cmd, "delete") || !strcmp(cmd, "forget-refusal"))
        return argc == 1 ? 0 : -1;
    if (!strcmp(cmd, "list") || !strcmp(cmd, "refusals") || !strcmp(cmd, "doctor"))
        return argc == 0 ? 0 : -1;
    return -1;
}

int keysets_run(tool_t *t, const char *cmd, int argc, char **argv)
{
    int is_import = !strcmp(cmd, "import"), is_gen = !strcmp(cmd, "generate");
    int is_list = !strcmp(cmd, "list");
    if (keysets_check_args(cmd, argc) != 0)
        return tool_fail(t, EX_USAGE, "keys %s: unknown, or the wrong number of arguments "
                                      "(import NAME [FILE], generate NAME, list, delete NAME, "
                                      "refusals, forget-refusal KDD|all, doctor)",
                         cmd);
    const char *set = argc ? argv[0] : NULL;
    const char *keyfile = is_import && argc == 2 ? argv[1] : "-";
    if (is_import && !strcmp(keyfile, "-") && t->pin_file && !strcmp(t->pin_file, "-"))
        return tool_fail(t, EX_USAGE, "the key set and the PIN cannot both come from standard "
                                      "input");

    /* the kind of key set: --key-type, else (import) what the file holds */
    ks_keyset_t like = {CK_INVALID_HANDLE, CK_INVALID_HANDLE, CK_INVALID_HANDLE, 0, 16};
    int want_aes = -1;
    if (t->o.key_type) {
        if (tool_key_type(t->o.key_type, &like.aes, &like.len) != 0)
            return tool_fail(t, EX_USAGE, "--key-type is des (SCP02), aes128, aes192 or aes256 "
                                          "(SCP03), not '%s'", t->o.key_type);
        want_aes = like.aes;
    }
    /* the keys first, so that a bad file fails before anything touches the token */
    tool_keys_t keys;
    memset(&keys, 0, sizeof keys);
    if (is_import && tool_read_key_file(t->prog, keyfile, want_aes, &keys) != 0)
        return tool_fail(t, EX_USAGE, "no key set imported");
    if (is_import && t->o.key_type && keys.len != like.len) {
        ks_wipe(&keys, sizeof keys);
        return tool_fail(t, EX_USAGE, "--key-type %s takes %zu-byte keys; the file holds %zu-byte "
                                      "keys", t->o.key_type, like.len, keys.len);
    }
    if (is_import) {
        like.aes = keys.aes;
        like.len = keys.len;
    }
    char err[KS_ERRLEN] = "";
    char pin[PIN_MAX];
    int code = EX_ERROR;
    ks_t *ks = NULL;
    ks_session_t *s = NULL;
    int pin_len = tool_read_pin(t->prog, t->pin_file, "Keystore user PIN: ", pin, sizeof pin);
    if (pin_len < 0) {
        code = tool_fail(t, EX_USAGE, "no PIN");
        goto out;
    }
    CK_RV rv = ks_open_args(&ks, t->ks_module, 0, t->ks_init_args, err, sizeof err);
    if (rv == CKR_OK)
        rv = ks_select_token(ks, t->ks_token, err, sizeof err);
    if (rv != CKR_OK) {
        code = tool_fail(t, EX_NOTOKEN, "%s", err);
        goto out;
    }
    rv = ks_login(ks, (const uint8_t *)pin, (size_t)pin_len, err, sizeof err);
    ks_wipe(pin, sizeof pin);
    if (rv != CKR_OK) {
        int pin_problem = rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
                          rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID;
        code = tool_fail(t, pin_problem ? EX_AUTH : EX_ERROR, "%s", err);
        goto out;
    }
    if (ks_session_open(ks, &s) != CKR_OK) {
        code = tool_fail(t, EX_ERROR, "cannot open a keystore session");
        goto out;
    }
    struct list_ctx lc = {t, s, 0, 0};
    if (is_import || is_gen) {
        ks_keyset_t made; /* whole or not at all; keys there before are never touched */
        rv = ks_create_keyset_like(s, set, &like, is_import ? keys.v : NULL, 0, &made);
        if (rv != CKR_OK) {
            code = tool_fail(t, EX_ERROR, "%s", ks_session_error(s));
            goto out;
        }
        if (!t->json)
            printf("%s key set:\n", is_import ? "imported" : "generated");
        json_arr(&t->j, "key_sets");
        show_set(&lc, set);
        json_end(&t->j, ']');
        code = lc.failed ? EX_ERROR : EX_OK;
    } else if (!strcmp(cmd, "doctor")) {
        code = doctor(t, ks, s);
    } else if (!strcmp(cmd, "refusals")) {
        json_arr(&t->j, "refusals");
        struct list_ctx rc = {t, s, 0, 0};
        rv = ks_note_list(s, GP_REFUSAL_NOTE, show_refusal, &rc);
        json_end(&t->j, ']');
        if (rv != CKR_OK) {
            code = tool_fail(t, EX_ERROR, "%s", ks_session_error(s));
            goto out;
        }
        if (rc.count == 0 && !t->json)
            printf("no card has refused EXTERNAL AUTHENTICATE\n");
        code = EX_OK;
    } else if (!strcmp(cmd, "forget-refusal")) {
        int n = 0;
        rv = ks_note_delete(s, GP_REFUSAL_NOTE, strcmp(set, "all") ? set : NULL, &n);
        if (rv != CKR_OK) {
            code = tool_fail(t, EX_ERROR, "%s", ks_session_error(s));
            goto out;
        }
        if (!n) {
            code = tool_fail(t, EX_ERROR, "no card with key diversification data %s has refused "
                                          "EXTERNAL AUTHENTICATE (see keys refusals)", set);
            goto out;
        }
        json_int(&t->j, "forgotten", n);
        if (!t->json)
            printf("forgot %d refusal%s: gp-p11 may send EXTERNAL AUTHENTICATE to %s again\n", n,
                   n > 1 ? "s" : "", strcmp(set, "all") ? "that card" : "those cards");
        code = EX_OK;
    } else if (is_list) {
        json_arr(&t->j, "key_sets");
        rv = ks_list_keysets(s, show_set, &lc);
        json_end(&t->j, ']');
        if (rv != CKR_OK) {
            code = tool_fail(t, EX_ERROR, "%s", ks_session_error(s));
            goto out;
        }
        if (lc.count == 0 && !t->json)
            printf("no key sets on token %s\n", t->ks_token);
        code = lc.failed ? EX_ERROR : EX_OK;
    } else {
        rv = ks_delete_keyset(s, set);
        if (rv != CKR_OK) {
            code = tool_fail(t, EX_ERROR, "%s", ks_session_error(s));
            goto out;
        }
        json_str(&t->j, "deleted", set);
        if (!t->json)
            printf("deleted key set %s\n", set);
        code = EX_OK;
    }
out:
    ks_wipe(pin, sizeof pin);
    ks_wipe(&keys, sizeof keys);
    ks_session_close(s);
    if (ks)
        ks_logout(ks);
    ks_close(ks);
    return code;
}
