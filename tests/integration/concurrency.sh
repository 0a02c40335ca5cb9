#!/bin/sh
# 8 threads over 2 simulated cards (card 1 T=0) through the module.
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 2 --card-args 1 --t0 -- sh "$0"
printf 'keystore_token = %s\nlog_level = error\n' "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
GP_P11_CONF="$GP_ENV_DIR/gp-p11.conf" GP_P11_MODULE="$GP_BUILDDIR/module/.libs/gp-p11.so" \
    exec "$GP_BUILDDIR/tests/integration/test_concurrency"
