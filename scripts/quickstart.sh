#!/usr/bin/env bash
# The newcomer command: install dependencies, build, and generate text with the built-in
# default model (a small synthetic model made on first use; its text is gibberish by design).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh
build/bin/isomer run -p "Once upon a time" -n 32 "$@"
