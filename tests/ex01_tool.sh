#!/usr/bin/env bash
# Builds libewf's own `ewfacquire` from the libewf-python sdist pinned in pyproject.toml,
# into $1 (default /usr/local/lib/cairn-libewf): the only maker of Ex01 (EWF2) images here.
# Debian's ewf-tools (libewf 20140813) lists `-f encase7-v2` but writes EnCase 6 instead, so
# tests/test_ex01.py needs this build (it finds it there, or at $CAIRN_EX01_ACQUIRE) and
# skips, saying so, without it. Needs gcc, make and zlib1g-dev; about 2 minutes on 2 cores.
set -euo pipefail
dest=${1:-/usr/local/lib/cairn-libewf}
version=$(sed -n 's/.*"libewf-python==\([0-9]*\)".*/\1/p' "$(dirname "$0")/../pyproject.toml")
[ -x "$dest/ewfacquire" ] && "$dest/ewfacquire" -V 2>/dev/null | grep -q "$version" && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --no-binary :all: -d "$work" "libewf-python==$version"
tar -xzf "$work"/libewf_python-"$version".tar.gz -C "$work"
cd "$work/libewf_python-$version"
./configure -q --disable-shared --enable-static --without-openssl --disable-nls \
  --disable-python >/dev/null
make -s -j"$(nproc)" >/dev/null 2>&1
mkdir -p "$dest"
install -m 755 ewftools/ewfacquire "$dest/ewfacquire"
"$dest/ewfacquire" -V | head -1
