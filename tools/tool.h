/* The command-line tools (gp-p11, gp-p11-keys): what they share. */
#ifndef GP_TOOLS_TOOL_H
#define GP_TOOLS_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "scp/registry.h"

/* Exit codes (gp-p11(1), EXIT STATUS). */
enum tool_exit {
    EX_OK = 0,
    EX_REFUSED = 1,   /* the card refused (a status word other than 9000) */
    EX_USAGE = 2,     /* bad option, argument or input file */
    EX_NOTOKEN = 3,   /* no module, no reader, no card, or not one card */
    EX_AUTH = 4,      /* keystore PIN refused, or the card's keys do not match */
    EX_ERROR = 5,     /* anything else: reader, keystore, module, lost answer */
    EX_CANCELED = 130 /* interrupted (Ctrl-C); a LOAD stopped leaves nothing */
};

#define PIN_MAX 128

/* --- output: JSON for scripts ---------------------------------------------- */
typedef struct {
    FILE *f;        /* memory stream; printed when the command ends */
    char *buf;
    size_t len;
    int depth;
    int comma[16];  /* a value was written at this depth */
    char closer[16]; /* what closes the container open at this depth: '}' or ']' */
    int floor;      /* json_end_all closes down to here (a step's object), not below */
} json_t;

void json_open(json_t *j);
/* key NULL inside arrays */
void json_obj(json_t *j, const char *key);
void json_arr(json_t *j, const char *key);
void json_end(json_t *j, char close);
/* Closes every container still open, each with its own bracket. */
void json_end_all(json_t *j);
void json_raw(json_t *j, const char *key, const char *text); /* text: JSON already */
/* one document on out, {"ok", "exit", "command", then j's fields}; j closed */
void json_print_doc(json_t *j, int code, const char *command, FILE *out);
/* the error kind of an exit code, in the JSON's words ("card refused", "usage"...) */
const char *tool_exit_kind(int code);
void json_str(json_t *j, const char *key, const char *v); /* v NULL: null */
void json_int(json_t *j, const char *key, long long v);
void json_bool(json_t *j, const char *key, int v);
void json_hex(json_t *j, const char *key, const uint8_t *v, size_t len);
/* Writes the buffered text and frees it. */
void json_close(json_t *j, FILE *out);
/* A registry object's kind in the JSON of every command: isd, sd, app, load-file. */
const char *tool_kind_key(CK_ULONG kind);

/* --- output: aligned tables for people -------------------------------------- */
#define TABLE_COLS 8
typedef struct {
    int cols;
    const char *head[TABLE_COLS];
    char **cells;   /* rows * cols strings */
    int rows, cap;
} table_t;

void table_init(table_t *t, int cols, const char *const *head);
void table_row(table_t *t, ...); /* cols strings */
/* indent spaces before every line; the header line only when header */
void table_print(table_t *t, FILE *out, int indent, int header);
void table_free(table_t *t);

/* --- options of the commands (gp-p11.c parses them all; each command takes its own) */
typedef struct {
    unsigned given;            /* OPT_* bits */
    const char *applet, *instance, *privileges, *params, *sd, *package;
    int not_selectable, no_descriptor, hash, loaded;
    int related, force;
    const char *format, *file;
    int version, replace;
    const char *from_file;
    const char *key_type;      /* --key-type: des, aes128, aes192, aes256 */
    int plain;                 /* apdu --plain (--select AID: in sd) */
    int each_card, cards;      /* run --each-card [--cards N] (0: until a signal) */
} opts_t;
enum {
    OPT_APPLET = 1 << 0, OPT_INSTANCE = 1 << 1, OPT_PRIVILEGES = 1 << 2, OPT_PARAMS = 1 << 3,
    OPT_SD = 1 << 4, OPT_PACKAGE = 1 << 5, OPT_NOT_SELECTABLE = 1 << 6,
    OPT_NO_DESCRIPTOR = 1 << 7, OPT_HASH = 1 << 8, OPT_LOADED = 1 << 9, OPT_RELATED = 1 << 10,
    OPT_FORMAT = 1 << 11, OPT_FILE = 1 << 12, OPT_VERSION = 1 << 13, OPT_REPLACE = 1 << 14,
    OPT_FROM_FILE = 1 << 15, OPT_YES = 1 << 16, OPT_KEYSTORE = 1 << 17, OPT_KEY_TYPE = 1 << 18,
    OPT_LOGIN = 1 << 19, /* --key-set, --key-version, --level, --scp, --diversification, --isd */
    OPT_NO_LOGIN = 1 << 20, OPT_PLAIN = 1 << 21, OPT_SELECT = 1 << 22, OPT_HELP = 1 << 23,
    OPT_EACH_CARD = 1 << 24, OPT_CARDS = 1 << 25, OPT_FORCE = 1 << 26,
};

/* --- the tool's state --------------------------------------------------------- */
typedef struct tool {
    const char *prog;
    const char *command;
    int json, verbose, yes;
    const char *trace_file;  /* --trace-file: the module's trace and words, for a bug report */
    FILE *trace;
    int no_login;              /* --no-login: list and info from what the card shows in the clear */
    const char *module_path;   /* --module: the gp-p11 module */
    const char *token_uri;     /* --token: a PKCS#11 URI */
    const char *reader;        /* --reader: part of the reader's name */
    const char *pin_file;      /* --pin-file: FILE or - */
    const char *ks_module;     /* keys: the keystore module */
    const char *ks_token;      /* keys: the keystore token's label */
    const char *ks_init_args;  /* keys: C_Initialize's string for the keystore, or NULL */
    /* the login's channel choices (--key-set ... --isd), over the configuration's */
    struct {
        const char *key_set, *level, *scp, *div, *isd, *config;
        int key_version;       /* -1: not given */
    } login;
    opts_t o;
    json_t j;
    int stdin_taken;           /* standard input already read (PIN, keys) */
    /* the gp-p11 module, once opened */
    CK_FUNCTION_LIST *f;
    CK_FUNCTION_LIST **loaded; /* from p11-kit's registration */
    P11KitUri *uri;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE h;
    CK_TOKEN_INFO ti;
    char reader_name[65];
    int logged_in;
    int first_card;            /* gp-p11-keys: the first card that matches, not "only one" */
    /* LOAD progress */
    CK_ULONG progress[2];
    int progress_shown;
    const char *progress_what;
    int interrupted;         /* a signal held by tool_hold came: the tool ends with 128 + it */
    /* the module's log lines (GP_P11_LOG_FD), shown in the tool's terms */
    int log_fd;              /* -1: the module writes to stderr itself */
    long log_off;            /* how much of it was shown */
    int module_lines;        /* warnings and errors the module said in this run */
    const char *reason;      /* why a login failed, for the JSON error (p11_login) */
    char said[4][400];       /* the last of them, for the JSON's error.details */
    int n_said;
} tool_t;

/* Shows what the module logged since the last call, on stderr, with its
 * PKCS#11 names put in the tool's terms (--related for
 * CKA_GP_DELETE_RELATED...). */
void tool_module_said(tool_t *t);
/* The module's words in the tool's terms (in place, cut at cap). */
void tool_words(char *line, size_t cap);

/* A fresh state: defaults, the JSON buffer open. */
void tool_init(tool_t *t, const char *prog);
/* Prints "prog: message" on stderr (and keeps it for --json); returns code. */
int tool_fail(tool_t *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As tool_fail, for a PKCS#11 call that failed: the exit code follows from
 * rv and from the card's status word (ulDeviceError), which is explained. */
int tool_fail_rv(tool_t *t, CK_RV rv, const char *what, int sw_context);
/* The status word of the card's refusal that failed the last call, or 0. */
unsigned tool_device_error(tool_t *t);
/* A failure with the card's status word, explained (sw_context: enum sw_context). */
int tool_fail_sw(tool_t *t, int code, CK_RV rv, unsigned sw, int sw_context, const char *what);
/* Set by SIGINT while a LOAD runs: the next block is not sent. */
#include <signal.h>
extern volatile sig_atomic_t tool_interrupted;
/* Ends the run: JSON object or nothing; returns code. */
int tool_finish(tool_t *t, int code);
/* Around a call that changes the card: SIGTERM, SIGHUP, SIGQUIT (and SIGINT
 * unless the command handles it itself: a LOAD stops between blocks) wait
 * until the card and the keystore agree again. tool_unhold says so if one
 * came, and the tool then ends as that signal asked. */
void tool_hold(tool_t *t, int keep_sigint);
void tool_unhold(tool_t *t);
const char *tool_rv_name(CK_RV rv);

/* --- PIN ---------------------------------------------------------------------- */
/* 1 (said) when argv tries to give a PIN (--pin...): refused, since every user
 * of the machine can read a command line. */
int tool_pin_on_command_line(const char *prog, int argc, char **argv);
/* From pin_file ("-": standard input), else asked on the terminal without
 * echo. Returns its length, or -1 with a message. */
int tool_read_pin(const char *prog, const char *pin_file, const char *prompt, char *pin,
                  size_t cap);

/* --- key files (import, put-key --from-file) ----------------------------------- */
/* A key set's values: enc || mac || dek, each len bytes; DES2 (SCP02, 16
 * bytes) or AES (SCP03: 16, 24 or 32 bytes). */
typedef struct {
    uint8_t v[96];
    size_t len;
    int aes;
} tool_keys_t;
/* Lines "enc|mac|dek|all = HEX", and "type = aes|des" (16-byte keys are DES
 * unless the file or want_aes says AES; longer keys are AES). want_aes: 1
 * AES, 0 DES, -1 as the file says. 0 or -1 with a message. */
int tool_parse_key_file(const char *prog, FILE *f, const char *name, int want_aes,
                        tool_keys_t *keys);
/* Opens FILE ("-": standard input) and parses it; 0 or -1 with a message. */
int tool_read_key_file(const char *prog, const char *file, int want_aes, tool_keys_t *keys);
/* --key-type des|aes128|aes192|aes256: 0 with *aes and *len, -1 unknown. */
int tool_key_type(const char *s, int *aes, size_t *len);

/* --- the gp-p11 module over PKCS#11 (p11.c) ---------------------------------- */
int p11_load(tool_t *t);   /* load and initialise the module, checked to be gp-p11's */
/* a card in slot: -1 none (or unreadable), 0 not the one --reader and --token
 * choose, 1 chosen; its token and its reader's name */
int p11_card_wanted(tool_t *t, CK_SLOT_ID slot, CK_TOKEN_INFO *ti, char reader[65]);
void p11_token_uri(CK_TOKEN_INFO *ti, char *out, size_t cap); /* pkcs11:... of a token */
int p11_open(tool_t *t);   /* p11_load, choose the token, open a session */
/* the keystore PIN from --pin-file, the URI's pin-source or the prompt */
int p11_read_pin(tool_t *t, char *pin, size_t cap, int *len);
int p11_login(tool_t *t);
int p11_start(tool_t *t);  /* p11_open, then p11_login */
void p11_close(tool_t *t);
/* Finds objects matching tmpl; returns how many (at most max), or -1. */
int p11_find(tool_t *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, int max);
/* One attribute's value into buf; returns its length, or -1 when absent. */
long p11_attr(tool_t *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, void *buf, size_t cap);
/* The registry object whose AID is aid; CK_INVALID_HANDLE (message said) when none. */
CK_OBJECT_HANDLE p11_registry_object(tool_t *t, const uint8_t *aid, size_t aid_len, int *code);
/* A registry object read into scp/'s form, for its decoding tables (kind,
 * lifecycle and privilege names); returns its GP_KIND_*. */
CK_ULONG p11_entry(tool_t *t, CK_OBJECT_HANDLE o, gp_entry_t *e);
/* "lifecycle": {"value": "07", "name": "SELECTABLE"} */
void json_lifecycle(json_t *j, const gp_entry_t *e);
/* The card's issuer security domain object. */
CK_OBJECT_HANDLE p11_isd(tool_t *t, int *code);
/* Hex argument: returns its length or -1 (message said, EX_USAGE). */
int tool_hex_arg(tool_t *t, const char *what, const char *hex, uint8_t *out, size_t cap);

/* a line of commands without its comment and surrounding blanks ("" if none) */
char *tool_line_text(char *line);

/* --- keystore key sets (keysets.c; gp-p11 keys, gp-p11-keys) ------------------- */
int keysets_run(tool_t *t, const char *cmd, int argc, char **argv);
/* gp-p11.c: one command line's options into t (optind at its command after),
 * and that command run */
int gp_parse_args(tool_t *t, int argc, char **argv);
int gp_run_command(tool_t *t, int argc, char **argv);
/* cmd_run.c: gp-p11 run FILE: a step list under one login */
int cmd_run(tool_t *t, int argc, char **argv);
/* cmd_batch.c: gp-p11 run --each-card FILE: the step list on every card inserted */
int cmd_run_each_card(tool_t *t, const char *file);
/* 0 when cmd is import, generate, list or delete with the right number of arguments */
int keysets_check_args(const char *cmd, int argc);
/* PUT KEY through the module (cmd_card.c) */
int put_key_run(tool_t *t, const char *name, int version, int replace, const char *from_file);

/* --- gp-p11's commands --------------------------------------------------------- */
int cmd_list(tool_t *t, int argc, char **argv);
int cmd_info(tool_t *t, int argc, char **argv);
int cmd_install(tool_t *t, int argc, char **argv, int load_only);
int cmd_delete(tool_t *t, int argc, char **argv);
int cmd_lock(tool_t *t, int argc, char **argv, int lock);
int cmd_store_data(tool_t *t, int argc, char **argv);
int cmd_card_state(tool_t *t, int argc, char **argv, const char *which);
int cmd_put_key(tool_t *t, int argc, char **argv);
int cmd_delete_key(tool_t *t, int argc, char **argv);
int cmd_apdu(tool_t *t, int argc, char **argv);

#endif
