#!/bin/bash
# pkcs11-tool through the module, and the gp-p11 tool, under valgrind
# memcheck: no memory error, and no leak of ours (tests/valgrind.supp covers
# only pkcs11-tool's own).
if [ -n "${GP_SAN_PRELOAD:-}" ]; then
    echo "skip: valgrind does not run a sanitizer build"; exit 77
fi
command -v valgrind > /dev/null || { echo "FAIL: valgrind is not installed"; exit 1; }
[ -n "${GP_ENV_DIR:-}" ] || exec "$GP_HARNESS/gp-env.sh" --cards 1 -- bash "$0"
printf 'keystore_token = %s\n' "$GP_TEST_TOKEN" > "$GP_ENV_DIR/gp-p11.conf"
export GP_P11_CONF=$GP_ENV_DIR/gp-p11.conf
MOD=$GP_BUILDDIR/module/.libs/gp-p11.so
passes=0 failures=0
vg() { # vg NAME ARGS...: pkcs11-tool ARGS under memcheck
    local name=$1; shift
    vgrun "$name" pkcs11-tool --module "$MOD" "$@"
}
vgrun() { # vgrun NAME PROGRAM ARGS...: under memcheck
    local name=$1; shift
    local log=$GP_ENV_DIR/vg-$name.log
    valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
        --suppressions="$top_srcdir/tests/valgrind.supp" --log-file="$log" \
        "$@" > /dev/null 2>&1
    local rc=$?
    if [ $rc -ne 99 ] && grep -q "ERROR SUMMARY: 0 errors" "$log" && grep -q "definitely lost: 0 bytes" "$log"; then
        echo "ok - $name: no memory error, no leak of ours"; passes=$((passes + 1))
    else
        echo "FAIL: $name (exit $rc):"; grep -E -A6 "Invalid|uninitialised|definitely lost|ERROR SUMMARY" "$log" | head -24
        failures=$((failures + 1))
    fi
}
vg list-slots -L -T -M
vg list-objects --login --pin "$GP_TEST_PIN" -O
vg read-cplc --login --pin "$GP_TEST_PIN" --read-object --type data --label CPLC
vg wrong-pin --login --pin 0000 -O
vg delete --login --pin "$GP_TEST_PIN" --delete-object --type data --label F00000000102
vg test --login --pin "$GP_TEST_PIN" --test
"$GP_BUILDDIR/tests/cap/mkcap" "$GP_ENV_DIR/vg.cap" --size 5000 --applets 2
"$GP_BUILDDIR/tests/cap/mkcap" "$GP_ENV_DIR/vg-bad.cap" --broken size
vg install-cap --login --pin "$GP_TEST_PIN" --write-object "$GP_ENV_DIR/vg.cap" --type data \
    --application-label application
vg bad-cap --login --pin "$GP_TEST_PIN" --write-object "$GP_ENV_DIR/vg-bad.cap" --type data \
    --application-label "load file"
gp() { vgrun "gp-p11-$1" "$GP_BUILDDIR/tools/gp-p11" --module "$MOD" --pin-file "$GP_TEST_PIN_FILE" "$@"; }
"$GP_BUILDDIR/tests/cap/mkcap" "$GP_ENV_DIR/vg2.cap" --size 3000 --applets 1 --pkg D2760001EE01
gp list --json
gp info
gp install "$GP_ENV_DIR/vg2.cap"
gp apdu 80CA9F7F00 80CA00FE00
gp delete D2760001EE01 --related --json
gp delete D2760001EE01
echo "valgrind: $passes passed, $failures failed"
[ $failures -eq 0 ]
