#!/bin/bash
# Privileged and hostile settings: a configuration or keystore module that
# another user can write is refused with a message naming it, a directory is
# an error, and GP_P11_CONF is ignored where secure_getenv says so (a setuid
# program). Runs in tests/harness/gp-env.sh with one card.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- bash "$0"
set -u
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR
p11() { tool pkcs11-tool --module "$MOD" "$@"; }
printf 'keystore_token = %s\n' "$GP_TEST_TOKEN" > "$out/good.conf"

# --- who may write the configuration ---
cp "$out/good.conf" "$out/ww.conf"; chmod 666 "$out/ww.conf"
GP_P11_CONF=$out/ww.conf p11 -L > "$out/ww" 2>&1
check "a world-writable configuration is refused, named" grep -q "configuration $out/ww.conf is writable by other users (mode 0666" "$out/ww"
check "... saying what to do" grep -q "chmod go-w $out/ww.conf" "$out/ww"
check "... and no slot is offered from it" sh -c '! grep -q "Slot 0" "$0"' "$out/ww"
GP_P11_CONF=$out p11 -L > "$out/dir" 2>&1
check "a directory as the configuration is an error" grep -q "configuration $out is a directory, not a file" "$out/dir"
wwdir=$(mktemp -d); chmod 777 "$wwdir"
cp "$out/good.conf" "$wwdir/in-ww-dir.conf"
GP_P11_CONF=$wwdir/in-ww-dir.conf p11 -L > "$out/wwdir" 2>&1
check "a configuration in a directory others can write is refused" grep -q "is in $wwdir, which is writable by other users" "$out/wwdir"

sticky=$(mktemp -d); chmod 1777 "$sticky"
cp "$out/good.conf" "$sticky/own.conf"
GP_P11_CONF=$sticky/own.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/sticky" 2>&1
check "a file of one's own in a sticky directory (like /tmp) is accepted" grep -q "Data object" "$out/sticky"
rm -rf "$sticky"

# --- who may write the keystore module ---
cp "$GP_SOFTHSM_MODULE" "$wwdir/libkeystore.so"
printf 'keystore_token = %s\nkeystore_module = %s\n' "$GP_TEST_TOKEN" "$wwdir/libkeystore.so" > "$out/wwmod.conf"
GP_P11_CONF=$out/wwmod.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/wwmod" 2>&1
check "a keystore module others could replace is not loaded" grep -q "keystore module $wwdir/libkeystore.so is in $wwdir, which is writable by other users" "$out/wwmod"
check "... and the login fails" grep -q "CKR_DEVICE_ERROR" "$out/wwmod"
GP_P11_CONF=$out/good.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/good" 2>&1
check "the configuration as it should be works" grep -q "Data object" "$out/good"

# --- secure_getenv: GP_P11_CONF means nothing to a setuid program ---
probe=$(mktemp -d); chmod 755 "$probe"
# the probe and the module where nobody can read them (the build may be in a private directory)
cp "$GP_BUILDDIR/tests/integration/init_probe" "$MOD" "$probe/"
chmod 755 "$probe/init_probe"; chmod 644 "$probe/gp-p11.so"
printf 'no_such_key = 1\n' > "$probe/bad.conf"; chmod 644 "$probe/bad.conf"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env GP_P11_CONF="$probe/bad.conf" "$@"; }
as_nobody "$probe/init_probe" "$probe/gp-p11.so" > "$out/plain" 2>&1
check "a plain program honours GP_P11_CONF (the bad file is refused)" grep -q "C_Initialize: 0x5" "$out/plain"
chmod 4755 "$probe/init_probe"
as_nobody "$probe/init_probe" "$probe/gp-p11.so" > "$out/suid" 2>&1
check "a setuid program ignores GP_P11_CONF (secure_getenv)" grep -q "C_Initialize: 0x0" "$out/suid"
rm -rf "$wwdir" "$probe"

# --- failures said in words at the default log level ---
PCSCLITE_CSOCK_NAME=$out/no-pcscd.comm GP_P11_CONF=$out/good.conf p11 -L > "$out/nopcscd" 2>&1
check "pcscd not running: said, with what to do" grep -q "cannot reach the PC/SC service (pcscd).*Start pcscd" "$out/nopcscd"
printf 'keystore_token = %s\nreader = nosuch\n' "$GP_TEST_TOKEN" > "$out/noreader.conf"
GP_P11_CONF=$out/noreader.conf p11 -L > "$out/noreader" 2>&1
check "a reader filter that matches nothing: said, naming the readers" grep -q "reader = nosuch matches none of the readers: \"$GP_READER_0\"" "$out/noreader"
SOFTHSM2_CONF=$out/no-such-softhsm2.conf GP_P11_CONF=$out/good.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/nosofthsm" 2>&1
check "a broken SOFTHSM2_CONF: the hint names it" grep -q "check SOFTHSM2_CONF ($out/no-such-softhsm2.conf)" "$out/nosofthsm"
printf 'keystore_token = "%s"\nkey_set = "default"\n' "$GP_TEST_TOKEN" > "$out/quoted.conf"
GP_P11_CONF=$out/quoted.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/quoted" 2>&1
check "quoted values are values, not quotes" grep -q "Data object" "$out/quoted"
printf 'keystore_token = %s\nkey_set = nosuch\n' "$GP_TEST_TOKEN" > "$out/nokeys.conf"
GP_P11_CONF=$out/nokeys.conf p11 --login --pin "$GP_TEST_PIN" -O > "$out/nokeys" 2>&1
check "a missing key set: the message names the card's CIN" grep -q 'no key set "nosuch", "nosuch@C1D0000000000000" or' "$out/nokeys"
finish hostile
