#!/usr/bin/env bash
# The test command: install dependencies, build, run every test suite.
# Tests read ../shared (models, llama.cpp references, tokenizer vectors) or $ISOMER_TEST_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
