#!/bin/bash
# Every SCP03 option end to end: three simulated SCP03 cards with random AES
# keys of their own (card 0: AES-128, key version 30; card 1: AES-256; card
# 2: AES-192), through pcscd and SoftHSM.
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
    export GP_TEST_AES128="$(rnd 16) $(rnd 16) $(rnd 16)"
    export GP_TEST_AES256="$(rnd 32) $(rnd 32) $(rnd 32)"
    export GP_TEST_AES192="$(rnd 24) $(rnd 24) $(rnd 24)"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\nseq = 000010\n' "$GP_TEST_AES128" > "$tmp/card0.profile"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES256" > "$tmp/card1.profile"
    printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_TEST_AES192" > "$tmp/card2.profile"
    "$GP_HARNESS/gp-env.sh" --cards 3 --card-args 0 "--profile $tmp/card0.profile" \
        --card-args 1 "--profile $tmp/card1.profile" \
        --card-args 2 "--profile $tmp/card2.profile" -- bash "$0"
    exit $?
fi
exec "$GP_BUILDDIR/tests/integration/test_scp03_matrix"
