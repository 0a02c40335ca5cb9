#!/bin/bash
# The module as users drive it: OpenSC's pkcs11-tool and p11-kit, through a
# private pcscd, two simulated cards (card 1 locked) and a SoftHSM keystore.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    # a CPLC of our own, so that what pkcs11-tool reads can be checked
    cplc="4790$(od -An -N40 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)"
    printf 'cplc = %s\n' "$cplc" > "$tmp/card0.profile"
    printf 'failed_auth = 3\n' > "$tmp/locked.profile"
    # card 2: R-MAC capable, keys diversified (EMV) from master keys
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    m1=$(rnd 16) m2=$(rnd 16) m3=$(rnd 16)
    printf 'i = 35\nkeys = 01 %s %s %s\ndiversify = emv\nkey_div = %s\n' "$m1" "$m2" "$m3" "$(rnd 10)" \
        > "$tmp/div.profile"
    printf 'enc = %s\nmac = %s\ndek = %s\n' "$m1" "$m2" "$m3" > "$tmp/master.keys"
    export GP_TEST_CPLC=$cplc GP_TEST_MASTER_KEYS=$tmp/master.keys
    "$GP_HARNESS/gp-env.sh" --cards 3 --card-args 0 "--profile $tmp/card0.profile" \
        --card-args 1 "--profile $tmp/locked.profile" --card-args 2 "--profile $tmp/div.profile" \
        -- bash "$0"
    exit $?
fi

passes=0 failures=0
ok() { echo "ok - $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
state() { sed -n "s/^$2 = //p" "$(eval echo "\$GP_SIM_STATE_$1")"; }
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
conf() { # conf NAME [LINES...]: a configuration file
    local f="$out/$1.conf"; shift
    { echo "keystore_token = $GP_TEST_TOKEN"; printf '%s\n' "$@"; } > "$f"
    echo "$f"
}
export GP_P11_CONF=$(conf main "reader = GP Sim 0 00 00")
# programs we did not build: in a sanitizer build they get the sanitizer
# runtimes preloaded, with leak checks off (their own leaks are not ours; the
# module's are checked by test_module, an instrumented application)
tool() {
    if [ -n "${GP_SAN_PRELOAD:-}" ]; then
        LD_PRELOAD=$GP_SAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$@"
    else
        "$@"
    fi
}
p11() { tool pkcs11-tool --module "$MOD" "$@"; }
p11u() { tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" "$@"; }

# --- slots, token, mechanisms ---
GP_P11_CONF=$(conf all) p11 -L > "$out/L" 2>&1
check "-L lists every reader as a slot" grep -q "GP Sim 1 00 00" "$out/L"
check "-L: token label from the card's CIN" grep -q "token label *: GP ISD C1D0000000000000" "$out/L"
check "-L: manufacturer from the CPLC" grep -q "token manufacturer *: NXP" "$out/L"
check "-L: serial number from the CIN" grep -q "serial num *: C1D0000000000000" "$out/L"
check "-L: login required" grep -q "login required" "$out/L"
p11 -T > "$out/T" 2>&1
check "-T lists the token" grep -q "GP ISD C1D0000000000000" "$out/T"
p11 -M > "$out/M" 2>&1
check "-M lists CKM_GP_APDU (sign)" grep -q "mechtype-0xC7500001, hw, sign" "$out/M"

# --- objects after login ---
p11u -O > "$out/O" 2>&1
check "-O shows the secure channel key" grep -q "label: *secure channel" "$out/O"
check "-O shows the ISD" grep -q "label: *'A000000151000000'" "$out/O"
check "-O shows an application" grep -q "label: *'F00000000102'" "$out/O"
check "-O shows a load file" grep -q "label: *'F000000001'" "$out/O"
check "-O shows CPLC" grep -q "label: *'CPLC'" "$out/O"
check "-O shows key information" grep -q "label: *'key information'" "$out/O"
p11 -O > "$out/O-public" 2>&1
check "without login, no registry object" [ -z "$(grep "label: *'A000000151000000'" "$out/O-public")" ]
check "... only what the card shows in the clear (CPLC)" grep -q "label: *'CPLC'" "$out/O-public"
p11u --read-object --type data --label CPLC -o "$out/cplc.bin" > "$out/read" 2>&1
got=$(od -An -tx1 "$out/cplc.bin" | tr -d ' \n' | tr a-f A-F)
check "read CPLC: the card's bytes (9F7F2A + CPLC)" test "$got" = "9F7F2A$GP_TEST_CPLC"

# --- card management ---
p11u --delete-object --type data --label F00000000102 > "$out/del" 2>&1
check "delete an application" grep -q "F00000000102" "$GP_SIM_STATE_0"
p11u -O > "$out/O2" 2>&1
check "the deleted application is gone" test "$(grep -c "'F00000000102'" "$out/O2")" -eq 0
p11u --delete-object --type data --label A000000151000000 > "$out/delisd" 2>&1
check "the ISD cannot be deleted (CKR_ACTION_PROHIBITED, 0x1b)" grep -q "rv = .*(0x1b)" "$out/delisd"
p11u --delete-object --type data --label F000000001 > "$out/delelf" 2>&1
check "a load file in use: refused, in plain words" \
    grep -q "6985: conditions of use not satisfied: the object cannot be deleted now (another application still depends on it" "$out/delelf"
check "a load file in use: CKR_ACTION_PROHIBITED (0x1b)" grep -q "rv = .*(0x1b)" "$out/delelf"

# --- pkcs11-tool's own test ---
p11u --test > "$out/test" 2>&1
check "pkcs11-tool --test --login: no errors" grep -q "^No errors" "$out/test"

# --- failures, each explained, none counted by the card ---
ea=$(state 0 ext_auth_received)
p11 --login --pin 0000 -O > "$out/badpin" 2>&1
check "wrong PIN: CKR_PIN_INCORRECT" grep -q "CKR_PIN_INCORRECT" "$out/badpin"
"$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" generate other > /dev/null
GP_P11_CONF=$(conf wrongkeys "key_set = other" "reader = GP Sim 0 00 00") p11u -O > "$out/wrongkeys" 2>&1
check "wrong keys: refused" grep -q "C_Login failed" "$out/wrongkeys"
check "wrong keys: the log line says why" grep -q 'the keys of key set "other" do not match this card' "$out/wrongkeys"
check "wrong keys: EXTERNAL AUTHENTICATE never sent" test "$(state 0 ext_auth_received)" = "$ea"
check "wrong keys: the card counted no failure" test "$(state 0 failed_auth)" = 0
GP_P11_CONF=$(conf nokeys "key_set = nosuch" "reader = GP Sim 0 00 00") p11u -O > "$out/nokeys" 2>&1
check "missing key set: named" grep -q 'no key set "nosuch", "nosuch@C1D0000000000000" or "nosuch@00001234567890ABCDEF"' "$out/nokeys"
GP_P11_CONF=$(conf locked "reader = GP Sim 0 00 01") p11u -O > "$out/locked" 2>&1
check "locked card: 6983 explained" grep -q "6983: authentication method blocked: the card has locked this key" "$out/locked"
check "locked card: login fails" grep -q "C_Login failed" "$out/locked"

# --- configuration errors name the line ---
printf 'keystore_token = x\nbogus = 1\n' > "$out/bad.conf"
GP_P11_CONF=$out/bad.conf p11 -L > "$out/badconf" 2>&1
check "unknown key: C_Initialize fails naming file and line" grep -q "bad.conf:2: unknown key 'bogus'" "$out/badconf"
printf 'security_level = fast\n' > "$out/bad2.conf"
GP_P11_CONF=$out/bad2.conf p11 -L > "$out/badconf2" 2>&1
check "bad value: explained" grep -q "bad2.conf:1: security_level needs 'mac', 'mac-enc', 'mac-rmac', 'mac-enc-rmac' or 'mac-enc-rmac-renc' (SCP03)" "$out/badconf2"
printf 'scp = 04\n' > "$out/bad3.conf"
GP_P11_CONF=$out/bad3.conf p11 -L > "$out/badconf3" 2>&1
check "a protocol gp-p11 does not speak: explained" grep -q "bad3.conf:1: scp needs 'auto', '01', '02' or '03'" "$out/badconf3"

# --- the APDU trace names commands, explains status words, hides secrets ---
GP_P11_CONF=$(conf trace "trace = apdu" "reader = GP Sim 0 00 00") p11u -O > "$out/trace" 2>&1
check "trace names commands" grep -q "> INITIALIZE UPDATE 80500000" "$out/trace"
check "trace names secured commands, no data unless asked" grep -q "> GET STATUS 80F28002 (2 bytes not shown) \[secured\]" "$out/trace"
GP_P11_CONF=$(conf traced "trace = apdu-data" "reader = GP Sim 0 00 00") p11u -O > "$out/traced" 2>&1
check "trace = apdu-data shows the data of commands sent in the clear" grep -q "> GET STATUS 80F28002 4F00 \[secured\]" "$out/traced"
check "... but never a host challenge" grep -q "> INITIALIZE UPDATE 80500000 (8 bytes not shown)" "$out/traced"
GP_P11_CONF=$(conf tracee "trace = apdu-data" "security_level = mac-enc" "reader = GP Sim 0 00 00") p11u -O > "$out/tracee" 2>&1
check "trace = apdu-data never shows data sent encrypted (mac-enc)" grep -q "> GET STATUS 80F28002 (2 bytes, sent encrypted, not shown) \[secured\]" "$out/tracee"
check "trace explains status words" grep -q "< 9000: success" "$out/trace"
check "trace hides the PIN" test "$(grep -c -- "$GP_TEST_PIN" "$out/trace")" -eq 0
check "trace hides EXTERNAL AUTHENTICATE data" grep -q "EXTERNAL AUTHENTICATE 84820100 (16 bytes not shown)" "$out/trace"
check "trace shows no key" test "$(grep -c -i "404142434445" "$out/trace")" -eq 0

# --- level mac-enc ---
GP_P11_CONF=$(conf enc "security_level = mac-enc" "reader = GP Sim 0 00 00") p11u -O > "$out/enc" 2>&1
check "mac-enc: objects listed" grep -q "label: *'CPLC'" "$out/enc"
check "mac-enc: the card saw level 03" test "$(state 0 level)" = 03
check "no C-MAC the card rejected" test "$(state 0 cmac_bad)" = 0

# --- SCP02 options through the module ---
keys() { "$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
keys import master "$GP_TEST_MASTER_KEYS" > /dev/null
ea=$(state 2 ext_auth_received)
GP_P11_CONF=$(conf div-none "key_set = master" "reader = GP Sim 1 00 00") p11u -O > "$out/div-none" 2>&1
check "master keys without diversification: refused" grep -q 'key set "master" do not match this card' "$out/div-none"
check "master keys without diversification: EXTERNAL AUTHENTICATE never sent" test "$(state 2 ext_auth_received)" = "$ea"
GP_P11_CONF=$(conf div-visa2 "key_set = master" "diversification = visa2" "reader = GP Sim 1 00 00") \
    p11u -O > "$out/div-visa2" 2>&1
check "the wrong diversification method: refused, named" grep -q '(diversified, VISA2) do not match' "$out/div-visa2"
GP_P11_CONF=$(conf div-emv "key_set = master" "diversification = emv" "security_level = mac-enc-rmac" \
    "reader = GP Sim 1 00 00" "log_level = info") p11u -O > "$out/div-emv" 2>&1
check "EMV-diversified keys, C-MAC + C-DEC + R-MAC: login and objects" grep -q "label: *'CPLC'" "$out/div-emv"
check "... at security level 13 with the card's i=35" grep -q "SCP02 i=35, security level 13" "$out/div-emv"
check "... every answer carried an R-MAC that verified" test "$(state 2 rmacs)" -ge 6
check "... the card counted no failure" test "$(state 2 failed_auth)" = 0
GP_P11_CONF=$(conf rmac-no "security_level = mac-rmac" "reader = GP Sim 0 00 00") p11u -O > "$out/rmac-no" 2>&1
check "R-MAC asked of a card without it: refused in words" grep -q "asks for R-MAC, which the card (SCP02 i=15) does not offer" "$out/rmac-no"
GP_P11_CONF=$(conf scpi "scp_i = 1B" "reader = GP Sim 0 00 00") p11u -O > "$out/scpi" 2>&1
check "scp_i overrides the card: an implicit channel the card does not know fails" grep -q "6982" "$out/scpi"

# key sets bound to one card: NAME@CIN, NAME@KDD
printf 'all = 404142434445464748494A4B4C4D4E4F\n' | keys import bound@C1D0000000000000 > /dev/null
GP_P11_CONF=$(conf bound "key_set = bound" "reader = GP Sim 0 00 00" "log_level = info") p11u -O > "$out/bound" 2>&1
check "a key set bound to the card's CIN is found" grep -q 'using key set "bound@C1D0000000000000", bound to this card' "$out/bound"
check "... and opens the channel" grep -q "label: *'CPLC'" "$out/bound"
printf 'all = 404142434445464748494A4B4C4D4E4F\n' | keys import kdd@00001234567890ABCDEF > /dev/null
GP_P11_CONF=$(conf kdd "key_set = kdd" "reader = GP Sim 0 00 00" "log_level = info") p11u -O > "$out/kdd" 2>&1
check "a key set bound to the card's key diversification data is found" grep -q 'using key set "kdd@00001234567890ABCDEF", bound to this card' "$out/kdd"

# --- key rotation (PUT KEY) through gp-p11-keys and the module ---
putkey() { GP_P11_CONF=$1 tool "$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" \
    --gp-module "$MOD" put-key "${@:2}"; }
rot=$(conf rot "reader = GP Sim 0 00 00")
rotp=$(conf rotp "reader = GP Sim 0 00 00" "put_key_plaintext = yes")
putkey "$rot" gen2 --version 2 > "$out/put-gen" 2>&1
if grep -q "C_WrapKey(CKM_DES3_ECB) failed: CKR_MECHANISM_INVALID" "$out/put-gen"; then
    check "keys generated in SoftHSM cannot be wrapped: the two paths explained" \
        grep -q "with put_key_plaintext = yes, put-key --from-file sends key values from a file" "$out/put-gen"
    check "... in the tool's terms, not PKCS#11's" [ -z "$(grep C_CreateObject "$out/put-gen")" ]
    check "... no key set left behind" test "$(keys list | grep -c '^gen2 ')" -eq 0
    check "... the card unchanged" grep -q "^key_versions = 01$" "$GP_SIM_STATE_0"
else
    check "keys generated inside the keystore: PUT KEY" grep -q "key version 02 added" "$out/put-gen"
fi
rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
printf 'enc = %s\nmac = %s\ndek = %s\n' "$(rnd 16)" "$(rnd 16)" "$(rnd 16)" > "$out/new2.keys"
printf 'enc = %s\nmac = %s\ndek = %s\n' "$(rnd 16)" "$(rnd 16)" "$(rnd 16)" > "$out/new3.keys"
putkey "$rot" file2 --version 2 --from-file "$out/new2.keys" > "$out/put-refused" 2>&1
check "key values from a file: refused without put_key_plaintext" grep -q "needs put_key_plaintext = yes" "$out/put-refused"
putkey "$rotp" file2 --version 2 --from-file "$out/new2.keys" > "$out/put-add" 2>&1
check "PUT KEY adds key version 02" grep -q "key version 02 added" "$out/put-add"
check "... the card has it" grep -q "^key_versions = 01 02$" "$GP_SIM_STATE_0"
check "... the keystore holds it" test "$(keys list | grep -c '^file2 ')" -eq 1
GP_P11_CONF=$(conf use2 "key_set = file2" "key_version = 2" "reader = GP Sim 0 00 00") p11u -O > "$out/use2" 2>&1
check "a fresh login with key version 02 works" grep -q "label: *'CPLC'" "$out/use2"
putkey "$rotp" file3 --version 3 --replace 1 --from-file "$out/new3.keys" > "$out/put-repl" 2>&1
check "PUT KEY replaces key version 01 with 03" grep -q "key version 03 replaces" "$out/put-repl"
check "... the card has 03 and 02" grep -q "^key_versions = 03 02$" "$GP_SIM_STATE_0"
GP_P11_CONF=$(conf old1 "key_version = 1" "reader = GP Sim 0 00 00") p11u -O > "$out/old1" 2>&1
check "the old key version is refused (6A88, in words)" grep -q "6A88: referenced data not found: the card has no key set with the requested key version" "$out/old1"
ea=$(state 0 ext_auth_received)
GP_P11_CONF=$(conf old3 "key_version = 3" "reader = GP Sim 0 00 00") p11u -O > "$out/old3" 2>&1
check "the old keys do not open the new version, and nothing is counted" \
    test "$(state 0 ext_auth_received)" = "$ea" -a "$(state 0 failed_auth)" = 0
GP_P11_CONF=$(conf use3 "key_set = file3" "key_version = 3" "reader = GP Sim 0 00 00") p11u -O > "$out/use3" 2>&1
check "a fresh login with the new key version 03 works" grep -q "label: *'CPLC'" "$out/use3"
check "no key value in any output" test "$(cat "$out"/put-* | grep -c -i -f <(sed 's/.*= //' "$out/new2.keys" "$out/new3.keys"))" -eq 0

# --- installed as make install puts it, found by p11-kit ---
root=$GP_ENV_DIR/root
make -C "$GP_BUILDDIR" install DESTDIR="$root" > "$out/install" 2>&1
eval "$(make -s -C "$GP_BUILDDIR" print-install-dirs)"
moddir=$p11kitmoduledir confdir=$p11kitconfigdir
check "make install: module in p11-kit's module path" test -f "$root$moddir/gp-p11.so"
check "make install: module file in p11-kit's config dir" test -f "$root$confdir/gp-p11.module"
check "make install: public header" test -f "$root$gpincludedir/gp-p11.h"
if [ "$moddir" = "$(pkg-config --variable=p11_module_path p11-kit-1)" ] &&
   [ "$confdir" = "$(pkg-config --variable=p11_module_configs p11-kit-1)" ]; then
    # private mount namespace: p11-kit sees exactly what was installed
    mount --bind "$root$moddir" "$moddir" && mount --bind "$root$confdir" "$confdir"
    tool p11-kit list-modules > "$out/p11kit" 2>&1
    check "p11-kit list-modules: the module" grep -q "^gp-p11: gp-p11.so" "$out/p11kit"
    check "p11-kit list-modules: its token" grep -q "token: GP ISD C1D0000000000000" "$out/p11kit"
    tool pkcs11-tool --module "$(pkg-config --variable=proxy_module p11-kit-1)" -L > "$out/proxy" 2>&1
    check "the p11-kit proxy exposes the token" grep -q "GP ISD C1D0000000000000" "$out/proxy"
    umount "$moddir" "$confdir"
else
    echo "skip - p11-kit checks: this build installs outside p11-kit's directories ($moddir)"
fi

echo "pkcs11-tool: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
