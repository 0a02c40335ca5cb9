#!/usr/bin/env bash
# Installs what gp-p11 needs (Debian 12), builds it and runs the whole test
# suite twice: a normal build, then an ASan+UBSan build.
set -uo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@" # private namespaces need root
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh >/dev/null || exit 1
status=0
run_suite() {
    local dir=$1; shift
    echo "=== make check in $dir/ ($*)"
    ./scripts/build.sh "$dir" "$@" || return 1
    local rc=0
    make -C "$dir" -j"$(nproc)" check >"$dir/check.out" 2>&1 || rc=$?
    # every test log, so the output carries each suite's own counts
    find "$dir/tests" -name '*.log' ! -name 'test-suite.log' | sort | while read -r f; do
        echo "--- $f"; cat "$f"; done
    grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out"
    return $rc
}
run_suite build || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-san --enable-sanitizers || status=1
passed=0 failed=0
for d in build build-san; do
    p=$(sed -n 's/^# PASS: *//p' "$d/check.out" 2>/dev/null); passed=$((passed + ${p:-0}))
    f=$(grep -E '^# (FAIL|ERROR|XPASS):' "$d/check.out" 2>/dev/null | awk '{s += $3} END {print s + 0}')
    failed=$((failed + f))
    [ -f "$d/check.out" ] || failed=$((failed + 1))
done
echo "suites: $passed passed, $failed failed"
exit $status
