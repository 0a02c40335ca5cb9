#!/bin/bash
# A card with a registry larger than a few dozen entries: 120 applications,
# listed in GET STATUS pages of 240 bytes (6310). Once, the whole kind vanished
# past 96 entries and the call said success.
# Then the registry formats of older cards (card 1 a GP 2.1.1 SIM: load files
# only in the legacy format of P1=20, in 6310 pages of 64 bytes; card 2:
# 6A81 to P1=10 both ways; card 3: load files in no way at all): each kind
# is asked every way, a refusal that says "not this way" moves to the next,
# and a kind the card lists no way is said while the others still load. Card
# 3 also answers 6985 to GET DATA before authentication: its card data is
# read over the channel.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    { printf 'isd = A000000151000000 0F 9E\nelf = F000000001 01 00 F00000000101\n'
      for i in $(seq 1 120); do printf 'app = F0000000%04X 07 00 F000000001\n' "$i"; done
    } > "$tmp/big.profile"
    regs='isd = A000000151000000 0F 9E\nelf = F000000001 01 00 F00000000101\nelf = F000000002 01 00\napp = F00000000101 07 00 F000000001\n'
    cp "$GP_HARNESS/../sim/profiles/gp211-sim.profile" "$tmp/sim211.profile"
    printf "$regs"'status_refuse = 10:02=6A81 10:00=6A81\n' > "$tmp/no10.profile"
    printf "$regs"'status_refuse = 10:02=6A86 10:00=6A86 20:02=6A86 20:00=6A86\nget_data_unauthenticated = 6985\n' > "$tmp/nolf.profile"
    "$GP_HARNESS/gp-env.sh" --cards 4 --card-args 0 "--profile $tmp/big.profile" \
        --card-args 1 "--profile $tmp/sim211.profile" --card-args 2 "--profile $tmp/no10.profile" \
        --card-args 3 "--profile $tmp/nolf.profile" -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
out=$GP_ENV_DIR/out
mkdir -p "$out"
export GP_P11_CONF=$(card_conf gp 0 mac default 0)
gpt --json list > "$out/list.json" 2> "$out/list.err"
check "list succeeds on a card with 120 applications" jq -e '.ok' "$out/list.json"
check "... and shows every one of them" \
    [ "$(jq '[.registry[] | select(.kind == "app")] | length' "$out/list.json")" = 120 ]
check "... the last one too" jq -e '[.registry[].aid] | index("F00000000078") != null' "$out/list.json"
check "... the load file and the ISD" \
    jq -e '([.registry[] | select(.kind == "isd" or .kind == "load-file")] | length) == 2' "$out/list.json"
check "... the card counted no failed authentication" [ "$(state 0 failed_auth)" = 0 ]
# card_wait = 0: no wait for another program, and a card nobody holds still answers
GP_P11_CONF=$(card_conf nowait 0 mac default 0 'card_wait = 0') tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" \
    --pin-file "$GP_TEST_PIN_FILE" --json list > "$out/nowait.json" 2> "$out/nowait.err"
check "card_wait = 0 works with a card nobody else holds" jq -e '.ok' "$out/nowait.json"

# list CARD NAME: the tool's list of one card into out/NAME.json
list() {
    GP_P11_CONF=$(card_conf "$2" "$1" mac default 0) gpt --json list > "$out/$2.json" 2> "$out/$2.err"
}
lfs() { jq -r '[.registry[] | select(.kind == "load-file") | .aid] | sort | join(" ")' "$out/$1.json"; }
list 1 sim211
check "GP 2.1.1 SIM: both load files, found in the legacy format of P1=20" \
    [ "$(lfs sim211)" = "F000000001 F000000002" ]
check "... read in 6310 pages of 40 bytes" [ "$(state 1 apdus)" -gt 8 ]
check "... with the ISD (a 7-byte AID) and the application" \
    jq -e '([.registry[] | select(.kind == "isd" or .kind == "app")] | length) == 2 and
           ([.registry[] | select(.kind == "isd") | .aid] == ["A0000001510000"])' "$out/sim211.json"
list 2 no10
check "6A81 to P1=10: both load files, from P1=20" [ "$(lfs no10)" = "F000000001 F000000002" ]
list 3 nolf
check "load files in no way: the list still succeeds" jq -e '.ok' "$out/nolf.json"
check "... with the ISD and the application" \
    jq -e '([.registry[] | select(.kind == "isd" or .kind == "app")] | length) == 2' "$out/nolf.json"
check "... and says which ways were refused" \
    grep -q "lists no load files in any way it was asked (GET STATUS P1=10 P2=02: 6A86, P1=10 P2=00: 6A86, P1=20 P2=02: 6A86, P1=20 P2=00: 6A86" "$out/nolf.err"
GP_P11_CONF=$(card_conf nolf-info 3 mac default 0) gpt --json info > "$out/nolf-info.json" \
    2> "$out/nolf-info.err"
check "a card answering 6985 to GET DATA before authentication: its CPLC read after it" \
    jq -e '.ok and .cplc != null' "$out/nolf-info.json"
check "no card counted a failed authentication" \
    [ "$(state 1 failed_auth)$(state 2 failed_auth)$(state 3 failed_auth)" = 000 ]
[ "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT" # outputs kept, for a run by hand
[ "$failed_checks" = 0 ] || sed 's/^/# /' "$out/list.err" "$out/sim211.err" "$out/nolf.err"
finish registry
