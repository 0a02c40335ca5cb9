#!/bin/sh
# Faults against the module, with one simulated card.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
GP_P11_MODULE="$GP_BUILDDIR/module/.libs/gp-p11.so" exec "$GP_BUILDDIR/tests/integration/test_faults"
