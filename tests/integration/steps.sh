#!/bin/bash
# Step lists (gp-p11 run FILE, gp-p11(1) STEP LISTS): a card's whole job in
# one file, run under one keystore login and one secure channel; at the first
# failure it stops, says which step failed and which were done, and exits
# with that step's code; the JSON has one object per step tried.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    "$GP_HARNESS/gp-env.sh" --cards 1 -- bash "$0"
    exit $?
fi
. "$GP_HARNESS/../integration/checks.sh"
out=$GP_ENV_DIR/out
mkdir -p "$out"
printf 'keystore_token = %s\nlog_level = info\n' "$GP_TEST_TOKEN" > "$out/gp.conf"
export GP_P11_CONF=$out/gp.conf
MOD="$GP_BUILDDIR/module/.libs/gp-p11.so"
gp() { tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
rc() { local n=$1; shift; "$@" > "$out/$n.out" 2> "$out/$n.err"; echo $?; }
j() { jq -e "$2" "$out/$1.out" > /dev/null 2>&1; }
has() { state "$1" "$2" | tr ' ' '\n' | grep -qx "$3"; }
"$GP_BUILDDIR/tests/cap/mkcap" "$out/app.cap" --size 3000 --applets 2 || exit 1
export a1=D2760001AA0101 a2=D2760001AA0102

cat > "$out/job.steps" <<EOF
# a card's job: install, personalise, lock, look
install $out/app.cap

store-data $a1 01020304     # personalisation
lock $a2
list
EOF
s0=$(state 0 sessions) e0=$(state 0 ext_auth_received)
check "a step list of four commands: exit 0" [ "$(rc job gp --json run "$out/job.steps")" = 0 ]
check "... under one secure channel: one INITIALIZE UPDATE, one EXTERNAL AUTHENTICATE" \
    [ "$(state 0 sessions)" = $((s0 + 1)) -a "$(state 0 ext_auth_received)" = $((e0 + 1)) ]
cond() { has 0 lifecycles "$a1:07" && has 0 lifecycles "$a2:87" && [ "$(state 0 store_blocks)" -ge 1 ]; }
check "... every step done on the card" cond
check "... the JSON: one object per step, with its line, command and exit" \
    j job '.command == "run" and .ok and .done == 4 and ([.steps[].line] == [2, 4, 5, 6]) and
           ([.steps[].command] == ["install", "store-data", "lock", "list"]) and
           ([.steps[] | select(.ok and .exit == 0)] | length == 4)'
check "... each step's own fields in its object (list's registry)" \
    j job '[.steps[3].registry[] | select(.aid == env.a2)][0].lifecycle.name == "LOCKED"'
printf 'info\nlist\n' > "$out/look.steps"
cond() { [ "$(rc look gp run "$out/look.steps")" = 0 ] &&
    [ "$(grep -o -e '^== [a-z]*' -e '^KIND' -e 'IC fabricator' "$out/look.out" | tr '\n' ,)" = "== info,IC fabricator,== list,KIND," ]
}
check "for people: each step's line, then its output" cond

cat > "$out/fail.steps" <<EOF
unlock $a2
lock A000000151000000
lock $a1
EOF
check "a failing middle step: exit 2, the step's own (locking the ISD is refused)" \
    [ "$(rc fail gp --json run "$out/fail.steps")" = 2 ]
cond() { has 0 lifecycles "$a2:07" && has 0 lifecycles "$a1:07"; }
check "... the step before it done, the one after it not tried" cond
check "... the JSON: two steps, the second failed with its error, done 1" \
    j fail '.ok == false and .done == 1 and (.steps | length) == 2 and .steps[0].ok and
            (.steps[1].ok | not) and .steps[1].exit == 2 and (.steps[1].error.message | length) > 0'
check "... the words say which step failed, what was done, what was not tried" \
    grep -q 'step 2 of 3 (line 2) failed; the one before it is done, none after it was tried' "$out/fail.err"

printf 'list --reader other\n' > "$out/reader.steps"
cond() { [ "$(rc reader gp run "$out/reader.steps")" = 2 ] && grep -q 'go before run' "$out/reader.err"; }
check "a step with a global option (--reader): exit 2, nothing run" cond
printf 'list\nlist --key-set other\n' > "$out/keyset.steps"
cond() { [ "$(rc keyset gp run "$out/keyset.steps")" = 2 ] && grep -q 'choose the one login of the run' "$out/keyset.err"; }
check "a step with a login choice (--key-set): exit 2, the words say they go before run" cond
# SIGTERM while a step changes the card (lock, its SET STATUS held back by the card)
printf 'lock %s\nlist\n' "$a1" > "$out/term.steps"
printf 'fault = delay\non_ins = F0\ndelay_ms = 1500\n' > "$GP_SIM_CONTROL_0.new" && mv "$GP_SIM_CONTROL_0.new" "$GP_SIM_CONTROL_0"
( [ -n "${GP_SAN_PRELOAD:-}" ] && export LD_PRELOAD=$GP_SAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
  exec "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" --json run "$out/term.steps" ) \
    > "$out/term.out" 2> "$out/term.err" &
pid=$! n=0
until [ "$(state 0 answering)" = 1 ] && [ "$(state 0 last_ins)" = F0 ]; do
    n=$((n + 1)); [ $n -gt 400 ] && break; sleep 0.05; done
kill -TERM $pid; wait $pid; trc=$?
cond() { [ "$trc" = 143 ] && has 0 lifecycles "$a1:87"; }
check "SIGTERM during a step that changes the card: the step let finish, then exit 143" cond
cond() { grep -q 'stopped by Terminated after step 1 of 2 (line 1), which is done; none after it was tried' "$out/term.err" &&
    j term '.ok == false and .exit == 143 and .done == 1 and (.steps | length) == 1 and .steps[0].ok'
}
check "... the next step not tried, said, and the JSON whole" cond
{ printf 'store-data %s ' "$a1"; head -c 2100 /dev/zero | od -An -tx1 -v | tr -d ' \n'; echo; } > "$out/long.steps"
cond() { [ "$(rc long gp run "$out/long.steps")" = 2 ] && grep -q 'line 1 is longer than 4094 characters' "$out/long.err" &&
    ! grep -q '^== ' "$out/long.out"
}
check "a line longer than 4094 characters: exit 2, nothing run, the words say what to use" cond
printf 'run %s\n' "$out/job.steps" > "$out/nested.steps"
check "a step list that runs another: exit 2" [ "$(rc nested gp run "$out/nested.steps")" = 2 ]
check "a file that is not there: exit 2" [ "$(rc nofile gp run "$out/nonexistent")" = 2 ]
printf '# nothing\n\n' > "$out/empty.steps"
check "a file with no step: exit 2" [ "$(rc empty gp run "$out/empty.steps")" = 2 ]
s0=$(state 0 sessions)
check "the steps from standard input, the login's choices before run" \
    [ "$(rc stdin sh -c "printf 'list\ninfo\n' | \"$GP_BUILDDIR/tools/gp-p11\" --module \"$MOD\" --pin-file \"$GP_TEST_PIN_FILE\" --json --key-set default run -")" = 0 ]
cond() { [ "$(state 0 sessions)" = $((s0 + 1)) ] && j stdin '.done == 2'; }
check "... one channel for both" cond
check "the steps and the PIN both from standard input: exit 2" \
    [ "$(rc stdpin sh -c "printf 'list\n' | \"$GP_BUILDDIR/tools/gp-p11\" --module \"$MOD\" --pin-file - run -")" = 2 ]
schema=$GP_HARNESS/../../doc/gp-p11.schema.json
bad=0 docs=0
printf "list\ninfo\n" > "$out/stdin.steps"
for n in reader keyset stdin long nested; do
    gp --json run "$out/$n.steps" > "$out/$n.json.out" 2> /dev/null
done
for f in "$out"/job.out "$out"/fail.out "$out"/term.out "$out"/*.json.out; do
    docs=$((docs + 1))
    /usr/bin/jsonschema -i "$f" "$schema" > "$f.schema" 2>&1 ||
        { bad=$((bad + 1)); sed "s|^|# $(basename "$f"): |" "$f.schema" | head -5; }
done
check "the JSON of every step list above ($docs) is valid against the schema" [ "$bad" = 0 -a "$docs" = 8 ]
[ -n "${GP_KEEP_OUT:-}" ] && cp -r "$out" "$GP_KEEP_OUT"
finish steps
