#!/bin/bash
# AES-192 and AES-256 SCP03 cards through the module, as an application and
# an operator see them: the key sets imported with gp-p11-keys, pkcs11-tool
# logging in and listing the card's objects, the gp-p11 tool listing the
# registry at every SCP03 level the card allows, and PUT KEY of keys generated
# inside the keystore (add, then replace) whose new key set opens the card.
# Then KDF3: a card whose keys are diversified from AES-192 master keys opens
# with diversification = kdf3 at every level, and is refused before EXTERNAL
# AUTHENTICATE without it or with a DES method; PUT KEY over diversified keys
# is refused before anything is sent. No failed authentication is ever counted.
#   card 0: SCP03 i=70, AES-192 keys (key version 30)
#   card 1: SCP03 i=70, AES-256 keys (key version 30)
#   card 2: SCP03 i=70, keys diversified by KDF3 from AES-192 master keys
#   card 3: SCP03 i=71 (S16 mode), AES-128 keys: listed at every level and
#           PUT KEY of generated keys through the module
#   card 4: the eUICC of transcript d (tests/sim/profiles/euicc-scp03-aes256.profile): its keys
#           as key version 32, its 16-byte ISD-R selected by AID
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES192="$(rnd 24) $(rnd 24) $(rnd 24)"
    export GP_TEST_AES256="$(rnd 32) $(rnd 32) $(rnd 32)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES192" > "$tmp/card0.profile"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES256" > "$tmp/card1.profile"
    export GP_TEST_MASTER192="$(rnd 24) $(rnd 24) $(rnd 24)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\ndiversify = kdf3\nkey_div = %s\n' \
        "$GP_TEST_MASTER192" "$(rnd 10)" > "$tmp/card2.profile"
    export GP_TEST_S16="$(rnd 16) $(rnd 16) $(rnd 16)"
    printf 'scp = 03\ni = 71\nkeys = 30 %s\n' "$GP_TEST_S16" > "$tmp/card3.profile"
    "$GP_HARNESS/gp-env.sh" --cards 5 --card-args 0 "--profile $tmp/card0.profile" \
        --card-args 1 "--profile $tmp/card1.profile" --card-args 2 "--profile $tmp/card2.profile" \
        --card-args 3 "--profile $tmp/card3.profile" \
        --card-args 4 "--profile $GP_HARNESS/../sim/profiles/euicc-scp03-aes256.profile" -- bash "$0"
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
set -- $GP_TEST_MASTER192
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | keys import masters \
    > "$out/import-masters" 2>&1
for level in mac mac-enc-rmac-renc; do
    export GP_P11_CONF=$(conf "kdf3-$level" 2 $level masters 0x30 'diversification = kdf3')
    gpt --json list > "$out/kdf3-$level.json" 2> "$out/kdf3-$level.err"
    check "[KDF3] master keys diversified per card open it at $level" \
        jq -e '.ok and (.registry | length) > 0' "$out/kdf3-$level.json"
done
ea=$(state 2 ext_auth_received)
export GP_P11_CONF=$(conf kdf3-none 2 mac masters 0x30)
gpt --json list > "$out/kdf3-none.json" 2> "$out/kdf3-none.err"
check "[KDF3] without diversification: refused, the card cryptogram does not verify" \
    grep -q "do not match this card" "$out/kdf3-none.err"
export GP_P11_CONF=$(conf kdf3-emv 2 mac masters 0x30 'diversification = emv')
gpt --json list > "$out/kdf3-emv.json" 2> "$out/kdf3-emv.err"
check "[KDF3] a DES method on an AES card: refused in words" \
    grep -q "EMV and VISA2 diversify DES keys (SCP01, SCP02); AES master keys for SCP03 are diversified by kdf3" "$out/kdf3-emv.err"
check "[KDF3] ... both before EXTERNAL AUTHENTICATE" [ "$(state 2 ext_auth_received)" = "$ea" ]
export GP_P11_CONF=$(conf kdf3-put 2 mac masters 0x30 'diversification = kdf3')
gpt --json put-key kdf3new --version 0x31 > "$out/kdf3-put.json" 2> "$out/kdf3-put.err"
check "[KDF3] PUT KEY over diversified keys: refused in words, nothing sent" \
    eval 'grep -q "not offered with diversified keys" "$out/kdf3-put.err" && [ "$(state 2 keys_put)" = 0 ]'
check "[KDF3] no failed authentication was counted" [ "$(state 2 failed_auth)" = 0 ]
set -- $GP_TEST_S16
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | keys import s16 \
    > "$out/import-s16" 2>&1
for level in mac mac-enc mac-rmac mac-enc-rmac mac-enc-rmac-renc; do
    export GP_P11_CONF=$(conf "s16-$level" 3 $level s16 0x30)
    gpt --json list > "$out/s16-$level.json" 2> "$out/s16-$level.err"
    check "[S16] the card announcing i=71 is listed at $level" \
        jq -e '.ok and (.registry | length) > 0' "$out/s16-$level.json"
done
check "[S16] ... over 16-byte MACs the card verified" [ "$(state 3 cmac_bad)" = 0 -a "$(state 3 level)" = 33 ]
export GP_P11_CONF=$(conf s16-put 3 mac-enc s16 0x30)
gpt --json put-key s16new --version 0x31 > "$out/s16-put.json" 2> "$out/s16-put.err"
check "[S16] PUT KEY of generated keys" eval 'jq -e .ok "$out/s16-put.json" >/dev/null && has 3 31'
export GP_P11_CONF=$(conf s16-new 3 mac s16new 0x31)
gpt --json list > "$out/s16-new.json" 2> "$out/s16-new.err"
check "[S16] ... and the new key set opens the card" jq -e '.ok' "$out/s16-new.json"
check "[S16] no failed authentication" [ "$(state 3 failed_auth)" = 0 ]
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' \
    000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F \
    101112131415161718191A1B1C1D1E1F101112131415161718191A1B1C1D1E1F \
    202122232425262728292A2B2C2D2E2F202122232425262728292A2B2C2D2E2F | keys import euicc \
    > "$out/import-euicc" 2>&1
export GP_P11_CONF=$(conf euicc 4 mac-enc euicc 0x32 'isd_aid = A0000005591010FFFFFFFF8900000100')
gpt --json list > "$out/euicc.json" 2> "$out/euicc.err"
check "[eUICC] transcript d's keys open the ISD-R, selected by its 16-byte AID" \
    jq -e '.ok and ([.registry[] | select(.kind == "isd") | .aid] == ["A0000005591010FFFFFFFF8900000100"])' "$out/euicc.json"
# GP_KEEP_OUT=DIR keeps what the commands wrote, for a failure run by hand
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish aes-lengths
