#!/bin/bash
# SCP01 end to end through pcscd, SoftHSM, the module, pkcs11-tool and the
# gp-p11 tool: a GP 2.1.1 card that announces SCP01 (i=05) is refused in auto
# mode until scp01_allow says so (no command of the handshake sent); then it
# opens at mac and at mac-enc (C-DEC with SCP01's length byte, LOAD blocks
# sized for it), pkcs11-tool logs in, PUT KEY is refused before anything is
# sent, levels SCP01 lacks and keys that are not the card's are refused before
# EXTERNAL AUTHENTICATE, and a card that speaks SCP01 without saying so is
# told apart in words. No failed authentication is ever counted.
#   card 0: SCP01, the default test keys; card 1: the same, no GET DATA 66;
#   cards 2 and 3: SCP01 with keys diversified (EMV, VISA2) from master keys
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    cp "$GP_HARNESS/../sim/profiles/gp211-scp01.profile" "$tmp/scp01.profile"
    printf 'scp = 01\ncard_data = no\n' > "$tmp/quiet.profile"
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_MASTER="$(rnd 16) $(rnd 16) $(rnd 16)"
    for m in emv visa2; do
        printf 'scp = 01\nkeys = 01 %s\ndiversify = %s\nkey_div = %s\n' "$GP_TEST_MASTER" "$m" \
            "$(rnd 10)" > "$tmp/$m.profile"
    done
    "$GP_HARNESS/gp-env.sh" --cards 4 --card-args 0 "--profile $tmp/scp01.profile" \
        --card-args 1 "--profile $tmp/quiet.profile" --card-args 2 "--profile $tmp/emv.profile" \
        --card-args 3 "--profile $tmp/visa2.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
"$GP_BUILDDIR/tests/cap/mkcap" "$out/app.cap" --size 3000 --applets 1 || exit 1
# run NAME CARD LEVEL [LINE...]: the tool's list on one card with key set $KS
# (default: default); echoes its exit code
run() {
    local n=$1 k=$2 level=$3
    shift 3
    export GP_P11_CONF=$(card_conf "$n" "$k" "$level" "${KS:-default}" 0 "$@")
    gpt --json list > "$out/$n.json" 2> "$out/$n.err"
    echo $?
}

apdus=$(state 0 apdus)
check "auto mode refuses a card announcing SCP01 (exit 4)" [ "$(run auto 0 mac)" = 4 ]
check "... in words that say why and how to allow it" \
    grep -q "announces SCP01 (GlobalPlatform 2.1.1), weaker than SCP02 and SCP03.*scp01_allow = yes" "$out/auto.err"
check "... without INITIALIZE UPDATE or EXTERNAL AUTHENTICATE" \
    [ "$(state 0 ext_auth_received)" = 0 -a "$(state 0 channel)" = none ]

check "scp01_allow = yes: the registry is listed at mac" \
    [ "$(run mac 0 mac 'scp01_allow = yes')" = 0 ]
check "... over SCP01 i=05, level 01" grep -q "secure channel open: SCP01 i=05, security level 01" "$out/mac.err"
check "... the card verified every C-MAC" [ "$(state 0 cmac_bad)" = 0 -a "$(state 0 cmac_ok)" -gt 0 ]
check "... and lists what it has" jq -e '.ok and (.registry | length) > 2' "$out/mac.json"
check "scp = 01 names the protocol: listed at mac-enc" [ "$(run enc 0 mac-enc 'scp = 01')" = 0 ]
check "... level 03 (C-DEC)" [ "$(state 0 level)" = 03 ]

export GP_P11_CONF=$(card_conf load 0 mac-enc default 0 'scp01_allow = yes')
gpt --json install "$out/app.cap" > "$out/load.json" 2> "$out/load.err"
check "a CAP file loads and installs over SCP01 at mac-enc" jq -e '.ok' "$out/load.json"
check "... in LOAD blocks the card took whole (C-DEC with the length byte)" \
    [ "$(state 0 cmac_bad)" = 0 -a "$(state 0 loads)" = 1 -a "$(state 0 installs)" = 1 ]

tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" --list-objects > "$out/p11.out" 2>&1
check "pkcs11-tool logs in over SCP01 and lists the card's objects" \
    grep -q "A000000151000000\|security domain" "$out/p11.out"

export GP_P11_CONF=$(card_conf put 0 mac default 0 'scp = 01')
gpt --json put-key new01 --version 0x02 > "$out/put.json" 2> "$out/put.err"
check "PUT KEY over SCP01 is refused" jq -e '.ok | not' "$out/put.json"
check "... in words, nothing sent" \
    eval 'grep -q "PUT KEY: not offered over SCP01: SCP01 sends keys encrypted under the static DEK" "$out/put.err" && [ "$(state 0 keys_put)" = 0 ]'
ea=$(state 0 ext_auth_received)
check "mac-rmac is refused: SCP01 has no R-MAC" [ "$(run rmac 0 mac-rmac 'scp = 01')" = 4 ]
check "... in words" grep -q "not SCP01's: SCP01 has mac (01) and mac-enc (03), and no R-MAC" "$out/rmac.err"
printf 'enc = %s\nmac = %s\ndek = %s\n' 11111111111111111111111111111111 \
    22222222222222222222222222222222 33333333333333333333333333333333 | "$GP_P11_KEYS" \
    --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" \
    import wrong > "$out/wrong-import" 2>&1
export GP_P11_CONF=$(card_conf wrong 0 mac wrong 0 'scp = 01')
gpt --json list > "$out/wrong.json" 2> "$out/wrong.err"
check "keys that are not the card's: refused" grep -q "do not match this card" "$out/wrong.err"
check "... before EXTERNAL AUTHENTICATE, no failure counted" \
    [ "$(state 0 ext_auth_received)" = "$ea" -a "$(state 0 failed_auth)" = 0 ]

check "a card that does not say it speaks SCP01: SCP02 is tried, and refused" \
    [ "$(run quiet 1 mac)" = 4 ]
check "... in words that name SCP01 and scp = 01" \
    grep -q "This card speaks SCP01 (GlobalPlatform 2.1.1) without saying so.*scp = 01" "$out/quiet.err"
check "... without EXTERNAL AUTHENTICATE" [ "$(state 1 ext_auth_received)" = 0 ]
check "with scp = 01 it opens" [ "$(run quiet2 1 mac 'scp = 01')" = 0 ]
set -- $GP_TEST_MASTER
printf 'enc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | "$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" \
    --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" import masters > "$out/masters" 2>&1
k=2
for m in emv visa2; do
    check "master keys diversified by $m open their SCP01 card at mac-enc" \
        [ "$(KS=masters run "div-$m" $k mac-enc 'scp = 01' "diversification = $m")" = 0 ]
    other=$([ $m = emv ] && echo visa2 || echo emv)
    ea=$(state $k ext_auth_received)
    check "... the other method ($other) is refused before EXTERNAL AUTHENTICATE" \
        eval '[ "$(KS=masters run "div-$m-$other" $k mac "scp = 01" "diversification = $other")" = 4 ] && [ "$(state $k ext_auth_received)" = "$ea" ]'
    k=$((k + 1))
done
check "no failed authentication on any card" \
    [ "$(state 0 failed_auth)$(state 1 failed_auth)$(state 2 failed_auth)$(state 3 failed_auth)" = 0000 ]
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT" # outputs kept, for a run by hand
finish scp01
