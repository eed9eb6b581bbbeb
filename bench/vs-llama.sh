#!/usr/bin/env bash
# isomer against llama.cpp on the same GGUF files, same threads, same prompt tokens and token
# counts, as a Markdown table with the ratios.
#
# Usage: bench/vs-llama.sh [-p 128] [-n 64] [-r 5] [-t 2 [-t 1 ...]] [--flash-attention]
#                          MODEL.gguf [MODEL.gguf ...]
#
# llama.cpp is the CPU build node-llama-cpp ships prebuilt (@node-llama-cpp/linux-x64),
# installed on first use into ${XDG_CACHE_HOME:-~/.cache}/isomer/node-llama-cpp (or $NLC_DIR)
# from the npm registry, and driven by bench/llama-cpp.mjs. Both engines measure the same way:
# pp = the p-token prompt in one batch from an empty cache, tg = n tokens decoded one at a time
# after it, greedy; each process loads the model and runs one untimed warm-up repetition first.
# The engines alternate repetition by repetition (isomer first on odd repetitions, llama.cpp
# first on even ones), so that the machine's other work falls on both. The streaming read
# bandwidth (isomer bench --bandwidth) is measured before the runs and again after them, and the
# higher figure makes the roofline columns (on a busy host one pass can read low, which would
# flatter every share of the roofline); the CPU's compute peak (isomer bench --compute-peak) is
# measured once, for the prompt's share of it. Each model's page cache is dropped before its
# runs (sync, then dd iflag=nocache): as a file's writer left it, the cache can hold small
# scattered pages. isomer's first run, whose mapping asks for 2 MiB pages, reads the file again,
# and llama.cpp maps the same pages (on a 2-vCPU AMD Zen 5 VM, TinyLlama F16 generation ran
# 1.10x as fast from them as from the cache `isomer synth` left: docs/BENCHMARKS.md).
#
# Environment: ISOMER (default build/bin/isomer), NLC_DIR, NLC_VERSION (default 3.22.1),
# KEEP (a folder to keep the raw JSON of every run in), RUN_TIMEOUT (seconds one process may
# take, default 900: a run past it counts as failed and the table says so).
set -euo pipefail
cd "$(dirname "$0")/.."
isomer=${ISOMER:-build/bin/isomer}
version=${NLC_VERSION:-3.22.1}
export NLC_DIR=${NLC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/isomer/node-llama-cpp}
p=128 n=64 r=5 threads=() fa=()
models=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -p) p=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    -r) r=$2; shift 2 ;;
    -t) threads+=("$2"); shift 2 ;;
    --flash-attention) fa=(--flash-attention); shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "vs-llama.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ ${#threads[@]} -gt 0 ]] || threads=(2)
[[ ${#models[@]} -gt 0 ]] || { echo "vs-llama.sh: give at least one MODEL.gguf" >&2; exit 2; }
[[ -x $isomer ]] || { echo "vs-llama.sh: $isomer not found: build first (scripts/build.sh)" >&2; exit 2; }
command -v node >/dev/null || { echo "vs-llama.sh: needs Node.js 20+ and npm" >&2; exit 2; }

if [[ ! -f $NLC_DIR/node_modules/node-llama-cpp/dist/index.js ]]; then
  echo "installing node-llama-cpp $version (prebuilt CPU binaries) into $NLC_DIR" >&2
  mkdir -p "$NLC_DIR"
  (cd "$NLC_DIR" && { [[ -f package.json ]] || echo '{"private": true}' >package.json; } &&
   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --omit=optional \
     "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version" >&2)
fi

runs=${KEEP:-$(mktemp -d)}
mkdir -p "$runs"
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$runs"' EXIT

bw_threads=$(IFS=,; echo "${threads[*]}")
bandwidth() {
  "$isomer" bench --bandwidth -t "$bw_threads" -o json |
    node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
             console.log(j.bandwidth_gb_per_s.toFixed(2))'
}
gbs_before=$(bandwidth)
echo "streaming read bandwidth before the runs (best of 1 GiB passes at $bw_threads threads): $gbs_before GB/s" >&2
"$isomer" bench --compute-peak -t "$bw_threads" -o json >"$runs/compute-peak.json"

i=0
for m in "${models[@]}"; do
  i=$((i + 1))
  sync "$m" && dd if="$m" iflag=nocache count=0 status=none ||
    echo "could not drop the page cache of $m: its runs map the pages cached now" >&2
  for t in "${threads[@]}"; do
    for rep in $(seq 1 "$r"); do
      run_isomer() {
        timeout "${RUN_TIMEOUT:-900}" "$isomer" bench -m "$m" -p "$p" -n "$n" -r 1 -t "$t" -o json \
          >"$runs/m$i-t$t-r$rep-isomer.json" || echo "isomer failed: $m, $t threads" >&2
      }
      run_llama() {
        timeout "${RUN_TIMEOUT:-900}" node bench/llama-cpp.mjs measure -m "$m" -p "$p" -n "$n" \
          -r 1 -t "$t" "${fa[@]}" \
          >"$runs/m$i-t$t-r$rep-llama.json" || echo "llama.cpp failed: $m, $t threads" >&2
      }
      if (( rep % 2 )); then run_isomer; run_llama; else run_llama; run_isomer; fi
      echo "$(basename "$m"), $t thread(s), repetition $rep/$r done" >&2
    done
  done
done

gbs_after=$(bandwidth)
echo "streaming read bandwidth after the runs: $gbs_after GB/s" >&2
gbs=$(node -e "console.log(Math.max($gbs_before, $gbs_after).toFixed(2))")

echo "p = $p prompt tokens, n = $n generated, r = $r repetitions per engine (mean ± sd of" \
     "tokens/s); bandwidth $gbs GB/s (before the runs $gbs_before, after $gbs_after); llama.cpp: node-llama-cpp $version, CPU," \
     "flash attention ${fa[*]:-off}"
echo
node bench/llama-cpp.mjs table "$runs" "$gbs" "$runs/compute-peak.json"
