#!/bin/bash
# Promise 2 under every uncertain answer: PUT KEY (add and replace) through the
# gp-p11 tool, with the card executing it and then answering in a way that
# proves nothing: 61xx and then an error or 6Cxx to GET RESPONSE (T=0), 65xx
# after writing, an error status word without R-MAC at an R-MAC level. After
# each: the card counted no failed authentication, PUT KEY went once, the new
# key set is kept and opens the card, the replaced version is gone, and the
# words say what happened. Controls: a refusal the card really made (C-MAC
# level) deletes the new keys; one without R-MAC at an R-MAC level is checked
# first. Then the login's own reads at an R-MAC level (a spoilt R-MAC fails
# the login, said) and DELETE whose answer proves nothing (the registry says).
#   card 0: SCP02 i=15, T=0        card 1: SCP02 i=35 (R-MAC)
#   card 2: SCP03 i=70 AES-128, T=0 card 3: SCP03 i=70 AES-128
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES="$(rnd) $(rnd) $(rnd)"
    printf 'i = 35\n' > "$tmp/rmac.profile"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES" > "$tmp/scp03.profile"
    "$GP_HARNESS/gp-env.sh" --cards 4 --card-args 0 "--t0" \
        --card-args 1 "--profile $tmp/rmac.profile" \
        --card-args 2 "--t0 --profile $tmp/scp03.profile" \
        --card-args 3 "--profile $tmp/scp03.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
set -- $GP_TEST_AES
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' "$1" "$2" "$3" | "$GP_P11_KEYS" \
    --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" \
    import scp03 > "$out/aes-import" 2>&1
check "the SCP03 cards' key set is imported" grep -q '^scp03 *aes128' "$out/aes-import"
# conf NAME CARD LEVEL KEYSET KVN: a configuration for one card
conf() { card_conf "$@" 'put_key_plaintext = yes'; }
arm() { printf "$2" > "$(eval echo "\$GP_SIM_CONTROL_$1").new" && mv "$(eval echo "\$GP_SIM_CONTROL_$1").new" "$(eval echo "\$GP_SIM_CONTROL_$1")"; }
has() { has_version "$@"; }
keyset_exists() { "$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" \
    --pin-file "$GP_TEST_PIN_FILE" list 2>/dev/null | grep -q "^$1 "; }
# a DES key file for SCP02's PUT KEY (SoftHSM wraps no DES key: the values go in)
deskeys() { printf 'enc = %s\nmac = %s\ndek = %s\n' "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1" \
    "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1" "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1" > "$out/des-$1"; echo "$out/des-$1"; }

# unknown CARD LEVEL LOGIN_SET LOGIN_KVN NEW_SET NEW_KVN REPLACE FAULT WHAT
# PUT KEY under FAULT, whose outcome is unknown: kept, said, sent once
unknown() {
    local k=$1 level=$2 set=$3 kvn=$4 name=$5 new=$6 rep=$7 fault=$8 c=$9 from=()
    [ "$k" -lt 2 ] && from=(--from-file "$(deskeys "${new#0x}")")
    export GP_P11_CONF=$(conf "$name" "$k" "$level" "$set" "$kvn")
    local put=$(state "$k" keys_put) ea=$(state "$k" ext_auth_received)
    arm "$k" "$fault"
    gpt --json put-key "$name" --version "$new" --replace "$rep" "${from[@]}" \
        > "$out/$name.json" 2> "$out/$name.err"
    check "[$c] PUT KEY went to the card once" [ "$(state "$k" keys_put)" = $((put + 1)) ]
    check "[$c] ... no failed authentication counted" [ "$(state "$k" failed_auth)" = 0 ]
    check "[$c] ... the words say the outcome was unknown and what the check found" \
        grep -q "A check on a fresh channel shows key version ${new#0x} with the new keys on the card: PUT KEY took effect, and the new key set \"$name\" is kept" "$out/$name.err"
    check "[$c] ... the card holds the new version" has "$k" "${new#0x}"
    [ "$rep" != 0 ] && check "[$c] ... and no longer the replaced one" eval '! has "$k" "${rep#0x}"'
    check "[$c] ... the keystore kept the new key set" keyset_exists "$name"
    check "[$c] ... the tool reports success" jq -e '.ok' "$out/$name.json"
    export GP_P11_CONF=$(conf "$name-login" "$k" mac "$name" "$new")
    gpt --json list > "$out/$name-login.json" 2> "$out/$name-login.err"
    check "[$c] ... the new key set opens the card" jq -e '.ok' "$out/$name-login.json"
}

# --- SCP02, T=0: the answer to PUT KEY waits behind 61xx -------------------------
unknown 0 mac default 1 t0a 0x11 0 'fault = replace-sw\nafter_ins = D8\non_ins = C0\nsw = 6F00\n' \
    "SCP02 T=0 add, GET RESPONSE 6F00"
unknown 0 mac t0a 0x11 t0b 0x12 0x11 'fault = replace-sw\nafter_ins = D8\non_ins = C0\nsw = 6700\n' \
    "SCP02 T=0 replace, GET RESPONSE 6700"
unknown 0 mac t0b 0x12 t0c 0x13 0x12 'fault = replace-sw\nafter_ins = D8\non_ins = C0\nsw = 6C0A\n' \
    "SCP02 T=0 replace, GET RESPONSE 6C0A"
check "[SCP02 T=0] 6Cxx to GET RESPONSE sent nothing again (no second PUT KEY)" \
    grep -q "answered GET RESPONSE with 6C0A" "$out/t0c.err"
unknown 0 mac t0c 0x13 t0d 0x14 0 'fault = replace-sw\non_ins = D8\nsw = 6581\n' \
    "SCP02 add, 6581 after writing"
# --- SCP02 at R-MAC level: an error without R-MAC proves nothing -------------------
unknown 1 mac-rmac default 1 rm1 0x21 0 'fault = replace-sw\non_ins = D8\nsw = 6A80\n' \
    "SCP02 R-MAC add, 6A80 without R-MAC"
unknown 1 mac-rmac rm1 0x21 rm2 0x22 0x21 'fault = replace-sw\non_ins = D8\nsw = 6A88\n' \
    "SCP02 R-MAC replace, 6A88 without R-MAC"
# --- SCP03 (keys generated inside SoftHSM), T=0 and R-MAC levels --------------------
unknown 2 mac scp03 0x30 s3a 0x31 0 'fault = replace-sw\nafter_ins = D8\non_ins = C0\nsw = 6F00\n' \
    "SCP03 T=0 add, GET RESPONSE 6F00"
unknown 2 mac-enc s3a 0x31 s3b 0x32 0x30 'fault = replace-sw\nafter_ins = D8\non_ins = C0\nsw = 6C0A\n' \
    "SCP03 T=0 replace 30 by 32, GET RESPONSE 6C0A"
unknown 3 mac-rmac scp03 0x30 s3c 0x33 0 'fault = replace-sw\non_ins = D8\nsw = 6A80\n' \
    "SCP03 R-MAC add, 6A80 (no R-MAC)"
unknown 3 mac-enc-rmac-renc s3c 0x33 s3d 0x34 0x30 'fault = replace-sw\non_ins = D8\nsw = 6581\n' \
    "SCP03 level 33 replace 30 by 34, 6581"

# --- controls: a refusal ---------------------------------------------------------
# at C-MAC level the card's word is taken: the new keys go
export GP_P11_CONF=$(conf ref0 0 mac t0d 0x14)
put=$(state 0 keys_put)
arm 0 'fault = refuse-sw\non_ins = D8\nsw = 6A80\n'
gpt --json put-key ref0 --version 0x15 --from-file "$(deskeys 15)" > "$out/ref0.json" 2> "$out/ref0.err"
check "[refusal, C-MAC] PUT KEY refused: exit 1, the card's SW in the JSON" \
    sh -c "[ \$(jq -r .exit '$out/ref0.json') = 1 ] && jq -e '.error.sw == \"6A80\" and .error.kind == \"card refused\"' '$out/ref0.json' >/dev/null"
check "[refusal, C-MAC] ... said: nothing changed on the card, the new key set deleted" \
    grep -q 'The card did not execute it: nothing changed on the card, and the new key set "ref0" is deleted' "$out/ref0.err"
check "[refusal, C-MAC] ... the new key set is gone from the keystore" eval '! keyset_exists ref0'
check "[refusal, C-MAC] ... and the card holds no version 15" eval '! has 0 15'
# at an R-MAC level the same refusal carries no R-MAC: checked before anything goes
export GP_P11_CONF=$(conf ref3 3 mac-rmac s3d 0x34)
arm 3 'fault = refuse-sw\non_ins = D8\nsw = 6A80\n'
gpt --json put-key ref3 --version 0x35 > "$out/ref3.json" 2> "$out/ref3.err"
check "[refusal without R-MAC] checked on a fresh channel first, then the keys go" \
    grep -q 'A check on a fresh channel shows the card has no key version 35: it did not execute PUT KEY, and the new key set "ref3" is deleted' "$out/ref3.err"
check "[refusal without R-MAC] ... the word says the answer proves nothing" \
    grep -q 'an answer without R-MAC, which does not prove the card' "$out/ref3.err"
check "[refusal without R-MAC] ... no failed authentication" [ "$(state 3 failed_auth)" = 0 ]

# --- the login's reads at an R-MAC level: nothing unauthenticated is served --------
# the GET STATUS, then the GET DATA 9F7F (the fifth GET DATA: 9F7F, 0045, 0042 and 0066
# go before the channel), at R-MAC and at R-MAC + R-ENC
for f in 'on_ins = F2' 'on_ins = CA\nskip = 4' 'on_ins = CA\nskip = 4\nlevel33'; do
    lvl=mac-rmac; case "$f" in *level33) lvl=mac-enc-rmac-renc; f=${f%\\nlevel33} ;; esac
    export GP_P11_CONF=$(conf rl3 3 $lvl s3d 0x34)
    printf 'trace = apdu\n' >> "$GP_P11_CONF"
    arm 3 "fault = bad-rmac\n$f\n"
    gpt --json list > "$out/rl3.json" 2> "$out/rl3.err"
    check "[R-MAC at login, $lvl, $f] a spoilt R-MAC on the login's reads fails the login" \
        sh -c "jq -e '.ok == false' '$out/rl3.json' >/dev/null && [ \$(jq -r .exit '$out/rl3.json') != 0 ]"
    check "[R-MAC at login, $lvl, $f] ... said in words" \
        grep -q "does not verify.*nothing more is read, the login fails" "$out/rl3.err"
    check "[R-MAC at login, $lvl, $f] ... nothing sent after it" \
        sh -c "! sed -n '/does not verify/,\$p' '$out/rl3.err' | grep -q '> '"
    [ "$f" = 'on_ins = F2' ] || check "[R-MAC at login] ... it was the GET DATA's" \
        grep -q 'reading the card.s "CPLC" (GET DATA 9F7F)' "$out/rl3.err"
done
gpt --json list > "$out/rl3b.json" 2> "$out/rl3b.err"
check "[R-MAC at login] ... the next login works" jq -e '.ok' "$out/rl3b.json"
check "[a login] asks the card for its CIN (GET DATA 0045) once" \
    [ "$(grep -c '> GET DATA 80CA0045' "$out/rl3b.err")" = 1 ]

# --- 6982 at an R-MAC level carries no R-MAC: only a command that reads goes again ---
export GP_P11_CONF=$(conf ap3 3 mac-rmac s3d 0x34)
arm 3 'fault = close-channel\non_ins = CA\nskip = 7\n' # after the login's seven
gpt --json apdu 80CA9F7F00 > "$out/ap3.json" 2> "$out/ap3.err"
check "[6982 without R-MAC] GET DATA (a read) is sent again on a new channel and answered" \
    sh -c "jq -e '.ok' '$out/ap3.json' >/dev/null && grep -q 'sending it once more on a new channel' '$out/ap3.err'"
ea=$(state 3 ext_auth_received)
arm 3 'fault = close-channel\non_ins = F0\n'
gpt --json apdu 80F0408306F00000000101 > "$out/ap4.json" 2> "$out/ap4.err"
check "[6982 without R-MAC] SET STATUS (a change) fails" jq -e '.ok == false' "$out/ap4.json"
check "[6982 without R-MAC] ... said" grep -q 'without R-MAC: that proves nothing' "$out/ap4.err"
check "[6982 without R-MAC] ... and not sent again (one channel only: $ea)" \
    [ "$(state 3 ext_auth_received)" = $((ea + 1)) ]

# --- DELETE whose answer proves nothing: the registry says -------------------------
export GP_P11_CONF=$(conf del3 3 mac-rmac s3d 0x34)
arm 3 'fault = replace-sw\non_ins = E4\nsw = 6A80\n'
gpt --json delete F00000000102 > "$out/del3.json" 2> "$out/del3.err"
check "[DELETE, 6A80 without R-MAC] the registry, read again, shows it gone: success" \
    sh -c "jq -e '.ok' '$out/del3.json' >/dev/null && grep -q 'Its outcome was unknown; the card.s registry, read again, shows application gone' '$out/del3.err'"
arm 3 'fault = refuse-sw\non_ins = E4\nsw = 6A80\n'
gpt --json delete F00000000101 > "$out/del4.json" 2> "$out/del4.err"
check "[DELETE refused without R-MAC] the registry shows it still there: failure, said" \
    sh -c "jq -e '.ok == false' '$out/del4.json' >/dev/null && grep -q 'still on the card: it was not deleted' '$out/del4.err'"
# --- put-key interrupted while PUT KEY is at the card (keys generated: SCP03) -------
extractable() { pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login \
    --pin "$(cat "$GP_TEST_PIN_FILE")" -O 2>/dev/null | grep -A4 "label: *$1/" | grep -cE 'Access: +extractable|, extractable'; }
# interrupt SIG NAME KVN FAULT: put-key NAME, SIG while the card holds its answer back
interrupt() {
    local w=0 # the card done with an answer held back before
    until [ "$(state 3 answering)" = 0 ]; do w=$((w + 1)); [ $w -gt 400 ] && break; sleep 0.05; done
    export GP_P11_CONF=$(conf "$2" 3 mac s3d 0x34)
    arm 3 "$4delay_ms = 2000\n"
    ( [ -n "${GP_SAN_PRELOAD:-}" ] && export LD_PRELOAD=$GP_SAN_PRELOAD \
          ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
      exec "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --json \
          put-key "$2" --version "$3" ) > "$out/$2.json" 2> "$out/$2.err" &
    local pid=$! n=0 # the tool itself (exec), so that the signal goes to it
    until [ "$(state 3 answering)" = 1 ] && [ "$(state 3 last_ins)" = D8 ]; do
        n=$((n + 1)); [ $n -gt 400 ] && break; sleep 0.05; done
    kill -"$1" $pid
    wait $pid; echo $? > "$out/$2.rc"
}
interrupt INT int1 0x36 'fault = delay\non_ins = D8\n'
check "[Ctrl-C during PUT KEY] the tool lets it finish, then ends as interrupted (130)" \
    [ "$(cat "$out/int1.rc")" = 130 ]
check "[Ctrl-C during PUT KEY] ... said" grep -q 'came while the card was being changed: the command was let finish' "$out/int1.err"
check "[Ctrl-C during PUT KEY] ... its JSON whole, and PUT KEY done" jq -e '.ok and .key_version == 54' "$out/int1.json"
check "[Ctrl-C during PUT KEY] ... the new keys sealed" [ "$(extractable int1)" = 0 ]
interrupt KILL int2 0x37 'fault = delay\non_ins = D8\n'
check "[killed during PUT KEY, card took it] the new keys are left extractable" [ "$(extractable int2)" -gt 0 ]
interrupt KILL int3 0x38 'fault = refuse-sw\non_ins = D8\nsw = 6A80\n'
check "[killed during PUT KEY, card refused it] the new keys are left extractable" [ "$(extractable int3)" -gt 0 ]
export GP_P11_CONF=$(conf int-next 3 mac s3d 0x34)
gpt --json list > "$out/int-next.json" 2> "$out/int-next.err"
check "[the next login] works" jq -e '.ok' "$out/int-next.json"
check "[the next login] ... no extractable key is left" sh -c "[ \$(pkcs11-tool --module '$GP_SOFTHSM_MODULE' --token-label '$GP_TEST_TOKEN' --login --pin \$(cat '$GP_TEST_PIN_FILE') -O 2>/dev/null | grep -cE 'Access: +extractable|, extractable') = 0 ]"
check "[the next login (int3's)] ... the set the card took: kept, sealed, said" \
    grep -q 'an earlier PUT KEY did not finish: the card holds key set "int2" as key version 37, so it is kept, and sealed now' "$out/int3.err"
check "[the next login] ... the set the card refused: kept, sealed, said" \
    grep -q 'the card does not hold key set "int3" as key version 38 (it has no such key version). It is kept and sealed now' "$out/int-next.err"
check "[the next login] ... both kept" sh -c "'$GP_P11_KEYS' --module '$GP_SOFTHSM_MODULE' --token '$GP_TEST_TOKEN' --pin-file '$GP_TEST_PIN_FILE' list 2>/dev/null | grep -q '^int2 ' && '$GP_P11_KEYS' --module '$GP_SOFTHSM_MODULE' --token '$GP_TEST_TOKEN' --pin-file '$GP_TEST_PIN_FILE' list 2>/dev/null | grep -q '^int3 '"
export GP_P11_CONF=$(conf int2-login 3 mac int2 0x37)
gpt --json list > "$out/int2-login.json" 2> "$out/int2-login.err"
check "[the next login] ... and the kept set opens the card" jq -e '.ok' "$out/int2-login.json"
# --- a refused EXTERNAL AUTHENTICATE: no process tries that card again ---------------
export GP_P11_CONF=$(conf ra 0 mac t0d 0x14)
arm 0 'fault = refuse-auth\non_ins = 82\n'
ea=$(state 0 ext_auth_received)
for n in 1 2 3; do gpt --json list > "$out/ra$n.json" 2> "$out/ra$n.err"; done
check "[refused EXTERNAL AUTHENTICATE] three runs of the tool: one EXTERNAL AUTHENTICATE, one failure" \
    sh -c "[ $(state 0 ext_auth_received) = $((ea + 1)) ] && [ $(state 0 failed_auth) = 1 ]"
check "[refused EXTERNAL AUTHENTICATE] ... the later runs say why, and how to allow a try" \
    grep -q 'refused EXTERNAL AUTHENTICATE before (6300 to key version 14, .*gp-p11 keys forget-refusal 00001234567890ABCDEF' "$out/ra3.err"
cond() { jq -e '.error.reason == "authentication-refused" and .error.sw == "6300"' "$out/ra1.json" > /dev/null &&
    jq -se 'all(.[]; .error.reason == "authentication-held")' "$out/ra2.json" "$out/ra3.json" > /dev/null
}
check "[refused EXTERNAL AUTHENTICATE] ... the JSON's reason: refused in the first run, held in the later" cond
gpt --json keys refusals > "$out/ra-list.json" 2> "$out/ra-list.err"
check "[refused EXTERNAL AUTHENTICATE] ... keys refusals lists the card" \
    jq -e '.refusals | map(.kdd) | index("00001234567890ABCDEF") != null' "$out/ra-list.json"
gpt --json keys forget-refusal 00001234567890ABCDEF > "$out/ra-forget.json" 2> "$out/ra-forget.err"
check "[refused EXTERNAL AUTHENTICATE] ... forget-refusal forgets it" jq -e '.ok and .forgotten == 1' "$out/ra-forget.json"
gpt --json list > "$out/ra4.json" 2> "$out/ra4.err"
check "[refused EXTERNAL AUTHENTICATE] ... then a login tries, and works" jq -e '.ok' "$out/ra4.json"
# --- STORE DATA: a block the application took is never sent again ------------------
# 300 bytes: two blocks at C-MAC (247 + 53); the card closes the channel at the second
export GP_P11_CONF=$(conf sd0 0 mac t0d 0x14)
head -c 300 /dev/zero | tr '\0' '\252' > "$out/sd0.bin"
blocks=$(state 0 store_blocks)
arm 0 'fault = close-channel\nafter_ins = E2\non_ins = E2\n'
gpt --json store-data F00000000101 --file "$out/sd0.bin" > "$out/sd0.json" 2> "$out/sd0.err"
check "[STORE DATA, 6982 at the second block] fails" jq -e '.ok == false' "$out/sd0.json"
check "[STORE DATA, 6982 at the second block] ... the first block went once, nothing again" \
    [ "$(state 0 store_blocks)" = $((blocks + 1)) ]
check "[STORE DATA, 6982 at the second block] ... said: what the application took, where to go on" \
    grep -q 'The application took the first 247 of the 300 bytes; it refused the next block, and nothing is sent again: send the rest, from byte 247 on' "$out/sd0.err"

# --- INSTALL whose answer proves nothing: the registry, read on a new channel, says --
"$GP_BUILDDIR/tests/cap/mkcap" "$out/app.cap" --size 2000 --applets 1 --pkg D2760001DD01 || exit 1
export GP_P11_CONF=$(conf in3 3 mac-rmac s3d 0x34)
arm 3 'fault = replace-sw\nafter_ins = E8\non_ins = E6\nsw = 6A80\n'
gpt --json install "$out/app.cap" > "$out/in3.json" 2> "$out/in3.err"
check "[INSTALL, 6A80 without R-MAC] said: unknown, so the registry was read on a new channel" \
    grep -q 'Whether the card executed it was unknown, so its registry was read again on a new channel: Load file now on the card' "$out/in3.err"
check "[INSTALL, 6A80 without R-MAC] ... the card holds the load file" \
    sh -c "grep '^lifecycles = ' '$GP_SIM_STATE_3' | grep -q D2760001DD01"
for k in 0 1 2 3; do
    check "card $k counted no failed authentication" [ "$(state $k failed_auth)" = 0 ]
done
[ "$failed_checks" = 0 ] || for f in "$out"/*.err "$out"/*.json; do echo "--- $f"; sed 's/^/# /' "$f"; done
finish outcomes
