#!/usr/bin/env bash
# Installs what isomer needs to build and test on Debian 12 (bookworm) or later.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  glslc libvulkan-dev mesa-vulkan-drivers
)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
