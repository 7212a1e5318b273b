#!/usr/bin/env bash
# Installs every Debian package mtlc needs. Idempotent: quick when all is there.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build ccache pkg-config python3
  libmlir-19-dev mlir-19-tools llvm-19-dev llvm-19-tools
  libhalide14-0-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  zlib1g-dev libpng-dev libgtest-dev
  dataset-fashion-mnist
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
