#!/bin/bash
# Every SCP02 option end to end: three simulated cards with keys of their own
# (card 0: distinct enc/mac/dek; cards 1 and 2: diversified from master keys
# with EMV CPS 1.1 and VISA2), through pcscd and SoftHSM.
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    enc=$(rnd 16) mac=$(rnd 16) dek=$(rnd 16)
    export GP_TEST_MASTER="$(rnd 16) $(rnd 16) $(rnd 16)"
    printf 'keys = 01 %s %s %s\n' "$enc" "$mac" "$dek" > "$tmp/card0.profile"
    printf 'enc = %s\nmac = %s\ndek = %s\n' "$enc" "$mac" "$dek" > "$tmp/card0.keys"
    for m in emv visa2; do
        printf 'keys = 01 %s\ndiversify = %s\nkey_div = %s\n' "$GP_TEST_MASTER" "$m" "$(rnd 10)" \
            > "$tmp/$m.profile"
    done
    "$GP_HARNESS/gp-env.sh" --cards 3 --keys-file "$tmp/card0.keys" \
        --card-args 0 "--profile $tmp/card0.profile" --card-args 1 "--profile $tmp/emv.profile" \
        --card-args 2 "--profile $tmp/visa2.profile" -- bash "$0"
    exit $?
fi
exec "$GP_BUILDDIR/tests/integration/test_matrix"
