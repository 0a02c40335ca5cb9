#!/usr/bin/env bash
# Installs what gp-p11 needs (Debian 12), builds it and runs the demo:
# a throw-away SoftHSM keystore provisioned with the GlobalPlatform test keys,
# then the SCP02 known-answer run through that keystore.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh >/dev/null
./scripts/build.sh build
make -C build -j"$(nproc)" tests/unit/test_scp02 >/dev/null
export GP_TEST_VECTORS="$PWD/tests/vectors"
export GP_SOFTHSM_MODULE=$(sed -n 's/^SOFTHSM_MODULE = //p' build/Makefile)
exec tests/harness/softhsm-env.sh bash -c '
set -e
echo "== a fresh SoftHSM token: $GP_TEST_TOKEN (SOFTHSM2_CONF=$SOFTHSM2_CONF)"
echo "== provisioning the GlobalPlatform test keys 404142..4F as key set \"default\""
printf "all = 404142434445464748494A4B4C4D4E4F\n" |
  build/keystore/gp-p11-keys --module "$GP_SOFTHSM_MODULE" --pin-file "$GP_TEST_PIN_FILE" import default
echo "== key sets in the keystore"
build/keystore/gp-p11-keys --module "$GP_SOFTHSM_MODULE" --pin-file "$GP_TEST_PIN_FILE" list
echo "== SCP02 transcript of a real card, reproduced with every key inside SoftHSM"
build/tests/unit/test_scp02
'
