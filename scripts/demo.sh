#!/usr/bin/env bash
# Installs what gp-p11 needs (Debian 12), builds it and runs the demo: a
# simulated GlobalPlatform card on a private pcscd, the GlobalPlatform test
# keys in a throw-away SoftHSM keystore, and pkcs11-tool driving gp-p11.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@" # private namespaces need root
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/setup-debian.sh >/dev/null
./scripts/build.sh build
b="$top/build"
make -C "$b" -s tests/cap/mkcap
export GP_SIM="$b/tests/sim/gp-sim" GP_PCSC_WAIT="$b/tests/harness/pcsc-wait" GP_BUILDDIR="$b" \
       GP_P11_KEYS="$b/keystore/gp-p11-keys" GP_P11_MODULE="$b/module/.libs/gp-p11.so"
exec tests/harness/gp-env.sh --cards 1 -- bash -c '
set -eu
say() { printf "\n\033[1m== %s\033[0m\n" "$*"; }
run() { printf "\$ %s\n" "$*" >&2; "$@"; }
mod=$GP_P11_MODULE
say "A simulated GlobalPlatform card in reader \"$GP_READER_0\" of a private pcscd"
run "$GP_PCSC_WAIT" --list
say "The keystore: SoftHSM token \"$GP_TEST_TOKEN\" holding the GlobalPlatform test keys 404142..4F"
run "$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" list
printf "keystore_token = %s\nkey_set = default\nsecurity_level = mac\n" "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
export GP_P11_CONF=$GP_ENV_DIR/gp-p11.conf
say "gp-p11 configuration ($GP_P11_CONF)"
cat "$GP_P11_CONF"
say "Slots and tokens: the reader is a slot, the card'"'"'s security domain a token"
run pkcs11-tool --module "$mod" -L
say "Login: the PIN unlocks the keystore, then SCP02 opens (keys stay in SoftHSM)"
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -E "^(Secret|Data)|label|application"
say "Reading the CPLC object (GET DATA 9F7F through the secure channel)"
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" --read-object --type data --label CPLC | od -An -tx1
say "Deleting application F00000000102 (GP DELETE, C-MAC wrapped)"
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" --delete-object --type data --label F00000000102
say "The application is gone"
pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -E "label: +.F0" || true
if pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -q F00000000102; then
    echo "F00000000102 is still there"; exit 1; fi
echo "(F00000000102 no longer listed)"
say "Installing an applet: a CAP file (made by tests/cap/mkcap) loaded and installed with pkcs11-tool"
"$GP_BUILDDIR/tests/cap/mkcap" "$GP_ENV_DIR/hello.cap" --size 8000 --applets 1
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" --write-object "$GP_ENV_DIR/hello.cap" \
    --type data --application-label application
pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -A1 -E "label: +.D2760001AA01" | grep -E "label|application"
say "One login with the APDU trace on (trace = apdu): commands named, status words explained"
echo "trace = apdu" >> "$GP_P11_CONF"
pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O 2>&1 >/dev/null | head -24
say "Done: the demo environment (pcscd, card, keystore) is gone when this script ends"
'
