#!/bin/bash
# The gp-p11 tool as a card engineer drives it, on two simulated cards: every
# command, human and --json output (the JSON parsed with jq, not grepped),
# the exit codes, token selection (p11-kit registration, --module, --reader,
# PKCS#11 URI), the PIN's sources, and the LOAD progress bar on a real
# terminal (tmux): redrawn in place, ending at 100 %, stopped by Ctrl-C.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    printf 'cin = C1D0000000000001\n' > "$tmp/c1.profile"
    "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 1 "--profile $tmp/c1.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
GP="$GP_BUILDDIR/tools/gp-p11"
mkcap="$GP_BUILDDIR/tests/cap/mkcap"
out=$GP_ENV_DIR/out
mkdir -p "$out"
r0=$GP_READER_0 r1=$GP_READER_1
conf() { # conf NAME [LINES...]: a configuration
    local n=$1; shift
    { printf 'keystore_token = %s\nlog_level = info\n' "$GP_TEST_TOKEN"; printf '%s\n' "$@"; } \
        > "$out/$n.conf"
    echo "$out/$n.conf"
}
export GP_P11_CONF=$(conf base)
gp() { "$GP" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
# rc NAME CMD...: runs CMD, stdout to out/NAME.json (or .txt), stderr to out/NAME.err; echoes the exit code
rc() { local n=$1; shift; "$@" > "$out/$n.out" 2> "$out/$n.err"; echo $?; }
j() { jq -e "$2" "$out/$1.out" > /dev/null 2>&1; } # j NAME FILTER: the JSON says so
has() { state "$1" "$2" | tr ' ' '\n' | grep -qx "$3"; }

"$mkcap" "$out/app.cap" --size 3000 --applets 2 || exit 1
"$mkcap" "$out/big.cap" --size 65536 --pkg D2760001BB01 || exit 1
pkg=D2760001AA01 a1=D2760001AA0101 a2=D2760001AA0102 other=D2760001AA0199

# --- choosing the token ---
check "two cards and no choice: exit 3, in words" \
    [ "$(rc two gp list)" = 3 -a -n "$(grep 'more than one card' "$out/two.err")" ]
check "--reader chooses a card" [ "$(rc rd gp --reader "$r1" --json info)" = 0 ]
check "... its serial number, parsed from the JSON" j rd '.ok and .card.serial == "C1D0000000000001"'
check "--token pkcs11:serial=... chooses the other" \
    [ "$(rc uri gp --token "pkcs11:serial=C1D0000000000000" --json info)" = 0 ]
check "... and it is card 0" j uri '.card.reader == env.GP_READER_0'
check "a URI that matches no card: exit 3" \
    [ "$(rc urinone gp --token "pkcs11:serial=0000" list)" = 3 ]
check "a URI with pin-value is refused (exit 2) before anything runs" \
    [ "$(rc pinv gp --token "pkcs11:serial=C1D0000000000000;pin-value=$GP_TEST_PIN" list)" = 2 ]
check "not a URI: exit 2" [ "$(rc nouri gp --token "serial=1" list)" = 2 ]
check "a reader with no such name: exit 3, and the readers present are named" \
    [ "$(rc nord gp --reader "no such reader" list)" = 3 -a -n "$(grep -F "$r0" "$out/nord.err")" ]
# the module found through p11-kit's registration (a private mount namespace)
confdir=$(pkg-config --variable=p11_module_configs p11-kit-1)
mkdir -p "$out/reg" "$out/noreg"
printf 'module: %s\n' "$MOD" > "$out/reg/gp-p11.module"
if mount --bind "$out/reg" "$confdir" 2>/dev/null; then
    check "without --module: found through p11-kit's registration" \
        [ "$(rc reg "$GP" --reader "$r0" --pin-file "$GP_TEST_PIN_FILE" --json list)" = 0 ]
    check "... and lists the card" j reg '[.registry[] | select(.kind == "isd")] | length == 1'
    umount "$confdir"
    mount --bind "$out/noreg" "$confdir"
    check "not registered: exit 3, and the words say how to give it" \
        [ "$(rc noreg "$GP" --reader "$r0" --pin-file "$GP_TEST_PIN_FILE" list)" = 3 \
        -a -n "$(grep 'not registered with p11-kit' "$out/noreg.err")" ]
    umount "$confdir"
else
    echo "skip - p11-kit registration: cannot mount over $confdir"
fi
check "a module that is not there: exit 3" \
    [ "$("$GP" --module /nonexistent/gp-p11.so --reader "$r0" list > /dev/null 2>&1; echo $?)" = 3 ]

# --- the PIN ---
check "the PIN from standard input" \
    [ "$(rc pinin sh -c "\"$GP\" --module \"$MOD\" --reader \"$r0\" --pin-file - list < \"$GP_TEST_PIN_FILE\"")" = 0 ]
check "the PIN from the URI's pin-source" \
    [ "$(rc pinsrc "$GP" --module "$MOD" --token "pkcs11:serial=C1D0000000000000?pin-source=$GP_TEST_PIN_FILE" list)" = 0 ]
check "--pin on the command line is refused: exit 2" \
    [ "$("$GP" --module "$MOD" --pin=1234 list > /dev/null 2>&1; echo $?)" = 2 ]
check "no terminal and no PIN file: exit 2, and the words say what to do" \
    [ "$(rc notty setsid "$GP" --module "$MOD" --reader "$r0" list < /dev/null)" = 2 \
    -a -n "$(grep 'use --pin-file' "$out/notty.err")" ]
echo wrong > "$out/wrong.pin"
check "a wrong keystore PIN: exit 4" \
    [ "$(rc badpin "$GP" --module "$MOD" --reader "$r0" --pin-file "$out/wrong.pin" --json list)" = 4 ]
check "... the JSON names it" j badpin '.ok == false and .error.kind == "authentication" and .error.ckr == "CKR_PIN_INCORRECT" and .error.reason == "pin-incorrect"'
# card keys that do not match: refused before EXTERNAL AUTHENTICATE, nothing counted
printf 'all = 000102030405060708090A0B0C0D0E0F\n' |
    gp --json keys import wrongkeys --keystore-token "$GP_TEST_TOKEN" --keystore-module "$GP_SOFTHSM_MODULE" > "$out/kimp.out" 2> "$out/kimp.err"
check "keys import from standard input (--json)" j kimp '.key_sets[0].name == "wrongkeys"'
ea=$(state 0 ext_auth_received)
check "keys that do not match the card: exit 4" \
    [ "$(GP_P11_CONF=$(conf wrong "key_set = wrongkeys") rc badkeys gp --reader "$r0" list)" = 4 ]
check "... no EXTERNAL AUTHENTICATE sent, no try spent" \
    [ "$(state 0 ext_auth_received)" = "$ea" -a "$(state 0 failed_auth)" = 0 ]
check "... said: the keys do not match, no try spent, how to choose others" \
    grep -q "login: the key set's keys do not match this card .*no try was spent: choose the card's keys with --key-set" "$out/badkeys.err"
cond() { [ "$(rc badkeysj gp --reader "$r0" --key-set wrongkeys --json list)" = 4 ] && j badkeysj '.error.reason == "keys-mismatch"'; }
check "... the JSON's reason: keys-mismatch" cond
cond() { [ "$(rc badkvn gp --reader "$r0" --key-version 7 --json list)" = 4 ] &&
    j badkvn '.error.reason == "key-version-missing" and .error.sw == "6A88"'
}
check "a key version the card does not have: exit 4, reason key-version-missing (6A88)" cond
check "... no EXTERNAL AUTHENTICATE sent" [ "$(state 0 ext_auth_received)" = "$ea" -a "$(state 0 failed_auth)" = 0 ]

# --- reading ---
check "list, for people" [ "$(rc list gp --reader "$r0" list)" = 0 ]
check "... a table with a header" grep -q '^KIND  *AID  *LIFECYCLE  *PRIVILEGES' "$out/list.out"
aidcol=$(head -1 "$out/list.out" | awk '{ print index($0, "AID") }')
check "... every AID starts in the AID column" \
    [ -z "$(sed 1d "$out/list.out" | cut -c"$aidcol" | tr -d '0-9A-F')" ]
check "... lifecycles and privileges in words" \
    grep -q 'issuer security domain  *A000000151000000  *SECURED (0F)  *security domain, card lock' "$out/list.out"
check "list --json" [ "$(rc listj gp --reader "$r0" --json list)" = 0 ]
check "... the ISD, its privileges decoded" \
    j listj '.registry[] | select(.kind == "isd") | .aid == "A000000151000000" and .lifecycle.name == "SECURED" and (.privileges.names | index("card terminate"))'
check "... load files with their modules" \
    j listj '.registry[] | select(.kind == "load-file" and .aid == "F000000001") | .modules == ["F00000000101", "F00000000102"]'
check "... applications with their load file" \
    j listj '.registry[] | select(.aid == "F00000000101") | .kind == "app" and .load_file == "F000000001"'
check "info" [ "$(rc info gp --reader "$r0" info)" = 0 ]
check "... CPLC in words" grep -q 'IC fabricator  *4790 (NXP)' "$out/info.out"
check "... dates in words" grep -q 'OS release date  *1210 (day 210 of a year ending in 1)' "$out/info.out"
check "... card recognition data" grep -q 'secure channel  *SCP02, i=15' "$out/info.out"
check "info --json" [ "$(rc infoj gp --reader "$r0" --json info)" = 0 ]
check "... CPLC fields" j infoj '.cplc.ic_fabricator.value == "4790" and .cplc.ic_fabricator.name == "NXP" and .cplc.ic_serial.value == "56789ABC" and .cplc.os_release_date.day == 210'
check "... GP version, SCP and i" j infoj '.card_recognition.gp_version == "2.1.1" and .card_recognition.scp == 2 and .card_recognition.i == "15"'
check "... key information: three DES keys of 16 bytes, version 1" \
    j infoj '(.keys | length) == 3 and all(.keys[]; .version == 1 and .components[0].name == "DES" and .components[0].length == 16)'

# --- applets ---
l0=$(state 0 loads)
check "install a CAP file (--json; --privileges in hex)" [ "$(rc inst gp --reader "$r0" --json install "$out/app.cap" --privileges 00)" = 0 ]
check "... its two applets, selectable" \
    j inst '(.objects | length) == 2 and all(.objects[]; .lifecycle.name == "SELECTABLE")'
check "... one LOAD on the card" [ "$(state 0 loads)" = $((l0 + 1)) ]
check "... the card has them" has 0 lifecycles "$a1:07"
check "install from the load file on the card, other instance, privileges by name, not selectable" \
    [ "$(rc inst2 gp --reader "$r0" install --loaded --package $pkg --applet $a1 --instance $other --privileges Card-Reset --not-selectable)" = 0 ]
cond() { has 0 lifecycles "$other:03" && has 0 privileges "$other:04"; }
check "... INSTALLED with privileges 04 (card reset)" cond
cond() { [ "$(rc privzz gp --reader "$r0" install --loaded --package $pkg --applet $a1 --privileges card-lock,ZZ)" = 2 ] &&
    grep -q "unknown privilege 'ZZ'; give names separated by commas (security-domain, " "$out/privzz.err"
}
check "a privilege without a name: exit 2, the names said" cond
check "... said for people" grep -q "installed application $other (INSTALLED)" "$out/inst2.out"
check "install of an AID the card has: the card refuses, exit 1 with the SW" \
    [ "$(rc inst3 gp --reader "$r0" --json install --loaded --package $pkg --applet $a1 --instance $other)" = 1 ]
check "... the JSON has the SW and its words" j inst3 '.error.sw == "6985" and (.error.sw_words | length) > 10 and .error.kind == "card refused"'
check "install with a bad AID: exit 2" [ "$(rc inst4 gp --reader "$r0" install --loaded --package 12 --applet $a1)" = 2 ]
check "an option of another command: exit 2" [ "$(rc inst5 gp --reader "$r0" delete $a1 --applet $a1)" = 2 ]
check "load only (--json)" [ "$(rc load gp --reader "$r0" --json load "$out/big.cap")" = 0 ]
check "... the load file, in blocks" j load '.objects[0].kind == "load-file" and .objects[0].aid == "D2760001BB01" and .blocks > 200'
check "... no progress bar on a pipe" [ -z "$(grep 'LOAD \[' "$out/load.err")" ]
check "lock" [ "$(rc lock gp --reader "$r0" --json lock $a1)" = 0 ]
check "... LOCKED on the card" has 0 lifecycles "$a1:87"
check "... the JSON says it changed" j lock '.changed == true and .objects[0].lifecycle.name == "LOCKED"'
cond() { [ "$(rc lock2 gp --reader "$r0" --json lock $a1)" = 0 ] && j lock2 '.changed == false'; }
check "lock again: nothing to do, exit 0" cond
cond() { [ "$(rc unlock gp --reader "$r0" unlock $a1)" = 0 ] && has 0 lifecycles "$a1:07"; }
check "unlock" cond
check "lock of the ISD: exit 2, pointing to lock-card" \
    [ "$(rc lockisd gp --reader "$r0" lock A000000151000000)" = 2 -a -n "$(grep 'lock-card' "$out/lockisd.err")" ]
data=$(head -c 300 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
check "store-data HEX" [ "$(rc store gp --reader "$r0" store-data $a2 "$data")" = 0 ]
check "... the card holds the data" [ "$(state 0 store_data)" = "$data" ]
printf "$(printf '%s' "$data" | sed 's/../\\x&/g')" > "$out/store.bin"
check "store-data --file, with a format byte" [ "$(rc store2 gp --reader "$r0" store-data $a2 --file "$out/store.bin" --format 20)" = 0 ]
check "... the format in P1" [ "$(state 0 store_p1)" = A0 ]
check "delete a load file with applications: the card refuses, exit 1" \
    [ "$(rc del gp --reader "$r0" --json delete $pkg)" = 1 ]
check "... the JSON has 6985 and CKR_ACTION_PROHIBITED" j del '.error.sw == "6985" and .error.ckr == "CKR_ACTION_PROHIBITED"'
check "... the words on stderr" grep -q '6985' "$out/del.err"
cond() { [ -z "$(grep CKA_GP_DELETE_RELATED "$out/del.err")" ] && grep -q 'delete it with --related' "$out/del.err"; }
check "... with the tool's option for it (--related), not the PKCS#11 attribute" cond
cond() { [ "$(rc del2 gp --reader "$r0" delete $pkg --related)" = 0 ] && has 0 deleted $pkg; }
check "delete --related" cond
check "... its applications too" has 0 deleted $a1
check "--related on an application: exit 2" [ "$(rc del3 gp --reader "$r0" delete F00000000101 --related)" = 2 ]
check "delete of what the card does not have: exit 2" [ "$(rc del4 gp --reader "$r0" delete $pkg)" = 2 ]
# reinstall (--force) and uninstall by CAP file
count() { state 0 deleted | tr ' ' '\n' | grep -cx "$1"; } # how many times the card deleted AID
l0=$(state 0 loads)
cond() { [ "$(rc force1 gp --reader "$r0" --json install "$out/app.cap" --force)" = 0 ] &&
    j force1 '(has("deleted") | not) and (.objects | length) == 2' && [ "$(state 0 loads)" = $((l0 + 1)) ]
}
check "install --force, the card without the load file: installed, nothing deleted" cond
n0=$(count $pkg) n1=$(count $a1)
cond() { [ "$(rc force2 gp --reader "$r0" --json install "$out/app.cap" --force)" = 0 ] &&
    [ "$(count $pkg)" = $((n0 + 1)) -a "$(count $a1)" = $((n1 + 1)) -a "$(state 0 loads)" = $((l0 + 2)) ] &&
    has 0 lifecycles "$a1:07"
}
check "install --force over it: the load file and its applications deleted first, then loaded again" cond
check "... the JSON names the load file it deleted first (deleted, as delete has it)" j force2 '.deleted == "D2760001AA01" and (.objects | length) == 2'
printf 'fault = refuse-sw\non_ins = E4\nsw = 6A80\n' > "$GP_SIM_CONTROL_0.new" && mv "$GP_SIM_CONTROL_0.new" "$GP_SIM_CONTROL_0"
cond() { [ "$(rc force3 gp --reader "$r0" install "$out/app.cap" --force)" = 1 -a "$(state 0 loads)" = $((l0 + 2)) ] &&
    grep -q 'install --force: deleting the load file first (nothing was loaded)' "$out/force3.err"
}
check "install --force, the card refusing the DELETE: exit 1, nothing loaded, said" cond
: > "$GP_SIM_CONTROL_0.new" && mv "$GP_SIM_CONTROL_0.new" "$GP_SIM_CONTROL_0"
cond() { [ "$(rc force4 gp --reader "$r0" install "$out/app.cap" --force)" = 0 ] &&
    grep -q "deleted $pkg with the applications installed from it (--force)" "$out/force4.out"
}
check "... for people: what was deleted first" cond
check "--force with --loaded: exit 2" \
    [ "$(rc force5 gp --reader "$r0" install "$out/app.cap" --force --loaded)" = 2 ]
n0=$(count $pkg) n1=$(count $a1)
cond() { [ "$(rc uncap gp --reader "$r0" --json delete "$out/app.cap")" = 0 ] &&
    j uncap '.deleted == "D2760001AA01" and .related' && [ "$(count $pkg)" = $((n0 + 1)) -a "$(count $a1)" = $((n1 + 1)) ]
}
check "delete FILE.cap: the CAP file's load file, with the applications installed from it" cond
cond() { [ "$(rc uncap2 gp --reader "$r0" delete "$out/store.bin")" = 2 ] && grep -q 'store.bin: neither a CAP file' "$out/uncap2.err"; }
check "delete of a file that is not a CAP file: exit 2, said" cond
check "delete of a CAP file that is not there: exit 2" [ "$(rc uncap3 gp --reader "$r0" delete "$out/none.cap")" = 2 ]

# --- APDUs ---
check "apdu: arguments, 9000 last: exit 0" [ "$(rc ap gp --reader "$r0" apdu 80CA00FE00 80CA9F7F00)" = 0 ]
cond() { grep -q '^< 6A88: referenced data not found' "$out/ap.out" && grep -q '^< 9000: success' "$out/ap.out"; }
check "... each answer with its SW in words" cond
printf '# a script\n80CA9F7F00\n\n80 CA 00 FE 00\n' > "$out/apdus.txt"
check "apdu: from a pipe, last answer 6A88: exit 1" \
    [ "$(rc apj sh -c "\"$GP\" --module \"$MOD\" --pin-file \"$GP_TEST_PIN_FILE\" --reader \"$r0\" --json apdu < \"$out/apdus.txt\"")" = 1 ]
check "... two answers, parsed" j apj '(.responses | length) == 2 and .responses[0].sw == "9000" and (.responses[0].data | startswith("9F7F2A4790")) and .responses[1].sw == "6A88"'
check "apdu: SELECT is refused, exit 2, in words" \
    [ "$(rc apsel gp --reader "$r0" apdu 00A4040000)" = 2 -a -n "$(grep 'does not send this command' "$out/apsel.err")" ]
check "apdu: not hex: exit 2" [ "$(rc aphex gp --reader "$r0" apdu 80CAZZ)" = 2 ]
check "apdu: the PIN and the APDUs both from standard input: exit 2" \
    [ "$(echo 80CA9F7F00 | "$GP" --module "$MOD" --reader "$r0" --pin-file - apdu > /dev/null 2>&1; echo $?)" = 2 ]
check "-v: the APDU trace on stderr, the JSON still whole" \
    [ "$(rc verb gp --reader "$r0" -v --json apdu 80CA9F7F00)" = 0 -a -n "$(grep '> GET DATA 80CA9F7F' "$out/verb.err")" ]
check "... parsed" j verb '.responses[0].sw == "9000"'
check "... no secret in the trace: INITIALIZE UPDATE's data not shown" \
    grep -q 'INITIALIZE UPDATE 80500000 (8 bytes not shown)' "$out/verb.err"
check "... answers with their data (GET DATA's CPLC), as the card sent them" \
    grep -q '< 9000: success ([0-9]* data bytes): 9F7F2A4790' "$out/verb.err"
cond() { grep -q '< 9000: success (28 data bytes, not shown)' "$out/verb.err" &&
    [ -z "$(grep -A1 'INITIALIZE UPDATE 8050' "$out/verb.err" | grep 'data bytes): ')" ]
}
check "... but not INITIALIZE UPDATE's nor EXTERNAL AUTHENTICATE's answer data" cond
# --trace-file: the trace and the words, for a bug report
cond() { [ "$(rc tf gp --reader "$r0" --trace-file "$out/run.trace" apdu 80CA9F7F00)" = 0 ] &&
    [ "$(stat -c %a "$out/run.trace")" = 600 ] && head -1 "$out/run.trace" | grep -q '^# gp-p11 .* trace, ' &&
    grep -q '> GET DATA 80CA9F7F \[secured\]' "$out/run.trace" &&
    grep -q '< 9000: success ([0-9]* data bytes): 9F7F2A4790' "$out/run.trace" &&
    [ "$(tail -1 "$out/run.trace")" = "# exit 0" ]
}
check "--trace-file: the APDU trace with the answers' data in a file of mode 0600, its exit status last" cond
check "... not on standard error without -v" [ -z "$(grep '\] [<>] ' "$out/tf.err")" ]
check "... no PIN and no key in it" \
    [ "$(grep -c -e "$(cat "$GP_TEST_PIN_FILE")" -e 404142434445 "$out/run.trace")" = 0 ]
cond() { [ "$(rc tf2 gp --reader "$r0" --key-set wrongkeys --trace-file "$out/fail.trace" list)" = 4 ] &&
    grep -q "^gp-p11: error: .*login refused: the keys of key set \"wrongkeys\"" "$out/fail.trace" &&
    grep -q "^gp-p11: login: the key set's keys do not match this card" "$out/fail.trace" &&
    [ "$(tail -1 "$out/fail.trace")" = "# exit 4" ]
}
check "... a failure: the module's words and the tool's in it, and the exit status" cond
check "--trace-file where it cannot be written: exit 2" \
    [ "$(rc tf3 gp --reader "$r0" --trace-file /nonexistent/dir/t list)" = 2 ]

# --- keys ---
ks=(--keystore-token "$GP_TEST_TOKEN" --keystore-module "$GP_SOFTHSM_MODULE")
cond() { [ "$(rc klist gp --json keys list "${ks[@]}")" = 0 ] && j klist '.key_sets[] | select(.name == "default") | .kcv.enc == "8BAF47"'; }
check "keys list --json: the key sets with their KCVs" cond
check "keys delete" [ "$(rc kdel gp keys delete wrongkeys "${ks[@]}")" = 0 ]
cond() { [ "$(rc klist2 gp --json keys list "${ks[@]}")" = 0 ] && j klist2 '[.key_sets[].name] | index("wrongkeys") | not'; }
check "... gone" cond
check "keys doctor --json on SoftHSM: exit 0" [ "$(rc kdoc gp --json keys doctor "${ks[@]}")" = 0 ]
check "... every capability but one works, each against its known answer" \
    j kdoc '[.tried[] | select(.result == "yes")] | length == 10'
check "... SCP02 PUT KEY of generated keys does not: SoftHSM cannot wrap with 3DES" \
    j kdoc '.tried[] | select(.what == "SCP02 PUT KEY of keys generated in the keystore") | .result == "no" and (.detail | test("C_WrapKey\\(CKM_DES3_ECB\\).*CKR_MECHANISM_INVALID"))'
check "... which its mechanism list told before trying" \
    j kdoc '.listed | test("cannot do SCP02 PUT KEY of keys generated in the keystore \\(CKM_DES3_ECB does not wrap\\)")'
check "keys with a wrong argument count: exit 2" [ "$(rc karg gp keys generate "${ks[@]}")" = 2 ]
printf 'all = 505152535455565758595A5B5C5D5E5F\n' > "$out/new2.keys"
check "put-key --from-file (put_key_plaintext = yes)" \
    [ "$(GP_P11_CONF=$(conf pk "put_key_plaintext = yes") rc pk gp --reader "$r1" --json put-key new2 --version 2 --from-file "$out/new2.keys")" = 0 ]
check "... the card has key version 02" has 1 key_versions 02
check "... the JSON says so" j pk '.key_version == 2 and .key_set == "new2" and .replaced == 0'
check "put-key without --version: exit 2" [ "$(rc pk2 gp --reader "$r1" put-key x)" = 2 ]
cond() { [ "$(GP_P11_CONF=$(conf pk3 "put_key_plaintext = yes") "$GP_P11_KEYS" --gp-module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --reader "$r1" put-key new3 --version 3 --from-file "$out/new2.keys" > /dev/null 2>&1; echo $?)" = 0 ] \
    && has 1 key_versions 03
}
check "gp-p11-keys put-key still works as documented" cond

# --- the login's choices, per run (no configuration edited) ---
check "--key-set new2 --key-version 2: a login with the keys put-key just gave the card" \
    [ "$(rc lo1 gp --reader "$r1" --key-set new2 --key-version 2 --json list)" = 0 -a "$(state 1 channel_kvn)" = 02 ]
check "... and without them, the configuration's key set (version 01)" \
    [ "$(rc lo2 gp --reader "$r1" --json list)" = 0 -a "$(state 1 channel_kvn)" = 01 ]
# delete-key: DELETE [key] of a card key version
cond() { [ "$(rc dk1 gp --reader "$r1" --json delete-key --version 1)" = 1 ] && has 1 key_versions 01 &&
    grep -q "key version 01 is not deleted: this login's secure channel was opened with it" "$out/dk1.err" &&
    j dk1 '.error.ckr == "CKR_ACTION_PROHIBITED"' && [ "$(state 1 last_ins)" != E4 ]
}
check "delete-key of this login's own key version: refused before anything is sent, said" cond
cond() { [ "$(rc dk2 gp --reader "$r1" --json delete-key --version 3)" = 0 ] && ! has 1 key_versions 03 &&
    has 1 key_versions 02 && j dk2 '.key_version == 3'
}
check "delete-key --version 3: DELETE [key], the card no longer has it, the others stay" cond
check "... the keystore keeps its key set" \
    sh -c "'$GP' --json keys list --keystore-token '$GP_TEST_TOKEN' --keystore-module '$GP_SOFTHSM_MODULE' --pin-file '$GP_TEST_PIN_FILE' | jq -e '[.key_sets[].name] | index(\"new3\") != null' > /dev/null"
check "delete-key of a version the card does not have: exit 2, said" \
    [ "$(rc dk3 gp --reader "$r1" delete-key --version 9)" = 2 ]
printf 'fault = truncate\non_ins = E4\ntruncate_to = 1\n' > "$GP_SIM_CONTROL_1.new" && mv "$GP_SIM_CONTROL_1.new" "$GP_SIM_CONTROL_1"
cond() { [ "$(rc dk4 gp --reader "$r1" delete-key --version 2)" = 0 ] && ! has 1 key_versions 02 &&
    grep -q "deleting key version 02: .*Its outcome was unknown; the card's key information, read again, shows it gone: the card deleted it" "$out/dk4.err"
}
check "delete-key whose answer is cut (the card did it): the key information read again, the outcome said" cond
: > "$GP_SIM_CONTROL_1.new" && mv "$GP_SIM_CONTROL_1.new" "$GP_SIM_CONTROL_1"
check "... the card still opens with its key version 01" [ "$(rc dk5 gp --reader "$r1" list)" = 0 ]
check "--level mac-enc over the configuration's mac: the channel encrypts" \
    [ "$(rc lo3 gp --reader "$r1" --level mac-enc list)" = 0 -a "$(state 1 level)" = 03 ]
s0=$(state 1 sessions)
check "--level below the configuration's security_level: exit 2, no INITIALIZE UPDATE sent" \
    [ "$(GP_P11_CONF=$(conf floor "security_level = mac-enc") rc lo4 gp --reader "$r1" --json --level mac list)" = 2 -a "$(state 1 sessions)" = "$s0" ]
check "... the module's words say it is below security_level, the tool's name the options" \
    grep -q 'security level mac is below the configuration.s security_level = mac-enc' "$out/lo4.err"
check "... the JSON's error too" j lo4 '.error.kind == "usage" and (.error.message | test("--level"))'
check "--config FILE: the same floor from a file named on the command line" \
    [ "$(rc lo5 gp --config "$out/floor.conf" --reader "$r1" --level mac list)" = 2 ]
cond() { [ "$(rc lo6 gp --reader "$r1" --scp 01 list)" = 2 ] && grep -q 'SCP01 is weaker.*scp01_allow = yes' "$out/lo6.err"; }
check "--scp 01 where scp01_allow is not yes: refused in words" cond
cond() { [ "$(rc lo7 gp --reader "$r1" --level high list)" = 2 ] && grep -q "'mac', 'mac-enc'" "$out/lo7.err"; }
check "--level with a word it does not know: exit 2, the words it knows" cond
check "--isd the card's ISD by AID" [ "$(rc lo8 gp --reader "$r1" --isd A000000151000000 list)" = 0 ]
cond() { [ "$(rc lo9 gp --reader "$r1" --isd A0000001510000FF list)" != 0 ] && grep -q '6A82' "$out/lo9.err"; }
check "--isd an AID the card does not have: the SELECT's refusal in words" cond
check "login options on keys: refused (it does not log in to a card)" \
    [ "$(rc lo10 gp --key-set x keys list "${ks[@]}")" = 2 ]
s0=$(state 1 sessions)
check "info --no-login: no PIN, no keys (a card nobody gave us keys for)" \
    [ "$(rc nl1 setsid "$GP" --module "$MOD" --reader "$r1" --json info --no-login < /dev/null)" = 0 ]
check "... what the card shows in the clear: CPLC, card recognition data, key information" \
    j nl1 '.logged_in == false and .cplc.ic_fabricator.value == "4790" and .card_recognition.scp == 2 and ([.keys[].version] | index(1)) != null'
check "... and no INITIALIZE UPDATE was sent" [ "$(state 1 sessions)" = "$s0" ]
cond() { [ "$(rc nl2 gp --reader "$r1" --json list --no-login)" = 0 ] && j nl2 '.registry == [] and .needs_login == ["registry"]'; }
check "list --no-login: the registry needs a login on this card, said in the JSON" cond
cond() { [ "$(rc nl3 gp --reader "$r1" list --no-login)" = 0 ] && grep -q 'registry only over a secure channel' "$out/nl3.out"; }
check "... and in words" cond
check "--no-login belongs to list and info only" [ "$(rc nl4 gp --reader "$r1" delete A000000151535344 --no-login)" = 2 ]
cond() { [ "$(rc pe "$GP" --module "$MOD" --reader "$r1" -p 24681357 list)" = 2 ] && ! grep -q 24681357 "$out/pe.err"; }
check "-p with a PIN instead of a file: exit 2, the PIN not echoed back" cond
cond() { [ "$(rc mrel "$GP" --module libsofthsm2.so list)" = 3 ] && grep -q -- '--module libsofthsm2.so: No such file' "$out/mrel.err"; }
check "--module NAME: a path as given, not looked up in p11-kit's directory" cond
check "... a relative path to the module works" \
    [ "$(cd "$GP_BUILDDIR/module" && rc mrel2 "$GP" --module .libs/gp-p11.so --pin-file "$GP_TEST_PIN_FILE" --reader "$r1" list)" = 0 ]
cond() { [ "$(rc mother "$GP" --module "$GP_SOFTHSM_MODULE" list)" = 3 ] && grep -q 'is not the gp-p11 module (it says it is made by "SoftHSM")' "$out/mother.err"; }
check "--module of another PKCS#11 module: refused, naming who made it" cond
cond() { [ "$(rc sd1 gp --reader "$r1" --json store-data A000000151000000 00)" = 2 ] && grep -q 'issuer security domain: it takes lock and unlock only' "$out/sd1.err"; }
check "store-data to the issuer security domain: exit 2, in the tool's words, nothing sent" cond
cond() { [ -z "$(grep CKA_ "$out/sd1.err")" ] && j sd1 '.error.details | length >= 1'; }
check "... the line it points to is there, and no PKCS#11 attribute is named" cond
printf 'not a cap\n' > "$out/not.cap"
cond() { [ "$(rc nc gp --reader "$r1" install "$out/not.cap")" = 2 ] && grep -q 'the file is refused before anything is sent' "$out/nc.err"; }
check "install of a file that is not a CAP file: exit 2, said as a file" cond
s0=$(state 0 sessions)
check "apdu --plain --select: an applet spoken to outside the channel, no PIN asked" \
    [ "$(rc pl1 setsid "$GP" --module "$MOD" --reader "$r0" --json apdu --plain --select F00000000101 80CA9F7F00 < /dev/null)" = 0 ]
check "... the applet answered (the SELECT and the command in the JSON)" \
    j pl1 '.plain == true and .sent == 2 and (.responses[1].data | test("F00000000101"))'
check "... and no INITIALIZE UPDATE" [ "$(state 0 sessions)" = "$s0" ]
ea0=$(state 0 ext_auth_received)
cond() { [ "$(rc pl2 gp --reader "$r0" apdu --plain 8082000010AABBCCDDEEFF00112233445566778899)" = 2 -a "$(state 0 ext_auth_received)" = "$ea0" ] \
    && grep -q "a login's alone" "$out/pl2.err"
}
check "apdu --plain with EXTERNAL AUTHENTICATE: not sent, exit 2, a try never spent by hand" cond
check "--select without --plain: exit 2" [ "$(rc pl3 gp --reader "$r0" apdu --select F00000000101 80CA9F7F00)" = 2 ]
cond() { [ "$(rc ver "$GP" --version)" = 0 ] && grep -q '^gp-p11 [0-9]' "$out/ver.out"; }
check "--version alone: the program's version" cond

# --- the card's lifecycle ---
cond() { [ "$(rc lc gp --reader "$r1" --json lock-card)" = 0 ] && j lc '.lifecycle.value == "7F" and .lifecycle.name == "CARD_LOCKED"'; }
check "lock-card" cond
check "... CARD_LOCKED on the card" [ "$(state 1 card_lifecycle)" = 7F ]
cond() { [ "$(rc ulc gp --reader "$r1" unlock-card)" = 0 ] && [ "$(state 1 card_lifecycle)" = 0F ]; }
check "unlock-card" cond
check "terminate-card with no terminal and no --yes: exit 2, nothing sent" \
    [ "$(rc term setsid "$GP" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --reader "$r1" terminate-card < /dev/null)" = 2 \
    -a "$(state 1 card_lifecycle)" = 0F ]

# --- on a real terminal (tmux): the PIN prompt, the progress bar, Ctrl-C, confirmation ---
if command -v tmux > /dev/null; then
    export TMUX_TMPDIR=$GP_ENV_DIR
    tm() { tmux -L gp "$@"; }
    screen() { tm capture-pane -p -t t; }
    waitfor() { # waitfor REGEX: up to 20 s for it on the screen (shown in the log if not)
        for _ in $(seq 200); do screen | grep -qE "$1" && return 0; sleep 0.1; done
        screen | sed "s/^/# screen: /"; return 1; }
    gp --reader "$r0" delete D2760001BB01 > /dev/null 2>&1 # loaded above
    printf 'keystore_token = %s\n' "$GP_TEST_TOKEN" > "$out/tty.conf"
    export GP_P11_CONF=$out/tty.conf
    tm new-session -d -s t -x 150 -y 40 "bash --norc"
    tm pipe-pane -t t "cat > $out/tty.raw"
    tm send-keys -t t "export GP_P11_CONF=$GP_P11_CONF; $GP --module $MOD --reader '$r0' load $out/big.cap; echo EXIT=\$?" Enter
    check "the PIN is asked on the terminal" waitfor "Keystore user PIN:"
    tm send-keys -t t "$GP_TEST_PIN" Enter
    check "LOAD on a terminal ends" waitfor "EXIT=[0-9]"
    check "... exit 0" waitfor "EXIT=0"
    check "... the PIN not echoed" [ -z "$(screen | grep -F "$GP_TEST_PIN")" ]
    check "... one progress line, redrawn in place, at 100 %" \
        [ "$(screen | grep -c 'LOAD \[')" = 1 -a -n "$(screen | grep -E 'LOAD \[#{30}\] 100 % \(([0-9]+) of \1 blocks\)')" ]
    check "... redrawn once per block" [ "$(tr -cd '\r' < "$out/tty.raw" | wc -c)" -gt 200 ]
    gp --reader "$r0" delete D2760001BB01 > /dev/null 2>&1
    # Ctrl-C in the middle of a LOAD stops it; nothing is left on the card
    # (the card answers 10 ms late, so that the LOAD lasts seconds)
    printf 'slow_ms = 10\n' > "$GP_SIM_CONTROL_0"
    # the screen cleared first: the last run's bar must not be taken for this one's
    tm send-keys -t t "clear" Enter
    for _ in $(seq 100); do screen | grep -q "LOAD \\[" || break; sleep 0.1; done
    tm send-keys -t t "clear; $GP --module $MOD --reader '$r0' --pin-file $GP_TEST_PIN_FILE load $out/big.cap; echo EXIT=\$?" Enter
    waitfor "LOAD \\[" && tm send-keys -t t C-c
    check "Ctrl-C during LOAD: exit 130" waitfor "EXIT=130"
    check "... said in words" screen | grep -q "stopped after block"
    printf 'slow_ms = 0\n' > "$GP_SIM_CONTROL_0"
    gp --reader "$r0" --json list > "$out/afterc.out" 2> /dev/null
    check "... nothing of the load file on the card" \
        j afterc '.ok and ([.registry[] | select(.aid == "D2760001BB01")] | length) == 0'
    check "... the card has no LOAD under way" [ "$(state 0 loading)" = 0 ]
    # under dash, which (unlike an interactive bash) does not mend the terminal of a job a signal
    # ended: a script whose shell outlives the Ctrl-C (its trap) and reads the terminal's modes
    # itself, before the interactive shell gets the terminal back
    cat > "$out/prompt.sh" <<EOF
trap : INT
"$GP" --module "$MOD" --reader "$r0" list
echo "EXIT=\$?"
stty -a | tr ' ' '\n' | grep -x -- '-\?echo' | sed 's/^/MODE:/'
EOF
    tm send-keys -t t "clear; dash $out/prompt.sh" Enter
    waitfor "Keystore user PIN:" && tm send-keys -t t C-c
    check "Ctrl-C at the PIN prompt: the tool ends as the signal asks" waitfor "EXIT=130"
    check "... and the terminal has its echo back" waitfor "^MODE:echo$"
    tm send-keys -t t "stty echo" Enter
    tm send-keys -t t "clear; $GP --module $MOD --reader '$r1' --pin-file $GP_TEST_PIN_FILE terminate-card; echo EXIT=\$?" Enter
    check "terminate-card asks on the terminal" waitfor "Type 'terminate' to go on:"
    tm send-keys -t t "no" Enter
    check "... anything else: exit 2, the card not terminated" waitfor "EXIT=2"
    check "... (its lifecycle unchanged)" [ "$(state 1 card_lifecycle)" = 0F ]
    tm send-keys -t t "clear; $GP --module $MOD --reader '$r1' --pin-file $GP_TEST_PIN_FILE terminate-card; echo EXIT=\$?" Enter
    waitfor "Type 'terminate' to go on:" && tm send-keys -t t "terminate" Enter
    check "... 'terminate' terminates" waitfor "EXIT=0"
    check "... TERMINATED on the card" [ "$(state 1 card_lifecycle)" = FF ]
    tm kill-server
else
    echo "not ok - tmux is missing (scripts/setup-debian.sh installs it)"
    failed_checks=$((failed_checks + 1))
fi
comp() { bash -c 'shopt -s extglob; . "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gp_p11; echo "${COMPREPLY[*]}"' \
    _ "$GP_HARNESS/../../conf/gp-p11.bash-completion" "$@"; }
check "bash completion: commands" [ "$(comp gp-p11 ter)" = terminate-card ]
check "bash completion: a command's options" [ "$(comp gp-p11 delete --rel)" = --related ]
check "bash completion: run" [ "$(comp gp-p11 ru)" = run ]
check "bash completion: run --each-card" [ "$(comp gp-p11 run --ea)" = --each-card ]
check "bash completion: --trace-file" [ "$(comp gp-p11 --trace-f)" = --trace-file ]
compk() { bash -c 'shopt -s extglob; . "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gp_p11_keys; echo "${COMPREPLY[*]}"' \
    _ "$GP_HARNESS/../../conf/gp-p11.bash-completion" "$@"; }
check "bash completion of gp-p11-keys: its actions, put-key's options, --key-type's words" \
    [ "$(compk gp-p11-keys forg)" = forget-refusal -a "$(compk gp-p11-keys put-key --rep)" = --replace \
      -a "$(compk gp-p11-keys import x --key-type aes2)" = aes256 ]
check "bash completion: keys' actions" [ "$(comp gp-p11 keys g)" = generate ]
check "bash completion: the login's choices and their words" \
    [ "$(comp gp-p11 list --key-v)" = --key-version -a "$(comp gp-p11 list --level mac-enc-rmac-)" = mac-enc-rmac-renc ]
check "a terminated card: login refused by the card, exit 1" \
    [ "$(rc dead gp --reader "$r1" list)" = 1 ]
# --- the JSON contract: every document of this run, and every failure provoked
# here with --json, validated against doc/gp-p11.schema.json by Debian's jsonschema ---
jf() { local n=$1; shift; "$@" > "$out/jf-$n.out" 2> "$out/jf-$n.err"; }
jf two gp --json list
jf uri gp --json --token "pkcs11:serial=0000" list
jf nord gp --json --reader "no such reader" list
jf nokeys env GP_P11_CONF="$(conf jwrong "key_set = nosuchkeys")" "$GP" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --reader "$r0" --json list
jf aid gp --json --reader "$r0" install --loaded --package 12 --applet F00000000101
jf lockisd gp --json --reader "$r0" lock A000000151000000
jf delisd gp --json --reader "$r0" delete A000000151000000
jf sel gp --json --reader "$r0" apdu 00A4040000
jf hex gp --json --reader "$r0" apdu 80CAZZ
jf sw gp --json --reader "$r0" apdu 80CA00FE00
jf mod "$GP" --json --module libsofthsm2.so list
jf other "$GP" --json --module "$GP_SOFTHSM_MODULE" list
jf level gp --json --reader "$r0" --level high list
jf dead gp --json --reader "$r1" list
jf store gp --json --reader "$r0" store-data A000000151000000 00
jf cmd gp --json frobnicate
jf opt gp --json list --no-such-option
jf pin "$GP" --json --module "$MOD" --reader "$r0" --pin-file /nonexistent list
jf utf8 gp --json --reader $'GP \xff\xc0\xaf Sim \xed\xa0\x80 \xc3\xa9' list # not UTF-8, and é
cond() { jq -e '.error.reason == "key-set-missing"' "$out/jf-nokeys.out" > /dev/null &&
    jq -e '.error.reason == "card-refused" and .error.sw == "6A81"' "$out/jf-dead.out" > /dev/null
}
check "the JSON's login reasons: key-set-missing, card-refused (a terminated card's SELECT)" cond
check "a reader name that is not UTF-8 in an error: U+FFFD in the JSON, é kept" \
    python3 -c 'import json, sys; m = json.load(open(sys.argv[1], encoding="utf-8"))["error"]["message"]; sys.exit(not ("GP \ufffd\ufffd\ufffd Sim \ufffd\ufffd\ufffd \u00e9" in m))' "$out/jf-utf8.out"
check "... and none where no login failed" \
    jq -se 'all(.[]; .error.reason == null)' "$out/jf-aid.out" "$out/jf-cmd.out" "$out/jf-sw.out" > /dev/null
schema=$GP_HARNESS/../../doc/gp-p11.schema.json
docs=0 bad=0 fails=0
for f in "$out"/*.out; do
    [ -s "$f" ] && jq -e 'type == "object" and has("exit")' "$f" > /dev/null 2>&1 || continue
    docs=$((docs + 1))
    jq -e '.ok == false' "$f" > /dev/null && fails=$((fails + 1))
    if ! /usr/bin/jsonschema -i "$f" "$schema" > "$f.schema" 2>&1; then
        bad=$((bad + 1)); sed "s|^|# $(basename "$f"): |" "$f.schema" | head -5
    fi
done
check "the JSON contract: $docs documents ($fails failures) each valid against the schema" \
    [ "$bad" = 0 -a "$docs" -gt 40 -a "$fails" -gt 15 ]
check "... every --json failure above printed one document (none empty, none two)" \
    [ "$(for f in "$out"/jf-*.out; do jq -s length "$f" 2>/dev/null || echo x; done | sort -u | tr -d '\n')" = 1 ]
[ -n "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish cli
