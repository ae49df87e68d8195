#!/usr/bin/env bash
# Makes a folder of seedforge's non-torch build dependencies, extracted from
# Debian packages without installing them, for a machine that has a compiler,
# CMake and pip's torch but no apt (a GPU machine that cannot reach Debian's
# mirrors, say). Run it on a Debian 12 machine that can download (the runtime
# package names below are bookworm's), copy the folder over, then build with
# `DEPS_PREFIX=<folder> scripts/build-pip-torch.sh`.
#   scripts/make-deps-prefix.sh [FOLDER]     (default .deps-prefix, 19 MB)
# The packages are the -dev packages of scripts/install-deps.sh that do not
# come with torch, plus the run-time libraries they link (OpenSSL, Brotli and
# zlib for cpp-httplib) and pkgconf to read cpp-httplib's pkg-config file.
set -euo pipefail
DEST="${1:-.deps-prefix}"
PACKAGES=(
  nlohmann-json3-dev libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  libsentencepiece-dev libsentencepiece0 libcpp-httplib-dev libcpp-httplib0.11
  libssl-dev libssl3 zlib1g-dev libbrotli-dev libbrotli1 pkgconf-bin libpkgconf3
  libgtest-dev libgmock-dev
)
debs="$(mktemp -d)"
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download "${PACKAGES[@]}" > /dev/null)
rm -rf "$DEST"
mkdir -p "$DEST"
for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$DEST"; done
# Static OpenSSL and documentation are not needed to build against the shared libraries.
rm -rf "$DEST"/usr/share/doc "$DEST"/usr/share/man "$DEST"/usr/lib/x86_64-linux-gnu/libssl.a \
  "$DEST"/usr/lib/x86_64-linux-gnu/libcrypto.a
echo "$DEST: $(du -sh "$DEST" | cut -f1) from ${#PACKAGES[@]} packages"
