#!/bin/bash
# AES-192 and AES-256 SCP03 cards through the module, as an application and
# an operator see them: the key sets imported with gp-p11-keys, pkcs11-tool
# logging in and listing the card's objects, the gp-p11 tool listing the
# registry at every SCP03 level the card allows, and PUT KEY of keys generated
# inside the keystore (add, then replace) whose new key set opens the card.
# No failed authentication is ever counted.
#   card 0: SCP03 i=70, AES-192 keys (key version 30)
#   card 1: SCP03 i=70, AES-256 keys (key version 30)
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES192="$(rnd 24) $(rnd 24) $(rnd 24)"
    export GP_TEST_AES256="$(rnd 32) $(rnd 32) $(rnd 32)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES192" > "$tmp/card0.profile"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES256" > "$tmp/card1.profile"
    "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 0 "--profile $tmp/card0.profile" \
        --card-args 1 "--profile $tmp/card1.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
keys() { "$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" \
    --pin-file "$GP_TEST_PIN_FILE" "$@"; }
conf() { card_conf "$@"; }
has() { has_version "$@"; }

for k in 0 1; do
    bits=$([ $k = 0 ] && echo 192 || echo 256)
    set -- $([ $k = 0 ] && echo "$GP_TEST_AES192" || echo "$GP_TEST_AES256")
    printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | keys import "card$k" \
        > "$out/import$k" 2>&1
    check "[AES-$bits] gp-p11-keys imports the key set as aes$bits" \
        grep -q "^card$k *aes$bits" "$out/import$k"
    export GP_P11_CONF=$(conf "c$k" $k mac-enc "card$k" 0x30)
    tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" --list-objects \
        > "$out/objects$k" 2>&1
    check "[AES-$bits] pkcs11-tool logs in and lists the card's objects" \
        grep -q "A000000151000000\|security domain" "$out/objects$k"
    for level in mac mac-enc mac-rmac mac-enc-rmac mac-enc-rmac-renc; do
        export GP_P11_CONF=$(conf "c$k-$level" $k $level "card$k" 0x30)
        gpt --json list > "$out/list$k-$level.json" 2> "$out/list$k-$level.err"
        check "[AES-$bits] the tool lists the registry at $level" \
            jq -e '.ok and (.registry | length) > 0' "$out/list$k-$level.json"
    done
    check "[AES-$bits] ... the last on a channel of AES-$bits keys at level 33" \
        [ "$(state $k key_len)" = $((bits / 8)) -a "$(state $k level)" = 33 ]
    export GP_P11_CONF=$(conf "c$k-put" $k mac-enc "card$k" 0x30)
    gpt --json put-key "new$k" --version 0x31 > "$out/put$k.json" 2> "$out/put$k.err"
    check "[AES-$bits] PUT KEY adds key version 31, generated in the keystore" \
        jq -e '.ok' "$out/put$k.json"
    check "[AES-$bits] ... the card holds it" has $k 31
    keys list > "$out/list-keys$k" 2>&1
    check "[AES-$bits] ... the new key set is AES-$bits" grep -q "^new$k *aes$bits" "$out/list-keys$k"
    export GP_P11_CONF=$(conf "c$k-new" $k mac-enc "new$k" 0x31)
    gpt --json put-key "repl$k" --version 0x32 --replace 0x30 > "$out/repl$k.json" 2> "$out/repl$k.err"
    check "[AES-$bits] over the new keys, PUT KEY replaces key version 30 by 32" \
        jq -e '.ok' "$out/repl$k.json"
    check "[AES-$bits] ... 30 is gone, 31 and 32 are there" \
        eval "! has $k 30 && has $k 31 && has $k 32"
    export GP_P11_CONF=$(conf "c$k-repl" $k mac-enc-rmac-renc "repl$k" 0x32)
    gpt --json list > "$out/after$k.json" 2> "$out/after$k.err"
    check "[AES-$bits] ... and the replacing key set opens the card" jq -e '.ok' "$out/after$k.json"
    check "[AES-$bits] no failed authentication was counted" [ "$(state $k failed_auth)" = 0 ]
done
# GP_KEEP_OUT=DIR keeps what the commands wrote, for a failure run by hand
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish aes-lengths
