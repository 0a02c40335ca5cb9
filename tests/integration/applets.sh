#!/bin/bash
# Applets through pkcs11-tool and the C API: load, load + install, install
# from a loaded package with another instance AID and privileges, make
# selectable, personalise with STORE DATA, delete with and without related
# objects, at security levels mac, mac-enc and mac-enc-rmac and over T=0;
# then the faults: card removed in the middle of a LOAD, 6A84 on a block, a
# load the card refuses at INSTALL, and malformed CAP files refused before
# any APDU; every step again over SCP03 (card 3: AES keys, i=70) at mac and at
# mac-enc-rmac-renc, and PUT KEY over SCP03 through the module with keys
# generated inside SoftHSM. Test CAP files come from tests/cap/mkcap.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    printf 'i = 35\n' > "$tmp/rmac.profile"
    rnd() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES="$(rnd) $(rnd) $(rnd)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES" > "$tmp/scp03.profile"
    "$GP_HARNESS/gp-env.sh" --cards 4 --card-args 1 "--profile $tmp/rmac.profile" \
        --card-args 2 "--t0" --card-args 3 "--profile $tmp/scp03.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
mkcap="$GP_BUILDDIR/tests/cap/mkcap"
call="$GP_BUILDDIR/tests/integration/applet_call"
out=$GP_ENV_DIR/out
mkdir -p "$out"
conf() { # conf NAME READER LEVEL [KEYSET]: a configuration; its log goes to out/NAME.log
    printf 'keystore_token = %s\nreader = %s\nsecurity_level = %s\nlog_level = info\ntrace = apdu\n' \
        "$GP_TEST_TOKEN" "$2" "$3" > "$out/$1.conf"
    [ -n "${4:-}" ] && printf 'key_set = %s\nput_key_plaintext = yes\n' "$4" >> "$out/$1.conf"
    echo "$out/$1.conf"
}
# card 3's AES keys, as the provisioning tool stores them
set -- $GP_TEST_AES
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | "$GP_P11_KEYS" \
    --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" \
    import scp03 > "$out/aes-import" 2>&1
check "the SCP03 card's AES-128 key set is imported" grep -q '^scp03 *aes128' "$out/aes-import"
p11u() { tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" "$@"; }
listed() { p11u -O --type data 2>/dev/null | grep -q "label: *'$1'\$"; }
has() { state "$1" "$2" | tr ' ' '\n' | grep -qx "$3"; } # has CARD FIELD ITEM
unlisted() { ! listed "$1"; }
gone() { has "$1" deleted "$2"; } # gone CARD AID: the card deleted it

"$mkcap" "$out/app.cap" --size 3000 --applets 2 || exit 1
"$mkcap" "$out/big.cap" --size 65536 --pkg D2760001BB01 || exit 1
"$mkcap" "$out/lib.ijc" --ijc --applets 0 --no-export --size 900 --pkg D2760001CC01 || exit 1
pkg=D2760001AA01 a1=D2760001AA0101 a2=D2760001AA0102 other=D2760001AA0199
store=$(head -c 600 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)

# --- every step, at each level and over T=0 ---
round() { # round CARD LEVEL [KEYSET]
    local k=$1 lv=$2 r
    r=$(eval echo "\$GP_READER_$k")
    export GP_P11_CONF=$(conf "c$k-$lv" "$r" "$lv" "${3:-}")
    local l0; l0=$(state "$k" loads)
    p11u --write-object "$out/app.cap" --type data --application-label "load file" \
        > "$out/w1" 2>&1
    check "[$lv card $k] pkcs11-tool loads the CAP file (\"load file\")" \
        [ "$(state "$k" loads)" = $((l0 + 1)) ]
    check "[$lv card $k] the load file is listed as its registry object" listed $pkg
    check "[$lv card $k] the card holds it as LOADED" has "$k" lifecycles "$pkg:01"
    "$call" "$MOD" install - $pkg $a1 $other 04 noselect > "$out/i1" 2>&1
    check "[$lv card $k] install from the loaded package, other instance AID and privileges" \
        grep -q "object $other" "$out/i1"
    check "[$lv card $k] ... INSTALLED, privileges 04" has "$k" lifecycles "$other:03"
    check "[$lv card $k] ... privileges 04" has "$k" privileges "$other:04"
    "$call" "$MOD" selectable $other > "$out/s1" 2>&1
    check "[$lv card $k] made selectable (INSTALL [for make selectable])" has "$k" lifecycles "$other:07"
    "$call" "$MOD" store $other "$store" 10 > "$out/p1" 2>&1
    check "[$lv card $k] personalised: STORE DATA brought every byte, in order" \
        [ "$(state "$k" store_data)" = "$store" ]
    check "[$lv card $k] ... the last block flagged, BER-TLV format (P1 90)" \
        [ "$(state "$k" store_p1)" = 90 ]
    "$call" "$MOD" delete $pkg > "$out/d1" 2>&1
    check "[$lv card $k] deleting the load file alone is refused while an application remains" \
        grep -q "rv 0x1b" "$out/d1"
    check "[$lv card $k] ... and still listed" listed $pkg
    "$call" "$MOD" delete $pkg related > "$out/d2" 2>&1
    check "[$lv card $k] deleted with its applications (CKA_GP_DELETE_RELATED)" \
        grep -q "rv 0x0$" "$out/d2"
    check "[$lv card $k] ... the card deleted both" gone "$k" $other
    check "[$lv card $k] ... and the load file" gone "$k" $pkg
    check "[$lv card $k] ... neither is listed" unlisted $pkg
    p11u --write-object "$out/app.cap" --type data --application-label application \
        > "$out/w2" 2>&1
    check "[$lv card $k] \"application\": loaded, first applet installed, selectable" \
        has "$k" lifecycles "$a1:07"
    check "[$lv card $k] ... and the second" has "$k" lifecycles "$a2:07"
    check "[$lv card $k] ... listed" listed $a2
    p11u --delete-object --type data --label $a2 > "$out/d3" 2>&1
    check "[$lv card $k] pkcs11-tool deletes an application" unlisted $a2
    "$call" "$MOD" delete $pkg related > /dev/null 2>&1
}
round 0 mac
round 0 mac-enc
round 1 mac-enc-rmac
round 2 mac-enc
round 3 mac scp03
round 3 mac-enc-rmac-renc scp03
check "[SCP03] the module opened an SCP03 channel (i=70) at level 33" \
    grep -q 'secure channel open: SCP03 i=70, security level 33, key version 48' "$out/w2"
check "[SCP03] R-MAC and R-ENC answers came back (the card counted them)" [ "$(state 3 rmacs)" -gt 10 ]
check "[SCP03] no failed authentication on the SCP03 card" [ "$(state 3 failed_auth)" = 0 ]

# --- PUT KEY over SCP03 through the module: keys generated inside SoftHSM,
# wrapped there under the static DEK (C_WrapKey, AES-CBC); never outside it ---
export GP_P11_CONF=$(conf put03 "$GP_READER_3" mac-enc-rmac-renc scp03)
gpt() { "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
gpt --json put-key rot31 --version 0x31 > "$out/pk1" 2> "$out/pk1.err"
check "[SCP03] put-key adds key version 31 with keys generated in the keystore" \
    jq -e '.ok and .key_version == 49' "$out/pk1"
check "[SCP03] ... the card holds key versions 30 and 31" [ "$(state 3 key_versions)" = "30 31" ]
check "[SCP03] ... the new key set is AES-128 in the keystore" sh -c "'$GP_P11_KEYS' --module '$GP_SOFTHSM_MODULE' --token '$GP_TEST_TOKEN' --pin-file '$GP_TEST_PIN_FILE' list | grep -q '^rot31 *aes128'"
export GP_P11_CONF=$(conf put03b "$GP_READER_3" mac-enc-rmac-renc rot31)
printf 'key_version = 0x31\n' >> "$GP_P11_CONF"
gpt --json put-key rot32 --version 0x32 --replace 0x30 > "$out/pk2" 2> "$out/pk2.err"
check "[SCP03] a fresh login with version 31 works and replaces 30 by 32" \
    sh -c "jq -e '.ok' '$out/pk2' >/dev/null && [ '$(state 3 key_versions)' = '32 31' ]"
ea=$(state 3 ext_auth_received)
export GP_P11_CONF=$(conf put03c "$GP_READER_3" mac scp03)
printf 'key_version = 0x30\n' >> "$GP_P11_CONF"
gpt --json list > "$out/pk3" 2> "$out/pk3.err"
check "[SCP03] the old version is refused: exit 4, key version 30 unknown (6A88)" \
    sh -c "[ \$(jq -r .exit '$out/pk3') = 4 ] && jq -e '.error.sw == \"6A88\"' '$out/pk3' >/dev/null"
check "[SCP03] ... with no EXTERNAL AUTHENTICATE sent" [ "$(state 3 ext_auth_received)" = "$ea" ]
export GP_P11_CONF=$(conf put03d "$GP_READER_3" mac rot32)
printf 'key_version = 0x32\n' >> "$GP_P11_CONF"
gpt --json list > "$out/pk4" 2> "$out/pk4.err"
check "[SCP03] the new version 32 opens the card" jq -e '.ok' "$out/pk4"
# promise 2 over SCP03: the card executes PUT KEY but its answer's R-MAC is
# spoilt; the module asks the card on a fresh SCP03 channel (INITIALIZE UPDATE
# only) and keeps the keys the card now holds
export GP_P11_CONF=$(conf put03e "$GP_READER_3" mac-enc-rmac-renc rot32)
printf 'key_version = 0x32\n' >> "$GP_P11_CONF"
printf 'fault = bad-rmac\non_ins = D8\n' > "$GP_SIM_CONTROL_3.new" && mv "$GP_SIM_CONTROL_3.new" "$GP_SIM_CONTROL_3"
gpt --json put-key rot33 --version 0x33 > "$out/pk5" 2> "$out/pk5.err"
check "[SCP03] PUT KEY answer with a bad R-MAC: checked on a fresh channel, the keys kept" \
    grep -q "shows key version 33 with the new keys on the card: PUT KEY took effect, and the new key set \"rot33\" is kept" "$out/pk5.err"
check "[SCP03] ... the card holds version 33" has 3 key_versions 33
check "[SCP03] ... the keystore holds rot33" sh -c "'$GP_P11_KEYS' --module '$GP_SOFTHSM_MODULE' --token '$GP_TEST_TOKEN' --pin-file '$GP_TEST_PIN_FILE' list | grep -q '^rot33 *aes128'"
check "[SCP03] ... and the check counted no failed authentication" [ "$(state 3 failed_auth)" = 0 ]

# --- a 64 KiB CAP, a library from a raw load file, the options ---
export GP_P11_CONF=$(conf big "$GP_READER_0" mac-enc)
b0=$(state 0 load_blocks)
"$call" "$MOD" load "$out/big.cap" hash sd=A000000151000000 progress > "$out/big" 2> "$out/big.err"
blocks=$(($(state 0 load_blocks) - b0))
check "a 64 KiB CAP loads at mac-enc, with its hash and the ISD named" grep -q "object D2760001BB01" "$out/big"
check "... in blocks of 239 bytes ($blocks blocks, more than 256: P2 goes round)" [ "$blocks" -gt 256 ]
check "... progress said at info" grep -q "LOAD D2760001BB01: block $blocks of $blocks" "$out/big.err"
check "... CKN_SURRENDER after every block" grep -q "^notified $blocks\$" "$out/big"
check "... CKA_GP_PROGRESS counted up to $blocks/$blocks" sh -c "grep '^progress' '$out/big' | tail -1 | grep -qx 'progress $blocks/$blocks' && grep -q '^progress 1/$blocks\$' '$out/big'"
"$call" "$MOD" delete D2760001BB01 > /dev/null 2>&1
# the application stops the LOAD from its Notify callback
b0=$(state 0 load_blocks)
"$call" "$MOD" load "$out/big.cap" cancel=30 > "$out/cancel" 2> "$out/cancel.err"
check "CKR_CANCEL from Notify stops the LOAD: CKR_FUNCTION_CANCELED" grep -q "^rv 0x50\$" "$out/cancel"
check "... after block 30, no more LOAD sent" [ $(($(state 0 load_blocks) - b0)) = 30 ]
check "... said, and nothing of it is on the card" grep -q "stopped by the application after block 30 of .*Nothing of this load file is on the card" "$out/cancel.err"
check "... the card holds no load under way" [ "$(state 0 loading)" = 0 ]
"$call" "$MOD" load "$out/big.cap" > "$out/again" 2>&1
check "... and the next load works" grep -q "object D2760001BB01" "$out/again"
"$call" "$MOD" load "$out/lib.ijc" nodescriptor > "$out/lib" 2>&1
check "a library package from a raw .ijc load file" grep -q "object D2760001CC01" "$out/lib"
"$call" "$MOD" delete D2760001BB01 > /dev/null 2>&1
"$call" "$MOD" delete D2760001CC01 > /dev/null 2>&1

# --- faults ---
ctl() { printf '%s\n' "$@" > "$GP_SIM_CONTROL_0"; }
flt() { local o=$1; shift; p11u "$@" > "$o" 2>&1; cat "$o" >> "$out/faults.log"; } # flt OUT ARGS
: > "$out/faults.log"
export GP_P11_CONF=$(conf faults "$GP_READER_0" mac)
# not enough memory on a block
ctl "mem_free = 20000"
flt "$out/f1" --write-object "$out/big.cap" --type data --application-label "load file"
check "6A84 in the middle of LOAD: pkcs11-tool fails" grep -qi "CKR_DEVICE_MEMORY\|error" "$out/f1"
check "... said in words, with the block" grep -q "LOAD: block [0-9]* of [0-9]* .*not enough memory" "$out/faults.log"
check "... nothing half-loaded is listed" unlisted D2760001BB01
check "... the card holds no load under way" [ "$(state 0 loading)" = 0 ]
ctl "mem_free = 400000"
# the card refuses at INSTALL: the package is on the card already
p11u --write-object "$out/app.cap" --type data --application-label "load file" > /dev/null 2>&1
flt "$out/f2" --write-object "$out/app.cap" --type data --application-label "load file"
check "a load the card refuses at INSTALL [for load] (6985) fails" grep -qi "error\|CKR" "$out/f2"
check "... said in words" grep -q "INSTALL \[for load\]: 6985" "$out/faults.log"
"$call" "$MOD" delete $pkg > /dev/null 2>&1
# malformed CAP files: refused before any APDU of theirs
check "the trace shows INSTALL when it is sent" grep -q "INSTALL 80E6" "$out/faults.log"
for b in tag size missing bomb climb twopkg magic; do
    "$mkcap" "$out/bad-$b.cap" --broken $b
    n0=$(grep -c "INSTALL 80E6" "$out/faults.log")
    flt "$out/bad-$b" --write-object "$out/bad-$b.cap" --type data --application-label "load file"
    check "malformed CAP ($b): refused, no INSTALL sent" \
        [ "$(grep -c "INSTALL 80E6" "$out/faults.log")" = "$n0" ]
done
check "... each with words that name what is wrong" grep -q "refused before anything is sent to the card: the Method component carries tag 6" "$out/faults.log"
# the card pulled out in the middle of LOAD, put back after 0.3 s
ctl "fault = drop" "on_ins = E8" "skip = 40" "reinsert_ms = 300"
flt "$out/f3" --write-object "$out/big.cap" --type data --application-label "load file"
grep -v "LOAD D27\|\] [<>] " "$out/f3" | tail -4
check "card removed during LOAD: pkcs11-tool fails" grep -qi "error\|CKR_DEVICE" "$out/f3"
check "... said in words, with the block" grep -Eq "LOAD: block [0-9]+ of [0-9]+ .*(card is gone|could not be read|Nothing of this load file is on the card)" "$out/faults.log"
sleep 1
check "... after reinsertion nothing half-loaded is listed" unlisted D2760001BB01
flt "$out/f4" --write-object "$out/big.cap" --type data --application-label "load file"
check "... and a new load works" listed D2760001BB01
finish applets
