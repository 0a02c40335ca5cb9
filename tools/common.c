/* What the tools share: output (JSON, tables), failures and exit codes, the
 * PIN, key files. */
#include "config.h"
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "gp-p11/gp-p11.h"
#include "keystore/hex.h"
#include "keystore/keystore.h"
#include "scp/sw.h"

/* --- JSON ---------------------------------------------------------------------- */

void json_open(json_t *j)
{
    memset(j, 0, sizeof *j);
    j->f = open_memstream(&j->buf, &j->len);
    j->comma[0] = 1; /* "ok" and "command" come first */
}

/* How many bytes of well-formed UTF-8 start at p (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF); 0 when none does. */
static int utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    int n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
          : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (int k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0; /* the string's end (0) stops here too */
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

/* A JSON string; bytes that are not UTF-8 (a reader's name, a file's, a
 * card's text) become U+FFFD, so that the document stays valid JSON. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else if (n == 0)
            fputs("\\ufffd", f);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

static void json_key(json_t *j, const char *key)
{
    if (!j->f)
        return;
    if (j->comma[j->depth])
        fputc(',', j->f);
    j->comma[j->depth] = 1;
    if (key) {
        json_string(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open_container(json_t *j, const char *key, char open, char close)
{
    json_key(j, key);
    if (j->f)
        fputc(open, j->f);
    if (j->depth < 15) {
        j->comma[++j->depth] = 0;
        j->closer[j->depth] = close;
    }
}

void json_obj(json_t *j, const char *key) { json_open_container(j, key, '{', '}'); }
void json_arr(json_t *j, const char *key) { json_open_container(j, key, '[', ']'); }

void json_raw(json_t *j, const char *key, const char *text)
{
    json_key(j, key);
    if (j->f)
        fputs(text, j->f);
}

void json_end_all(json_t *j)
{
    while (j->depth > j->floor)
        json_end(j, j->closer[j->depth]);
}

void json_end(json_t *j, char close)
{
    if (j->depth <= j->floor)
        return; /* nothing open: closed already (a failure closes all it finds open) */
    if (j->f)
        fputc(close, j->f);
    j->depth--;
}

void json_str(json_t *j, const char *key, const char *v)
{
    json_key(j, key);
    if (!j->f)
        return;
    if (v)
        json_string(j->f, v);
    else
        fputs("null", j->f);
}

void json_int(json_t *j, const char *key, long long v)
{
    json_key(j, key);
    if (j->f)
        fprintf(j->f, "%lld", v);
}

void json_bool(json_t *j, const char *key, int v)
{
    json_key(j, key);
    if (j->f)
        fputs(v ? "true" : "false", j->f);
}

void json_hex(json_t *j, const char *key, const uint8_t *v, size_t len)
{
    char *h = malloc(2 * len + 1);
    if (!h)
        return;
    hex_encode(v, len, h);
    json_str(j, key, h);
    free(h);
}

void json_close(json_t *j, FILE *out)
{
    if (!j->f)
        return;
    fclose(j->f);
    j->f = NULL;
    if (out)
        fwrite(j->buf, 1, j->len, out);
    free(j->buf);
    j->buf = NULL;
}

const char *tool_kind_key(CK_ULONG kind)
{
    switch (kind) {
    case GP_KIND_ISD: return "isd";
    case GP_KIND_SSD: return "sd";
    case GP_KIND_APP: return "app";
    case GP_KIND_LOAD_FILE: return "load-file";
    default: return "unknown";
    }
}

void json_lifecycle(json_t *j, const gp_entry_t *e)
{
    json_obj(j, "lifecycle");
    json_hex(j, "value", &e->lifecycle, 1);
    json_str(j, "name", gp_lifecycle_name(e));
    json_end(j, '}');
}

/* --- tables --------------------------------------------------------------------- */

void table_init(table_t *t, int cols, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
    for (int c = 0; c < cols; c++)
        t->head[c] = head[c];
}

void table_row(table_t *t, ...)
{
    if (t->rows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        char **cells = realloc(t->cells, sizeof *cells * (size_t)cap * (size_t)t->cols);
        if (!cells)
            return;
        t->cells = cells;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, t);
    for (int c = 0; c < t->cols; c++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->rows * t->cols + c] = strdup(s ? s : "");
    }
    va_end(ap);
    t->rows++;
}

void table_print(table_t *t, FILE *out, int indent, int header)
{
    size_t w[TABLE_COLS];
    for (int c = 0; c < t->cols; c++) {
        w[c] = strlen(t->head[c]);
        for (int r = 0; r < t->rows; r++) {
            const char *s = t->cells[r * t->cols + c];
            if (s && strlen(s) > w[c])
                w[c] = strlen(s);
        }
    }
    for (int r = header ? -1 : 0; r < t->rows; r++) {
        fprintf(out, "%*s", indent, "");
        for (int c = 0; c < t->cols; c++) {
            const char *s = r < 0 ? t->head[c] : t->cells[r * t->cols + c];
            if (!s)
                s = "";
            if (c == t->cols - 1)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
    }
}

void table_free(table_t *t)
{
    for (int i = 0; i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void tool_init(tool_t *t, const char *prog)
{
    memset(t, 0, sizeof *t);
    t->prog = prog;
    t->h = CK_INVALID_HANDLE;
    t->ks_module = GP_DEFAULT_KEYSTORE_MODULE;
    t->ks_token = "gp-p11";
    t->login.key_version = -1;
    t->log_fd = -1;
    json_open(&t->j);
}

/* --- failures --------------------------------------------------------------------- */

const char *tool_exit_kind(int code)
{
    switch (code) {
    case EX_REFUSED: return "card refused";
    case EX_USAGE: return "usage";
    case EX_NOTOKEN: return "no token";
    case EX_AUTH: return "authentication";
    case EX_CANCELED: return "canceled";
    default: return "error";
    }
}

/* --- the module's words, in the tool's terms ------------------------------------ */

static void replace(char *line, size_t cap, const char *from, const char *to)
{
    char *p = strstr(line, from);
    if (!p)
        return;
    size_t fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
    if ((size_t)(p - line) + tl + rest + 1 > cap)
        return;
    memmove(p + tl, p + fl, rest + 1);
    memcpy(p, to, tl);
}

void tool_words(char *line, size_t cap)
{
    static const char *const words[][2] = {
        {"destroy them first, or set CKA_GP_DELETE_RELATED = CK_TRUE on it to delete them with it",
         "delete them first, or delete it with --related to delete them with it"},
        {"install from it with CKA_GP_INSTALL_ONLY, or destroy it",
         "install from it with install --loaded, or delete it"},
        {"CKA_GP_LOAD_FILE names another package", "--package names another package"},
        {"CKA_GP_MODULE is not one of", "--applet is not one of"},
        {"CKA_GP_AID names one instance", "--instance names one instance"},
        {"choose one with CKA_GP_MODULE", "choose one with --applet"},
        {"C_CreateObject sends key values the application supplies",
         "put-key --from-file sends key values from a file"},
        {"(C_GenerateKey with CKM_GP_PUT_KEY keeps the keys inside the keystore)",
         "(put-key without --from-file keeps the keys inside the keystore)"},
        {"PUT KEY with key values from the application", "put-key --from-file"},
        {"as C_DestroyObject refuses it", "as delete refuses it"},
        {"use C_SetAttributeValue(CKA_GP_LIFECYCLE = FF) with CKA_GP_CONFIRM_TERMINATE = CK_TRUE "
         "on the issuer security domain", "use terminate-card"},
        {"add CKA_GP_CONFIRM_TERMINATE = CK_TRUE to the template", "terminate-card asks first"},
        {"it shows it over a secure channel, after C_Login", "it shows it after a login (without "
         "--no-login)"},
        {"CKM_GP_APDU_PLAIN: ", "apdu --plain: "},
        {"CKM_GP_APDU: ", "apdu: "},
        {"it takes a lifecycle (CKA_GP_LIFECYCLE) only", "it takes lock and unlock only"},
        {"it takes a lifecycle (CKA_GP_LIFECYCLE) and CKA_GP_STORE_DATA (with "
         "CKA_GP_STORE_DATA_FORMAT)", "it takes lock, unlock and store-data"},
        {"it takes CKA_GP_DELETE_RELATED only (CKA_GP_STORE_DATA goes to an application installed "
         "from it)", "it takes delete --related; store-data goes to an application installed from it"},
        {"the CAP file is refused before anything is sent to the card",
         "the file is refused before anything is sent to the card"},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        replace(line, cap, words[i][0], words[i][1]);
}

void tool_module_said(tool_t *t)
{
    if (t->log_fd < 0)
        return;
    char buf[8192];
    for (;;) {
        ssize_t n = pread(t->log_fd, buf, sizeof buf - 1, t->log_off);
        if (n <= 0)
            return;
        buf[n] = 0;
        char *end = strrchr(buf, '\n');
        if (!end)
            return; /* a line still being written */
        end[1] = 0;
        t->log_off += (long)(end + 1 - buf);
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char line[1200];
            snprintf(line, sizeof line, "%s", l);
            tool_words(line, sizeof line);
            if (t->trace)
                fprintf(t->trace, "%s\n", line);
            /* with --trace-file alone, the APDU trace goes to the file only */
            int apdu = !strncmp(line, "gp-p11: info: [", 15) &&
                       (strstr(line, "] > ") || strstr(line, "] < "));
            if (!apdu || t->verbose || !t->trace)
                fprintf(stderr, "%s\n", line);
            if (strncmp(line, "gp-p11: info: ", 14) && strncmp(line, "gp-p11: debug: ", 15)) {
                t->module_lines++;
                snprintf(t->said[t->n_said % 4], sizeof t->said[0], "%.399s", line + 8);
                t->n_said++;
            }
        }
    }
}

/* "The line above says why": only where the module said something. */
static void mind_above(tool_t *t, char *msg, size_t cap)
{
    static const char *const above[][2] = {
        {" (the gp-p11 line above says why)", ""},
        {" (its log line above says why)", ""},
        {"; the gp-p11 line above says which", ""},
        {": the gp-p11 line above says why", ""},
        {"; the gp-p11 line above may say why", ""},
    };
    if (t->module_lines || t->log_fd < 0)
        return;
    for (size_t i = 0; i < sizeof above / sizeof above[0]; i++)
        replace(msg, cap, above[i][0], above[i][1]);
}

static int fail_v(tool_t *t, int code, CK_RV rv, unsigned sw, const char *sw_words,
                  const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    tool_module_said(t); /* the module's lines first, as they came */
    mind_above(t, msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", t->prog, msg);
    if (t->trace)
        fprintf(t->trace, "%s: %s\n", t->prog, msg);
    if (t->json && t->j.f) {
        json_end_all(&t->j); /* close what a command left open */
        json_obj(&t->j, "error");
        json_int(&t->j, "exit", code);
        json_str(&t->j, "kind", tool_exit_kind(code));
        json_str(&t->j, "message", msg);
        if (t->reason)
            json_str(&t->j, "reason", t->reason);
        if (rv != CKR_OK)
            json_str(&t->j, "ckr", tool_rv_name(rv));
        if (sw) {
            char h[9];
            snprintf(h, sizeof h, "%04X", sw & 0xFFFF);
            json_str(&t->j, "sw", h);
            json_str(&t->j, "sw_words", sw_words);
        }
        if (t->n_said) { /* what the module said, in the tool's terms */
            json_arr(&t->j, "details");
            for (int i = t->n_said > 4 ? t->n_said - 4 : 0; i < t->n_said; i++)
                json_str(&t->j, NULL, t->said[i % 4]);
            json_end(&t->j, ']');
        }
        json_end(&t->j, '}');
    }
    return code;
}

int tool_fail(tool_t *t, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fail_v(t, code, CKR_OK, 0, NULL, fmt, ap);
    va_end(ap);
    return r;
}

static int fail_with(tool_t *t, int code, CK_RV rv, unsigned sw, const char *sw_words,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int fail_with(tool_t *t, int code, CK_RV rv, unsigned sw, const char *sw_words,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fail_v(t, code, rv, sw, sw_words, fmt, ap);
    va_end(ap);
    return r;
}

const char *tool_rv_name(CK_RV rv)
{
    return ks_rv_name(rv);
}

unsigned tool_device_error(tool_t *t)
{
    CK_SESSION_INFO si;
    if (t->f && t->h != CK_INVALID_HANDLE && t->f->C_GetSessionInfo(t->h, &si) == CKR_OK)
        return GP_DEVICE_ERROR_SW(si.ulDeviceError);
    return 0;
}

int tool_fail_sw(tool_t *t, int code, CK_RV rv, unsigned sw, int sw_context, const char *what)
{
    char words[300];
    const char *m = sw_meaning((uint16_t)sw, (enum sw_context)sw_context);
    snprintf(words, sizeof words, "%s", m ? m : "no meaning known to gp-p11");
    if (rv == CKR_OK) /* the command went and came back: the card's answer alone */
        return fail_with(t, code, rv, sw, words, "%s: the card refused: %04X: %s", what, sw, words);
    return fail_with(t, code, rv, sw, words, "%s: the card refused: %04X: %s (%s)", what, sw,
                     words, tool_rv_name(rv));
}

int tool_fail_rv(tool_t *t, CK_RV rv, const char *what, int sw_context)
{
    unsigned sw = tool_device_error(t);
    if (sw)
        return tool_fail_sw(t, EX_REFUSED, rv, sw, sw_context, what);
    int code;
    const char *hint = "";
    switch (rv) {
    case CKR_FUNCTION_CANCELED:
        code = EX_CANCELED;
        hint = "; stopped on request";
        break;
    case CKR_PIN_INCORRECT: case CKR_PIN_INVALID: case CKR_PIN_LEN_RANGE: case CKR_PIN_EXPIRED:
        code = EX_AUTH;
        hint = ": the keystore refused the PIN";
        break;
    case CKR_PIN_LOCKED:
        code = EX_AUTH;
        hint = ": the keystore's PIN is locked; its security officer must unlock it";
        break;
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
        code = EX_AUTH;
        break;
    case CKR_TOKEN_NOT_PRESENT: case CKR_DEVICE_REMOVED: case CKR_SLOT_ID_INVALID:
    case CKR_TOKEN_NOT_RECOGNIZED: case CKR_SESSION_HANDLE_INVALID:
        code = EX_NOTOKEN;
        hint = ": the card is gone (taken out or reset); put it back and run the command again";
        break;
    case CKR_ACTION_PROHIBITED: case CKR_DEVICE_MEMORY:
        code = EX_REFUSED;
        break;
    case CKR_ARGUMENTS_BAD: case CKR_ATTRIBUTE_VALUE_INVALID: case CKR_DATA_INVALID:
    case CKR_DATA_LEN_RANGE: case CKR_TEMPLATE_INCONSISTENT: case CKR_TEMPLATE_INCOMPLETE:
    case CKR_ATTRIBUTE_READ_ONLY:
        code = EX_USAGE;
        hint = ": refused before anything was sent to the card";
        break;
    default:
        code = EX_ERROR;
        break;
    }
    return fail_with(t, code, rv, 0, NULL, "%s: %s%s%s", what, tool_rv_name(rv), hint,
                     code == EX_ERROR || code == EX_REFUSED || code == EX_USAGE
                         ? " (the gp-p11 line above says why)" : "");
}

void json_print_doc(json_t *j, int code, const char *command, FILE *out)
{
    json_end_all(j);
    fprintf(out, "{\"ok\":%s,\"exit\":%d,\"command\":", code == EX_OK ? "true" : "false", code);
    json_string(out, command ? command : "");
    json_close(j, out);
    fprintf(out, "}\n");
}

int tool_finish(tool_t *t, int code)
{
    tool_module_said(t);
    if (t->trace) {
        fprintf(t->trace, "# exit %d\n", code);
        fclose(t->trace);
        t->trace = NULL;
    }
    if (t->json && t->j.f) {
        json_print_doc(&t->j, code, t->command, stdout);
    } else {
        json_close(&t->j, NULL);
    }
    fflush(stdout);
    return code;
}

/* --- signals held while the card changes ------------------------------------------- */

static sigset_t held, before_hold;

void tool_hold(tool_t *t, int keep_sigint)
{
    (void)t;
    sigemptyset(&held);
    sigaddset(&held, SIGTERM);
    sigaddset(&held, SIGHUP);
    sigaddset(&held, SIGQUIT);
    if (!keep_sigint)
        sigaddset(&held, SIGINT);
    sigprocmask(SIG_BLOCK, &held, &before_hold);
}

void tool_unhold(tool_t *t)
{
    sigset_t pending;
    sigpending(&pending);
    int sig = 0;
    for (int s = 1; s < NSIG && !sig; s++)
        if (sigismember(&held, s) && sigismember(&pending, s))
            sig = s;
    if (sig) {
        /* taken here, so that the tool can end in order (its JSON whole) */
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        int got = 0;
        sigwait(&one, &got);
        fprintf(stderr, "%s: %s came while the card was being changed: the command was let "
                        "finish, so that the card and the keystore agree; ending now\n",
                t->prog, strsignal(sig));
        t->interrupted = sig;
    }
    sigprocmask(SIG_SETMASK, &before_hold, NULL);
}

/* One line of a file of commands (apdu's standard input, a step list): its text
 * without the comment (from #), the line end and the blanks around it; "" when
 * nothing is left. */
char *tool_line_text(char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    line[strcspn(line, "\r\n")] = 0;
    while (isspace((unsigned char)*line))
        line++;
    for (char *e = line + strlen(line); e > line && isspace((unsigned char)e[-1]);)
        *--e = 0;
    return line;
}

/* --- the PIN ------------------------------------------------------------------------ */

int tool_pin_on_command_line(const char *prog, int argc, char **argv)
{
    /* getopt would take "--pin" as an abbreviation of --pin-file */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strncmp(argv[i], "--pin", 5) && strncmp(argv[i], "--pin-file", 10)) {
            fprintf(stderr, "%s: the PIN is not accepted on the command line, where every user "
                            "of the machine can see it: use --pin-file FILE (- for standard "
                            "input) or type it when asked\n", prog);
            return 1;
        }
    }
    return 0;
}

static int read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return -1;
    size_t n = strcspn(buf, "\r\n");
    buf[n] = 0;
    return (int)n;
}

/* The terminal as it was before the PIN prompt turned its echo off. */
static struct termios prompt_term;
static volatile sig_atomic_t prompt_fd = -1;

static void restore_echo(int sig)
{
    if (prompt_fd >= 0) {
        tcsetattr(prompt_fd, TCSANOW, &prompt_term);
        (void)!write(prompt_fd, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int tool_read_pin(const char *prog, const char *pin_file, const char *prompt, char *pin,
                  size_t cap)
{
    if (pin_file) {
        int is_stdin = strcmp(pin_file, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(pin_file, "r");
        if (!f) {
            /* its name is not said: someone who typed the PIN there would see it echoed */
            fprintf(stderr, "%s: cannot read the PIN file given with --pin-file: %s (it takes a "
                            "file holding the PIN, not the PIN)\n", prog, strerror(errno));
            return -1;
        }
        int n = read_line(f, pin, cap);
        if (!is_stdin)
            fclose(f);
        if (n < 0)
            fprintf(stderr, "%s: the PIN file given with --pin-file%s is empty\n", prog,
                    is_stdin ? " (standard input)" : "");
        return n;
    }
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) {
        fprintf(stderr, "%s: no terminal to ask for the PIN: use --pin-file FILE (or - for "
                        "standard input)\n", prog);
        return -1;
    }
    struct termios quiet;
    int have_term = tcgetattr(fileno(tty), &prompt_term) == 0;
    struct sigaction sa, before[4];
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    if (have_term) {
        /* a signal at the prompt gives the terminal its echo back before the tool ends */
        prompt_fd = fileno(tty);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = restore_echo;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &sa, &before[i]);
        quiet = prompt_term;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    int n = read_line(tty, pin, cap);
    if (have_term) {
        tcsetattr(fileno(tty), TCSAFLUSH, &prompt_term);
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &before[i], NULL);
        prompt_fd = -1;
    }
    fputs("\n", tty);
    fclose(tty);
    if (n < 0)
        fprintf(stderr, "%s: no PIN given\n", prog);
    return n;
}

/* --- key files ------------------------------------------------------------------------ */

int tool_key_type(const char *s, int *aes, size_t *len)
{
    static const struct { const char *name; int aes; size_t len; } types[] = {
        {"des", 0, 16}, {"aes128", 1, 16}, {"aes192", 1, 24}, {"aes256", 1, 32}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        if (!strcmp(s, types[k].name)) {
            *aes = types[k].aes;
            *len = types[k].len;
            return 0;
        }
    return -1;
}

int tool_parse_key_file(const char *prog, FILE *f, const char *name, int want_aes,
                        tool_keys_t *keys)
{
    char line[256];
    int have[3] = {0, 0, 0};
    int lineno = 0, rc = 0, file_aes = -1;
    memset(keys, 0, sizeof *keys);
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == 0 || *p == '\n' || *p == '\r')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "%s: %s line %d: expected 'enc|mac|dek|all = HEX'\n", prog, name,
                    lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *k = p, *end = eq;
        while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        char *v = eq + 1;
        v[strcspn(v, "\r\n")] = 0;
        if (!strcmp(k, "type")) {
            while (*v == ' ' || *v == '\t')
                v++;
            file_aes = !strncmp(v, "aes", 3) ? 1 : !strncmp(v, "des", 3) ? 0 : -2;
            if (file_aes == -2) {
                fprintf(stderr, "%s: %s line %d: type is 'aes' or 'des'\n", prog, name, lineno);
                rc = -1;
            }
            continue;
        }
        int role = strcmp(k, "enc") == 0 ? 0 : strcmp(k, "mac") == 0 ? 1
                 : strcmp(k, "dek") == 0 ? 2 : strcmp(k, "all") == 0 ? 3 : -1;
        if (role < 0) {
            fprintf(stderr, "%s: %s line %d: unknown key name '%s' (enc, mac, dek, all or "
                            "type)\n", prog, name, lineno, k);
            rc = -1;
            break;
        }
        uint8_t val[40];
        int n = hex_decode(v, val, sizeof val);
        if (n != 16 && n != 24 && n != 32) {
            if (n < 0)
                fprintf(stderr, "%s: %s line %d: the value is not hexadecimal\n", prog, name,
                        lineno);
            else
                fprintf(stderr, "%s: %s line %d: a key is 16 bytes (DES for SCP02, AES-128), 24 "
                                "or 32 bytes (AES), this one has %d\n", prog, name, lineno, n);
            rc = -1;
        } else if (keys->len && (size_t)n != keys->len) {
            fprintf(stderr, "%s: %s line %d: a key of %d bytes beside keys of %zu: the three keys "
                            "of a set have one length\n", prog, name, lineno, n, keys->len);
            rc = -1;
        } else {
            keys->len = (size_t)n;
            for (int r = 0; r < 3; r++)
                if (role == 3 || role == r) {
                    memcpy(keys->v + (size_t)n * (size_t)r, val, (size_t)n);
                    have[r] = 1;
                }
        }
        ks_wipe(val, sizeof val);
    }
    ks_wipe(line, sizeof line);
    if (rc == 0 && !(have[0] && have[1] && have[2])) {
        fprintf(stderr, "%s: %s: missing key%s%s%s\n", prog, name, have[0] ? "" : " enc",
                have[1] ? "" : " mac", have[2] ? "" : " dek");
        rc = -1;
    }
    if (rc == 0) {
        keys->aes = keys->len > 16 || file_aes == 1 || want_aes == 1;
        if (keys->len > 16 && (want_aes == 0 || file_aes == 0)) {
            fprintf(stderr, "%s: %s: %zu-byte keys are AES keys, not DES\n", prog, name, keys->len);
            rc = -1;
        } else if (want_aes >= 0 && file_aes >= 0 && want_aes != file_aes) {
            fprintf(stderr, "%s: %s: the file says type = %s, the command line %s\n", prog, name,
                    file_aes ? "aes" : "des", want_aes ? "AES" : "DES");
            rc = -1;
        }
    }
    if (rc != 0)
        ks_wipe(keys, sizeof *keys);
    return rc;
}

int tool_read_key_file(const char *prog, const char *file, int want_aes, tool_keys_t *keys)
{
    int is_stdin = strcmp(file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(file, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open key file %s: %s\n", prog, file, strerror(errno));
        return -1;
    }
    int rc = tool_parse_key_file(prog, f, is_stdin ? "standard input" : file, want_aes, keys);
    if (!is_stdin)
        fclose(f);
    return rc;
}

int tool_hex_arg(tool_t *t, const char *what, const char *hex, uint8_t *out, size_t cap)
{
    int n = hex_decode(hex, out, cap);
    if (n < 0) {
        tool_fail(t, EX_USAGE, "%s \"%s\" is not hexadecimal, or longer than %zu bytes", what,
                  hex, cap);
        return -1;
    }
    return n;
}
