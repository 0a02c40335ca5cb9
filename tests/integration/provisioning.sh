#!/bin/sh
# gp-p11-keys against a fresh SoftHSM token (run under softhsm-env.sh):
# import, list with KCVs, refuse bad input, generate, delete.
set -u
[ -n "${SOFTHSM2_CONF:-}" ] || exec sh "$GP_HARNESS/softhsm-env.sh" sh "$0" "$@"
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok - $*"; passes=$((passes + 1)); }
passes=0 failures=0
keys() { "$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

# The GlobalPlatform test key; its KCV computed independently by OpenSSL.
gpkey=404142434445464748494A4B4C4D4E4F
kcv=$(printf '\000\000\000\000\000\000\000\000' | openssl enc -des-ede-ecb -K "$gpkey" -nopad | od -An -tx1 | tr -d ' \n' | cut -c1-6 | tr a-f A-F)
[ ${#kcv} -eq 6 ] || { echo "FAIL: openssl could not compute the KCV"; exit 1; }

if printf '# test keys\nall = %s\n' "$gpkey" | keys import default >"$out/imp" 2>&1; then
    grep -q "enc KCV=$kcv mac KCV=$kcv dek KCV=$kcv" "$out/imp" && ok "import from stdin shows KCV $kcv" \
        || fail "import output lacks KCV $kcv: $(cat "$out/imp")"
else fail "import from stdin: $(cat "$out/imp")"; fi

printf 'enc = %s\nmac = 00112233445566778899AABBCCDDEEFF\ndek = %s\n' "$gpkey" "$gpkey" > "$out/set2.keys"
keys import second "$out/set2.keys" >"$out/imp2" 2>&1 && ok "import from a file" || fail "import from file: $(cat "$out/imp2")"

keys list >"$out/list" 2>&1
grep -q "^default .*enc KCV=$kcv" "$out/list" && grep -q '^second ' "$out/list" \
    && ok "list shows both key sets" || fail "list: $(cat "$out/list")"
grep -q -i "$gpkey\|00112233445566778899" "$out/imp" "$out/imp2" "$out/list" \
    && fail "a key value was printed" || ok "no key value in any output"

printf 'all = %s\n' "$gpkey" | keys import default >"$out/dup" 2>&1
[ $? -eq 1 ] && grep -q 'already exists' "$out/dup" && ok "re-import refused: $(cat "$out/dup")" \
    || fail "re-import: $(cat "$out/dup")"
# a refused import never deletes a key that was there before: a lone "lone/mac"
printf 'all = %s\n' "$gpkey" | keys import lone >/dev/null 2>&1
for r in enc dek; do
    pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
        --delete-object --type secrkey --label "lone/$r" >/dev/null 2>&1
done
printf 'all = %s\n' "$gpkey" | keys import lone >"$out/lone" 2>&1
pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
    -O --type secrkey >"$out/lone-objs" 2>&1
grep -q 'key "lone/mac" already exists' "$out/lone" && grep -q 'label: *lone/mac$' "$out/lone-objs" \
    && ! grep -q 'label: *lone/\(enc\|dek\)$' "$out/lone-objs" \
    && ok "a refused import leaves the key that was there, and adds none" \
    || fail "refused import over lone/mac: $(cat "$out/lone") / $(grep label "$out/lone-objs")"
pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
    --delete-object --type secrkey --label lone/mac >/dev/null 2>&1
printf 'all = 4041424344454647\n' | keys import short >"$out/short" 2>&1
[ $? -eq 1 ] && grep -q '32 bytes (AES), this one has 8' "$out/short" && ok "8-byte key refused" \
    || fail "short key: $(cat "$out/short")"
printf 'enc = %s\nmac = %s\n' "$gpkey" "$gpkey" | keys import nodek >"$out/nodek" 2>&1
[ $? -eq 1 ] && grep -q 'missing key dek' "$out/nodek" && ok "missing dek named" \
    || fail "missing dek: $(cat "$out/nodek")"
printf 'enk = %s\n' "$gpkey" | keys import typo >"$out/typo" 2>&1
[ $? -eq 1 ] && grep -q "line 1: unknown key name 'enk'" "$out/typo" && ok "unknown key name and line reported" \
    || fail "typo: $(cat "$out/typo")"
keys list | grep -q -E '^(short|nodek|typo) ' && fail "a refused import left keys" || ok "refused imports leave nothing"

"$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin 1234 list >"$out/pinarg" 2>&1
[ $? -eq 2 ] && grep -q 'not accepted on the command line' "$out/pinarg" && ! grep -q 1234 "$out/pinarg" \
    && ok "no PIN option on the command line" || fail "--pin accepted: $(cat "$out/pinarg")"
printf 'wrong-pin\n' > "$out/badpin"
"$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin-file "$out/badpin" list >"$out/wrong" 2>&1
[ $? -eq 1 ] && grep -q 'CKR_PIN_INCORRECT' "$out/wrong" && ok "wrong PIN: $(cat "$out/wrong")" || fail "wrong PIN: $(cat "$out/wrong")"
"$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token nosuch --pin-file "$GP_TEST_PIN_FILE" list >"$out/tok" 2>&1
[ $? -eq 1 ] && grep -q 'token "nosuch" not found' "$out/tok" && ok "missing token named" || fail "missing token: $(cat "$out/tok")"

keys generate fresh >"$out/gen" 2>&1 && grep -q '^fresh .*enc KCV=[0-9A-F]\{6\} mac KCV=[0-9A-F]\{6\} dek KCV=' "$out/gen" \
    && ok "generate" || fail "generate: $(cat "$out/gen")"
g1=$(keys list | grep '^fresh ')
keys delete fresh >/dev/null && keys generate fresh >/dev/null
g2=$(keys list | grep '^fresh ')
[ -n "$g1" ] && [ "$g1" != "$g2" ] && ok "generated keys differ each time" || fail "generate twice: $g1 / $g2"

# The keystore itself says the keys are sensitive and cannot be read out.
pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
    -O --type secrkey >"$out/objs" 2>&1
n_sens=$(grep -c 'Access:.*sensitive' "$out/objs")
n_open=$(grep 'Access:' "$out/objs" | grep -c -v 'sensitive')
[ "$n_sens" -ge 9 ] && [ "$n_open" -eq 0 ] \
    && ok "pkcs11-tool sees $n_sens sensitive keys" || fail "attributes: $(cat "$out/objs")"
# Least privilege: imported and generated keys may only derive (every usage
# read back from the keystore)
n_keys=$(grep -c 'Usage:' "$out/objs")
n_derive=$(grep -c 'Usage: *derive$' "$out/objs")
[ "$n_keys" -ge 9 ] && [ "$n_keys" -eq "$n_derive" ] \
    && ok "all $n_keys keys may only derive" || fail "usages: $(grep -E 'label|Usage' "$out/objs")"
pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
    --read-object --type secrkey --label default/enc >"$out/read" 2>&1 \
    && fail "pkcs11-tool read a key value" || ok "pkcs11-tool cannot read a key value"

# SCP03 key sets: AES, with SCP03's KCV (AES(key, 01 * 16)) computed by OpenSSL
aeskey=000102030405060708090A0B0C0D0E0F
aeskcv=$(printf '01%.0s' $(seq 16) | xxd -r -p | openssl enc -aes-128-ecb -nopad -K $aeskey | xxd -p -u | head -c 6)
printf 'type = aes\nall = %s\n' "$aeskey" | keys import card03 >"$out/aes" 2>&1 \
    && grep -q "^card03 *aes128 *enc KCV=$aeskcv mac KCV=$aeskcv dek KCV=$aeskcv" "$out/aes" \
    && ok "AES-128 import shows SCP03 KCV $aeskcv" || fail "AES import: $(cat "$out/aes")"
printf 'all = %s\n' "$aeskey" | keys --key-type aes128 import card03b >"$out/aes2" 2>&1 \
    && grep -q "^card03b *aes128 *enc KCV=$aeskcv" "$out/aes2" && ok "--key-type aes128 import" \
    || fail "--key-type import: $(cat "$out/aes2")"
keys --key-type aes256 generate big >"$out/big" 2>&1 && grep -q '^big *aes256 *enc KCV=[0-9A-F]\{6\}' "$out/big" \
    && ok "AES-256 generated" || fail "AES-256 generate: $(cat "$out/big")"
printf 'enc = %s\nmac = %s0000000000000000\ndek = %s\n' "$aeskey" "$aeskey" "$aeskey" | keys import mixed >"$out/mixed" 2>&1
[ $? -eq 1 ] && grep -q 'one length' "$out/mixed" && ok "keys of two lengths refused" \
    || fail "mixed lengths: $(cat "$out/mixed")"
printf 'all = %s%s\n' "$aeskey" "$aeskey" | keys --key-type des import notdes >"$out/notdes" 2>&1
[ $? -eq 1 ] && grep -q 'AES keys, not DES' "$out/notdes" && ok "32-byte keys are not DES" \
    || fail "32-byte DES: $(cat "$out/notdes")"
pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login --pin "$GP_TEST_PIN" \
    -O --type secrkey >"$out/aesobjs" 2>&1
# least privilege for AES: enc and mac derive and encrypt (the KDF's blocks,
# the KCV), the DEK encrypts and wraps (PUT KEY); none signs or decrypts
usage_of() { awk -v l="$1" '/label:/ {cur=$2} /Usage:/ && cur==l {sub(/.*Usage: */, ""); print}' "$out/aesobjs"; }
[ "$(usage_of card03/enc)" = "encrypt, derive" ] && [ "$(usage_of card03/mac)" = "encrypt, derive" ] \
    && [ "$(usage_of card03/dek)" = "encrypt, wrap" ] && [ "$(usage_of big/dek)" = "encrypt, wrap" ] \
    && ok "AES keys carry their roles' usages only" \
    || fail "AES usages: $(usage_of card03/enc) / $(usage_of card03/mac) / $(usage_of card03/dek)"
"$GP_BUILDDIR/tools/gp-p11" keys --keystore-module "$GP_SOFTHSM_MODULE" --keystore-token "$GP_TEST_TOKEN" \
    --pin-file "$GP_TEST_PIN_FILE" --json list | jq -e '.key_sets[] | select(.name == "card03") | .type == "aes128" and .protocol == "SCP03"' \
    >/dev/null && ok "JSON list names type and protocol" || fail "JSON list"

keys delete second >/dev/null 2>&1 && ! keys list | grep -q '^second ' && ok "delete" || fail "delete"
keys delete second >"$out/del2" 2>&1
[ $? -eq 1 ] && grep -q 'no key set "second"' "$out/del2" && ok "deleting a missing set is an error" || fail "delete twice: $(cat "$out/del2")"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
