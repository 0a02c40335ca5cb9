#!/bin/bash
# NSS's softoken (libsoftokn3, from libnss3) as gp-p11's keystore: it reads
# its configuration from C_Initialize's string, which keystore_init_args (the
# module) and --init-args / --keystore-init-args (the tools) pass. Without it
# the keystore does not start, in words that name the setting. With it: an
# AES key set imported with gp-p11-keys, an SCP03 login at every level through
# the gp-p11 tool and pkcs11-tool, and PUT KEY of keys generated and wrapped
# inside NSS, whose new key set opens the card, and a CAP file loaded and
# installed over it. DES key sets too: NSS keeps
# no CKA_CHECK_VALUE and no data objects, so a DES key's check value is taken
# while it may still encrypt (then it only derives) and kept as a note, and
# notes are kept as secret keys of no use; SCP02 logins, SCP02 PUT KEY with
# keys generated and wrapped inside NSS (no key byte outside the keystore),
# and a refused EXTERNAL AUTHENTICATE that no later process repeats.
#   card 0: SCP03 i=70, AES-128 keys of its own (key version 30)
#   card 1: SCP02 i=15, the GlobalPlatform test keys
set -u
SOFTOKN=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES="$(rnd 16) $(rnd 16) $(rnd 16)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES" > "$tmp/card0.profile"
    "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 0 "--profile $tmp/card0.profile" -- bash "$0"
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
keys doctor > "$out/doctor" 2>&1
check "keys doctor: NSS's softoken does everything gp-p11 asks, each against its known answer" \
    [ "$(grep -c '^  yes ' "$out/doctor")" = 11 ]
check "... though its list has no DES derivation: the doctor told it by trying" \
    grep -q 'not in its list: .*SCP02 logins (CKM_DES3_CBC_ENCRYPT_DATA)' "$out/doctor"
check "... SCP03's KDF by its SP 800-108 KDF" grep -q '^  yes   SCP03 logins, AES-256: by the keystore.s SP 800-108 KDF' "$out/doctor"
# nssconf NAME LEVEL KEYSET KVN [LINE...]: a module configuration with NSS as the keystore
nssconf() {
    local n=$1 level=$2 set=$3 kvn=$4
    shift 4
    {
        printf 'keystore_module = %s\nkeystore_token = NSS Certificate DB\nreader = %s\n' "$SOFTOKN" \
        "$(eval echo "\$GP_READER_${CARD:-0}")"
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
check "the module says at start what NSS's mechanism list tells (log_level = info)" \
    grep -q 'info: keystore token "NSS Certificate DB" (libsoftokn3.so) by its mechanism list: can do SCP03 logins (SP 800-108 KDF)' "$out/l-mac.err"
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
"$GP_BUILDDIR/tests/cap/mkcap" "$out/app.cap" --size 3000 --applets 1 || exit 1
export GP_P11_CONF=$(nssconf inst mac-enc new 0x31)
ngpt --json install "$out/app.cap" > "$out/inst.json" 2> "$out/inst.err"
check "a CAP file loads and installs with the keys in NSS's softoken" \
    eval 'jq -e .ok "$out/inst.json" >/dev/null && [ "$(state 0 loads)" = 1 -a "$(state 0 installs)" = 1 ]'
check "no failed authentication was counted" [ "$(state 0 failed_auth)" = 0 ]

# --- SCP03's KDF: NSS's own SP 800-108 counter KDF, and gp-p11's ECB path ---------
GP_NSS_MODULE=$SOFTOKN GP_NSS_ARGS=$nssargs GP_NSS_PIN=$pin \
    tool "$GP_BUILDDIR/tests/integration/test_keystore_kdf" > "$out/kdf" 2>&1
check "both KDF paths reproduce the AES-256 transcript and the KDF3 vectors (5 calls vs 9)" \
    grep -q '2 test(s) run' "$out/kdf"
check "... and pass" grep -q 'PASSED  \] 2 test' "$out/kdf"
[ "$failed_checks" = 0 ] || sed 's/^/# /' "$out/kdf"

# --- DES key sets and SCP02 -------------------------------------------------------
g=404142434445464748494A4B4C4D4E4F
printf 'enc = %s\nmac = %s\ndek = %s\n' $g $g $g | keys import test > "$out/des-import" 2>&1
check "a DES key set imported into NSS, with its key check value (8BAF47)" \
    grep -q '^test *des *enc KCV=8BAF47 mac KCV=8BAF47 dek KCV=8BAF47' "$out/des-import"
keys list > "$out/des-list" 2>&1
check "... which a later process lists too (kept as a note)" grep -q '^test *des *enc KCV=8BAF47' "$out/des-list"
for level in mac mac-enc; do
    export GP_P11_CONF=$(CARD=1 nssconf "d-$level" $level test 0)
    ngpt --json list > "$out/d-$level.json" 2> "$out/d-$level.err"
    check "SCP02 login at $level with DES keys in NSS's softoken" \
        jq -e '.ok and (.registry | length) > 0' "$out/d-$level.json"
done
export GP_P11_CONF=$(CARD=1 nssconf dput mac-enc test 0)
ngpt --json put-key des2 --version 0x02 > "$out/dput.json" 2> "$out/dput.err"
check "SCP02 PUT KEY of DES keys generated and wrapped inside NSS (put_key_plaintext unset)" \
    jq -e '.ok' "$out/dput.json"
export GP_P11_CONF=$(CARD=1 nssconf dnew mac des2 0x02)
ngpt --json list > "$out/dnew.json" 2> "$out/dnew.err"
check "... and the new key set opens the card" jq -e '.ok' "$out/dnew.json"
export GP_P11_CONF=$(CARD=1 nssconf ra mac des2 0x02)
printf 'fault = refuse-auth\non_ins = 82\n' > "$GP_SIM_CONTROL_1.new" && mv "$GP_SIM_CONTROL_1.new" "$GP_SIM_CONTROL_1"
ea=$(state 1 ext_auth_received)
for n in 1 2; do ngpt --json list > "$out/ra$n.json" 2> "$out/ra$n.err"; done
check "a refused EXTERNAL AUTHENTICATE is kept in NSS: the next process does not try again" \
    [ "$(state 1 ext_auth_received)" = $((ea + 1)) ]
check "... and says so" grep -q "refused EXTERNAL AUTHENTICATE before" "$out/ra2.err"
ngpt --json keys forget-refusal all --keystore-module "$SOFTOKN" --keystore-token "NSS Certificate DB" \
    --keystore-init-args "$nssargs" > "$out/forget.json" 2> "$out/forget.err"
check "... until gp-p11 keys forget-refusal (with --keystore-init-args) forgets it" \
    jq -e '.ok and .forgotten == 1' "$out/forget.json"
# GP_KEEP_OUT=DIR keeps what the commands wrote, for a run by hand
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish nss
