#!/bin/bash
# NSS's softoken (libsoftokn3, from libnss3) as gp-p11's keystore: it reads
# its configuration from C_Initialize's string, which keystore_init_args (the
# module) and --init-args / --keystore-init-args (the tools) pass. Without it
# the keystore does not start, in words that name the setting. With it: an
# AES key set imported with gp-p11-keys, an SCP03 login at every level through
# the gp-p11 tool and pkcs11-tool, and PUT KEY of keys generated and wrapped
# inside NSS, whose new key set opens the card.
#   card 0: SCP03 i=70, AES-128 keys of its own (key version 30)
set -u
SOFTOKN=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES="$(rnd 16) $(rnd 16) $(rnd 16)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES" > "$tmp/card0.profile"
    "$GP_HARNESS/gp-env.sh" --cards 1 --card-args 0 "--profile $tmp/card0.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out" "$out/nssdb"
if [ ! -e "$SOFTOKN" ]; then
    echo "# NSS's softoken is not installed ($SOFTOKN): nothing to test"
    finish nss
    exit $?
fi
pin=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pin" > "$out/nss.pin"
nssargs=$("$GP_BUILDDIR/tests/harness/nss-token" "$out/nssdb" "$pin")
check "an NSS softoken database with a PIN of its own" [ -n "$nssargs" ]
keys() { "$GP_P11_KEYS" --module "$SOFTOKN" --token "NSS Certificate DB" --init-args "$nssargs" \
    --pin-file "$out/nss.pin" "$@"; }
set -- $GP_TEST_AES
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | keys import card > "$out/import" 2>&1
check "gp-p11-keys --init-args imports an AES key set into NSS's softoken" \
    grep -q '^card *aes128 *enc KCV=[0-9A-F]\{6\}' "$out/import"
"$GP_P11_KEYS" --module "$SOFTOKN" --token "NSS Certificate DB" --pin-file "$out/nss.pin" list \
    > "$out/noargs" 2>&1
check "without its string, the keystore does not start: the words name --init-args' setting" \
    grep -q "failed to initialise: CKR_ARGUMENTS_BAD.*keystore_init_args" "$out/noargs"
# nssconf NAME LEVEL KEYSET KVN [LINE...]: a module configuration with NSS as the keystore
nssconf() {
    local n=$1 level=$2 set=$3 kvn=$4
    shift 4
    {
        printf 'keystore_module = %s\nkeystore_token = NSS Certificate DB\n' "$SOFTOKN"
        printf 'keystore_init_args = %s\n' "$nssargs"
        printf 'security_level = %s\nkey_set = %s\nkey_version = %s\nlog_level = info\n' \
            "$level" "$set" "$kvn"
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$out/$n.conf"
    echo "$out/$n.conf"
}
ngpt() { tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$out/nss.pin" "$@"; }
for level in mac mac-enc mac-rmac mac-enc-rmac mac-enc-rmac-renc; do
    export GP_P11_CONF=$(nssconf "l-$level" $level card 0x30)
    ngpt --json list > "$out/l-$level.json" 2> "$out/l-$level.err"
    check "SCP03 login at $level with the keys in NSS's softoken" \
        jq -e '.ok and (.registry | length) > 0' "$out/l-$level.json"
done
export GP_P11_CONF=$(nssconf noargs mac card 0x30)
sed -i '/^keystore_init_args/d' "$GP_P11_CONF"
ngpt --json list > "$out/m-noargs.json" 2> "$out/m-noargs.err"
check "the module without keystore_init_args: login fails, naming the setting" \
    grep -q "keystore_init_args" "$out/m-noargs.err"
export GP_P11_CONF=$(nssconf p11 mac card 0x30)
tool pkcs11-tool --module "$MOD" --login --pin "$pin" --list-objects > "$out/p11" 2>&1
check "pkcs11-tool logs in through gp-p11 with NSS as the keystore" \
    grep -q "A000000151000000\|security domain" "$out/p11"
export GP_P11_CONF=$(nssconf put mac-enc card 0x30)
ngpt --json put-key new --version 0x31 > "$out/put.json" 2> "$out/put.err"
check "PUT KEY of keys generated and wrapped inside NSS's softoken" jq -e '.ok' "$out/put.json"
export GP_P11_CONF=$(nssconf new mac new 0x31)
ngpt --json list > "$out/new.json" 2> "$out/new.err"
check "... and the new key set opens the card" jq -e '.ok' "$out/new.json"
check "no failed authentication was counted" [ "$(state 0 failed_auth)" = 0 ]
# GP_KEEP_OUT=DIR keeps what the commands wrote, for a run by hand
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish nss
