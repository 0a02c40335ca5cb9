#!/bin/sh
# PUT KEY with keys that never leave the keystore: generated inside it, wrapped
# under the session DEK with C_WrapKey. SoftHSM cannot wrap DES keys, so the
# keystore here is NSS's softoken (libsoftokn3, loaded with
# keystore_init_args), a real module that wraps with 3DES. Adds key version
# 02, replaces it by 03; each new version logs in, the replaced one is
# refused; the new keys end sensitive, unextractable, and only derive.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
set -u
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
SOFTOKN=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
out=$GP_ENV_DIR
mkdir -p "$out/nssdb"
pin=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pin" > "$out/nss.pin"
nssargs=$("$GP_BUILDDIR/tests/harness/nss-token" "$out/nssdb" "$pin") || { echo "FAIL: NSS database"; exit 1; }
conf() { # conf NAME [LINES...]
    f="$out/$1.conf"; shift
    { echo "keystore_module = $SOFTOKN"; echo "keystore_token = NSS Certificate DB"
      echo "keystore_init_args = $nssargs"; printf '%s\n' "$@"; } > "$f"
    echo "$f"
}
keys() { tool "$GP_P11_KEYS" --module "$SOFTOKN" --token "NSS Certificate DB" --init-args "$nssargs" \
    --pin-file "$out/nss.pin" "$@"; }
g=404142434445464748494A4B4C4D4E4F
printf 'enc = %s\nmac = %s\ndek = %s\n' $g $g $g | keys import default > "$out/import" 2>&1
putkey() { GP_P11_CONF=$(conf main) keys --gp-module "$MOD" put-key "$@"; }
login_as() { # login_as KEYSET VERSION: a pkcs11-tool login through the module
    GP_P11_CONF=$(conf "$1" "key_set = $1" "key_version = $2") \
        tool pkcs11-tool --module "$MOD" --login --pin "$pin" -O > "$out/login-$1" 2>&1
}

putkey wrap2 --version 2 > "$out/put2" 2>&1; rc=$?
cat "$out/put2"
check "PUT KEY with keys generated in the keystore adds key version 02" [ $rc -eq 0 ]
check "... the card has versions 01 and 02" grep -q "^key_versions = 01 02$" "$GP_SIM_STATE_0"
check "... and logs in with them" login_as wrap2 2
putkey wrap3 --version 3 --replace 2 > "$out/put3" 2>&1; rc=$?
check "PUT KEY replaces key version 02 by 03" [ $rc -eq 0 ]
check "... the card has versions 01 and 03" grep -q "^key_versions = 01 03$" "$GP_SIM_STATE_0"
check "... 03 logs in" login_as wrap3 3
GP_P11_CONF=$(conf wrap2 "key_set = wrap2" "key_version = 2") \
    tool pkcs11-tool --module "$MOD" --login --pin "$pin" -O > "$out/login-old" 2>&1
check "... the replaced version 02 no longer logs in" sh -c '! grep -q "Data object" "$0"' "$out/login-old"
check "... the card counted no failed authentication" [ "$(state 0 failed_auth)" = 0 ]
# the keys never left the keystore: sensitive, never readable, and no longer extractable
for k in enc mac dek; do
    flags=$("$GP_BUILDDIR/tests/harness/nss-token" "$out/nssdb" "$pin" "wrap3/$k")
    check "wrap3/$k is sensitive and unextractable, and was never readable ($flags)" \
        sh -c 'echo "$0" | grep -q "^sensitive always-sensitive no-extractable"' "$flags"
    check "wrap3/$k may only derive" \
        sh -c 'echo "$0" | grep -q "no-encrypt no-decrypt no-sign no-verify no-wrap no-unwrap derive$"' "$flags"
done
keys list > "$out/list" 2>&1
check "both new key sets are listed with their KCVs" grep -q "^wrap3 .*enc KCV=[0-9A-F]\{6\}" "$out/list"
finish put-key-wrap
