/* gp-p11 install, load, delete, lock, unlock, store-data: the module's applet
 * calls (C_CreateObject with a CAP file, C_DestroyObject, C_SetAttributeValue). */
#include "config.h"
#include "tool.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "scp/cap.h"
#include "scp/carddata.h"
#include "scp/registry.h"
#include "scp/sw.h"

static int aid_arg(tool_t *t, const char *what, const char *hex, uint8_t *aid, size_t *len)
{
    int n = tool_hex_arg(t, what, hex, aid, GP_AID_MAX);
    if (n < 0)
        return -1;
    if (n < 5) {
        tool_fail(t, EX_USAGE, "%s %s: an AID has 5 to 16 bytes", what, hex);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* Reads a whole file (at most max bytes); NULL with the failure said. */
static uint8_t *read_file(tool_t *t, const char *path, size_t max, size_t *len)
{
    int is_stdin = !strcmp(path, "-");
    if (is_stdin) {
        if (t->stdin_taken) {
            tool_fail(t, EX_USAGE, "standard input is taken already (the PIN comes from it)");
            return NULL;
        }
        t->stdin_taken = 1;
    }
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        tool_fail(t, EX_USAGE, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (!buf || err) {
        free(buf);
        tool_fail(t, EX_USAGE, "cannot read %s", path);
        return NULL;
    }
    if (n > max) {
        free(buf);
        tool_fail(t, EX_USAGE, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    *len = n;
    return buf;
}

static void say_entry(tool_t *t, CK_OBJECT_HANDLE o, const char *verb)
{
    gp_entry_t e;
    CK_ULONG kind = p11_entry(t, o, &e);
    char hex[2 * GP_AID_MAX + 1];
    hex_encode(e.aid, e.aid_len, hex);
    json_obj(&t->j, NULL);
    json_str(&t->j, "aid", hex);
    json_str(&t->j, "kind", tool_kind_key(kind));
    json_lifecycle(&t->j, &e);
    json_end(&t->j, '}');
    if (!t->json && verb)
        printf("%s %s %s (%s)\n", verb, gp_entry_kind(&e), hex, gp_lifecycle_name(&e));
}

/* The load file AID of a CAP file (its Header component); -1 with the
 * failure said. */
static int cap_package(tool_t *t, const char *path, const uint8_t *cap, size_t len,
                       uint8_t *aid, size_t *al)
{
    gp_cap_t c;
    char why[160];
    if (gp_cap_parse(cap, len, 0, &c, why, sizeof why) != 0) {
        tool_fail(t, EX_USAGE, "%s: %s", path, why);
        return -1;
    }
    memcpy(aid, c.pkg_aid, c.pkg_aid_len);
    *al = c.pkg_aid_len;
    gp_cap_free(&c);
    return 0;
}

/* DELETE of a registry object, with what was installed from it when related
 * (a load file); the card's refusal or an unknown outcome said as what's. */
static int delete_entry(tool_t *t, CK_OBJECT_HANDLE o, int related, const char *what)
{
    if (related) {
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE a = {CKA_GP_DELETE_RELATED, &yes, sizeof yes};
        CK_RV rv = t->f->C_SetAttributeValue(t->h, o, &a, 1);
        if (rv != CKR_OK)
            return tool_fail_rv(t, rv, what, SW_CTX_DELETE);
    }
    tool_hold(t, 0);
    CK_RV rv = t->f->C_DestroyObject(t->h, o);
    tool_unhold(t);
    return rv == CKR_OK ? EX_OK : tool_fail_rv(t, rv, what, SW_CTX_DELETE);
}

/* install --force: the CAP file's load file, if the card has it, deleted
 * first with the applications installed from it */
static int delete_first(tool_t *t, const char *path, const uint8_t *cap, size_t len)
{
    uint8_t aid[GP_AID_MAX];
    size_t al;
    if (cap_package(t, path, cap, len, aid, &al))
        return EX_USAGE;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE q[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_AID, aid, al}};
    CK_OBJECT_HANDLE o;
    int n = p11_find(t, q, 2, &o, 1);
    if (n < 0)
        return EX_ERROR;
    if (n == 0)
        return EX_OK; /* nothing to replace */
    char hex[2 * GP_AID_MAX + 1];
    hex_encode(aid, al, hex);
    CK_ULONG kind = 0;
    p11_attr(t, o, CKA_GP_KIND, &kind, sizeof kind);
    if (kind != GP_KIND_LOAD_FILE)
        return tool_fail(t, EX_USAGE, "--force deletes the CAP file's load file first, but %s on "
                                      "the card is not a load file; nothing was deleted", hex);
    int code = delete_entry(t, o, 1, "install --force: deleting the load file first (nothing "
                                     "was loaded)");
    if (code != EX_OK)
        return code;
    json_str(&t->j, "deleted", hex); /* as delete says it */
    if (!t->json)
        printf("deleted %s with the applications installed from it (--force)\n", hex);
    return EX_OK;
}

/* --privileges: names separated by commas (gp_privileges_from_names), or
 * 1 or 3 bytes in hex (GlobalPlatform 2.2 table 6-1) */
static int privileges_arg(tool_t *t, const char *text, uint8_t priv[3])
{
    size_t hex = strspn(text, "0123456789abcdefABCDEF");
    if (text[hex] == 0 && (hex == 2 || hex == 6))
        return tool_hex_arg(t, "--privileges", text, priv, 3);
    char why[96];
    int n = gp_privileges_from_names(text, priv, why, sizeof why);
    if (n < 0) {
        tool_fail(t, EX_USAGE, "--privileges: %s; give names separated by commas (%s), or 1 or "
                               "3 bytes in hex (GlobalPlatform 2.2 table 6-1)",
                  why, GP_PRIVILEGE_WORDS);
        return -1;
    }
    return n;
}

static void on_sigint(int sig)
{
    (void)sig;
    tool_interrupted = 1;
}

int cmd_install(tool_t *t, int argc, char **argv, int load_only)
{
    opts_t *o = &t->o;
    const char *what = load_only ? "load" : "install";
    if (argc > 1)
        return tool_fail(t, EX_USAGE, "%s takes one CAP file", what);
    if (load_only && (o->given & (OPT_APPLET | OPT_INSTANCE | OPT_PRIVILEGES | OPT_PARAMS |
                                  OPT_NOT_SELECTABLE | OPT_LOADED | OPT_PACKAGE)))
        return tool_fail(t, EX_USAGE, "load only loads: --applet, --instance, --privileges, "
                                      "--params, --not-selectable, --loaded and --package belong "
                                      "to install");
    if (argc == 0 && !(o->loaded && o->package && o->applet))
        return tool_fail(t, EX_USAGE, "%s FILE.cap; or, for a load file on the card already, "
                                      "install --loaded --package AID --applet AID", what);
    if (argc == 1 && o->package)
        return tool_fail(t, EX_USAGE, "--package names the load file when no CAP file is given");
    if (o->force && o->loaded)
        return tool_fail(t, EX_USAGE, "--force deletes the load file first and --loaded installs "
                                      "from it: give one of them");
    uint8_t applet[GP_AID_MAX], instance[GP_AID_MAX], package[GP_AID_MAX], sd[GP_AID_MAX];
    uint8_t priv[3], params[255];
    size_t applet_len = 0, instance_len = 0, package_len = 0, sd_len = 0;
    int priv_len = 0, params_len = 0;
    if ((o->applet && aid_arg(t, "--applet", o->applet, applet, &applet_len)) ||
        (o->instance && aid_arg(t, "--instance", o->instance, instance, &instance_len)) ||
        (o->package && aid_arg(t, "--package", o->package, package, &package_len)) ||
        (o->sd && aid_arg(t, "--sd", o->sd, sd, &sd_len)))
        return EX_USAGE;
    if (o->privileges && (priv_len = privileges_arg(t, o->privileges, priv)) < 0)
        return EX_USAGE;
    if (o->params && (params_len = tool_hex_arg(t, "--params", o->params, params,
                                                sizeof params)) < 0)
        return EX_USAGE;
    if (o->instance && !o->applet)
        return tool_fail(t, EX_USAGE, "--instance needs --applet (the class it is made from)");
    uint8_t *cap = NULL;
    size_t cap_len = 0;
    if (argc == 1 && !(cap = read_file(t, argv[0], GP_CAP_FILE_MAX, &cap_len)))
        return EX_USAGE;

    int code = p11_start(t);
    if (code == EX_OK && o->force)
        code = delete_first(t, argv[0], cap, cap_len);
    if (code != EX_OK) {
        free(cap);
        return code;
    }
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    const char *app = load_only ? "load file" : "application";
    CK_ATTRIBUTE tmpl[16];
    CK_ULONG n = 0;
#define ADD(ty, p, l) (tmpl[n].type = (ty), tmpl[n].pValue = (void *)(p), tmpl[n++].ulValueLen = (l))
    ADD(CKA_CLASS, &cls, sizeof cls);
    ADD(CKA_APPLICATION, app, strlen(app));
    ADD(CKA_GP_PROGRESS, t->progress, sizeof t->progress);
    if (cap)
        ADD(CKA_VALUE, cap, cap_len);
    if (applet_len)
        ADD(CKA_GP_MODULE, applet, applet_len);
    if (instance_len)
        ADD(CKA_GP_AID, instance, instance_len);
    if (package_len)
        ADD(CKA_GP_LOAD_FILE, package, package_len);
    if (sd_len)
        ADD(CKA_GP_SECURITY_DOMAIN, sd, sd_len);
    if (priv_len)
        ADD(CKA_GP_PRIVILEGES, priv, (CK_ULONG)priv_len);
    if (o->params)
        ADD(CKA_GP_INSTALL_PARAMS, params, (CK_ULONG)params_len);
    if (o->not_selectable)
        ADD(CKA_GP_SELECTABLE, &no, sizeof no);
    if (o->no_descriptor)
        ADD(CKA_GP_LOAD_DESCRIPTOR, &no, sizeof no);
    if (o->hash)
        ADD(CKA_GP_LOAD_HASH, &yes, sizeof yes);
    if (o->loaded)
        ADD(CKA_GP_INSTALL_ONLY, &yes, sizeof yes);
#undef ADD
    /* a progress bar on a terminal; nothing on a pipe or with --json */
    t->progress_what = !t->json && isatty(STDERR_FILENO) && !o->loaded ? "LOAD" : NULL;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    tool_hold(t, 1); /* Ctrl-C stops a LOAD between blocks (on_sigint) */
    CK_RV rv = t->f->C_CreateObject(t->h, tmpl, n, &made);
    tool_unhold(t);
    sigaction(SIGINT, &old, NULL);
    if (t->progress_shown)
        fputc('\n', stderr);
    free(cap);
    json_int(&t->j, "blocks", (long long)t->progress[1]);
    if (rv != CKR_OK) {
        if (rv == CKR_FUNCTION_CANCELED)
            return tool_fail(t, EX_CANCELED, "%s: stopped after block %lu of %lu, as asked; "
                                             "nothing of the load file is left on the card",
                             what, (unsigned long)t->progress[0], (unsigned long)t->progress[1]);
        return tool_fail_rv(t, rv, what, SW_CTX_INSTALL);
    }
    /* what the card now has from this load file */
    uint8_t elf[GP_AID_MAX];
    long el = load_only ? p11_attr(t, made, CKA_GP_AID, elf, sizeof elf)
                        : p11_attr(t, made, CKA_GP_LOAD_FILE, elf, sizeof elf);
    json_arr(&t->j, "objects");
    if (load_only) {
        say_entry(t, made, "loaded");
    } else if (el > 0) {
        CK_ATTRIBUTE q[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_LOAD_FILE, elf, (CK_ULONG)el}};
        CK_OBJECT_HANDLE objs[64];
        int k = p11_find(t, q, 2, objs, 64);
        for (int i = 0; i < k; i++)
            say_entry(t, objs[i], "installed");
    } else {
        say_entry(t, made, "installed");
    }
    json_end(&t->j, ']');
    return EX_OK;
}

/* The registry object named by an AID argument, after login; its kind in
 * *kind. CK_INVALID_HANDLE with *code set (and said) when there is none. */
static CK_OBJECT_HANDLE entry_arg(tool_t *t, const char *what, const char *arg, uint8_t *aid,
                                  size_t *al, CK_ULONG *kind, int *code)
{
    *kind = 0;
    if (aid_arg(t, what, arg, aid, al)) {
        *code = EX_USAGE;
        return CK_INVALID_HANDLE;
    }
    *code = p11_start(t);
    if (*code != EX_OK)
        return CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE o = p11_registry_object(t, aid, *al, code);
    if (o != CK_INVALID_HANDLE)
        p11_attr(t, o, CKA_GP_KIND, kind, sizeof *kind);
    return o;
}

int cmd_delete(tool_t *t, int argc, char **argv)
{
    if (argc != 1)
        return tool_fail(t, EX_USAGE, "delete AID [--related], or delete FILE.cap");
    uint8_t aid[GP_AID_MAX];
    size_t al;
    CK_ULONG kind = 0;
    int code;
    CK_OBJECT_HANDLE o;
    if (argv[0][strspn(argv[0], "0123456789abcdefABCDEF")]) {
        /* not an AID: a CAP file, whose load file goes with what was installed from it */
        size_t cap_len;
        uint8_t *cap = read_file(t, argv[0], GP_CAP_FILE_MAX, &cap_len);
        if (!cap)
            return EX_USAGE;
        code = cap_package(t, argv[0], cap, cap_len, aid, &al);
        free(cap);
        if (code)
            return EX_USAGE;
        t->o.related = 1;
        if ((code = p11_start(t)) != EX_OK)
            return code;
        if ((o = p11_registry_object(t, aid, al, &code)) == CK_INVALID_HANDLE)
            return code;
        p11_attr(t, o, CKA_GP_KIND, &kind, sizeof kind);
        if (kind != GP_KIND_LOAD_FILE)
            return tool_fail(t, EX_USAGE, "the AID of %s's load file is not a load file on the "
                                          "card", argv[0]);
    } else if ((o = entry_arg(t, "delete", argv[0], aid, &al, &kind, &code)) ==
               CK_INVALID_HANDLE) {
        return code;
    }
    if (kind == GP_KIND_ISD)
        return tool_fail(t, EX_USAGE, "%s is the card's issuer security domain, which cannot be "
                                      "deleted (terminate-card ends a card)", argv[0]);
    if (t->o.related && kind != GP_KIND_LOAD_FILE)
        return tool_fail(t, EX_USAGE, "--related deletes a load file with the applications "
                                      "installed from it; %s is not a load file", argv[0]);
    code = delete_entry(t, o, t->o.related, "delete");
    if (code != EX_OK)
        return code;
    char hex[2 * GP_AID_MAX + 1];
    hex_encode(aid, al, hex);
    json_str(&t->j, "deleted", hex);
    json_bool(&t->j, "related", t->o.related);
    if (!t->json)
        printf("deleted %s%s\n", hex, t->o.related ? " with the applications installed from it"
                                                   : "");
    return EX_OK;
}

int cmd_lock(tool_t *t, int argc, char **argv, int lock)
{
    const char *what = lock ? "lock" : "unlock";
    if (argc != 1)
        return tool_fail(t, EX_USAGE, "%s AID", what);
    uint8_t aid[GP_AID_MAX], lc = 0;
    size_t al;
    CK_ULONG kind;
    int code;
    CK_OBJECT_HANDLE o = entry_arg(t, what, argv[0], aid, &al, &kind, &code);
    if (o == CK_INVALID_HANDLE)
        return code;
    p11_attr(t, o, CKA_GP_LIFECYCLE, &lc, 1);
    if (kind == GP_KIND_ISD)
        return tool_fail(t, EX_USAGE, "%s is the issuer security domain: use %s-card", argv[0],
                         what);
    if (kind == GP_KIND_LOAD_FILE)
        return tool_fail(t, EX_USAGE, "%s is a load file, which has no lock: %s its "
                                      "applications", argv[0], what);
    int locked = (lc & 0x80) != 0;
    if (locked == lock) {
        if (!t->json)
            printf("%s is %s already\n", argv[0], lock ? "locked" : "not locked");
        json_bool(&t->j, "changed", 0);
        json_arr(&t->j, "objects"); /* the same shape whether it changed or not */
        say_entry(t, o, NULL);
        json_end(&t->j, ']');
        return EX_OK;
    }
    uint8_t value = lock ? (uint8_t)(lc | 0x80) : (uint8_t)(lc & 0x7F);
    CK_ATTRIBUTE a = {CKA_GP_LIFECYCLE, &value, 1};
    tool_hold(t, 0);
    CK_RV rv = t->f->C_SetAttributeValue(t->h, o, &a, 1);
    tool_unhold(t);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, what, SW_CTX_SECURED);
    json_bool(&t->j, "changed", 1);
    json_arr(&t->j, "objects");
    say_entry(t, o, lock ? "locked" : "unlocked");
    json_end(&t->j, ']');
    return EX_OK;
}

int cmd_store_data(tool_t *t, int argc, char **argv)
{
    if (argc < 1 || argc > 2 || (argc == 2) == (t->o.file != NULL))
        return tool_fail(t, EX_USAGE, "store-data AID HEX, or store-data AID --file FILE");
    uint8_t aid[GP_AID_MAX], format = 0;
    size_t al;
    if (aid_arg(t, "store-data", argv[0], aid, &al))
        return EX_USAGE;
    if (t->o.format) {
        uint8_t f[2];
        if (tool_hex_arg(t, "--format", t->o.format, f, sizeof f) != 1 || (f[0] & 0x80))
            return tool_fail(t, EX_USAGE, "--format: one byte, bits 7 to 1 of STORE DATA's P1 "
                                          "(80 is the last-block bit gp-p11 sets itself)");
        format = f[0];
    }
    uint8_t *data;
    size_t dl = 0;
    if (t->o.file) {
        data = read_file(t, t->o.file, 1u << 20, &dl);
        if (!data)
            return EX_USAGE;
    } else {
        size_t cap = strlen(argv[1]) / 2 + 1;
        data = malloc(cap);
        int n = data ? tool_hex_arg(t, "store-data", argv[1], data, cap) : -1;
        if (n < 0) {
            free(data);
            return EX_USAGE;
        }
        dl = (size_t)n;
    }
    if (dl == 0) {
        free(data);
        return tool_fail(t, EX_USAGE, "store-data: no data");
    }
    int code = p11_start(t);
    CK_OBJECT_HANDLE o = code == EX_OK ? p11_registry_object(t, aid, al, &code)
                                       : CK_INVALID_HANDLE;
    if (o == CK_INVALID_HANDLE) {
        free(data);
        return code;
    }
    CK_ATTRIBUTE a[] = {{CKA_GP_STORE_DATA_FORMAT, &format, 1},
                        {CKA_GP_STORE_DATA, data, (CK_ULONG)dl}};
    tool_hold(t, 0);
    CK_RV rv = t->f->C_SetAttributeValue(t->h, o, a, 2);
    tool_unhold(t);
    free(data);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, "store-data", SW_CTX_SECURED);
    json_int(&t->j, "bytes", (long long)dl);
    if (!t->json)
        printf("stored %zu bytes in %s\n", dl, argv[0]);
    return EX_OK;
}
