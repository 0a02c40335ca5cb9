/*
 * gp-p11: GlobalPlatform card management from the shell, as a PKCS#11
 * application of the gp-p11 module: every key operation runs in the
 * keystore, and the tool never holds a card key.
 */
#include "config.h"
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/keystore.h"

static void usage(FILE *o)
{
    fprintf(o,
"Usage: gp-p11 [OPTIONS] COMMAND [ARGS]\n"
"GlobalPlatform card management through the gp-p11 PKCS#11 module.\n"
"\n"
"Reading:\n"
"  list                      the card's registry: AIDs, kinds, lifecycles, privileges\n"
"  info                      CPLC, card recognition data and key information, decoded\n"
"      [--no-login]          without keys or PIN: what the card shows in the clear\n"
"Applets:\n"
"  install FILE.cap          load a CAP file and install its applets (selectable)\n"
"      [--applet AID [--instance AID]] [--privileges NAMES|HEX] [--params HEX]\n"
"      [--not-selectable] [--sd AID] [--no-descriptor] [--hash]\n"
"      [--force]             (delete the CAP file's load file first, if the card has it)\n"
"  install --loaded --package AID --applet AID [--instance AID] ...\n"
"                            install from a load file the card has already\n"
"  load FILE.cap [--sd AID] [--no-descriptor] [--hash] [--force]\n"
"                            load only\n"
"  delete AID [--related]    delete an application, security domain or load file\n"
"                            (--related: a load file with its applications)\n"
"  delete FILE.cap           delete the CAP file's load file with its applications\n"
"  lock AID, unlock AID      lock or unlock an application or security domain\n"
"  store-data AID (HEX | --file FILE) [--format HEX]\n"
"                            INSTALL [for personalization] and STORE DATA\n"
"Card:\n"
"  lock-card, unlock-card    lock or unlock the whole card\n"
"  terminate-card [--yes]    terminate the card for good (asks first)\n"
"Keys:\n"
"  put-key NAME --version N [--replace M] [--from-file FILE]\n"
"                            rotate the card's keys (PUT KEY); NAME: the new key set,\n"
"                            of the channel's kind (SCP02: DES; SCP03: AES)\n"
"  delete-key --version N    DELETE [key]: the card's key version N (never this login's,\n"
"                            nor the card's last); the keystore keeps its key sets\n"
"  keys import NAME [FILE]   store a key set in the keystore (keys from FILE or stdin)\n"
"  keys generate NAME        generate a key set inside the keystore\n"
"      [--key-type des|aes128|aes192|aes256]  DES for SCP02 (default), AES for SCP03\n"
"  keys list                 key sets with their kind and key check values\n"
"  keys delete NAME          delete a key set\n"
"  keys refusals             cards that refused EXTERNAL AUTHENTICATE: none is tried again\n"
"  keys forget-refusal KDD|all  allow a new try, once you know why the card refused\n"
"  keys doctor               what the keystore can do for gp-p11 (list, then tried)\n"
"      [--keystore-module PATH] [--keystore-token LABEL] [--keystore-init-args STR]\n"
"APDUs:\n"
"  apdu [HEX...]             send APDUs through the secure channel (arguments, or one\n"
"                            per line on standard input); exit 0 if the last got 9000\n"
"  apdu --plain [--select AID] [HEX...]\n"
"                            plain APDUs to an application, outside the channel, no PIN\n"
"Step lists:\n"
"  run FILE                  the commands in FILE (one per line, - : standard input) under\n"
"                            one login; stops at the first failure (gp-p11(1), STEP LISTS)\n"
"  run --each-card FILE [--cards N]\n"
"                            FILE on every card put in any reader, several at once, until\n"
"                            N cards or Ctrl-C; one line (JSON: one document) per card\n"
"\n"
"The login's choices, over the configuration's (gp-p11(7), Login options):\n"
"  --key-set NAME            the keystore key set (key_set)\n"
"  --key-version N           the card's key version (key_version; 0: its default)\n"
"  --level LEVEL             mac, mac-enc, mac-rmac, mac-enc-rmac, mac-enc-rmac-renc;\n"
"                            never below the configuration's security_level\n"
"  --scp auto|01|02|03       the protocol (SCP01 only where scp01_allow = yes)\n"
"  --diversification none|emv|visa2|kdf3\n"
"  --isd AID                 the security domain to select and log in to\n"
"\n"
"Options:\n"
"  -t, --token URI           the card's token, as a PKCS#11 URI (pkcs11:serial=...)\n"
"  -r, --reader TEXT         the card in the reader whose name contains TEXT\n"
"                            (default: the only card present)\n"
"  -m, --module PATH         the gp-p11 module (default: p11-kit's registration)\n"
"  -p, --pin-file FILE       the keystore user PIN from FILE (- : standard input);\n"
"                            default: asked on the terminal, without echo\n"
"  --config FILE             the module's configuration (instead of GP_P11_CONF)\n"
"  -j, --json                one JSON object on standard output (gp-p11(1), JSON)\n"
"  -v, --verbose             the APDU trace on standard error (answers' data where they\n"
"                            came in the clear; never data sent encrypted or secret)\n"
"  --trace-file FILE         the same trace, and what the module and the tool said, into\n"
"                            FILE (created, mode 0600) for a bug report\n"
"  -y, --yes                 terminate-card without asking\n"
"  -h, --help                this text\n"
"  -V, --version             gp-p11's version (alone)\n"
"\n"
"Exit status: 0 done; 1 the card refused; 2 usage; 3 no module, reader or card, or\n"
"more than one card; 4 authentication (keystore PIN, card keys); 5 other error;\n"
"130 interrupted.\n");
}

enum { O_KS_MODULE = 256, O_KS_TOKEN, O_KS_INIT_ARGS, O_APPLET, O_INSTANCE, O_PRIVILEGES, O_PARAMS, O_SD,
       O_PACKAGE, O_NOT_SELECTABLE, O_NO_DESCRIPTOR, O_HASH, O_LOADED, O_RELATED, O_FORCE, O_FORMAT,
       O_FILE, O_VERSION, O_REPLACE, O_FROM_FILE, O_KEY_TYPE, O_KEY_SET, O_KEY_VERSION, O_LEVEL,
       O_SCP, O_DIV, O_ISD, O_CONFIG, O_NO_LOGIN, O_PLAIN, O_SELECT,
       O_EACH_CARD, O_CARDS, O_TRACE_FILE };

static const struct {
    const char *name;
    unsigned allowed; /* OPT_* bits */
} commands[] = {
    {"list", OPT_NO_LOGIN}, {"info", OPT_NO_LOGIN},
    {"install", OPT_APPLET | OPT_INSTANCE | OPT_PRIVILEGES | OPT_PARAMS | OPT_SD | OPT_PACKAGE |
                    OPT_NOT_SELECTABLE | OPT_NO_DESCRIPTOR | OPT_HASH | OPT_LOADED | OPT_FORCE},
    {"load", OPT_APPLET | OPT_INSTANCE | OPT_PRIVILEGES | OPT_PARAMS | OPT_SD | OPT_PACKAGE |
                 OPT_NOT_SELECTABLE | OPT_NO_DESCRIPTOR | OPT_HASH | OPT_LOADED | OPT_FORCE},
    {"delete", OPT_RELATED}, {"lock", 0}, {"unlock", 0}, {"store-data", OPT_FORMAT | OPT_FILE},
    {"lock-card", 0}, {"unlock-card", 0}, {"terminate-card", OPT_YES},
    {"put-key", OPT_VERSION | OPT_REPLACE | OPT_FROM_FILE}, {"delete-key", OPT_VERSION},
    {"keys", OPT_KEYSTORE | OPT_KEY_TYPE},
    {"apdu", OPT_PLAIN | OPT_SELECT},
};

static int number(tool_t *t, const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 0);
    if (!*v || *end || n < 0 || n > 255) {
        tool_fail(t, EX_USAGE, "%s %s: a number from 0 to 255 (0x.. for hex)", opt, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static const struct option long_opts[] = {
    {"token", required_argument, NULL, 't'},
    {"reader", required_argument, NULL, 'r'},
    {"module", required_argument, NULL, 'm'},
    {"pin-file", required_argument, NULL, 'p'},
    {"json", no_argument, NULL, 'j'},
    {"verbose", no_argument, NULL, 'v'},
    {"trace-file", required_argument, NULL, O_TRACE_FILE},
    {"yes", no_argument, NULL, 'y'},
    {"help", no_argument, NULL, 'h'},
    {"keystore-module", required_argument, NULL, O_KS_MODULE},
    {"keystore-token", required_argument, NULL, O_KS_TOKEN},
    {"keystore-init-args", required_argument, NULL, O_KS_INIT_ARGS},
    {"applet", required_argument, NULL, O_APPLET},
    {"instance", required_argument, NULL, O_INSTANCE},
    {"privileges", required_argument, NULL, O_PRIVILEGES},
    {"params", required_argument, NULL, O_PARAMS},
    {"sd", required_argument, NULL, O_SD},
    {"package", required_argument, NULL, O_PACKAGE},
    {"not-selectable", no_argument, NULL, O_NOT_SELECTABLE},
    {"no-descriptor", no_argument, NULL, O_NO_DESCRIPTOR},
    {"hash", no_argument, NULL, O_HASH},
    {"loaded", no_argument, NULL, O_LOADED},
    {"related", no_argument, NULL, O_RELATED},
    {"force", no_argument, NULL, O_FORCE},
    {"format", required_argument, NULL, O_FORMAT},
    {"file", required_argument, NULL, O_FILE},
    {"version", required_argument, NULL, O_VERSION},
    {"replace", required_argument, NULL, O_REPLACE},
    {"from-file", required_argument, NULL, O_FROM_FILE},
    {"key-type", required_argument, NULL, O_KEY_TYPE},
    {"key-set", required_argument, NULL, O_KEY_SET},
    {"key-version", required_argument, NULL, O_KEY_VERSION},
    {"level", required_argument, NULL, O_LEVEL},
    {"scp", required_argument, NULL, O_SCP},
    {"diversification", required_argument, NULL, O_DIV},
    {"isd", required_argument, NULL, O_ISD},
    {"config", required_argument, NULL, O_CONFIG},
    {"no-login", no_argument, NULL, O_NO_LOGIN},
    {"plain", no_argument, NULL, O_PLAIN},
    {"select", required_argument, NULL, O_SELECT},
    {"each-card", no_argument, NULL, O_EACH_CARD},
    {"cards", required_argument, NULL, O_CARDS},
    {NULL, 0, NULL, 0},
};

/* The options of one command line (a step's too), into t; optind at its
 * command after. */
int gp_parse_args(tool_t *t, int argc, char **argv)
{
    opts_t *o = &t->o;
    int c, code = EX_OK;
    opterr = 0;
    optind = 0; /* getopt starts afresh (a step list parses each line) */
    while (code == EX_OK && (c = getopt_long(argc, argv, ":t:r:m:p:jvyh", long_opts, NULL)) != -1) {
        switch (c) {
        case 't': t->token_uri = optarg; break;
        case 'r': t->reader = optarg; break;
        case 'm': t->module_path = optarg; break;
        case 'p': t->pin_file = optarg; break;
        case 'j': t->json = 1; break;
        case 'v': t->verbose = 1; break;
        case O_TRACE_FILE: t->trace_file = optarg; break;
        case 'y': t->yes = 1; o->given |= OPT_YES; break;
        case 'h': t->o.given |= OPT_HELP; break;
        case O_KS_MODULE: t->ks_module = optarg; o->given |= OPT_KEYSTORE; break;
        case O_KS_TOKEN: t->ks_token = optarg; o->given |= OPT_KEYSTORE; break;
        case O_KS_INIT_ARGS: t->ks_init_args = optarg; o->given |= OPT_KEYSTORE; break;
        case O_APPLET: o->applet = optarg; o->given |= OPT_APPLET; break;
        case O_INSTANCE: o->instance = optarg; o->given |= OPT_INSTANCE; break;
        case O_PRIVILEGES: o->privileges = optarg; o->given |= OPT_PRIVILEGES; break;
        case O_PARAMS: o->params = optarg; o->given |= OPT_PARAMS; break;
        case O_SD: o->sd = optarg; o->given |= OPT_SD; break;
        case O_PACKAGE: o->package = optarg; o->given |= OPT_PACKAGE; break;
        case O_NOT_SELECTABLE: o->not_selectable = 1; o->given |= OPT_NOT_SELECTABLE; break;
        case O_NO_DESCRIPTOR: o->no_descriptor = 1; o->given |= OPT_NO_DESCRIPTOR; break;
        case O_HASH: o->hash = 1; o->given |= OPT_HASH; break;
        case O_LOADED: o->loaded = 1; o->given |= OPT_LOADED; break;
        case O_RELATED: o->related = 1; o->given |= OPT_RELATED; break;
        case O_FORCE: o->force = 1; o->given |= OPT_FORCE; break;
        case O_FORMAT: o->format = optarg; o->given |= OPT_FORMAT; break;
        case O_FILE: o->file = optarg; o->given |= OPT_FILE; break;
        case O_VERSION:
            if (number(t, "--version", optarg, &o->version))
                code = EX_USAGE;
            o->given |= OPT_VERSION;
            break;
        case O_REPLACE:
            if (number(t, "--replace", optarg, &o->replace))
                code = EX_USAGE;
            o->given |= OPT_REPLACE;
            break;
        case O_FROM_FILE: o->from_file = optarg; o->given |= OPT_FROM_FILE; break;
        case O_KEY_TYPE: o->key_type = optarg; o->given |= OPT_KEY_TYPE; break;
        case O_KEY_SET: t->login.key_set = optarg; o->given |= OPT_LOGIN; break;
        case O_KEY_VERSION:
            if (number(t, "--key-version", optarg, &t->login.key_version))
                code = EX_USAGE;
            o->given |= OPT_LOGIN;
            break;
        case O_LEVEL: t->login.level = optarg; o->given |= OPT_LOGIN; break;
        case O_SCP: t->login.scp = optarg; o->given |= OPT_LOGIN; break;
        case O_DIV: t->login.div = optarg; o->given |= OPT_LOGIN; break;
        case O_ISD: t->login.isd = optarg; o->given |= OPT_LOGIN; break;
        case O_CONFIG: t->login.config = optarg; break;
        case O_NO_LOGIN: t->no_login = 1; o->given |= OPT_NO_LOGIN; break;
        case O_PLAIN: o->plain = 1; o->given |= OPT_PLAIN; break;
        case O_SELECT: o->sd = optarg; o->given |= OPT_SELECT; break;
        case O_EACH_CARD: o->each_card = 1; o->given |= OPT_EACH_CARD; break;
        case O_CARDS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (!*optarg || *end || n < 1 || n > 1000000)
                code = tool_fail(t, EX_USAGE, "--cards %s: how many cards, from 1 to 1000000",
                                 optarg);
            o->cards = (int)n;
            o->given |= OPT_CARDS;
            break;
        }
        case ':':
            code = tool_fail(t, EX_USAGE, "option %s needs a value; see --help", argv[optind - 1]);
            break;
        default:
            code = tool_fail(t, EX_USAGE, "unknown option %s; see --help", argv[optind - 1]);
            break;
        }
    }
    return code;
}

/* One command (after parse_args): checked against its options and run. */
int gp_run_command(tool_t *t, int argc, char **argv)
{
    opts_t *o = &t->o;
    int code = EX_OK;
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *cmd = argv[optind++];
    if (!t->command)
        t->command = cmd;
    int nargs = argc - optind;
    char **args = argv + optind;
    unsigned allowed = 0;
    int known = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(cmd, commands[k].name)) {
            known = 1;
            allowed = commands[k].allowed;
        }
    if (!known)
        return (tool_fail(t, EX_USAGE, "unknown command '%s'; see --help", cmd));
    if (strcmp(cmd, "keys")) /* every command that logs in takes the login's choices */
        allowed |= OPT_LOGIN;
    if (o->given & ~allowed)
        return (tool_fail(t, EX_USAGE, "an option given does not belong to '%s'; "
                                                     "see --help", cmd));
    if (!strcmp(cmd, "list"))
        code = cmd_list(t, nargs, args);
    else if (!strcmp(cmd, "info"))
        code = cmd_info(t, nargs, args);
    else if (!strcmp(cmd, "install") || !strcmp(cmd, "load"))
        code = cmd_install(t, nargs, args, !strcmp(cmd, "load"));
    else if (!strcmp(cmd, "delete"))
        code = cmd_delete(t, nargs, args);
    else if (!strcmp(cmd, "lock") || !strcmp(cmd, "unlock"))
        code = cmd_lock(t, nargs, args, !strcmp(cmd, "lock"));
    else if (!strcmp(cmd, "store-data"))
        code = cmd_store_data(t, nargs, args);
    else if (!strcmp(cmd, "lock-card") || !strcmp(cmd, "unlock-card") ||
             !strcmp(cmd, "terminate-card"))
        code = cmd_card_state(t, nargs, args, cmd);
    else if (!strcmp(cmd, "put-key"))
        code = cmd_put_key(t, nargs, args);
    else if (!strcmp(cmd, "delete-key"))
        code = cmd_delete_key(t, nargs, args);
    else if (!strcmp(cmd, "apdu"))
        code = cmd_apdu(t, nargs, args);
    else if (!strcmp(cmd, "keys")) {
        if (nargs < 1)
            code = tool_fail(t, EX_USAGE, "keys import|generate|list|delete|refusals|forget-refusal|doctor; see --help");
        else
            code = keysets_run(t, args[0], nargs - 1, args + 1);
    }
    return code;
}

int main(int argc, char **argv)
{
    tool_t tool, *t = &tool;
    tool_init(t, "gp-p11");
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("gp-p11 %s\n", PACKAGE_VERSION); /* put-key's --version N is the key's */
        json_close(&t->j, NULL);
        return EX_OK;
    }
    if (tool_pin_on_command_line(t->prog, argc, argv))
        return tool_finish(t, EX_USAGE);
    int code = gp_parse_args(t, argc, argv);
    if (code == EX_OK && (t->o.given & OPT_HELP)) {
        usage(stdout);
        json_close(&t->j, NULL);
        return EX_OK;
    }
    if (code == EX_OK && optind < argc && !strcmp(argv[optind], "run"))
        code = cmd_run(t, argc - optind - 1, argv + optind + 1);
    else if (code == EX_OK)
        code = gp_run_command(t, argc, argv);
    code = tool_finish(t, code);
    p11_close(t);
    if (t->interrupted) { /* as the signal asked, now that the card and the keystore agree */
        signal(t->interrupted, SIG_DFL);
        raise(t->interrupted);
        return 128 + t->interrupted;
    }
    return code;
}
