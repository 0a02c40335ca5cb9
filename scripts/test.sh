#!/usr/bin/env bash
# Installs what gp-p11 needs (Debian 12), builds it and runs the whole test
# suite in a normal build and an ASan+UBSan build, and the multi-threaded
# suites in a ThreadSanitizer build.
set -uo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@" # private namespaces need root
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh >/dev/null || exit 1
status=0
run_suite() { # run_suite DIR [CONFIGURE ARGS...] [-- TESTS...]
    local dir=$1; shift
    local conf=() tests=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do conf+=("$1"); shift; done
    [ $# -gt 0 ] && shift && tests=("$@")
    echo "=== make check in $dir/ (${conf[*]:-default}${tests:+; ${tests[*]}})"
    ./scripts/build.sh "$dir" "${conf[@]}" || return 1
    local rc=0
    make -C "$dir" -j"$(nproc)" check ${tests:+TESTS="${tests[*]}"} >"$dir/check.out" 2>&1 || rc=$?
    # every test log, so the output carries each suite's own counts
    find "$dir/tests" -name '*.log' ! -name 'test-suite.log' | sort | while read -r f; do
        echo "--- $f"; cat "$f"; done
    grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out"
    return $rc
}
run_suite build || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-san --enable-sanitizers || status=1
# ThreadSanitizer: the multi-threaded suites
TSAN_OPTIONS=halt_on_error=1 run_suite build-tsan --enable-tsan -- \
    tests/integration/concurrency.sh tests/integration/module.sh tests/integration/faults.sh \
    tests/integration/shared.sh tests/integration/batch.sh || status=1
# libFuzzer: every parser of card data and the configuration, briefly
echo "=== fuzzing (tests/fuzz/run.sh ${GP_FUZZ_SECONDS:-10})"
make -C build -s fuzz FUZZ_SECONDS="${GP_FUZZ_SECONDS:-10}" > build/fuzz.out 2>&1 || status=1
cat build/fuzz.out
passed=0 failed=0
for d in build build-san build-tsan; do
    p=$(sed -n 's/^# PASS: *//p' "$d/check.out" 2>/dev/null); passed=$((passed + ${p:-0}))
    f=$(grep -E '^# (FAIL|ERROR|XPASS):' "$d/check.out" 2>/dev/null | awk '{s += $3} END {print s + 0}')
    failed=$((failed + f))
    [ -f "$d/check.out" ] || failed=$((failed + 1))
done
fp=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' build/fuzz.out)
passed=$((passed + ${fp% *})); failed=$((failed + ${fp#* }))
[ -n "$fp" ] || failed=$((failed + 1))
echo "suites: $passed passed, $failed failed"
exit $status
