#!/usr/bin/env bash
# Installs Intel MKL from Debian's non-free component, for `cargo build --release --features mkl`
# (faster CPU matmuls; see README "Faster CPU training"). Debian/Ubuntu, as root.
#
#   sudo scripts/setup-mkl.sh && cargo build --release --features mkl
set -euo pipefail
if dpkg -s libmkl-dev >/dev/null 2>&1; then
  echo "libmkl-dev: already installed"
  exit 0
fi
SRC=/etc/apt/sources.list.d/debian.sources
if [ -f "$SRC" ] && ! grep -q "non-free" "$SRC"; then
  # Add the non-free component to the main archive's entry (the first Components line).
  sed -i '0,/^Components: main$/s//Components: main non-free/' "$SRC"
elif [ ! -f "$SRC" ] && ! grep -qs "non-free" /etc/apt/sources.list; then
  echo "enable Debian's non-free component in your apt sources, then re-run" >&2
  exit 1
fi
apt-get update -qq
# libomp-dev provides libiomp5, which the threaded static MKL links against.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libmkl-dev libomp-dev
echo "libmkl-dev installed: build with --features mkl"
