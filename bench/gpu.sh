#!/usr/bin/env bash
# The GPU session in one command, on a machine with an NVIDIA (or AMD) GPU: build with the
# CUDA (HIP) module, list the devices, run the conformance and fidelity suites and the module
# tests on the GPU backend, then the speed table with portable kernels and with the vendor
# library, graphs on and off. Output: a log per step in $OUT (default bench/gpu-out).
# Usage: bench/gpu.sh [cuda|hip]        (ISOMER_TEST_DATA as for the tests; ISOMER_BUILD=build)
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${1:-cuda}
build=${ISOMER_BUILD:-build}
out=${OUT:-bench/gpu-out}
mkdir -p "$out"
jobs=$(nproc)
step() { echo "== $*"; }

step "configure + build ($build)"
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/configure.log" 2>&1 || { cat "$out/configure.log"; exit 1; }
grep -E "isomer: (CUDA|HIP)" "$out/configure.log"
cmake --build "$build" -j"$jobs" >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s"

step "devices"
"$build/bin/isomer" devices | tee "$out/devices.txt"

step "conformance on $backend (ops_test)"
"$build/tests/ops_test" --gtest_filter="*${backend}_*" --gtest_brief=1 2>&1 | tee "$out/ops_test.txt" | tail -30

step "conformance on $backend with the vendor library (ISOMER_GPU_KERNELS=vendor)"
ISOMER_GPU_KERNELS=vendor "$build/tests/ops_test" --gtest_filter="*${backend}_mul_mat*" --gtest_brief=1 2>&1 | tee "$out/ops_test_vendor.txt" | tail -10

step "conformance on $backend without matrix cores (ISOMER_GPU_MMA=0)"
ISOMER_GPU_MMA=0 "$build/tests/ops_test" --gtest_filter="*${backend}_mul_mat*" --gtest_brief=1 2>&1 | tee "$out/ops_test_nomma.txt" | tail -10

step "graphs in decode (ISOMER_GPU_TRACE=1)"
ISOMER_GPU_TRACE=1 "$build/bin/isomer" run -m "${ISOMER_TEST_DATA:-../shared}/models/stories260K.gguf" \
  -p "Once upon a time" -n 16 --temp 0 --backend "$backend" --strict 2>&1 | sort | uniq -c | sort -rn | head -8

step "module and GPU backend tests (backend_module_test)"
"$build/tests/backend_module_test" --gtest_brief=1 2>&1 | tee "$out/backend_module_test.txt" | tail -15

step "fidelity on $backend (fidelity_test)"
"$build/tests/fidelity_test" --gtest_filter="*${backend}*" 2>&1 | tee "$out/fidelity_test.txt" | grep -E "OK|FAILED|SKIPPED|KL|kl" | tail -40

step "speed: portable kernels, graphs on"
ISOMER="$build/bin/isomer" bench/models.sh --backend "$backend" --kernels portable | tee "$out/speed-portable.md"
step "speed: portable kernels, graphs off"
ISOMER_GPU_GRAPHS=0 ISOMER="$build/bin/isomer" bench/models.sh --backend "$backend" --kernels portable | tee "$out/speed-portable-nographs.md"
step "speed: vendor kernels (cuBLAS / hipBLAS for prefill)"
ISOMER="$build/bin/isomer" bench/models.sh --backend "$backend" --kernels vendor | tee "$out/speed-vendor.md"
step "speed: cpu for reference"
ISOMER="$build/bin/isomer" bench/models.sh --backend cpu | tee "$out/speed-cpu.md"
echo "logs in $out"
