#!/bin/bash
# The README's commands, as written: its block "From a clone to gp-p11 list on
# a real reader" (after the machine's setup, build and install lines) on an
# SCP02 card with the GlobalPlatform test keys, and its block of the tool's
# commands top to bottom on an SCP03 card with them, each command read from
# README.md itself. The programs and the module as make install puts them
# (into a directory mounted over p11-kit's in this test's private mount
# namespace), found on PATH and by p11-kit's registration; no configuration
# file; the PIN from a file where the README says the tool asks for it.
set -u
if [ -z "${GP_ENV_DIR:-}" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    k=404142434445464748494A4B4C4D4E4F
    printf 'scp = 03\ni = 70\nkeys = 01 %s %s %s\n' $k $k $k > "$tmp/scp03.profile"
    rc=0
    # the harness's own token under another label: the README makes "gp-p11"
    GP_TEST_TOKEN=harness GP_README_PART=clone "$GP_HARNESS/gp-env.sh" --cards 1 --no-keys -- bash "$0" || rc=1
    GP_TEST_TOKEN=harness GP_README_PART=usage "$GP_HARNESS/gp-env.sh" --cards 1 --no-keys \
        --card-args 0 "--profile $tmp/scp03.profile" -- bash "$0" || rc=1
    exit $rc
fi
. "$GP_HARNESS/../integration/checks.sh"
readme=$GP_HARNESS/../../README.md
out=$GP_ENV_DIR/out
mkdir -p "$out/work"
unset GP_P11_CONF
# sudo make -C build install, into a directory p11-kit then sees as its own
root=$GP_ENV_DIR/root
MAKEFLAGS= make -C "$GP_BUILDDIR" install DESTDIR="$root" > "$out/install" 2>&1 || { cat "$out/install"; exit 1; }
eval "$(MAKEFLAGS= make -s --no-print-directory -C "$GP_BUILDDIR" print-install-dirs)"
if [ "$p11kitmoduledir" != "$(pkg-config --variable=p11_module_path p11-kit-1)" ] ||
   [ "$p11kitconfigdir" != "$(pkg-config --variable=p11_module_configs p11-kit-1)" ]; then
    echo "skip - this build installs outside p11-kit's directories ($p11kitmoduledir)"
    exit 0
fi
mount --bind "$root$p11kitmoduledir" "$p11kitmoduledir" &&
    mount --bind "$root$p11kitconfigdir" "$p11kitconfigdir" || exit 1
export PATH=$root$bindir:$PATH
echo 1234 > "$out/readme.pin" # the README's token PIN
# block TITLE: the first sh block after the heading TITLE, one command per line
block() { awk -v t="$1" '$0 == t {h = 1; next} h && /^```sh$/ {b = 1; next} b && /^```$/ {exit} b' "$readme"; }
# the PIN where the tool would ask for it on the terminal; the rest as written
gp-p11() { tool command gp-p11 --pin-file "$out/readme.pin" "$@"; echo "$? gp-p11 $*" >> "$out/calls"; }
gp-p11-keys() { tool command gp-p11-keys --pin-file "$out/readme.pin" "$@"; echo "$? gp-p11-keys $*" >> "$out/calls"; }
export -f gp-p11 gp-p11-keys tool
export out
# run FILE: each line of FILE in a shell with the functions above, in the work directory
run() {
    local n=0
    while IFS= read -r line; do
        n=$((n + 1))
        (cd "$out/work" && bash -c "$line") > "$out/line$n.out" 2> "$out/line$n.err" < /dev/null
    done < "$1"
}
# calls_ok EXPECTED: every call exited 0 but those EXPECTED names (PATTERN=CODE ...)
calls_ok() {
    local bad=0 code cmd want
    while read -r code cmd; do
        want=0
        for e in "$@"; do case "$cmd" in *"${e%=*}"*) want=${e#*=} ;; esac; done
        [ "$code" = "$want" ] || { echo "# exit $code, not $want: $cmd"; bad=1; }
    done < "$out/calls"
    [ "$bad" = 0 ]
}

if [ "$GP_README_PART" = clone ]; then
    block '## From a clone to `gp-p11 list` on a real reader' > "$out/clone.sh"
    check "the README's first block is there" [ "$(wc -l < "$out/clone.sh")" -ge 8 ]
    # the machine's lines: ./scripts/test.sh has run them, pkcs11-tool.sh checks make install
    cond() { [ "$(head -4 "$out/clone.sh" | awk '{print $1, $2}' | tr '\n' ,)" = "./scripts/setup-debian.sh #,./scripts/build.sh build,sudo make,sudo systemctl," ]; }
    check "... its first four lines set up, build and install the machine" cond
    tail -n +5 "$out/clone.sh" > "$out/clone-run.sh"
    : > "$out/calls"
    run "$out/clone-run.sh"
    check "... the token made as written (softhsm2-util --label gp-p11)" \
        sh -c "softhsm2-util --show-slots | grep -q 'Label: *gp-p11 *$'"
    check "... info --no-login, import of the test keys, list: each exit 0" calls_ok
    check "... three calls of ours" [ "$(wc -l < "$out/calls")" = 3 ]
    check "... list shows the issuer security domain" grep -q '^issuer security domain  A000000151000000' "$out/line4.out"
    finish readme-clone
    exit $?
fi

# the tool's block, top to bottom, on an SCP03 card with the test keys as key set default
block '## Using gp-p11: the command-line tool' > "$out/usage.sh"
check "the README's block of commands is there" [ "$(wc -l < "$out/usage.sh")" -ge 15 ]
# the token and keys as the first block makes them, for an SCP03 card (type = aes)
softhsm2-util --init-token --free --label gp-p11 --pin 1234 --so-pin 5678 > /dev/null &&
    printf 'type = aes\nall = 404142434445464748494A4B4C4D4E4F\n' |
    tool "$root$bindir/gp-p11-keys" --pin-file "$out/readme.pin" import default > /dev/null || exit 1
# the files its commands name
mkcap=$GP_BUILDDIR/tests/cap/mkcap
"$mkcap" "$out/work/hello.cap" --size 3000 --applets 2 --pkg D2760001AA01 || exit 1
"$mkcap" "$out/work/lib.cap" --size 2000 --applets 0 --pkg D2760001BB01 || exit 1
printf '\x01\x02\x03\x04' > "$out/work/perso.bin"
cp "$out/readme.pin" "$out/work/pin.txt"
printf '# personalise\nstore-data D2760001AA0102 0102030405\nlist\n' > "$out/work/personalise.steps"
: > "$out/calls"
run "$out/usage.sh"
check "every command exits 0, but terminate-card without a terminal (2: not confirmed)" \
    calls_ok 'gp-p11 terminate-card=2'
check "... every command of the block was called" \
    [ "$(wc -l < "$out/calls")" = "$(sed 's/ #.*//' "$out/usage.sh" | grep -oE '(^|[;|] *)gp-p11 ' | wc -l)" ]
check "... the card is not terminated" [ "$(state 0 card_lifecycle)" = 0F ]
check "... the old key version deleted, the new one there" \
    [ "$(state 0 key_versions | tr -d ' ')" = 02 ]
check "... the step lists personalised the applet" [ "$(state 0 store_data)" = 0102030405 ]
[ "$failed_checks" = 0 ] || for f in "$out"/line*.err; do
    [ -s "$f" ] && grep -v ': info: ' "$f" | sed "s|^|# $(basename "$f"): |" | head -5; done
finish readme-usage
