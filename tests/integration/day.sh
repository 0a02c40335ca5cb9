#!/bin/bash
# A GlobalPlatformPro user's day with gp-p11, flags only: no configuration
# file at all (the module's built-in defaults), nothing edited between steps.
# An SCP03 card whose keys (AES-128, key version 30) the user has in a file:
#   identify the unknown card without keys (info --no-login);
#   put its keys in the keystore (keys import) and log in with them
#   (--key-set --key-version);
#   install a CAP file, select the applet and talk to it in plain
#   (apdu --plain --select), personalise it (store-data), lock it;
#   rotate the card's keys (put-key, keys generated in the keystore) and log
#   in with the new ones, the old version replaced.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_DAY_KEYS="$(rnd) $(rnd) $(rnd)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_DAY_KEYS" > "$tmp/card.profile"
    "$GP_HARNESS/gp-env.sh" --cards 1 --card-args 0 "--profile $tmp/card.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
out=$GP_ENV_DIR/out
mkdir -p "$out"
unset GP_P11_CONF
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
gp() { tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" "$@"; }
step() { local n=$1; shift; "$@" > "$out/$n.json" 2> "$out/$n.err"; echo $?; }
j() { jq -e "$2" "$out/$1.json" > /dev/null 2>&1; }
"$GP_BUILDDIR/tests/cap/mkcap" "$out/hello.cap" --size 2000 --applets 1 --pkg D2760001CC01 || exit 1
app=D2760001CC0101

cond() { [ "$(step info gp --json info --no-login < /dev/null)" = 0 ] && j info '.card_recognition.scp == 3 and ([.keys[].version] | index(48)) != null'; }
check "1. an unknown card identified without keys or PIN" cond
check "... no INITIALIZE UPDATE sent" [ "$(state 0 sessions)" = 0 ]
set -- $GP_DAY_KEYS
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" > "$out/dev.keys"
check "2. its keys into the keystore from the user's file" \
    [ "$(step import "$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" import dev "$out/dev.keys")" = 0 ]
login=(--pin-file "$GP_TEST_PIN_FILE" --key-set dev --key-version 0x30)
check "3. a login with them, chosen on the command line (SCP03, version 30)" \
    [ "$(step list gp "${login[@]}" --level mac-enc --json list)" = 0 -a "$(state 0 channel_kvn)" = 30 -a "$(state 0 level)" = 03 ]
cond() { [ "$(step install gp "${login[@]}" --json install "$out/hello.cap")" = 0 ] && j install "[.objects[].aid] | index(\"$app\") != null"; }
check "4. install the CAP file" cond
cond() { [ "$(step plain gp --json apdu --plain --select $app 80CA9F7F00)" = 0 ] && j plain ".responses[1].data | test(\"$app\")"; }
check "5. select the applet and talk to it in plain" cond
check "6. personalise it" \
    [ "$(step perso gp "${login[@]}" --json store-data $app 0102030405)" = 0 -a "$(state 0 store_data)" = 0102030405 ]
cond() { [ "$(step lock gp "${login[@]}" --json lock $app)" = 0 ] && j lock '.objects[0].lifecycle.name == "LOCKED"'; }
check "7. lock it" cond
cond() { [ "$(step rotate gp "${login[@]}" --json put-key dev2 --version 0x31 --replace 0x30)" = 0 ] && j rotate '.key_version == 49 and .replaced == 48'; }
check "8. rotate the card's keys: version 31 replaces 30, keys generated in the keystore" cond
cond() { [ "$(step old gp "${login[@]}" --json list)" != 0 ] && [ "$(state 0 failed_auth)" = 0 ]; }
check "... the old keys no longer open the card (refused before EXTERNAL AUTHENTICATE)" cond
check "9. a login with the new keys" \
    [ "$(step new gp --pin-file "$GP_TEST_PIN_FILE" --key-set dev2 --key-version 0x31 --json list)" = 0 -a "$(state 0 channel_kvn)" = 31 ]
check "... the applet is still there, locked" \
    j new ".registry[] | select(.aid == \"$app\") | .lifecycle.name == \"LOCKED\""
cond() { [ "$(step renc gp --pin-file "$GP_TEST_PIN_FILE" --key-set dev2 --key-version 0x31 \
         --level mac-enc-rmac-renc -v --json apdu 80CA9F7F00)" = 0 ] &&
    grep -q '< 9000: success ([0-9]* data bytes, received encrypted, not shown)' "$out/renc.err" &&
    [ -z "$(sed -n '/EXTERNAL AUTHENTICATE/,$p' "$out/renc.err" | grep 'data bytes): ')" ] &&
    j renc '.responses[0].data | startswith("9F7F2A")'
}
check "10. -v at the level with R-ENCRYPTION: the answers' data not in the trace, in the output" cond
[ "$failed_checks" = 0 ] || for f in "$out"/*.err; do sed "s|^|# $(basename "$f"): |" "$f"; done
finish day
