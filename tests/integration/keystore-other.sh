#!/bin/bash
# Whole or nothing on a keystore that cannot keep what gp-p11 asks:
# openCryptoki's soft token reports no CKA_VALUE_LEN for an imported AES key
# and has no CKM_DES2_KEY_GEN. An AES import is refused in one line that
# names what is missing, a DES generate in one line naming the mechanism,
# and neither leaves a key or a note behind. A DES import works, with the key
# check values openCryptoki does not keep (taken at creation, kept as notes),
# and a login says in one line why no channel can open (no *_ENCRYPT_DATA).
if [ -n "${GP_SAN_PRELOAD:-}" ]; then
    echo "skip: pkcsslotd and pkcs11-tool are not built with the sanitizers"; exit 77
fi
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 --no-keys -- bash "$0"
set -u
. "$GP_HARNESS/opencryptoki-env.sh"
. "$GP_HARNESS/../integration/checks.sh"
out=$GP_ENV_DIR/out
mkdir -p "$out"
printf '%s\n' "$oc_user" > "$out/pin"
K() { "$GP_P11_KEYS" --module "$oc" --token keystore --pin-file "$out/pin" "$@"; }
objects() { pkcs11-tool --module "$oc" --login --pin "$oc_user" -O 2>/dev/null | grep -c 'label:'; }
g=404142434445464748494A4B4C4D4E4F
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' $g $g $g | K import aes > "$out/aes" 2>&1
rc=$?
check "an AES import the keystore cannot keep as made: exit 1" [ $rc = 1 ]
check "... in one line that says what it does not keep" \
    grep -q 'the keystore does not keep key set "aes" as it was made (key "aes/enc" is neither' "$out/aes"
check "... and nothing is left behind" [ "$(objects)" = 0 ]
K generate gen > "$out/gen" 2>&1
check "a DES generate without CKM_DES2_KEY_GEN: refused in one line" \
    grep -q 'keystore refused to generate key gen/enc: CKR_MECHANISM_INVALID' "$out/gen"
check "... nothing left" [ "$(objects)" = 0 ]
printf 'enc = %s\nmac = %s\ndek = %s\n' $g $g $g | K import des > "$out/des" 2>&1
check "a DES import, with the check values the keystore does not keep (8BAF47)" \
    grep -q '^des *des *enc KCV=8BAF47 mac KCV=8BAF47 dek KCV=8BAF47' "$out/des"
K list > "$out/list" 2>&1
check "... listed by a later process" grep -q '^des *des *enc KCV=8BAF47' "$out/list"
K delete des > /dev/null 2>&1
check "... and deleted with its notes" [ "$(objects)" = 0 ]
K doctor > "$out/doctor" 2>&1
rc=$?
check "keys doctor: exit 0 (what the keystore cannot do is told, not failed)" [ $rc = 0 ]
check "... its list lacks SCP02's derivation, said with the mechanism" \
    grep -q 'not in its list: .*SCP02 logins (CKM_DES3_CBC_ENCRYPT_DATA)' "$out/doctor"
check "... and trying it confirms: no SCP02 login, in the keystore's words" \
    grep -q '^  no    SCP02 logins: keystore: key derivation (CKM_DES3_CBC_ENCRYPT_DATA) failed' "$out/doctor"
check "... SHA-256 for the PIN check works" grep -q '^  yes   the PIN check' "$out/doctor"
check "... and the doctor's session keys are gone" [ "$(objects)" = 0 ]
printf 'enc = %s\nmac = %s\ndek = %s\n' $g $g $g | K import default > /dev/null 2>&1
login_with_keystore "$oc"
check "a login fails in words naming the mechanism the keystore lacks" \
    grep -q 'CKM_DES3_CBC_ENCRYPT_DATA\|CKM_DES3_ECB_ENCRYPT_DATA' "$out/login.err"
check "... before EXTERNAL AUTHENTICATE" [ "$(state 0 ext_auth_received)" = 0 ]
check "... and the module said so at start, from the keystore's mechanism list" \
    grep -q 'warning: keystore token "keystore" (libopencryptoki.so.0) by its mechanism list: .*not in its list: .*SCP02 logins' "$out/login.err"
[ "$failed_checks" = 0 ] || sed 's/^/# /' "$out/login.err" "$out/aes" "$out/doctor"
finish keystore-other
