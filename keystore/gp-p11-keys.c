/*
 * gp-p11-keys: provisions SCP02 key sets into the keystore token.
 *
 * Key values are read from a file or standard input, never from the command
 * line; the PIN from a file or the terminal. Buffers that held either are
 * wiped before exit.
 */
#include "config.h"
#include "hex.h"
#include "keystore.h"

#include <dlfcn.h>
#include "gp-p11/gp-p11.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PIN_MAX 128

static void usage(FILE *o)
{
    fprintf(o,
"Usage: gp-p11-keys [OPTIONS] COMMAND [ARGS]\n"
"Provision GlobalPlatform SCP02 key sets into a PKCS#11 keystore token.\n"
"\n"
"Commands:\n"
"  import NAME [FILE]   store the key set NAME from FILE (default: standard input)\n"
"  generate NAME        generate a random key set NAME inside the keystore\n"
"  list                 list key sets with the key check value of each key\n"
"  delete NAME          delete the key set NAME\n"
"  put-key NAME --version N [--replace M] [--from-file FILE] [--reader TEXT]\n"
"                       rotate the card's keys (PUT KEY) through the gp-p11 module:\n"
"                       new keys generated inside the keystore (the default), or\n"
"                       read from FILE (needs put_key_plaintext = yes in the\n"
"                       gp-p11 configuration); stored as key set NAME once the\n"
"                       card confirms. --replace M replaces key version M, else\n"
"                       version N is added\n"
"\n"
"Options:\n"
"  -m, --module PATH    keystore PKCS#11 module (default: %s)\n"
"  -t, --token LABEL    keystore token label (default: gp-p11)\n"
"  -p, --pin-file FILE  read the user PIN from the first line of FILE\n"
"  -g, --gp-module PATH the gp-p11 module, for put-key (default: %s)\n"
"                       (default: ask on the terminal)\n"
"  -h, --help           this text\n"
"\n"
"A key file holds one key per line, 16 bytes in hex:\n"
"  enc = 404142434445464748494A4B4C4D4E4F\n"
"  mac = 404142434445464748494A4B4C4D4E4F\n"
"  dek = 404142434445464748494A4B4C4D4E4F\n"
"or 'all = HEX' for a card whose three keys are equal. '#' starts a comment.\n"
"Keys are stored as NAME/enc, NAME/mac, NAME/dek: CKK_DES2, sensitive, not\n"
"extractable; the PIN and key values are never accepted on the command line.\n",
            GP_DEFAULT_KEYSTORE_MODULE, GP_P11_MODULE_PATH);
}

/* Reads one line into pin; returns its length or -1. */
static int read_pin_line(FILE *f, char *pin, size_t cap)
{
    if (!fgets(pin, (int)cap, f))
        return -1;
    size_t n = strcspn(pin, "\r\n");
    pin[n] = 0;
    return (int)n;
}

static int get_pin(const char *pin_file, char *pin, size_t cap)
{
    if (pin_file) {
        FILE *f = strcmp(pin_file, "-") == 0 ? stdin : fopen(pin_file, "r");
        if (!f) {
            fprintf(stderr, "gp-p11-keys: cannot read PIN file %s: %s\n", pin_file, strerror(errno));
            return -1;
        }
        int n = read_pin_line(f, pin, cap);
        if (f != stdin)
            fclose(f);
        if (n < 0)
            fprintf(stderr, "gp-p11-keys: PIN file %s is empty\n", pin_file);
        return n;
    }
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) {
        fprintf(stderr, "gp-p11-keys: no terminal to ask for the PIN: use --pin-file\n");
        return -1;
    }
    struct termios old, quiet;
    int have_term = tcgetattr(fileno(tty), &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs("Keystore user PIN: ", tty);
    fflush(tty);
    int n = read_pin_line(tty, pin, cap);
    if (have_term)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    return n;
}

/* Parses a key file. Returns 0 with the three keys, or -1 with a message. */
static int parse_key_file(FILE *f, const char *name, uint8_t keys[3][16])
{
    char line[256];
    int have[3] = {0, 0, 0};
    int lineno = 0, rc = 0;
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
            fprintf(stderr, "gp-p11-keys: %s line %d: expected 'enc|mac|dek|all = HEX'\n", name,
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
        int role = strcmp(k, "enc") == 0 ? 0 : strcmp(k, "mac") == 0 ? 1
                 : strcmp(k, "dek") == 0 ? 2 : strcmp(k, "all") == 0 ? 3 : -1;
        if (role < 0) {
            fprintf(stderr, "gp-p11-keys: %s line %d: unknown key name '%s' (enc, mac, dek or all)\n",
                    name, lineno, k);
            rc = -1;
            break;
        }
        uint8_t val[32];
        int n = hex_decode(v, val, sizeof val);
        if (n != 16) {
            if (n < 0)
                fprintf(stderr, "gp-p11-keys: %s line %d: the value is not hexadecimal\n", name,
                        lineno);
            else
                fprintf(stderr, "gp-p11-keys: %s line %d: a SCP02 key is 16 bytes, this one has "
                                "%d\n", name, lineno, n);
            rc = -1;
        } else {
            for (int r = 0; r < 3; r++)
                if (role == 3 || role == r) {
                    memcpy(keys[r], val, 16);
                    have[r] = 1;
                }
        }
        ks_wipe(val, sizeof val);
    }
    ks_wipe(line, sizeof line);
    if (rc == 0 && !(have[0] && have[1] && have[2])) {
        fprintf(stderr, "gp-p11-keys: %s: missing key%s%s%s\n", name, have[0] ? "" : " enc",
                have[1] ? "" : " mac", have[2] ? "" : " dek");
        rc = -1;
    }
    return rc;
}

struct list_ctx {
    ks_session_t *s;
    int count;
    int failed;
};

static void print_set(void *vctx, const char *name)
{
    struct list_ctx *c = vctx;
    ks_keyset_t set;
    c->count++;
    if (ks_find_keyset(c->s, name, &set) != CKR_OK) {
        printf("%-24s incomplete: %s\n", name, ks_session_error(c->s));
        c->failed = 1;
        return;
    }
    CK_OBJECT_HANDLE hs[3] = {set.enc, set.mac, set.dek};
    printf("%-24s", name);
    for (int r = 0; r < 3; r++) {
        uint8_t kcv[3];
        char hex[7];
        if (ks_kcv(c->s, hs[r], kcv) == CKR_OK) {
            hex_encode(kcv, 3, hex);
            printf(" %s KCV=%s", ks_role_names[r], hex);
        } else {
            printf(" %s KCV=(unavailable: %s)", ks_role_names[r], ks_session_error(c->s));
            c->failed = 1;
        }
    }
    printf("\n");
}

/* put-key: PUT KEY through the gp-p11 module's PKCS#11 interface. */
static int put_key(const char *gp_module, const char *reader, const char *set, int kvn, int replace,
                   const char *keyfile, const char *pin, size_t pin_len)
{
    void *dl = dlopen(gp_module, RTLD_NOW | RTLD_LOCAL);
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: cannot load the gp-p11 module %s%s%s\n", gp_module,
                dl ? "" : ": ", dl ? "" : dlerror());
        if (dl)
            dlclose(dl);
        return 1;
    }
    uint8_t keys[3][16];
    int status = 1;
    CK_RV rv = f->C_Initialize(NULL);
    if (rv != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: the gp-p11 module did not start: %s (see its log line)\n",
                ks_rv_name(rv));
        dlclose(dl);
        return 1;
    }
    CK_SLOT_ID slots[16], slot = 0;
    CK_ULONG n = 16;
    int found = 0;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK)
        for (CK_ULONG i = 0; i < n && !found; i++) {
            CK_SLOT_INFO si;
            char desc[65];
            if (f->C_GetSlotInfo(slots[i], &si) != CKR_OK)
                continue;
            memcpy(desc, si.slotDescription, 64);
            desc[64] = 0;
            if (!reader || strstr(desc, reader)) {
                slot = slots[i];
                found = 1;
            }
        }
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    if (!found) {
        fprintf(stderr, "gp-p11-keys: no card%s%s%s\n", reader ? " in a reader named \"" : "",
                reader ? reader : "", reader ? "\"" : "");
        goto out;
    }
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
    if (rv == CKR_OK)
        rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    if (rv != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: login to the card failed: %s (see the log line above)\n",
                ks_rv_name(rv));
        goto out;
    }
    CK_BYTE v = (CK_BYTE)kvn, r = (CK_BYTE)replace;
    CK_OBJECT_CLASS cls = CKO_GP_KEY_SET;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_LABEL, (void *)set, strlen(set)},
        {CKA_GP_KEY_VERSION, &v, 1},
        {CKA_GP_REPLACE_KEY_VERSION, &r, 1},
        {CKA_GP_KEY_VALUES, keys, sizeof keys},
    };
    CK_OBJECT_HANDLE obj;
    if (keyfile) {
        FILE *kf = strcmp(keyfile, "-") == 0 ? stdin : fopen(keyfile, "r");
        if (!kf) {
            fprintf(stderr, "gp-p11-keys: cannot open key file %s: %s\n", keyfile, strerror(errno));
            goto out;
        }
        int prc = parse_key_file(kf, keyfile, keys);
        if (kf != stdin)
            fclose(kf);
        if (prc != 0)
            goto out;
        rv = f->C_CreateObject(h, t, 5, &obj);
    } else {
        CK_MECHANISM m = {CKM_GP_PUT_KEY, NULL, 0};
        rv = f->C_GenerateKey(h, &m, t, 4, &obj);
    }
    if (rv != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: PUT KEY failed: %s (see the log line above)\n", ks_rv_name(rv));
        goto out;
    }
    printf("key version %02X %s on the card; keystore key set \"%s\" holds its keys\n", kvn,
           replace ? "replaces the old version" : "added", set);
    status = 0;
out:
    ks_wipe(keys, sizeof keys);
    if (h != CK_INVALID_HANDLE)
        f->C_CloseSession(h);
    f->C_Finalize(NULL);
    dlclose(dl);
    return status;
}

int main(int argc, char **argv)
{
    const char *module = NULL, *token = "gp-p11", *pin_file = NULL;
    const char *gp_module = GP_P11_MODULE_PATH, *reader = NULL, *from_file = NULL;
    int version = -1, replace = 0;
    static const struct option opts[] = {
        {"module", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 't'},
        {"pin-file", required_argument, NULL, 'p'},
        {"gp-module", required_argument, NULL, 'g'},
        {"version", required_argument, NULL, 'V'},
        {"replace", required_argument, NULL, 'R'},
        {"from-file", required_argument, NULL, 'F'},
        {"reader", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* getopt would take "--pin" as an abbreviation of --pin-file: refuse it
     * (a PIN on the command line is visible to every user of the machine). */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--pin", 5) == 0 && strncmp(argv[i], "--pin-file", 10) != 0) {
            fprintf(stderr, "gp-p11-keys: the PIN is not accepted on the command line: use "
                            "--pin-file FILE or type it when asked\n");
            return 2;
        }
    }
    int c;
    while ((c = getopt_long(argc, argv, "m:t:p:g:h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': gp_module = optarg; break;
        case 'V': version = (int)strtol(optarg, NULL, 0); break;
        case 'R': replace = (int)strtol(optarg, NULL, 0); break;
        case 'F': from_file = optarg; break;
        case 'r': reader = optarg; break;
        case 'm': module = optarg; break;
        case 't': token = optarg; break;
        case 'p': pin_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind++];
    int nargs = argc - optind;
    int is_import = strcmp(cmd, "import") == 0, is_gen = strcmp(cmd, "generate") == 0;
    int is_list = strcmp(cmd, "list") == 0, is_del = strcmp(cmd, "delete") == 0;
    if (strcmp(cmd, "put-key") == 0) {
        if (nargs != 1 || version < 1 || version > 0x7F || replace < 0 || replace > 0x7F) {
            fprintf(stderr, "gp-p11-keys: put-key NAME --version N (1 to 127) [--replace M]\n");
            return 2;
        }
        if (from_file && strcmp(from_file, "-") == 0 && pin_file && strcmp(pin_file, "-") == 0) {
            fprintf(stderr, "gp-p11-keys: the keys and the PIN cannot both come from standard input\n");
            return 2;
        }
        char pin[PIN_MAX];
        int pl = get_pin(pin_file, pin, sizeof pin);
        int rc = pl < 0 ? 1 : put_key(gp_module, reader, argv[optind], version, replace, from_file,
                                      pin, (size_t)pl);
        ks_wipe(pin, sizeof pin);
        return rc;
    }
    if (!(is_import || is_gen || is_list || is_del)) {
        fprintf(stderr, "gp-p11-keys: unknown command '%s' (import, generate, list, delete, "
                        "put-key)\n", cmd);
        return 2;
    }
    if ((is_list && nargs != 0) || ((is_gen || is_del) && nargs != 1) ||
        (is_import && (nargs < 1 || nargs > 2))) {
        fprintf(stderr, "gp-p11-keys: wrong number of arguments for '%s'; see --help\n", cmd);
        return 2;
    }
    const char *set = nargs ? argv[optind] : NULL;
    const char *keyfile = is_import && nargs == 2 ? argv[optind + 1] : "-";
    if (is_import && strcmp(keyfile, "-") == 0 && pin_file && strcmp(pin_file, "-") == 0) {
        fprintf(stderr, "gp-p11-keys: the key set and the PIN cannot both come from standard input\n");
        return 2;
    }

    /* Read the keys first, so a bad file fails before anything touches the token. */
    uint8_t keys[3][16];
    memset(keys, 0, sizeof keys);
    if (is_import) {
        FILE *f = strcmp(keyfile, "-") == 0 ? stdin : fopen(keyfile, "r");
        if (!f) {
            fprintf(stderr, "gp-p11-keys: cannot open key file %s: %s\n", keyfile, strerror(errno));
            return 1;
        }
        int rc = parse_key_file(f, strcmp(keyfile, "-") == 0 ? "standard input" : keyfile, keys);
        if (f != stdin)
            fclose(f);
        if (rc != 0) {
            ks_wipe(keys, sizeof keys);
            return 1;
        }
    }

    char err[KS_ERRLEN] = "";
    char pin[PIN_MAX];
    int status = 1;
    ks_t *ks = NULL;
    ks_session_t *s = NULL;
    int pin_len = get_pin(pin_file, pin, sizeof pin);
    if (pin_len < 0)
        goto out;
    if (ks_open(&ks, module, err) != CKR_OK || ks_select_token(ks, token, err) != CKR_OK ||
        ks_login(ks, (const uint8_t *)pin, (size_t)pin_len, err) != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: %s\n", err);
        goto out;
    }
    ks_wipe(pin, sizeof pin);
    if (ks_session_open(ks, &s) != CKR_OK) {
        fprintf(stderr, "gp-p11-keys: cannot open a keystore session\n");
        goto out;
    }
    CK_RV rv = CKR_OK;
    if (is_import || is_gen) {
        ks_keyset_t made; /* whole or not at all; keys there before are never touched */
        rv = ks_create_keyset(s, set, is_import ? keys[0] : NULL, 0, &made);
        if (rv != CKR_OK) {
            fprintf(stderr, "gp-p11-keys: %s\n", ks_session_error(s));
            goto out;
        }
        struct list_ctx lc = {s, 0, 0};
        printf("%s key set:\n", is_import ? "imported" : "generated");
        print_set(&lc, set);
        status = lc.failed;
    } else if (is_list) {
        struct list_ctx lc = {s, 0, 0};
        rv = ks_list_keysets(s, print_set, &lc);
        if (rv != CKR_OK) {
            fprintf(stderr, "gp-p11-keys: %s\n", ks_session_error(s));
            goto out;
        }
        if (lc.count == 0)
            printf("no key sets on token %s\n", token);
        status = lc.failed;
    } else {
        rv = ks_delete_keyset(s, set);
        if (rv != CKR_OK) {
            fprintf(stderr, "gp-p11-keys: %s\n", ks_session_error(s));
            goto out;
        }
        printf("deleted key set %s\n", set);
        status = 0;
    }
out:
    ks_wipe(pin, sizeof pin);
    ks_wipe(keys, sizeof keys);
    ks_session_close(s);
    if (ks)
        ks_logout(ks);
    ks_close(ks);
    return status;
}
