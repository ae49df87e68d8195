#!/usr/bin/env bash
# Builds seedforge against the libtorch that pip's torch ships (a newer
# libtorch, with CUDA on a GPU machine) instead of Debian's libtorch 1.13:
#   scripts/build-pip-torch.sh [BUILD_DIR] [TARGET...]
# Environment:
#   PYTHON       the Python whose torch to use (default python3)
#   DEPS_PREFIX  a folder from scripts/make-deps-prefix.sh, for machines without
#                the Debian -dev packages (default: use the system's)
#   JOBS         parallel compile jobs (default nproc)
#   KEEP_GOING   non-empty: with Ninja, compile everything that compiles and list all errors
# Tests and benchmarks that need Debian's python3-torch or OpenBLAS are left out
# (SEEDFORGE_BUILD_BENCH=OFF), and so is the Python module (built and tested
# against Debian's python3-torch only); `ctest -L gpu` then runs the CUDA checks.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build-pip-torch}"
shift || true
PYTHON="${PYTHON:-python3}"
torch_prefix="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)') at $torch_prefix"
prefix_path="$torch_prefix"
extra=()
if [ -n "${DEPS_PREFIX:-}" ]; then
  root="$(cd "$DEPS_PREFIX" && pwd)"
  lib="$root/usr/lib/x86_64-linux-gnu"
  prefix_path="$torch_prefix;$root/usr"
  # cpp-httplib is found through its pkg-config file: read it with the bundled
  # pkgconf, from the bundle only, with its /usr paths moved under the bundle.
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$root"
  extra+=(-DPKG_CONFIG_EXECUTABLE="$root/usr/bin/pkgconf" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$lib -Wl,-rpath,$lib"
          "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$lib -Wl,-rpath,$lib" "-DCMAKE_MODULE_LINKER_FLAGS=-Wl,-rpath-link,$lib -Wl,-rpath,$lib")
fi
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix_path" \
  -DSEEDFORGE_BUILD_BENCH=OFF -DSEEDFORGE_PYTHON="$(command -v "$PYTHON")" -DSEEDFORGE_PYTHON_MODULE=OFF "${extra[@]}"
targets=()
for t in "$@"; do targets+=(--target "$t"); done
keep_going=()
[ -n "${KEEP_GOING:-}" ] && [ ${#generator[@]} -gt 0 ] && keep_going=(-- -k 0)  # report every compile error at once
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" "${targets[@]}" "${keep_going[@]}"
