#!/usr/bin/env bash
# gp-env.sh: runs a command beside simulated GlobalPlatform cards on a private pcscd.
#
#   gp-env.sh [--cards N] [--profile FILE] [--t0] [--no-quickack] [--sim-args "ARGS"]
#             [--card-args K "ARGS"]  (extra gp-sim arguments for card K only)
#             [--no-sim-files]        (no state or control files: for benchmarks)
#             [--keyset NAME] [--keys-file FILE | --no-keys] -- COMMAND [ARGS...]
#
# Inside private mount, network and PID namespaces it mounts a tmpfs on
# /run/pcscd, starts pcscd with vpcd readers on loopback ports 40000.., one
# gp-sim per card, waits until pcscd sees every card (SCardGetStatusChange),
# makes a throw-away SoftHSM token (tests/harness/softhsm-env.sh), provisions a
# key set (default: the GlobalPlatform test keys 404142..4F as "default"),
# then runs COMMAND. When COMMAND ends, fails or is interrupted, the PID
# namespace ends and takes pcscd and the simulators with it.
#
# COMMAND sees: GP_CARDS, GP_READER_k, GP_SIM_STATE_k, GP_SIM_CONTROL_k (k from 0),
# GP_ENV_DIR, SOFTHSM2_CONF, GP_TEST_TOKEN, GP_TEST_PIN, GP_TEST_PIN_FILE.
# Programs: GP_SIM, GP_PCSC_WAIT, GP_P11_KEYS (default: next to this script's build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${GP_ENV_INNER:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "gp-env.sh: needs root for private namespaces (unshare)" >&2
        exit 2
    fi
    export GP_ENV_INNER=1
    # unshare ignores SIGINT and SIGTERM while it waits: pass them on to the
    # namespace's first process, whose exit ends every process inside.
    unshare --mount --net --pid --fork --kill-child --mount-proc --propagation private \
        "$BASH" "$0" "$@" &
    up=$!
    sig=0
    forward() { sig=$1; pkill -TERM -P "$up" 2>/dev/null; }
    trap 'forward 130' INT
    trap 'forward 143' TERM
    rc=0
    while :; do
        wait "$up" && rc=0 || rc=$?
        kill -0 "$up" 2>/dev/null || break
    done
    [ "$sig" -eq 0 ] || rc=$sig
    exit "$rc"
fi

declare -A card_args
sim_files=1 cards=1 profile="" t0="" quickack="" sim_args="" keyset=default keys_file="" provision=1
while [ $# -gt 0 ]; do
    case "$1" in
    --cards) cards=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --t0) t0=--t0; shift ;;
    --no-quickack) quickack=--no-quickack; shift ;;
    --sim-args) sim_args=$2; shift 2 ;;
    --card-args) card_args[$2]=$3; shift 3 ;;
    --keyset) keyset=$2; shift 2 ;;
    --keys-file) keys_file=$2; shift 2 ;;
    --no-keys) provision=0; shift ;;
    --no-sim-files) sim_files=0; shift ;;
    --) shift; break ;;
    *) echo "gp-env.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "gp-env.sh: no command given" >&2; exit 2; }
: "${GP_SIM:?GP_SIM must name the gp-sim program}"
: "${GP_PCSC_WAIT:?GP_PCSC_WAIT must name the pcsc-wait program}"
: "${GP_P11_KEYS:?GP_P11_KEYS must name the gp-p11-keys program}"

# PID 1 of a namespace gets no signal it has no handler for
trap 'exit 130' INT
trap 'exit 143' TERM

dir=$(mktemp -d "${TMPDIR:-/tmp}/gp-env.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export GP_ENV_DIR=$dir GP_CARDS=$cards

mkdir -p /run/pcscd
mount -t tmpfs gp-env-pcscd /run/pcscd
ip link set lo up

# vpcd gives two reader slots per configuration entry, on ports P and P+1.
# It keeps its slots in a static array indexed by slot alone, so entries
# sharing one copy of the driver overwrite each other: each entry loads a
# copy of its own.
driver=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
: > "$dir/readers.conf"
for ((e = 0; e < (cards + 1) / 2; e++)); do
    port=$((40000 + 2 * e))
    cp "$driver" "$dir/libifdvpcd-$e.so"
    printf 'FRIENDLYNAME "GP Sim %d"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n\n' \
        "$e" "$port" "$dir/libifdvpcd-$e.so" "$port" >> "$dir/readers.conf"
done
pcscd --foreground --config "$dir/readers.conf" > "$dir/pcscd.log" 2>&1 &

for ((k = 0; k < cards; k++)); do
    : > "$dir/sim$k.control"
    files=()
    # the state file costs a write per APDU: benchmarks go without
    [ "$sim_files" = 0 ] || files=(--state "$dir/sim$k.state" --control "$dir/sim$k.control")
    # every card gets its own card image number (CIN)
    # shellcheck disable=SC2086
    "$GP_SIM" --port $((40000 + k)) ${profile:+--profile "$profile"} $t0 $quickack $sim_args ${card_args[$k]:-} \
        --cin "$(printf 'C1D%013X' "$k")" \
        "${files[@]}" 2> "$dir/sim$k.log" &
    export "GP_SIM_STATE_$k=$dir/sim$k.state" "GP_SIM_CONTROL_$k=$dir/sim$k.control"
    export "GP_READER_$k=GP Sim $((k / 2)) 00 $(printf '%02d' $((k % 2)))"
done
if ! "$GP_PCSC_WAIT" --cards "$cards" --timeout 20; then
    echo "gp-env.sh: pcscd did not see $cards card(s); pcscd log:" >&2
    cat "$dir/pcscd.log" "$dir"/sim*.log >&2
    exit 1
fi

if [ -z "$keys_file" ]; then
    keys_file="$dir/gp-test.keys"
    echo "all = 404142434445464748494A4B4C4D4E4F" > "$keys_file"
fi
export GP_ENV_KEYSET=$keyset GP_ENV_KEYS_FILE=$keys_file GP_ENV_PROVISION=$provision
status=0
# in the background, so that a signal's trap runs at once (bash runs traps
# only between foreground commands)
"$here/softhsm-env.sh" "$BASH" -c '
    if [ "$GP_ENV_PROVISION" = 1 ]; then
        "$GP_P11_KEYS" --token "$GP_TEST_TOKEN" --pin-file "$GP_TEST_PIN_FILE" \
            import "$GP_ENV_KEYSET" "$GP_ENV_KEYS_FILE" > "$GP_ENV_DIR/provision.log" 2>&1 ||
            { cat "$GP_ENV_DIR/provision.log" >&2; exit 1; }
    fi
    exec "$@"' gp-env "$@" &
wait $! || status=$?
exit $status
