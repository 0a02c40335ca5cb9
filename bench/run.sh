#!/usr/bin/env bash
# gp-p11 benchmarks, each figure beside its baseline in the same run.
#   bench/run.sh [N]      (N operations per measurement, default 1000)
# Builds if needed; writes bench/RESULTS.md and bench/results.png.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@" # private namespaces need root
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
n=${1:-1000}
command -v gnuplot > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox > /dev/null
./scripts/build.sh build
b="$top/build"
make -C "$b" -j"$(nproc)" bench/bench tests/cap/mkcap > /dev/null
export GP_SIM="$b/tests/sim/gp-sim" GP_PCSC_WAIT="$b/tests/harness/pcsc-wait" \
       GP_P11_KEYS="$b/tools/gp-p11-keys" GP_P11_MODULE="$b/module/.libs/gp-p11.so"
export GP_SOFTHSM_MODULE=$(sed -n 's/^SOFTHSM_MODULE = //p' "$b/Makefile")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$b/tests/cap/mkcap" "$out/64k.cap" --size 65536 # a 64 KiB package for LOAD
export GP_BENCH_CAP=$out/64k.cap
confs='printf "keystore_token = %s\nsecurity_level = mac\n" "$GP_TEST_TOKEN" > "$GP_ENV_DIR/mac.conf"
       printf "keystore_token = %s\nsecurity_level = mac-enc\n" "$GP_TEST_TOKEN" > "$GP_ENV_DIR/enc.conf"
       export GP_BENCH_CONF_MAC=$GP_ENV_DIR/mac.conf GP_BENCH_CONF_MAC_ENC=$GP_ENV_DIR/enc.conf'
# card 2: an SCP03 card with random AES-128 keys; card 3: one with AES-256 keys
rnd() { od -An -N"${1:-16}" -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F; }
export GP_BENCH_AES="$(rnd) $(rnd) $(rnd)"
export GP_BENCH_AES256="$(rnd 32) $(rnd 32) $(rnd 32)"
printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_BENCH_AES" > "$out/scp03.profile"
printf 'scp = 03\ni = 70\nkeys = 30 %s\n' "$GP_BENCH_AES256" > "$out/scp03-256.profile"
printf 'scp = 01\n' > "$out/scp01.profile"
echo "== login, per-command and host crypto (5 cards: card 1 without TCP_NODELAY/QUICKACK, card 2 SCP03, card 3 SCP03 AES-256, card 4 SCP01)"
tests/harness/gp-env.sh --no-sim-files --cards 5 --card-args 1 --no-quickack \
    --card-args 2 "--profile $out/scp03.profile" --card-args 3 "--profile $out/scp03-256.profile" \
    --card-args 4 "--profile $out/scp01.profile" -- bash -c "
    $confs
    '$b/bench/bench' login $((n / 20 > 20 ? n / 20 : 20))
    '$b/bench/bench' apdu $n
    '$b/bench/bench' crypto $((n * 5))
    '$b/bench/bench' load $((n / 100 > 5 ? n / 100 : 5))
    '$b/bench/bench' scp03 $((n / 20 > 20 ? n / 20 : 20))
    # peak memory of pkcs11-tool listing objects, through gp-p11 and through SoftHSM alone
    export GP_P11_CONF=\$GP_ENV_DIR/mac.conf
    /usr/bin/time -f 'rss_with_module_kb %M' pkcs11-tool --module '$b/module/.libs/gp-p11.so' \
        --login --pin \"\$GP_TEST_PIN\" -O 2>&1 >/dev/null | grep rss_
    /usr/bin/time -f 'rss_without_module_kb %M' pkcs11-tool --module \"\$GP_SOFTHSM_MODULE\" \
        --token-label \"\$GP_TEST_TOKEN\" --login --pin \"\$GP_TEST_PIN\" -O 2>&1 >/dev/null | grep rss_
" | tee "$out/r1"
echo "== scaling over 1, 2, 4, 8 cards"
tests/harness/gp-env.sh --no-sim-files --cards 8 -- bash -c "
    $confs
    '$b/bench/bench' scale $n
" | tee "$out/r2"
v() { sed -n "s/^$1 //p" "$out/r1" "$out/r2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
cat <<EOT
# gp-p11 benchmark results

Produced by \`./bench/run.sh $n\` on $(date -u +%F): $(nproc) cores, $cpu, Linux $(uname -r),
Debian $(cat /etc/debian_version), SoftHSM $(softhsm2-util --version), pcsc-lite $(pcscd --version | sed -n 's/^pcsc-lite version //p' | tr -d .\\n | sed 's/\(.\)\(.\)\(.*\)/\1.\2.\3/').
Each figure was measured beside its baseline in the same run, on a shared machine: the ratios
matter more than the absolute numbers. Cards are gp-sim behind vpcd and a private pcscd.

| measurement | gp-p11 | baseline | ratio |
| --- | ---: | ---: | ---: |
| SCP02 handshake (SELECT, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE), keys in SoftHSM vs in-memory OpenSSL host over raw PC/SC | $(v handshake_softhsm_ms) ms | $(v handshake_openssl_ms) ms | $(ratio "$(v handshake_softhsm_ms)" "$(v handshake_openssl_ms)")x |
| C_Login through the module (keystore login, handshake, the card's registry and data read: about 10 APDUs) vs the OpenSSL handshake | $(v login_module_ms) ms | $(v handshake_openssl_ms) ms | $(ratio "$(v login_module_ms)" "$(v handshake_openssl_ms)")x |
| CKM_GP_APDU round trips per second, C-MAC, vs raw PC/SC round trips of the same APDU | $(v apdu_cmac_per_s) | $(v apdu_raw_per_s) | $(ratio "$(v apdu_raw_per_s)" "$(v apdu_cmac_per_s)")x slower |
| CKM_GP_APDU round trips per second, C-MAC + C-DEC, vs raw PC/SC | $(v apdu_cmac_cdec_per_s) | $(v apdu_raw_per_s) | $(ratio "$(v apdu_raw_per_s)" "$(v apdu_cmac_cdec_per_s)")x slower |
| C-MAC wraps per second (ICV encryption + retail MAC): keystore vs OpenSSL in memory | $(v cmac_keystore_per_s) | $(v cmac_openssl_per_s) | $(ratio "$(v cmac_openssl_per_s)" "$(v cmac_keystore_per_s)")x slower |
| raw PC/SC round trips per second: simulator without TCP_NODELAY/QUICKACK vs with | $(v apdu_raw_nagle_per_s) | $(v apdu_raw_per_s) | $(ratio "$(v apdu_raw_per_s)" "$(v apdu_raw_nagle_per_s)")x slower |
| LOAD of a 64 KiB CAP ($(v load_file_bytes) bytes) through the module, C-MAC (INSTALL [for load], $(( ($(v load_file_bytes) + 246) / 247 )) LOAD blocks, registry read again), KiB/s, vs raw PC/SC sending as many blocks as long without secure messaging | $(v load_module_mac_kib_s) | $(v load_raw_mac_kib_s) | $(ratio "$(v load_raw_mac_kib_s)" "$(v load_module_mac_kib_s)")x slower |
| the same LOAD at C-MAC + C-DEC ($(( ($(v load_file_bytes) + 238) / 239 )) blocks), KiB/s, vs raw PC/SC | $(v load_module_mac_enc_kib_s) | $(v load_raw_mac_enc_kib_s) | $(ratio "$(v load_raw_mac_enc_kib_s)" "$(v load_module_mac_enc_kib_s)")x slower |
| peak RSS of \`pkcs11-tool --login -O\`: through gp-p11 (which loads SoftHSM too) vs SoftHSM alone | $(v rss_with_module_kb) KiB | $(v rss_without_module_kb) KiB | $(ratio "$(v rss_with_module_kb)" "$(v rss_without_module_kb)")x |

SCP03 beside SCP02: the same card simulator, keys in SoftHSM, through scp/ (no module around it).
Keystore calls are PKCS#11 calls (an Init and its operation count two); a keystore across a
network pays a round trip for each.

| measurement | SCP03 | SCP02 | ratio |
| --- | ---: | ---: | ---: |
| handshake (INITIALIZE UPDATE, card cryptogram, EXTERNAL AUTHENTICATE), median | $(v handshake_scp03_ms) ms | $(v handshake_scp02_ms) ms | $(ratio "$(v handshake_scp03_ms)" "$(v handshake_scp02_ms)")x |
| keystore calls per handshake (derivations, both cryptograms, the C-MAC of EXTERNAL AUTHENTICATE; the host challenge's C_GenerateRandom aside) | $(v handshake_scp03_calls) | $(v handshake_scp02_calls) | $(ratio "$(v handshake_scp03_calls)" "$(v handshake_scp02_calls)")x |
| secured GET DATA (CPLC) per second, C-MAC (01) | $(v get_data_scp03_01_per_s) | $(v get_data_scp02_01_per_s) | $(ratio "$(v get_data_scp03_01_per_s)" "$(v get_data_scp02_01_per_s)")x |
| keystore calls per secured command, C-MAC (01) | $(v get_data_scp03_01_calls) | $(v get_data_scp02_01_calls) | |
| secured GET DATA per second, C-MAC + C-DEC (03) | $(v get_data_scp03_03_per_s) | $(v get_data_scp02_03_per_s) | $(ratio "$(v get_data_scp03_03_per_s)" "$(v get_data_scp02_03_per_s)")x |
| keystore calls per secured command, C-DEC + C-MAC (03; GET DATA has no data to encrypt) | $(v get_data_scp03_03_calls) | $(v get_data_scp02_03_calls) | |
| SCP03 only: GET DATA per second and keystore calls at 13 (+ R-MAC) | $(v get_data_scp03_13_per_s), $(v get_data_scp03_13_calls) calls | | |
| SCP03 only: GET DATA per second and keystore calls at 33 (+ R-MAC + R-ENC) | $(v get_data_scp03_33_per_s), $(v get_data_scp03_33_calls) calls | | |

AES-256 beside AES-128, SCP03: the session keys are two KDF blocks each, derived in the same
keystore calls (one C_Encrypt per static key, one C_DeriveKey per session key).

| measurement | AES-256 | AES-128 | ratio |
| --- | ---: | ---: | ---: |
| handshake, median | $(v handshake_scp03_256_ms) ms | $(v handshake_scp03_ms) ms | $(ratio "$(v handshake_scp03_256_ms)" "$(v handshake_scp03_ms)")x |
| keystore calls per handshake | $(v handshake_scp03_256_calls) | $(v handshake_scp03_calls) | $(ratio "$(v handshake_scp03_256_calls)" "$(v handshake_scp03_calls)")x |
| secured GET DATA per second at 33, and keystore calls per command | $(v get_data_scp03_256_33_per_s), $(v get_data_scp03_256_33_calls) calls | $(v get_data_scp03_33_per_s), $(v get_data_scp03_33_calls) calls | $(ratio "$(v get_data_scp03_256_33_per_s)" "$(v get_data_scp03_33_per_s)")x |

SCP01 beside SCP02 (GlobalPlatform 2.1.1 cards; DES keys, full 3DES CBC-MACs).

| measurement | SCP01 | SCP02 | ratio |
| --- | ---: | ---: | ---: |
| handshake, median | $(v handshake_scp01_ms) ms | $(v handshake_scp02_ms) ms | $(ratio "$(v handshake_scp01_ms)" "$(v handshake_scp02_ms)")x |
| keystore calls per handshake | $(v handshake_scp01_calls) | $(v handshake_scp02_calls) | $(ratio "$(v handshake_scp01_calls)" "$(v handshake_scp02_calls)")x |
| secured GET DATA per second, C-MAC (01), and keystore calls per command | $(v get_data_scp01_01_per_s), $(v get_data_scp01_01_calls) calls | $(v get_data_scp02_01_per_s), $(v get_data_scp02_01_calls) calls | $(ratio "$(v get_data_scp01_01_per_s)" "$(v get_data_scp02_01_per_s)")x |
| secured GET DATA per second, C-MAC + C-DEC (03), and keystore calls per command | $(v get_data_scp01_03_per_s), $(v get_data_scp01_03_calls) calls | $(v get_data_scp02_03_per_s), $(v get_data_scp02_03_calls) calls | $(ratio "$(v get_data_scp01_03_per_s)" "$(v get_data_scp02_03_per_s)")x |

Scaling: one thread per card, each sending CKM_GP_APDU (C-MAC) to its own card.

| cards | secured commands per second, all cards | per-card median latency | vs 1 card |
| ---: | ---: | ---: | ---: |
EOT
for c in 1 2 4 8; do
    echo "| $c | $(v scale_${c}_per_s) | $(v scale_${c}_latency_ms) ms | $(ratio "$(v scale_${c}_per_s)" "$(v scale_1_per_s)")x |"
done
cat <<EOT

![results](results.png)
EOT
} > bench/RESULTS.md
for c in 1 2 4 8; do echo "$c $(v scale_${c}_per_s) $(v scale_${c}_latency_ms)"; done > "$out/scale.dat"
printf 'raw\t%s\nC-MAC\t%s\nC-MAC+C-DEC\t%s\n' "$(v apdu_raw_per_s)" "$(v apdu_cmac_per_s)" \
    "$(v apdu_cmac_cdec_per_s)" > "$out/apdu.dat"
gnuplot -e "scale='$out/scale.dat'; apdu='$out/apdu.dat'; output='bench/results.png'" bench/plot.gp
echo "== written bench/RESULTS.md and bench/results.png"
