#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# bounded time from the seed corpus in tests/fuzz/corpus.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]     (default 30; `make fuzz` runs this)
# A crash, a leak, undefined behaviour or a broken invariant fails the run.
# Needs the provisioning tool built (build/tools/gp-p11-keys, or $GP_P11_KEYS).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export GP_SOFTHSM_MODULE=${GP_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
export GP_P11_KEYS=${GP_P11_KEYS:-$top/build/tools/gp-p11-keys}
# fuzz_rmac works on keys in a throw-away SoftHSM token
[ -n "${SOFTHSM2_CONF:-}" ] || exec "$top/tests/harness/softhsm-env.sh" bash "$0" "$@"
printf 'all = 404142434445464748494A4B4C4D4E4F\n' |
    "$GP_P11_KEYS" --module "$GP_SOFTHSM_MODULE" --token "$GP_TEST_TOKEN" \
    --pin-file "$GP_TEST_PIN_FILE" import default > /dev/null || exit 1

secs=${1:-30}
out=$top/build-fuzz
mkdir -p "$out"
cat > "$out/config.h" <<EOH
#define GP_DEFAULT_KEYSTORE_MODULE "$GP_SOFTHSM_MODULE"
#define GP_P11_MODULE_PATH "gp-p11.so"
EOH
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -I"$out" -I"$top" -I"$top/include" $(pkg-config --cflags p11-kit-1 libpcsclite))
lib=(keystore/hex.c keystore/msg.c keystore/keystore.c keystore/keysets.c keystore/scp01_crypto.c keystore/scp02_crypto.c keystore/scp03_crypto.c scp/apdu.c scp/sw.c scp/tlv.c
     scp/registry.c scp/scp.c scp/scp01.c scp/scp02.c scp/scp03.c scp/gp.c scp/channel.c scp/install.c scp/cap.c scp/carddata.c
     scp/names.c)
passed=0 failed=0
echo "fuzz: each target ${secs}s, ASan + UBSan"
for t in fuzz_init_update fuzz_registry fuzz_tlv fuzz_apdu fuzz_config fuzz_session fuzz_rmac \
         fuzz_cap fuzz_carddata fuzz_template; do
    extra=()
    [ "$t" = fuzz_config ] && extra=(module/conf.c)
    [ "$t" = fuzz_template ] && extra=(module/template.c)
    if ! (cd "$top" && clang "${cflags[@]}" "tests/fuzz/$t.c" "${lib[@]}" "${extra[@]}" -ldl -lzip \
            -o "$out/$t"); then
        echo "FAIL: $t does not build"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$out/corpus/$t"
    log=$out/$t.log
    if (cd "$out" && "./$t" -max_total_time="$secs" -print_final_stats=1 "corpus/$t" \
            "$top/tests/fuzz/corpus/$t") > "$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "ok - $t: ${runs:-?} inputs, no finding"
        passed=$((passed + 1))
    else
        echo "FAIL: $t found a problem (build-fuzz/$t.log):"
        grep -E 'ERROR|SUMMARY|Test unit written|==ERROR' "$log" | head -5
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
