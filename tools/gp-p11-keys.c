/*
 * gp-p11-keys: provisions SCP02 and SCP03 key sets into the keystore token, and rotates
 * the card's keys. The same code as 'gp-p11 keys' and 'gp-p11 put-key'
 * (tools/keysets.c, tools/cmd_card.c), with the options and exit status
 * gp-p11-keys(1) has always documented: 0 done, 1 refused, 2 usage.
 *
 * Key values are read from a file or standard input, never from the command
 * line; the PIN from a file or the terminal. Buffers that held either are
 * wiped before exit.
 */
#include "config.h"
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *o)
{
    fprintf(o,
"Usage: gp-p11-keys [OPTIONS] COMMAND [ARGS]\n"
"Provision GlobalPlatform key sets (SCP02: DES, SCP03: AES) into a PKCS#11\n"
"keystore token.\n"
"(The same as 'gp-p11 keys ...' and 'gp-p11 put-key ...'.)\n"
"\n"
"Commands:\n"
"  import NAME [FILE]   store the key set NAME from FILE (default: standard input)\n"
"  generate NAME        generate a random key set NAME inside the keystore\n"
"  list                 list key sets with the key check value of each key\n"
"  delete NAME          delete the key set NAME\n"
"  refusals             cards that refused EXTERNAL AUTHENTICATE (never tried again)\n"
"  forget-refusal KDD|all  let gp-p11 try that card again, once you know why\n"
"  doctor               what the keystore can do for gp-p11: its mechanism list,\n"
"                       then each capability tried against known answers\n"
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
"      --init-args STR  the keystore module's C_Initialize string (NSS's softoken:\n"
"                       \"configdir='sql:DIR' certPrefix='' keyPrefix='' secmod='secmod.db'\")\n"
"  -p, --pin-file FILE  read the user PIN from the first line of FILE\n"
"                       (default: ask on the terminal)\n"
"  -g, --gp-module PATH the gp-p11 module, for put-key (default: %s)\n"
"      --key-type TYPE  import, generate: des (SCP02, the default for 16-byte keys),\n"
"                       aes128, aes192 or aes256 (SCP03)\n"
"  -h, --help           this text\n"
"\n"
"A key file holds one key per line in hex, 16 bytes (DES, or AES-128 with\n"
"'type = aes'), 24 or 32 bytes (AES):\n"
"  enc = 404142434445464748494A4B4C4D4E4F\n"
"  mac = 404142434445464748494A4B4C4D4E4F\n"
"  dek = 404142434445464748494A4B4C4D4E4F\n"
"or 'all = HEX' for a card whose three keys are equal. '#' starts a comment.\n"
"Keys are stored as NAME/enc, NAME/mac, NAME/dek: CKK_DES2 or CKK_AES,\n"
"sensitive, not extractable; the PIN and key values are never accepted on the\n"
"command line.\n",
            GP_DEFAULT_KEYSTORE_MODULE, GP_P11_MODULE_PATH);
}

int main(int argc, char **argv)
{
    tool_t tool, *t = &tool;
    tool_init(t, "gp-p11-keys");
    t->module_path = GP_P11_MODULE_PATH;
    t->first_card = 1; /* as documented: the first card (or the first in --reader) */
    int version = -1, replace = 0;
    const char *from_file = NULL;
    static const struct option opts[] = {
        {"module", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 't'},
        {"init-args", required_argument, NULL, 'I'},
        {"pin-file", required_argument, NULL, 'p'},
        {"gp-module", required_argument, NULL, 'g'},
        {"version", required_argument, NULL, 'V'},
        {"replace", required_argument, NULL, 'R'},
        {"from-file", required_argument, NULL, 'F'},
        {"reader", required_argument, NULL, 'r'},
        {"key-type", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (tool_pin_on_command_line(t->prog, argc, argv))
        return tool_finish(t, 2);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:p:g:h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': t->module_path = optarg; break;
        case 'V': version = (int)strtol(optarg, NULL, 0); break;
        case 'R': replace = (int)strtol(optarg, NULL, 0); break;
        case 'F': from_file = optarg; break;
        case 'r': t->reader = optarg; break;
        case 'K': t->o.key_type = optarg; break;
        case 'm': t->ks_module = optarg; break;
        case 't': t->ks_token = optarg; break;
        case 'I': t->ks_init_args = optarg; break;
        case 'p': t->pin_file = optarg; break;
        case 'h': usage(stdout); return tool_finish(t, 0);
        default: usage(stderr); return tool_finish(t, 2);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return tool_finish(t, 2);
    }
    const char *cmd = argv[optind++];
    int nargs = argc - optind;
    int code;
    if (strcmp(cmd, "put-key") == 0) {
        if (nargs != 1 || version < 1 || version > 0x7F || replace < 0 || replace > 0x7F) {
            fprintf(stderr, "gp-p11-keys: put-key NAME --version N (1 to 127) [--replace M]\n");
            return tool_finish(t, 2);
        }
        code = put_key_run(t, argv[optind], version, replace, from_file);
        p11_close(t);
    } else {
        if (keysets_check_args(cmd, nargs) != 0) {
            fprintf(stderr, "gp-p11-keys: unknown command '%s' or wrong number of arguments "
                            "(import NAME [FILE], generate NAME, list, delete NAME, refusals, forget-refusal KDD, "
                            "doctor, put-key); "
                            "see --help\n", cmd);
            return tool_finish(t, 2);
        }
        code = keysets_run(t, cmd, nargs, argv + optind);
    }
    return tool_finish(t, code == EX_OK ? 0 : 1);
}
