# Sourced by the shell tests: numbered checks, a closing line
# "NAME: N passed, N failed", the simulator's state, and programs we did not
# build run with the sanitizer runtimes in a sanitizer build.
passed=0 failed_checks=0
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    what=$1; shift
    if "$@"; then echo "ok - $what"; passed=$((passed + 1))
    else echo "not ok - $what"; failed_checks=$((failed_checks + 1)); fi
}
state() { sed -n "s/^$2 = //p" "$(eval echo "\$GP_SIM_STATE_$1")"; }
tool() {
    if [ -n "${GP_SAN_PRELOAD:-}" ]; then
        LD_PRELOAD=$GP_SAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$@"
    else
        "$@"
    fi
}
finish() { echo "$1: $passed passed, $failed_checks failed"; [ "$failed_checks" = 0 ]; }
