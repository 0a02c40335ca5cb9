/* The gp-p11 module as the tool uses it: found through p11-kit (its
 * registration, or --module PATH), one token chosen by PKCS#11 URI, reader
 * name or being the only card, a read-write session, the login. */
#include "config.h"
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/names.h"
#include "scp/sw.h"

#define MAX_SLOTS 32

static void trim(char *s, size_t n)
{
    s[n] = 0;
    for (size_t k = n; k > 0 && s[k - 1] == ' '; k--)
        s[k - 1] = 0;
}

/* The module: --module PATH, else the one p11-kit's registration names gp-p11. */
static int load_module(tool_t *t)
{
    if (t->module_path) {
        /* a path as given: relative to here, not to p11-kit's module directory */
        char *abs = realpath(t->module_path, NULL);
        if (!abs)
            return tool_fail(t, EX_NOTOKEN, "--module %s: %s", t->module_path, strerror(errno));
        t->f = p11_kit_module_load(abs, 0);
        free(abs);
        if (!t->f)
            return tool_fail(t, EX_NOTOKEN, "cannot load the PKCS#11 module %s: %s",
                             t->module_path, p11_kit_message() ? p11_kit_message() : "");
        return EX_OK;
    }
    /* where it was installed, without loading every registered module to find it */
    if (access(GP_P11_MODULE_PATH, R_OK) == 0 && (t->f = p11_kit_module_load(GP_P11_MODULE_PATH, 0)))
        return EX_OK;
    t->loaded = p11_kit_modules_load(NULL, 0);
    if (!t->loaded)
        return tool_fail(t, EX_NOTOKEN, "p11-kit could not load its registered modules: %s",
                         p11_kit_message() ? p11_kit_message() : "");
    for (CK_FUNCTION_LIST **m = t->loaded; *m; m++) {
        char *name = p11_kit_module_get_name(*m);
        int ours = name && strcmp(name, "gp-p11") == 0;
        free(name);
        if (ours && !t->f)
            t->f = *m;
    }
    /* only gp-p11 stays loaded */
    for (CK_FUNCTION_LIST **m = t->loaded; *m; m++)
        if (*m != t->f)
            p11_kit_module_release(*m);
    free(t->loaded);
    t->loaded = NULL;
    if (!t->f)
        return tool_fail(t, EX_NOTOKEN, "gp-p11 is not registered with p11-kit (no gp-p11.module "
                                        "among p11-kit's module configurations; 'make install' "
                                        "puts it there): give the module with --module PATH");
    return EX_OK;
}

static int uri_matches(tool_t *t, CK_SLOT_ID id, CK_SLOT_INFO *si, CK_TOKEN_INFO *ti,
                       CK_INFO *mi)
{
    if (!t->uri)
        return 1;
    CK_SLOT_ID want = p11_kit_uri_get_slot_id(t->uri);
    if (want != (CK_SLOT_ID)-1 && want != id)
        return 0;
    return p11_kit_uri_match_module_info(t->uri, mi) && p11_kit_uri_match_slot_info(t->uri, si) &&
           p11_kit_uri_match_token_info(t->uri, ti);
}

void p11_token_uri(CK_TOKEN_INFO *ti, char *out, size_t cap)
{
    P11KitUri *u = p11_kit_uri_new();
    char *s = NULL;
    out[0] = 0;
    if (!u)
        return;
    memcpy(p11_kit_uri_get_token_info(u), ti, sizeof *ti);
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) == P11_KIT_URI_OK && s)
        snprintf(out, cap, "%s", s);
    free(s);
    p11_kit_uri_free(u);
}

static CK_RV notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event, CK_VOID_PTR app);

int p11_card_wanted(tool_t *t, CK_SLOT_ID slot, CK_TOKEN_INFO *ti, char reader[65])
{
    CK_SLOT_INFO si;
    CK_INFO mi;
    reader[0] = 0;
    if (t->f->C_GetSlotInfo(slot, &si) != CKR_OK || !(si.flags & CKF_TOKEN_PRESENT))
        return -1;
    memcpy(reader, si.slotDescription, 64);
    trim(reader, 64);
    /* the reader first: another reader's card is not even asked for its token
     * (it may be busy with another program, run --each-card's among them) */
    if (t->reader && !strstr(reader, t->reader))
        return 0;
    if (t->f->C_GetTokenInfo(slot, ti) != CKR_OK)
        return -1;
    memset(&mi, 0, sizeof mi);
    t->f->C_GetInfo(&mi);
    return uri_matches(t, slot, &si, ti, &mi);
}

int p11_load(tool_t *t)
{
    if (t->f)
        return EX_OK;
    if (t->token_uri && !t->uri) {
        t->uri = p11_kit_uri_new();
        int r = p11_kit_uri_parse(t->token_uri, P11_KIT_URI_FOR_TOKEN | P11_KIT_URI_FOR_SLOT |
                                                    P11_KIT_URI_FOR_MODULE, t->uri);
        if (r != P11_KIT_URI_OK)
            return tool_fail(t, EX_USAGE, "--token %s: not a PKCS#11 URI (%s)", t->token_uri,
                             p11_kit_uri_message(r));
        if (p11_kit_uri_get_pin_value(t->uri))
            return tool_fail(t, EX_USAGE, "--token: the URI carries pin-value, and a PIN on the "
                                          "command line is visible to every user of the machine: "
                                          "use pin-source=FILE, --pin-file or the prompt");
    }
    if (t->trace_file && !t->trace) {
        int fd = open(t->trace_file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || !(t->trace = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return tool_fail(t, EX_USAGE, "--trace-file %s: %s", t->trace_file, strerror(errno));
        }
        time_t now = time(NULL);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
        fprintf(t->trace, "# gp-p11 %s trace, %s: the module's APDU trace (answers' data where "
                          "they came in the clear; never data sent encrypted or secret, a key "
                          "or a PIN) and what the module and the tool said\n",
                PACKAGE_VERSION, when);
    }
    if (t->verbose || t->trace) /* the module's APDU trace (never data sent encrypted or secret) */
        setenv("GP_P11_TRACE", "apdu-data", 1);
    if (t->login.config) /* read by the module at C_Initialize, with its ownership rules */
        setenv("GP_P11_CONF", t->login.config, 1);
    /* the module's log lines into a file of ours, shown in the tool's terms */
    FILE *log = t->log_fd < 0 ? tmpfile() : NULL;
    if (log) {
        t->log_fd = dup(fileno(log));
        fclose(log);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", t->log_fd);
        setenv("GP_P11_LOG_FD", fd, 1);
    }
    int code = load_module(t);
    if (code != EX_OK)
        return code;
    CK_RV rv = p11_kit_module_initialize(t->f);
    if (rv != CKR_OK) {
        p11_kit_module_release(t->f);
        t->f = NULL;
        return tool_fail(t, EX_ERROR, "the gp-p11 module did not start: %s (its log line above "
                                      "says why)", tool_rv_name(rv));
    }
    CK_INFO mi;
    memset(&mi, 0, sizeof mi);
    t->f->C_GetInfo(&mi);
    if (memcmp(mi.manufacturerID, "gp-p11 ", 7) != 0) {
        char who[33];
        memcpy(who, mi.manufacturerID, 32);
        trim(who, 32);
        return tool_fail(t, EX_NOTOKEN, "%s is not the gp-p11 module (it says it is made by "
                                        "\"%s\"); give gp-p11.so with --module, or none",
                         t->module_path ? t->module_path : GP_P11_MODULE_PATH, who);
    }
    return EX_OK;
}

int p11_open(tool_t *t)
{
    if (t->f && t->h != CK_INVALID_HANDLE)
        return EX_OK; /* open already: a step list's later steps */
    int code = p11_load(t);
    if (code != EX_OK)
        return code;
    CK_SLOT_ID slots[MAX_SLOTS];
    CK_ULONG n = MAX_SLOTS;
    CK_RV rv = t->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, "listing the readers", 0);
    int found = 0;
    char seen[1024] = "";
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        char desc[65];
        int wanted = p11_card_wanted(t, slots[i], &ti, desc);
        if (wanted < 0)
            continue;
        size_t sl = strlen(seen);
        snprintf(seen + sl, sizeof seen - sl, "%s\n  %s", sl ? "" : "", desc);
        if (!wanted)
            continue;
        if (found && t->first_card)
            continue;
        if (found++) {
            char u1[512], u2[512];
            p11_token_uri(&t->ti, u1, sizeof u1);
            p11_token_uri(&ti, u2, sizeof u2);
            return tool_fail(t, EX_NOTOKEN, "more than one card: in \"%s\" (%s) and \"%s\" (%s); "
                                            "choose one with --reader TEXT or --token URI",
                             t->reader_name, u1, desc, u2);
        }
        t->slot = slots[i];
        t->ti = ti;
        snprintf(t->reader_name, sizeof t->reader_name, "%s", desc);
    }
    if (!found) {
        if (!n)
            return tool_fail(t, EX_NOTOKEN, "no card in any reader");
        return tool_fail(t, EX_NOTOKEN, "no card matches%s%s%s%s; cards present in:%s",
                         t->reader ? " --reader " : "", t->reader ? t->reader : "",
                         t->token_uri ? " --token " : "", t->token_uri ? t->token_uri : "", seen);
    }
    rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, t, notify, &t->h);
    if (rv != CKR_OK) {
        t->h = CK_INVALID_HANDLE;
        return tool_fail_rv(t, rv, "opening a session with the card", 0);
    }
    return EX_OK;
}

/* The run's channel choices as a CKO_GP_LOGIN_OPTIONS object in the session
 * (gp-p11(7), "Login options"), before C_Login: nothing when none is given. */
static int login_options(tool_t *t)
{
    CK_OBJECT_CLASS cls = CKO_GP_LOGIN_OPTIONS;
    CK_BBOOL f = CK_FALSE;
    CK_ATTRIBUTE a[8] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &f, sizeof f}};
    CK_ULONG n = 2;
    uint8_t kvn = 0, level = 0, scp = 0, aid[16];
    int div = 0;
    CK_ULONG udiv = 0;
    if (t->login.key_set) {
        size_t l = strlen(t->login.key_set);
        if (!l || l > 59)
            return tool_fail(t, EX_USAGE, "--key-set: a key set name of 1 to 59 characters");
        a[n++] = (CK_ATTRIBUTE){CKA_GP_KEY_SET_NAME, (void *)t->login.key_set, l};
    }
    if (t->login.key_version >= 0) {
        kvn = (uint8_t)t->login.key_version;
        a[n++] = (CK_ATTRIBUTE){CKA_GP_KEY_VERSION, &kvn, 1};
    }
    if (t->login.level) {
        if (gp_level_from_name(t->login.level, &level))
            return tool_fail(t, EX_USAGE, "--level %s: one of " GP_LEVEL_WORDS, t->login.level);
        a[n++] = (CK_ATTRIBUTE){CKA_GP_SECURITY_LEVEL, &level, 1};
    }
    if (t->login.scp) {
        if (gp_scp_from_name(t->login.scp, &scp))
            return tool_fail(t, EX_USAGE, "--scp %s: one of " GP_SCP_WORDS, t->login.scp);
        a[n++] = (CK_ATTRIBUTE){CKA_GP_SCP, &scp, 1};
    }
    if (t->login.div) {
        if (gp_div_from_name(t->login.div, &div))
            return tool_fail(t, EX_USAGE, "--diversification %s: one of " GP_DIV_WORDS,
                             t->login.div);
        udiv = (CK_ULONG)div;
        a[n++] = (CK_ATTRIBUTE){CKA_GP_DIVERSIFICATION, &udiv, sizeof udiv};
    }
    if (t->login.isd) {
        int l = hex_decode(t->login.isd, aid, sizeof aid);
        if (l < 5)
            return tool_fail(t, EX_USAGE, "--isd %s: an AID of 5 to 16 bytes in hex",
                             t->login.isd);
        a[n++] = (CK_ATTRIBUTE){CKA_GP_AID, aid, (CK_ULONG)l};
    }
    if (n == 2)
        return EX_OK;
    CK_OBJECT_HANDLE h;
    CK_RV rv = t->f->C_CreateObject(t->h, a, n, &h);
    if (rv == CKR_ATTRIBUTE_VALUE_INVALID)
        return tool_fail(t, EX_USAGE, "the configuration does not allow these login options "
                                      "(--level, --scp): the gp-p11 line above says why");
    if (rv != CKR_OK)
        return tool_fail_rv(t, rv, "login options (--key-set ... --isd)", 0);
    return EX_OK;
}

int p11_read_pin(tool_t *t, char *pin, size_t cap, int *len)
{
    const char *pin_file = t->pin_file;
    char from_uri[1024];
    if (!pin_file && t->uri && p11_kit_uri_get_pin_source(t->uri)) {
        const char *src = p11_kit_uri_get_pin_source(t->uri);
        if (!strncmp(src, "file:", 5))
            src += 5;
        if (src[0] == '|')
            return tool_fail(t, EX_USAGE, "--token: pin-source=%s: gp-p11 reads a PIN from a file, "
                                          "not from a command", src);
        snprintf(from_uri, sizeof from_uri, "%s", src);
        pin_file = from_uri;
    }
    if (pin_file && !strcmp(pin_file, "-")) {
        if (t->stdin_taken)
            return tool_fail(t, EX_USAGE, "standard input is taken already: the PIN cannot come "
                                          "from it too");
        t->stdin_taken = 1;
    }
    *len = tool_read_pin(t->prog, pin_file, "Keystore user PIN: ", pin, cap);
    if (*len < 0) {
        ks_wipe(pin, cap);
        return tool_fail(t, EX_USAGE, "no PIN");
    }
    return EX_OK;
}

/* gp-p11 run --each-card: a card's run tells the batch whether the keystore
 * took the PIN (L) or refused it (P), so that a wrong PIN is tried once, not
 * once per card (cmd_batch.c). */
static void tell_batch(CK_RV rv)
{
    const char *fd = getenv("GP_P11_BATCH_FD");
    if (!fd)
        return;
    int pin_refused = rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID ||
                      rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED;
    ssize_t w = write(atoi(fd), pin_refused ? "P" : "L", 1);
    (void)w;
}

/* The login failure's one word for scripts (gp-p11(1), JSON: reason), from
 * the CK_RV and the module's GP_LOGIN_* in ulDeviceError. */
static const char *login_reason(tool_t *t, CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT: case CKR_PIN_INVALID: case CKR_PIN_LEN_RANGE: case CKR_PIN_EXPIRED:
        return "pin-incorrect";
    case CKR_PIN_LOCKED: return "pin-locked";
    default: break;
    }
    CK_SESSION_INFO si;
    if (t->f->C_GetSessionInfo(t->h, &si) != CKR_OK)
        return NULL;
    switch (GP_DEVICE_ERROR_REASON(si.ulDeviceError)) {
    case GP_LOGIN_KEY_SET_MISSING: return "key-set-missing";
    case GP_LOGIN_KEY_VERSION: return "key-version-missing";
    case GP_LOGIN_KEYS_MISMATCH: return "keys-mismatch";
    case GP_LOGIN_AUTH_REFUSED: return "authentication-refused";
    case GP_LOGIN_AUTH_HELD: return "authentication-held";
    case GP_LOGIN_PROTOCOL: return "protocol-not-allowed";
    case GP_LOGIN_CARD_REFUSED: return "card-refused";
    default: return NULL;
    }
}

int p11_login(tool_t *t)
{
    if (t->logged_in)
        return EX_OK; /* one login for every step of a step list */
    int code = login_options(t);
    if (code != EX_OK)
        return code;
    char pin[PIN_MAX];
    int n;
    if ((code = p11_read_pin(t, pin, sizeof pin, &n)) != EX_OK)
        return code;
    CK_RV rv = t->f->C_Login(t->h, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)n);
    ks_wipe(pin, sizeof pin);
    tell_batch(rv);
    if (rv == CKR_OK) {
        t->logged_in = 1;
        return EX_OK;
    }
    t->reason = login_reason(t, rv);
    if (rv == CKR_FUNCTION_FAILED) {
        unsigned sw = tool_device_error(t);
        /* 6A88: no key set with that version; 6982, 6983, 63xx: authentication refused
         * or blocked. Anything else (a SELECT refused by a terminated card) is the
         * card refusing, not the keys. */
        int keys = sw == 0x6A88 || sw == 0x6982 || sw == 0x6983 || (sw & 0xFF00) == 0x6300;
        const char *r = t->reason ? t->reason : "";
        if (!strcmp(r, "authentication-held")) { /* not now: the refusal of another run */
            char was[16] = "";
            if (sw)
                snprintf(was, sizeof was, " (%04X)", sw);
            return tool_fail(t, EX_AUTH, "login: not tried: this card refused EXTERNAL "
                                         "AUTHENTICATE before%s; find out why, then '%s keys "
                                         "forget-refusal' allows a new try", was, t->prog);
        }
        if (sw && !strcmp(r, "authentication-refused"))
            return tool_fail_sw(t, EX_AUTH, rv, sw, SW_CTX_EXTERNAL_AUTHENTICATE,
                                "login: EXTERNAL AUTHENTICATE");
        if (sw)
            return tool_fail_sw(t, keys ? EX_AUTH : EX_REFUSED, rv, sw, SW_CTX_INITIALIZE_UPDATE,
                                "login");
        if (!strcmp(r, "keys-mismatch"))
            return tool_fail(t, EX_AUTH, "login: the key set's keys do not match this card (its "
                                         "card cryptogram did not verify); EXTERNAL AUTHENTICATE "
                                         "was not sent, no try was spent: choose the card's keys "
                                         "with --key-set, --key-version or --diversification");
        if (!strcmp(r, "key-set-missing"))
            return tool_fail(t, EX_AUTH, "login: the keystore has no such key set ('%s keys list' "
                                         "shows what it has, '%s keys import' adds one)", t->prog,
                             t->prog);
        if (!strcmp(r, "protocol-not-allowed"))
            return tool_fail(t, EX_AUTH, "login: the card's protocol or security level is not one "
                                         "the configuration allows (the gp-p11 line above says "
                                         "which); nothing was spent");
        return tool_fail(t, EX_AUTH, "login: the secure channel could not be opened (%s): the "
                                     "card's keys do not match the key set, or the card refused; "
                                     "the gp-p11 line above says which", tool_rv_name(rv));
    }
    return tool_fail_rv(t, rv, "login", 0);
}

int p11_start(tool_t *t)
{
    int code = p11_open(t);
    if (code == EX_OK)
        code = p11_login(t);
    tool_module_said(t);
    return code;
}

CK_ULONG p11_entry(tool_t *t, CK_OBJECT_HANDLE o, gp_entry_t *e)
{
    CK_ULONG kind = 0;
    memset(e, 0, sizeof *e);
    p11_attr(t, o, CKA_GP_KIND, &kind, sizeof kind);
    e->p1 = kind == GP_KIND_ISD ? GP_STATUS_ISD : kind == GP_KIND_LOAD_FILE ? GP_STATUS_ELF
                                                                           : GP_STATUS_APPS;
    long n = p11_attr(t, o, CKA_GP_AID, e->aid, sizeof e->aid);
    e->aid_len = n > 0 ? (size_t)n : 0;
    p11_attr(t, o, CKA_GP_LIFECYCLE, &e->lifecycle, 1);
    n = p11_attr(t, o, CKA_GP_PRIVILEGES, e->priv, sizeof e->priv);
    e->priv_len = n > 0 ? (size_t)n : 0;
    n = p11_attr(t, o, CKA_GP_LOAD_FILE, e->elf, sizeof e->elf);
    e->elf_len = n > 0 ? (size_t)n : 0;
    return kind;
}

void p11_close(tool_t *t)
{
    if (t->f) {
        if (t->h != CK_INVALID_HANDLE) {
            if (t->logged_in)
                t->f->C_Logout(t->h);
            t->f->C_CloseSession(t->h);
        }
        p11_kit_module_finalize(t->f);
        p11_kit_module_release(t->f);
        t->f = NULL;
    }
    if (t->uri)
        p11_kit_uri_free(t->uri);
    t->uri = NULL;
}

int p11_find(tool_t *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, int max)
{
    CK_RV rv = t->f->C_FindObjectsInit(t->h, tmpl, n);
    if (rv != CKR_OK) {
        tool_fail_rv(t, rv, "finding objects", 0);
        return -1;
    }
    CK_ULONG got = 0;
    rv = t->f->C_FindObjects(t->h, out, (CK_ULONG)max, &got);
    t->f->C_FindObjectsFinal(t->h);
    if (rv != CKR_OK) {
        tool_fail_rv(t, rv, "finding objects", 0);
        return -1;
    }
    return (int)got;
}

long p11_attr(tool_t *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, void *buf, size_t cap)
{
    CK_ATTRIBUTE a = {type, buf, (CK_ULONG)cap};
    if (t->f->C_GetAttributeValue(t->h, o, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return -1;
    return (long)a.ulValueLen;
}

CK_OBJECT_HANDLE p11_registry_object(tool_t *t, const uint8_t *aid, size_t aid_len, int *code)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_AID, (void *)aid, aid_len}};
    CK_OBJECT_HANDLE o[2];
    int n = p11_find(t, tmpl, 2, o, 2);
    *code = EX_OK;
    if (n < 0) {
        *code = EX_ERROR;
        return CK_INVALID_HANDLE;
    }
    if (n == 0) {
        char hex[2 * 16 + 1] = "";
        for (size_t k = 0; k < aid_len && k < 16; k++)
            snprintf(hex + 2 * k, 3, "%02X", aid[k]);
        *code = tool_fail(t, EX_USAGE, "the card has no application, security domain or load "
                                       "file %s ('%s list' shows what it has)", hex, t->prog);
        return CK_INVALID_HANDLE;
    }
    return o[0];
}

CK_OBJECT_HANDLE p11_isd(tool_t *t, int *code)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ULONG kind = GP_KIND_ISD;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_GP_KIND, &kind, sizeof kind}};
    CK_OBJECT_HANDLE o;
    int n = p11_find(t, tmpl, 2, &o, 1);
    *code = EX_OK;
    if (n == 1)
        return o;
    *code = n < 0 ? EX_ERROR
                  : tool_fail(t, EX_ERROR, "the card's registry shows no issuer security domain "
                                           "(GET STATUS; the gp-p11 line above may say why)");
    return CK_INVALID_HANDLE;
}

/* --- LOAD progress: the module calls Notify(CKN_SURRENDER) after each block ---- */

volatile sig_atomic_t tool_interrupted;

static CK_RV notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event, CK_VOID_PTR app)
{
    (void)h;
    tool_t *t = app;
    if (event != CKN_SURRENDER || !t)
        return CKR_OK;
    if (t->progress_what && t->progress[1] > 0) {
        /* on a terminal only: redrawn in place */
        CK_ULONG done = t->progress[0], all = t->progress[1];
        int pct = (int)(done * 100 / all), width = 30, fill = (int)(done * (CK_ULONG)width / all);
        char bar[64];
        for (int k = 0; k < width; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %3d %% (%lu of %lu blocks)", t->progress_what, bar, pct,
                (unsigned long)done, (unsigned long)all);
        fflush(stderr);
        t->progress_shown = 1;
    }
    return tool_interrupted ? CKR_CANCEL : CKR_OK;
}
