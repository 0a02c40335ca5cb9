#!/bin/sh
# Runs a command with a throw-away SoftHSM2 token.
#   softhsm-env.sh COMMAND [ARGS...]
# Exports SOFTHSM2_CONF (a config in a fresh temp dir), GP_TEST_TOKEN,
# GP_TEST_PIN and GP_TEST_PIN_FILE, then runs COMMAND and removes the dir.
# Test PINs only: they protect nothing but this temp token.
set -eu
dir=$(mktemp -d "${TMPDIR:-/tmp}/gp-p11-softhsm.XXXXXX")
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$dir" > "$dir/softhsm2.conf"
SOFTHSM2_CONF="$dir/softhsm2.conf"
GP_TEST_TOKEN=${GP_TEST_TOKEN:-gp-p11}
GP_TEST_PIN=${GP_TEST_PIN:-24681357}
GP_TEST_PIN_FILE="$dir/user.pin"
umask 077
printf '%s\n' "$GP_TEST_PIN" > "$GP_TEST_PIN_FILE"
export SOFTHSM2_CONF GP_TEST_TOKEN GP_TEST_PIN GP_TEST_PIN_FILE
softhsm2-util --init-token --free --label "$GP_TEST_TOKEN" --pin "$GP_TEST_PIN" \
    --so-pin 97531864 >/dev/null
rc=0
"$@" || rc=$?
exit $rc
