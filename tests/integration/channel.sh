#!/bin/sh
# SCP02 sessions through a real pcscd to two simulated cards: card 0 speaks
# T=1, card 1 T=0 with a small GET STATUS buffer (6310 continuations).
exec "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 1 "--t0 --max-response 48" -- \
    "$GP_BUILDDIR/tests/integration/test_channel"
