#!/bin/sh
# Sharing a reader: two processes log in, read through the secure channel and
# log out 30 times each on one card, while a third PC/SC client selects an
# applet and reads in the clear between them. The card must count no failed
# authentication, every answer returned as success must be the security
# domain's (shared_worker checks), and every process must finish.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
set -u
rounds=${GP_SHARED_ROUNDS:-30}
printf 'keystore_token = %s\ncard_wait = 60\n' "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
export GP_P11_CONF="$GP_ENV_DIR/gp-p11.conf"
mod="$GP_BUILDDIR/module/.libs/gp-p11.so"
bin="$GP_BUILDDIR/tests/integration"
. "$GP_HARNESS/../integration/checks.sh"

ea0=$(state 0 ext_auth_received)
ok0=$(state 0 ext_auth_ok)
"$bin/pcsc_intruder" "$GP_READER_0" 600 > "$GP_ENV_DIR/intruder.out" &
intruder=$!
"$bin/shared_worker" "$mod" "$rounds" A > "$GP_ENV_DIR/a.out" 2> "$GP_ENV_DIR/a.err" &
a=$!
"$bin/shared_worker" "$mod" "$rounds" B > "$GP_ENV_DIR/b.out" 2> "$GP_ENV_DIR/b.err" &
b=$!
wait $a; ra=$?
wait $b; rb=$?
kill $intruder 2>/dev/null; wait $intruder 2>/dev/null
cat "$GP_ENV_DIR/a.out" "$GP_ENV_DIR/b.out" "$GP_ENV_DIR/intruder.out"
grep -v "^$" "$GP_ENV_DIR/a.err" "$GP_ENV_DIR/b.err" | grep -E "WRONG|failed with" | head -20
check "process A: every answer the security domain's, no unexpected failure" [ $ra -eq 0 ]
check "process B: every answer the security domain's, no unexpected failure" [ $rb -eq 0 ]
failed=$(state 0 failed_auth)
ea=$(($(state 0 ext_auth_received) - ea0))
ok=$(($(state 0 ext_auth_ok) - ok0))
okn=$(cat "$GP_ENV_DIR/a.out" "$GP_ENV_DIR/b.out" | sed -n 's/.*: \([0-9]*\) rounds ok.*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "card: $ea EXTERNAL AUTHENTICATE received, $ok verified, failed_auth=$failed; $okn rounds ok"
check "the card counted no failed authentication" [ "$failed" = 0 -a "$(state 0 locked)" = 0 ]
check "every EXTERNAL AUTHENTICATE the card received verified" [ "$ea" -gt 0 -a "$ea" = "$ok" ]
check "both processes completed every round" [ "$okn" = $((2 * rounds)) ]
# the intruder ran rounds of its own between the logins: the card was shared
check "the third client got the card between gp-p11's logins" \
    grep -q "intruder: [1-9]" "$GP_ENV_DIR/intruder.out"
# no failed authentication was logged by any process
check "no 6983 anywhere" sh -c '! grep -q 6983 "$0"/a.err "$0"/b.err' "$GP_ENV_DIR"
finish shared
