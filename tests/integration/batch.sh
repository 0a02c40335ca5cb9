#!/bin/bash
# run --each-card (gp-p11(1), STEP LISTS): the same step list on every card
# put in a reader, two readers at once, one card failing without stopping the
# others; one JSON line per card with its identity, outcome and duration; a
# card taken out and put back has the list again; Ctrl-C ends the batch with
# its summary; a wrong PIN is tried on one card only.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    "$GP_HARNESS/gp-env.sh" --cards 3 -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
# pcsc-lite before 2.0.1 races inside its client library between two
# threads' contexts (tests/tsan-pcsclite.supp says where): the batch's waiter
# thread and its main thread reach it
if ! pkg-config --atleast-version=2.0.1 libpcsclite 2>/dev/null; then
    export TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$GP_HARNESS/../tsan-pcsclite.supp
fi
out=$GP_ENV_DIR/out
mkdir -p "$out"
printf 'keystore_token = %s\nlog_level = info\n' "$GP_TEST_TOKEN" > "$out/gp.conf"
export GP_P11_CONF=$out/gp.conf
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
GP="$GP_BUILDDIR/tools/gp-p11"
schema=$GP_HARNESS/../../doc/gp-p11.schema.json
arm() { printf "$2" > "$(eval echo "\$GP_SIM_CONTROL_$1").new" && mv "$(eval echo "\$GP_SIM_CONTROL_$1").new" "$(eval echo "\$GP_SIM_CONTROL_$1")"; }
pull() { pkill -USR1 -f "[g]p-sim --port 4000$1 "; } # pull CARD: out, and back in 1 s later
# batch NAME ARGS...: the batch in the background (the tool itself, so that a signal reaches it)
batch() {
    local n=$1; shift
    ( [ -n "${GP_SAN_PRELOAD:-}" ] && export LD_PRELOAD=$GP_SAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
      exec "$GP" --module "$MOD" "$@" ) > "$out/$n.out" 2> "$out/$n.err" &
    bpid=$!
}
# until_ N CMD...: CMD true within about N tenths of a second (eval '...' for what
# must be read again each time)
until_() { local n=$1; shift; while ! "$@"; do n=$((n - 1)); [ $n -le 0 ] && return 1; sleep 0.1; done; }
lines() { [ "$(grep -c "$2" "$out/$1" 2>/dev/null)" -ge "$3" ]; }
app=F00000000101 # an application the simulated cards have

printf 'store-data %s 0102030405\nlist\n' "$app" > "$out/job.steps"
s0=$(state 0 sessions) b0=$(state 0 store_blocks) b1=$(state 1 store_blocks)
# card 0 holds its STORE DATA answer back 2.5 s; card 2, in another reader
# (cards 0 and 1 share one two-slot reader), refuses its STORE DATA
arm 0 'fault = delay\non_ins = E2\ndelay_ms = 2500\n'
arm 2 'fault = refuse-sw\non_ins = E2\nsw = 6A80\n'
batch each --pin-file "$GP_TEST_PIN_FILE" --json run --each-card --cards 4 "$out/job.steps"
until_ 100 eval '[ "$(state 0 answering)" = 1 ]'
both() { lines each.out '"serial":"C1D0000000000002"' 1 && [ "$(state 0 answering)" = 1 ]; }
check "two readers at once: card 2's run is over while card 0 still holds its answer back" \
    until_ 20 both
check "... card 2's failure stops no other card (a line for each of the three)" until_ 100 lines each.out '"card"' 3
pull 0
check "card 0 taken out and put back: the list runs on it again, and the batch ends at --cards 4" \
    until_ 150 sh -c "! kill -0 $bpid 2>/dev/null"
kill $bpid 2>/dev/null; wait $bpid; rc=$? # (killed: it did not end by itself)
check "... exit 1: the first failure's code (card 2's refused STORE DATA)" [ "$rc" = 1 ]
cond() { [ "$(jq -c . "$out/each.out" 2>/dev/null | wc -l)" = 5 ] &&
    jq -se 'length == 5 and ([.[0:4][] | .card.serial] | sort) == ["C1D0000000000000", "C1D0000000000000", "C1D0000000000001", "C1D0000000000002"]' "$out/each.out" > /dev/null
}
check "... one JSON document per line: four cards' runs, then the summary" cond
check "... card 0 done twice, each with its run's steps and its duration" \
    jq -se '[.[] | select(.card.serial == "C1D0000000000000" and .ok and .run.done == 2 and .seconds > 0)] | length == 2' "$out/each.out" > /dev/null
check "... card 2 failed at its first step, in words, with the card's status word" \
    jq -se '[.[] | select(.card.serial == "C1D0000000000002")][0] | (.ok | not) and .exit == 1 and .run.steps[0].error.sw == "6A80" and (.error.message | test("step 1 of 2"))' "$out/each.out" > /dev/null
check "... the summary: 4 cards, 3 done, 1 failed" \
    jq -se '.[4] | .command == "run" and .cards == 4 and .done == 3 and .failed == 1 and .exit == 1' "$out/each.out" > /dev/null
check "... on the cards: card 0 personalised twice, one channel per run; card 1 once" \
    [ "$(state 0 store_blocks)" = $((b0 + 2)) -a "$(state 0 sessions)" = $((s0 + 2)) \
      -a "$(state 1 store_blocks)" = $((b1 + 1)) ]
check "... the words of each card's run on standard error, after its serial number" \
    grep -q '^C1D0000000000002: gp-p11: run: step 1 of 2 (line 1) failed; none after it was tried' "$out/each.err"
bad=0 docs=0
while IFS= read -r l; do
    docs=$((docs + 1))
    printf '%s\n' "$l" > "$out/line.json"
    /usr/bin/jsonschema -i "$out/line.json" "$schema" > "$out/line.schema" 2>&1 ||
        { bad=$((bad + 1)); sed 's/^/# /' "$out/line.schema" | head -5; }
done < "$out/each.out"
check "... every line valid against the schema ($docs)" [ "$bad" = 0 -a "$docs" = 5 ]

# Ctrl-C: the batch waits for every card's run to end and sums up
arm 0 '' && arm 2 ''
batch int --pin-file "$GP_TEST_PIN_FILE" run --each-card "$out/job.steps"
until_ 150 lines int.out 'card C1D' 3
kill -INT $bpid; wait $bpid; rc=$?
check "Ctrl-C after three cards: the batch ends as interrupted (130)" [ "$rc" = 130 ]
check "... with its summary, for people" \
    grep -q 'run --each-card: 3 cards, 3 done, 0 failed; ended by Interrupt' "$out/int.out"
check "... each card's line: its serial number, its reader, done and how long" \
    grep -q "^gp-p11: card C1D0000000000001 in \"$GP_READER_1\": done ([0-9.]* s)$" "$out/int.out"
check "... and each card's own output after its serial number" grep -q '^C1D0000000000000: KIND ' "$out/int.out"

# a wrong PIN: tried on one card only, then the batch stops
printf 'wrong-pin\n' > "$out/bad.pin"
batch pin --pin-file "$out/bad.pin" --json run --each-card "$out/job.steps"
check "a wrong PIN: the batch stops by itself" until_ 150 sh -c "! kill -0 $bpid 2>/dev/null"
kill $bpid 2>/dev/null; wait $bpid; rc=$?
cond() { [ "$rc" = 4 ] && grep -q 'the keystore refused the PIN (card C1D000000000000[012]): no other card is tried' "$out/pin.err" &&
    [ "$(jq -s '[.[] | select(.card)] | length' "$out/pin.out")" = 1 ]
}
check "... exit 4, said, and only one card was tried with it" cond
check "the steps on standard input: refused, exit 2" \
    [ "$(echo list | "$GP" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" run --each-card - > /dev/null 2>&1; echo $?)" = 2 ]
check "--trace-file with --each-card: refused, exit 2 (one trace per run)" \
    [ "$("$GP" --module "$MOD" --trace-file "$out/t" run --each-card "$out/job.steps" > /dev/null 2>&1; echo $?)" = 2 ]
check "--cards without --each-card: refused, exit 2" \
    [ "$("$GP" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" run --cards 2 "$out/job.steps" > /dev/null 2>&1; echo $?)" = 2 ]
[ -n "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish batch
