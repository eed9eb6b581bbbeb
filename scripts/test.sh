#!/usr/bin/env bash
# The test command: install dependencies, build, run every test suite.
# Tests read ../shared (models, llama.cpp references, tokenizer vectors) or $ISOMER_TEST_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"

# The CPU thread team, and one model with many sessions on many threads, under
# ThreadSanitizer (a short run).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DISOMER_TSAN=ON -DISOMER_VULKAN=OFF \
  -DISOMER_CUDA=OFF -DISOMER_HIP=OFF >/dev/null
cmake --build build-tsan -j"$(nproc)" --target concurrency_test thread_pool_test
TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/thread_pool_test
ISOMER_STRESS_SECONDS=0 TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/concurrency_test
