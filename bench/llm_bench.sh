#!/usr/bin/env bash
# End-to-end speed of a Llama-3.2-1B-shaped bf16 model next to the machine's memory bandwidth:
# `tessera bench` (pp/tg tokens per second) measures the read bandwidth right before and after
# each tg run; tg is reported as a percentage of the limit (bandwidth / bytes of weights per
# token), each run against its own probes.
#
#   bench/llm_bench.sh [-p 512] [-n 128] [-r 3] [-t 2] [--model DIR]
#
# BUILD_DIR (default build) holds the built `tessera`. Without --model the
# random-weight model is written to /tmp/llama-1b once (needs python3-numpy).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
model=/tmp/llama-1b
n_prompt=512
n_gen=128
reps=3
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    -p) n_prompt=$2; shift 2 ;;
    -n) n_gen=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done

if [ ! -x "$build_dir/tessera" ]; then
  echo "error: $build_dir/tessera is missing; build it first (scripts/build.sh)" >&2
  exit 1
fi
if [ ! -f "$model/config.json" ]; then
  /usr/bin/python3 ../shared/tools/make_random_llama.py --out-dir "$model"
fi

bench_json=$(mktemp)
trap 'rm -f "$bench_json"' EXIT

"$build_dir/tessera" bench --model "$model" -p "$n_prompt" -n "$n_gen" -r "$reps" -t "$threads" --json > "$bench_json"

/usr/bin/python3 - "$bench_json" <<'EOF'
import json, sys
bench = json.loads(open(sys.argv[1]).read().splitlines()[0])
bandwidth = bench["read_bandwidth_bytes_per_s"]
limit = bandwidth / bench["weights_bytes"]
print()
probes = ", ".join(f"{b / 1e9:.1f}" for b in bench["tg_read_bandwidth_all"])
print(f"memory bandwidth: {bandwidth / 1e9:.1f} GB/s ({bench['threads']} threads; per tg run: {probes})")
print(f"weights per token: {bench['weights_bytes'] / 1e9:.3f} GB -> tg limit {limit:.1f} t/s")
print(f"pp{bench['n_prompt']}: {bench['pp_tps']:.1f} t/s (runs: {', '.join(f'{x:.1f}' for x in bench['pp_tps_all'])})")
print(f"tg{bench['n_gen']}: {bench['tg_tps']:.2f} t/s (runs: {', '.join(f'{x:.2f}' for x in bench['tg_tps_all'])})"
      f" = {100 * bench['tg_bandwidth_fraction']:.0f} % of the bandwidth limit")
print(f"peak memory: {bench['peak_memory_bytes'] / 1e9:.3f} GB, load: {bench['load_seconds']:.3f} s")
EOF
