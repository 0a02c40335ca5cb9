# Sourced by the shell tests: numbered checks, a closing line
# "NAME: N passed, N failed", the simulator's state, and programs we did not
# build run with the sanitizer runtimes in a sanitizer build.
passed=0 failed_checks=0
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds. One command: for
# a condition of several parts, cond() { A && B; }; check DESCRIPTION cond
# ("check D A && B" would test A alone; tests/checks-lint.sh finds that).
check() {
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
# For the tests of one module configuration per card (gp-env.sh's cards):
reader() { eval echo "\$GP_READER_$1"; } # reader CARD: its reader's name
# card_conf NAME CARD LEVEL KEYSET KVN [LINE...]: a configuration for one card,
# logging at info, in $out/NAME.conf; prints its path
card_conf() {
    local name=$1 card=$2 level=$3 set=$4 kvn=$5
    shift 5
    {
        printf 'keystore_token = %s\nreader = %s\nsecurity_level = %s\nlog_level = info\n' \
            "$GP_TEST_TOKEN" "$(reader "$card")" "$level"
        printf 'key_set = %s\nkey_version = %s\n' "$set" "$kvn"
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$out/$name.conf"
    echo "$out/$name.conf"
}
# the gp-p11 tool on the module $MOD, with the test token's PIN
gpt() { tool "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
has_version() { state "$1" key_versions | tr ' ' '\n' | grep -qx "$2"; } # has_version CARD KVN
# login_with_keystore MODULE: gp-p11 list through the module with MODULE's
# token "keystore" as the keystore (PIN in $out/pin), logging at info, into
# $out/login.json and $out/login.err
login_with_keystore() {
    printf 'keystore_module = %s\nkeystore_token = keystore\nlog_level = info\n' "$1" > "$out/ks.conf"
    GP_P11_CONF=$out/ks.conf "$GP_BUILDDIR/tools/gp-p11" --module "$GP_BUILDDIR/module/.libs/gp-p11.so" \
        --pin-file "$out/pin" --json list > "$out/login.json" 2> "$out/login.err"
}
