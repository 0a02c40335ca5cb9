#!/bin/sh
# PUT KEY with keys that never leave the keystore: generated inside it, wrapped
# under the session DEK with C_WrapKey. SoftHSM cannot wrap DES keys, so the
# keystore here is tests/keystore-double (SoftHSM plus DES3-ECB wrapping,
# clearly a test double). Adds key version 02, replaces it by 03; each new
# version logs in, the replaced one is refused; the new keys end sensitive and
# unextractable.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
set -u
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
double="$GP_BUILDDIR/tests/keystore-double/.libs/wrap-double.so"
out=$GP_ENV_DIR
conf() { # conf NAME [LINES...]
    f="$out/$1.conf"; shift
    { echo "keystore_token = $GP_TEST_TOKEN"; echo "keystore_module = $double"; printf '%s\n' "$@"; } > "$f"
    echo "$f"
}
keys() { tool "$GP_P11_KEYS" --module "$double" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
putkey() { GP_P11_CONF=$(conf main) keys --gp-module "$MOD" put-key "$@"; }
login_as() { # login_as KEYSET VERSION: a pkcs11-tool login through the module
    GP_P11_CONF=$(conf "$1" "key_set = $1" "key_version = $2") \
        tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" -O > "$out/login-$1" 2>&1
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
    tool pkcs11-tool --module "$MOD" --login --pin "$GP_TEST_PIN" -O > "$out/login-old" 2>&1
check "... the replaced version 02 no longer logs in" sh -c '! grep -q "Data object" "$0"' "$out/login-old"
check "... the card counted no failed authentication" [ "$(state 0 failed_auth)" = 0 ]
# the keys never left the keystore: sensitive, never readable, and no longer extractable
tool pkcs11-tool --module "$GP_SOFTHSM_MODULE" --token-label "$GP_TEST_TOKEN" --login \
    --pin "$GP_TEST_PIN" -O > "$out/objects" 2>&1
for k in enc mac dek; do
    access=$(grep -A8 "label: *wrap3/$k\$" "$out/objects" | sed -n 's/^ *Access: *//p' | head -1)
    usage=$(grep -A8 "label: *wrap3/$k\$" "$out/objects" | sed -n 's/^ *Usage: *//p' | head -1)
    check "wrap3/$k is sensitive and unextractable ($access)" \
        sh -c 'echo "$0" | grep -q "sensitive" && ! echo "$0" | grep -qE "(^|, )extractable"' "$access"
    check "wrap3/$k may only derive ($usage)" [ "$usage" = derive ]
done
keys list > "$out/list" 2>&1
check "both new key sets are listed with their KCVs" grep -q "^wrap3 .*enc KCV=" "$out/list"
finish put-key-wrap
