#!/bin/sh
# The keystore is gp-p11's alone: an application that goes through the p11-kit
# proxy, with SoftHSM and gp-p11 registered in a private p11-kit configuration
# (bind-mounted over p11-kit's directories in the test's own mount namespace,
# never the system's), logs into the keystore token itself around gp-p11's
# login (test_keystore_own.c).
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- sh "$0"
set -u
confdir=$(pkg-config --variable=p11_module_configs p11-kit-1)
sysdir=/etc/pkcs11/modules
mods="$GP_ENV_DIR/p11-kit-modules"
mkdir -p "$mods" "$GP_ENV_DIR/empty"
printf 'module: %s\n' "$GP_SOFTHSM_MODULE" > "$mods/softhsm2.module"
printf 'module: %s\n' "$GP_BUILDDIR/module/.libs/gp-p11.so" > "$mods/gp-p11.module"
mount --bind "$mods" "$confdir" || exit 1
[ -d "$sysdir" ] && mount --bind "$GP_ENV_DIR/empty" "$sysdir"
printf 'keystore_token = %s\nkeystore_module = %s\nlog_level = info\n' "$GP_TEST_TOKEN" \
    "$GP_SOFTHSM_MODULE" > "$GP_ENV_DIR/gp-p11.conf"
{ cat "$GP_ENV_DIR/gp-p11.conf"; echo "keystore_instance = shared"; } > "$GP_ENV_DIR/shared.conf"
# a keystore token that is not there: gp-p11 restarts its own instance looking for it
sed "s/^keystore_token = .*/keystore_token = no-such-token/" "$GP_ENV_DIR/gp-p11.conf" \
    > "$GP_ENV_DIR/missing.conf"
sed "s/^keystore_token = .*/keystore_token = no-such-token/" "$GP_ENV_DIR/shared.conf" \
    > "$GP_ENV_DIR/missing-shared.conf"
# the proxy's own allocations are not ours to report (ASan build)
export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$GP_HARNESS/../lsan-p11-kit.supp
GP_MISSING_CONF="$GP_ENV_DIR/missing.conf" GP_MISSING_SHARED_CONF="$GP_ENV_DIR/missing-shared.conf" \
GP_SHARED_CONF="$GP_ENV_DIR/shared.conf" GP_P11_CONF="$GP_ENV_DIR/gp-p11.conf" GP_PROXY_MODULE=$(pkg-config --variable=proxy_module p11-kit-1) \
    "$GP_BUILDDIR/tests/integration/test_keystore_own"
