#!/usr/bin/env bash
# Runs gp-p11's benchmarks against simulated cards on a private pcscd.
#   bench/run.sh [N]     (N APDUs per measurement, default 2000)
# Builds first if needed; writes bench/results/apdu.md and prints it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/build.sh build
b="$top/build"
make -C "$b" -j"$(nproc)" bench/apdu_roundtrip >/dev/null
export GP_SIM="$b/tests/sim/gp-sim" GP_PCSC_WAIT="$b/tests/harness/pcsc-wait" \
       GP_P11_KEYS="$b/keystore/gp-p11-keys"
export GP_SOFTHSM_MODULE=$(sed -n 's/^SOFTHSM_MODULE = //p' "$b/Makefile")
mkdir -p bench/results
{
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r); $(date -u +%F)"
    echo
    tests/harness/gp-env.sh --no-sim-files --cards 2 --card-args 1 --no-quickack -- "$b/bench/apdu_roundtrip" "${1:-2000}"
} | tee bench/results/apdu.md
