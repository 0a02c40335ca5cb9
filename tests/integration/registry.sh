#!/bin/bash
# A card with a registry larger than a few dozen entries: 120 applications,
# listed in GET STATUS pages of 240 bytes (6310). Once, the whole kind vanished
# past 96 entries and the call said success.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    { printf 'isd = A000000151000000 0F 9E\nelf = F000000001 01 00 F00000000101\n'
      for i in $(seq 1 120); do printf 'app = F0000000%04X 07 00 F000000001\n' "$i"; done
    } > "$tmp/big.profile"
    "$GP_HARNESS/gp-env.sh" --cards 1 --card-args 0 "--profile $tmp/big.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
printf 'keystore_token = %s\n' "$GP_TEST_TOKEN" > "$out/gp.conf"
export GP_P11_CONF=$out/gp.conf
tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --json list \
    > "$out/list.json" 2> "$out/list.err"
check "list succeeds on a card with 120 applications" jq -e '.ok' "$out/list.json"
check "... and shows every one of them" \
    [ "$(jq '[.registry[] | select(.kind == "app")] | length' "$out/list.json")" = 120 ]
check "... the last one too" jq -e '[.registry[].aid] | index("F00000000078") != null' "$out/list.json"
check "... the load file and the ISD" \
    jq -e '([.registry[] | select(.kind == "isd" or .kind == "load-file")] | length) == 2' "$out/list.json"
check "... the card counted no failed authentication" [ "$(state 0 failed_auth)" = 0 ]
# card_wait = 0: no wait for another program, and a card nobody holds still answers
printf 'keystore_token = %s\ncard_wait = 0\n' "$GP_TEST_TOKEN" > "$out/nowait.conf"
GP_P11_CONF=$out/nowait.conf tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" \
    --pin-file "$GP_TEST_PIN_FILE" --json list > "$out/nowait.json" 2> "$out/nowait.err"
check "card_wait = 0 works with a card nobody else holds" jq -e '.ok' "$out/nowait.json"
[ "$failed_checks" = 0 ] || sed 's/^/# /' "$out/list.err"
finish registry
