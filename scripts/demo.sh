#!/usr/bin/env bash
# Installs what gp-p11 needs (Debian 12), builds it and runs the demo: a
# simulated GlobalPlatform card on a private pcscd, the GlobalPlatform test
# keys in a throw-away SoftHSM keystore, and the gp-p11 tool next to OpenSC's
# pkcs11-tool driving the gp-p11 module.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@" # private namespaces need root
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/setup-debian.sh >/dev/null
./scripts/build.sh build
b="$top/build"
make -C "$b" -s tests/cap/mkcap
export GP_SIM="$b/tests/sim/gp-sim" GP_PCSC_WAIT="$b/tests/harness/pcsc-wait" GP_BUILDDIR="$b" \
       GP_P11_KEYS="$b/tools/gp-p11-keys" GP_P11_MODULE="$b/module/.libs/gp-p11.so" \
       GP_P11_TOOL="$b/tools/gp-p11"
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
say "Login: the PIN unlocks the keystore, then SCP02 opens (keys stay in SoftHSM); the card as objects"
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -E "^(Secret|Data)|label|application" | head -12
gp() { run "$GP_P11_TOOL" --module "$mod" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
say "The same card with the gp-p11 tool: the registry, lifecycles and privileges in words"
gp list
say "gp-p11 info: CPLC, card recognition data and key information, decoded"
gp info
say "The CPLC as pkcs11-tool reads it: the raw object (GET DATA 9F7F through the secure channel)"
run pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" --read-object --type data --label CPLC | od -An -tx1 | head -3
say "Installing an applet (a CAP file made by tests/cap/mkcap): LOAD, INSTALL, selectable"
"$GP_BUILDDIR/tests/cap/mkcap" "$GP_ENV_DIR/hello.cap" --size 8000 --applets 1
gp install "$GP_ENV_DIR/hello.cap"
say "Locking and unlocking it (SET STATUS)"
gp lock D2760001AA0101
gp unlock D2760001AA0101
say "A secured APDU from a shell pipe: GET DATA through the channel, the answer in words"
printf "80CA00E000\n" | run "$GP_P11_TOOL" --module "$mod" --pin-file "$GP_TEST_PIN_FILE" apdu
say "For scripts: --json (here piped to jq), and exit codes that say what happened"
"$GP_P11_TOOL" --module "$mod" --pin-file "$GP_TEST_PIN_FILE" --json list | jq -c ".registry[] | {aid, kind, lifecycle: .lifecycle.name}"
set +e
"$GP_P11_TOOL" --module "$mod" --pin-file "$GP_TEST_PIN_FILE" delete D2760001AA01 2>&1 | tail -1
echo "exit status ${PIPESTATUS[0]} (1: the card refused; the load file still has its applet)"
set -e
say "Deleting the load file with its applet, with gp-p11; pkcs11-tool no longer lists them"
gp delete D2760001AA01 --related
if pkcs11-tool --module "$mod" --login --pin "$GP_TEST_PIN" -O | grep -q D2760001AA01; then
    echo "D2760001AA01 is still there"; exit 1; fi
echo "(no D2760001AA01 in pkcs11-tool -O)"
say "One run with the APDU trace on (gp-p11 -v): commands named, status words explained"
"$GP_P11_TOOL" --module "$mod" --pin-file "$GP_TEST_PIN_FILE" -v apdu 80CA9F7F00 2>&1 >/dev/null | tail -8
say "Done: the demo environment (pcscd, card, keystore) is gone when this script ends"
'
