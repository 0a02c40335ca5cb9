#!/bin/sh
# Another process logging in to gp-p11's keystore token while gp-p11 starts
# and logs in, again and again. SoftHSM's file store rewrites the token file
# at every login, and an instance that reads it half-written believes, until
# it is finalised, that the token is not there or has no user PIN. gp-p11
# must notice, start its own instance again, and log in: every round must
# succeed, and the log must say when it happened.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
set -u
rounds=${GP_RACE_ROUNDS:-120}
printf 'keystore_token = %s\nlog_level = info\n' "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
export GP_P11_CONF="$GP_ENV_DIR/gp-p11.conf"
mod="$GP_BUILDDIR/module/.libs/gp-p11.so"
bin="$GP_BUILDDIR/tests/integration"
. "$GP_HARNESS/../integration/checks.sh"

# niced: suites run in parallel beside this one on a 2-core machine
nice -n 10 "$bin/keystore_hammer" "$GP_SOFTHSM_MODULE" "$GP_TEST_TOKEN" > "$GP_ENV_DIR/hammer.out" &
hammer=$!
i=0
until grep -q ready "$GP_ENV_DIR/hammer.out" 2>/dev/null || [ $i -ge 100 ]; do
    sleep 0.1; i=$((i + 1))
done
GP_WORKER_REINIT=1 "$bin/shared_worker" "$mod" "$rounds" W > "$GP_ENV_DIR/w.out" 2> "$GP_ENV_DIR/w.err"
rw=$?
kill -TERM $hammer; wait $hammer
cat "$GP_ENV_DIR/w.out" "$GP_ENV_DIR/hammer.out"
grep -E "WRONG|failed with|keystore" "$GP_ENV_DIR/w.err" | sort | uniq -c | sort -rn | head -8
restarts=$(grep -c "was started again" "$GP_ENV_DIR/w.err")
echo "gp-p11 started its keystore instance again after $restarts half-read token(s)"
check "the other process logged in to the keystore throughout" \
    grep -q "hammer: [1-9][0-9]* logins" "$GP_ENV_DIR/hammer.out"
check "every round logged in and read the card, no unexpected failure" [ $rw -eq 0 ]
check "every round completed" grep -q "W: $rounds rounds ok" "$GP_ENV_DIR/w.out"
finish keystore-race
