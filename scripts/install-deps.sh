#!/usr/bin/env bash
# Installs the Debian packages seedforge needs (idempotent: installs only what
# is missing) and selects the OpenMP build of OpenBLAS, whose threads are the
# same OpenMP pool libtorch uses (the pthread build would start a second set
# of threads competing for the cores).
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config zlib1g-dev
  libtorch-dev python3-torch python3-numpy libgloo-dev
  python3-dev pybind11-dev python3-pytest
  libopenblas0-openmp libopenblas-dev libjemalloc-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev
  libsentencepiece-dev sentencepiece
  libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

arch_dir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  alt="$lib-$(basename "$arch_dir")"
  target="$arch_dir/openblas-openmp/$lib"
  if [ -e "$target" ] && [ "$(readlink -f "$arch_dir/$lib")" != "$(readlink -f "$target")" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO update-alternatives --quiet --set "$alt" "$target"
  fi
done
