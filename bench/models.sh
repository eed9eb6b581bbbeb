#!/usr/bin/env bash
# Prompt and generation speed of `isomer run` on each model given (default: the shared
# fixtures), as a Markdown table for docs/BENCHMARKS.md.
# Usage: bench/models.sh [-t THREADS] [--backend B] [MODEL.gguf ...]
set -euo pipefail
cd "$(dirname "$0")/.."
isomer=${ISOMER:-build/bin/isomer}
data=${ISOMER_TEST_DATA:-../shared}
args=()
while [[ $# -gt 0 && $1 == -* ]]; do args+=("$1" "$2"); shift 2; done
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for m in stories260K stories260K-q8_0 llama-syn-f16 llama-syn-q4_0 llama-syn-q4_k_m \
           qwen2-syn-q4_k_m qwen3-syn-q4_k_m; do models+=("$data/models/$m.gguf"); done
fi
# A prompt of a few hundred characters: long enough for prefill to run batched.
prompt="Open models from many countries now lead downloads, yet almost all of them are tuned \
for one vendor's GPUs. isomer makes that dependence measurable: does the model run on this \
hardware, does it give the same answer, how fast is it against the hardware's own limit, and \
how much of that speed comes from vendor-only libraries."
echo "| model | prompt tokens | prompt tokens/s | generated | generation tokens/s |"
echo "| --- | ---: | ---: | ---: | ---: |"
for m in "${models[@]}"; do
  # Best of three runs: the machine's other work only ever slows a run down.
  best_pp=0 best_tg=0 n_p=0 n_g=0
  for _ in 1 2 3; do
    err=$("$isomer" run -m "$m" -p "$prompt" -n 64 --temp 0 "${args[@]}" 2>&1 >/dev/null)
    read -r n_p pp < <(awk '/^prompt:/ {print $2, $(NF-1)}' <<<"$err")
    read -r n_g tg < <(awk '/^generation:/ {print $2, $(NF-1)}' <<<"$err")
    best_pp=$(awk -v a="$best_pp" -v b="$pp" 'BEGIN {print (b > a ? b : a)}')
    best_tg=$(awk -v a="$best_tg" -v b="$tg" 'BEGIN {print (b > a ? b : a)}')
  done
  echo "| $(basename "$m") | $n_p | $best_pp | $n_g | $best_tg |"
done
