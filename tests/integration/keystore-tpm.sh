#!/bin/bash
# tpm2-pkcs11 (a TPM 2.0 as a PKCS#11 token; here swtpm, the software TPM,
# on its TCP port inside the test's private network namespace) takes no
# secret key values and generates none: a DES import, an AES import and a
# generate are each refused in one line, nothing is left in the token;
# keys doctor tells what it can do (only SHA-256, the PIN check) and exits 0;
# the module says at start, in a warning, that the keystore lists no login.
if [ -n "${GP_SAN_PRELOAD:-}" ]; then
    echo "skip: swtpm and pkcs11-tool are not built with the sanitizers"; exit 77
fi
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 --no-keys -- bash "$0"
set -u
. "$GP_HARNESS/../integration/checks.sh"
tpm=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
[ -e "$tpm" ] && command -v swtpm > /dev/null || { echo "FAIL: tpm2-pkcs11 or swtpm is not installed"; exit 1; }
out=$GP_ENV_DIR/out
mkdir -p "$out/tpmstate" "$out/tpmstore"
ip link set lo up 2> /dev/null
swtpm socket --tpm2 --tpmstate dir="$out/tpmstate" --server type=tcp,port=2321 \
    --ctrl type=tcp,port=2322 --flags not-need-init,startup-clear > "$out/swtpm.log" 2>&1 &
export TPM2_PKCS11_TCTI=swtpm:host=127.0.0.1,port=2321 TPM2_PKCS11_STORE=$out/tpmstore
for _ in $(seq 50); do (exec 3<> /dev/tcp/127.0.0.1/2321) 2> /dev/null && break; sleep 0.1; done
so=12345678 user=87654321
{ pkcs11-tool --module "$tpm" --init-token --label keystore --so-pin $so &&
  pkcs11-tool --module "$tpm" --token-label keystore --login --login-type so --so-pin $so \
      --init-pin --pin $user; } > "$out/tpm-init.log" 2>&1
check "a tpm2-pkcs11 token on swtpm" [ $? = 0 ]
printf '%s\n' "$user" > "$out/pin"
K() { "$GP_P11_KEYS" --module "$tpm" --token keystore --pin-file "$out/pin" "$@"; }
objects() { pkcs11-tool --module "$tpm" --token-label keystore --login --pin $user -O 2> /dev/null | grep -c 'label:'; }
g=404142434445464748494A4B4C4D4E4F
printf 'enc = %s\nmac = %s\ndek = %s\n' $g $g $g | K import des > "$out/des" 2>&1
check "a DES import: exit 1" [ $? = 1 ]
check "... in one line of gp-p11's, naming the key and the keystore's code" \
    [ "$(grep -c '^gp-p11-keys:' "$out/des")" = 1 -a -n "$(grep 'keystore refused to store key des/enc: CKR_ATTRIBUTE_VALUE_INVALID' "$out/des")" ]
printf 'type = aes\nenc = %s\nmac = %s\ndek = %s\n' $g $g $g | K import aes > "$out/aes" 2>&1
check "an AES import: refused in one line" grep -q 'keystore refused to store key aes/enc' "$out/aes"
K --key-type aes128 generate gen > "$out/gen" 2>&1
check "an AES generate: refused in one line" \
    grep -q 'keystore refused to generate key gen/enc: CKR_FUNCTION_NOT_SUPPORTED' "$out/gen"
check "... and nothing is left in the token" [ "$(objects)" = 0 ]
K doctor > "$out/doctor" 2>&1
check "keys doctor: exit 0" [ $? = 0 ]
check "... SHA-256 works, nothing else" \
    [ "$(grep -c '^  yes ' "$out/doctor")" = 1 -a -n "$(grep '^  yes   the PIN check' "$out/doctor")" ]
check "... its list wraps with no AES mechanism, said as such" \
    grep -q 'cannot do SCP03 PUT KEY of keys generated in the keystore (CKM_AES_CBC does not wrap)' "$out/doctor"
check "... and still nothing in the token" [ "$(objects)" = 0 ]
login_with_keystore "$tpm"
check "the module warns at start: the keystore lists no login" \
    grep -q 'warning: keystore token "keystore" (libtpm2_pkcs11.so) by its mechanism list: can do the PIN check of every login; not in its list: SCP01 logins' "$out/login.err"
check "... and no EXTERNAL AUTHENTICATE is sent" [ "$(state 0 ext_auth_received)" = 0 ]
[ "$failed_checks" = 0 ] || sed 's/^/# /' "$out/tpm-init.log" "$out/des" "$out/doctor" "$out/login.err"
finish keystore-tpm
