#!/usr/bin/env bash
# Installs what isomer needs to build and test on Debian 12 (bookworm) or later.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libssl-dev
  libdnnl-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  glslc libvulkan-dev mesa-vulkan-drivers
  hipcc libamdhip64-dev rocm-device-libs
)
# CUDA: Debian 12 has no CUDA 12+ toolkit (its nvidia-cuda-toolkit is 11.8, in non-free). The
# toolkit is used from /usr/local/cuda or $CUDA_PATH; where NVIDIA's apt repository is set up,
# its compiler and runtime packages are installed. Without either, the CUDA module is skipped
# (CMake says so).
if [ ! -x "${CUDA_PATH:-/usr/local/cuda}/bin/nvcc" ]; then
  if apt-cache show cuda-nvcc-13-0 >/dev/null 2>&1; then
    packages+=(cuda-nvcc-13-0 cuda-cudart-dev-13-0)
  else
    echo "setup: no CUDA toolkit in ${CUDA_PATH:-/usr/local/cuda} and no NVIDIA apt repository: the CUDA backend module will not be built"
  fi
fi
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
