#!/bin/sh
# The module loaded by a C application, against two simulated cards (card 1 T=0).
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 1 --t0 -- sh "$0"
printf 'keystore_token = %s\n' "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
GP_P11_CONF="$GP_ENV_DIR/gp-p11.conf" GP_P11_MODULE="$GP_BUILDDIR/module/.libs/gp-p11.so" \
    exec "$GP_BUILDDIR/tests/integration/test_module"
