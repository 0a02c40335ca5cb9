#!/usr/bin/env bash
# Installs everything gp-p11 needs to build, test and run its demo on Debian 12.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential autoconf automake libtool pkg-config \
  libpcsclite-dev libp11-kit-dev libssl-dev libcmocka-dev libzip-dev \
  pcscd vsmartcard-vpcd pcsc-tools softhsm2 opensc p11-kit p11-kit-modules \
  util-linux procps iproute2 openssl \
  clang libclang-rt-14-dev valgrind opencryptoki jq tmux bash-completion libnss3 \
  libtpm2-pkcs11-1 swtpm python3-jsonschema
