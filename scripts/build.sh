#!/usr/bin/env bash
# Builds gp-p11 out of tree.   build.sh [BUILD_DIR [CONFIGURE_ARGS...]]
# BUILD_DIR defaults to build/; arguments after it go to configure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f config.status ] || [ "$top/configure" -nt config.status ]; then
    "$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
