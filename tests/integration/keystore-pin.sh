#!/bin/bash
# A keystore that counts PIN failures (openCryptoki's soft token; SoftHSM
# never locks): gp-p11 passes wrong PINs up as CKR_PIN_INCORRECT, does not
# spend the keystore's last try even with the right PIN, and reports a locked
# keystore PIN as CKR_PIN_LOCKED. openCryptoki's state lives on tmpfs in the
# test's private mount namespace; its slot daemon ends with the namespace.
if [ -n "${GP_SAN_PRELOAD:-}" ]; then
    echo "skip: pkcsslotd and pkcs11-tool are not built with the sanitizers"; exit 77
fi
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 --no-keys -- bash "$0"
set -u
. "$GP_HARNESS/opencryptoki-env.sh"
so=$oc_so user=$oc_user
passes=0 failures=0
check() { local what=$1; shift; if "$@"; then echo "ok - $what"; passes=$((passes + 1)); else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
printf 'keystore_module = %s\nkeystore_token = keystore\n' "$oc" > "$GP_ENV_DIR/oc.conf"
export GP_P11_CONF=$GP_ENV_DIR/oc.conf
MOD=$GP_BUILDDIR/module/.libs/gp-p11.so
gp() { pkcs11-tool --module "$MOD" --login --pin "$1" -O > "$GP_ENV_DIR/$2" 2>&1; }
flags() { pkcs11-tool --module "$oc" -T 2>/dev/null | grep 'token flags'; }

gp 0000 bad1; gp 0001 bad2
check "wrong PINs: CKR_PIN_INCORRECT, from the keystore" grep -q "CKR_PIN_INCORRECT" "$GP_ENV_DIR/bad2"
check "... the keystore now has one try left" grep -q "final user PIN try" <(flags)
gp "$user" last
check "the last try is not spent, even with the right PIN: CKR_PIN_LOCKED" grep -q "CKR_PIN_LOCKED" "$GP_ENV_DIR/last"
check "... and the log says why" grep -q "one PIN try left: gp-p11 will not spend it" "$GP_ENV_DIR/last"
check "... the keystore is not locked" test "$(flags | grep -c 'user PIN locked')" -eq 0
pkcs11-tool --module "$oc" --login --pin "$user" -O > /dev/null 2>&1 # its owner resets the count
check "after the owner's login the count is reset" test "$(flags | grep -c 'final user PIN try')" -eq 0
for p in 0002 0003 0004; do pkcs11-tool --module "$oc" --login --pin "$p" -O > /dev/null 2>&1; done
check "three failures lock the keystore PIN" grep -q "user PIN locked" <(flags)
gp "$user" locked
check "a locked keystore: CKR_PIN_LOCKED" grep -q "CKR_PIN_LOCKED" "$GP_ENV_DIR/locked"
check "... and the log says how to unblock it" grep -q "keystore PIN is locked (CKR_PIN_LOCKED): unblock it with the SO PIN" "$GP_ENV_DIR/locked"
echo "keystore-pin: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
