#!/usr/bin/env bash
# End-to-end speed of a Llama-3.2-1B-shaped bf16 model next to the machine's memory bandwidth:
# `tessera bench` (pp/tg tokens per second) and the membw_bench probe, in the same run, with
# tg as a percentage of the bandwidth limit (bandwidth / bytes of weights read per token).
#
#   bench/llm_bench.sh [-p 512] [-n 128] [-r 3] [-t 2] [--model DIR]
#
# BUILD_DIR (default build) holds the built `tessera` and `membw_bench`. Without --model the
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

for exe in "$build_dir/tessera" "$build_dir/bench/membw_bench"; do
  if [ ! -x "$exe" ]; then
    echo "error: $exe is missing; build it first (scripts/build.sh)" >&2
    exit 1
  fi
done
if [ ! -f "$model/config.json" ]; then
  /usr/bin/python3 ../shared/tools/make_random_llama.py --out-dir "$model"
fi

bench_json=$(mktemp)
membw_json=$(mktemp)
trap 'rm -f "$bench_json" "$membw_json"' EXIT

"$build_dir/tessera" bench --model "$model" -p "$n_prompt" -n "$n_gen" -r "$reps" -t "$threads" --json > "$bench_json"
TESSERA_NUM_THREADS=$threads "$build_dir/bench/membw_bench" --benchmark_filter=BM_read --benchmark_format=json \
  > "$membw_json"

/usr/bin/python3 - "$bench_json" "$membw_json" <<'EOF'
import json, sys
bench = json.loads(open(sys.argv[1]).read().splitlines()[0])
membw = json.load(open(sys.argv[2]))
# The probe's read bandwidth (bytes/s) at the benchmark's thread count (BM_read/<threads>/...).
reads = [b for b in membw["benchmarks"] if b["name"].split("/")[1] == str(bench["threads"])]
if not reads:
    sys.exit(f"membw_bench has no BM_read result for {bench['threads']} threads")
bandwidth = reads[0]["bandwidth"]
limit = bandwidth / bench["weights_bytes"]
print()
print(f"memory bandwidth: {bandwidth / 1e9:.1f} GB/s ({bench['threads']} threads)")
print(f"weights per token: {bench['weights_bytes'] / 1e9:.3f} GB -> tg limit {limit:.1f} t/s")
print(f"pp{bench['n_prompt']}: {bench['pp_tps']:.1f} t/s (runs: {', '.join(f'{x:.1f}' for x in bench['pp_tps_all'])})")
print(f"tg{bench['n_gen']}: {bench['tg_tps']:.2f} t/s (runs: {', '.join(f'{x:.2f}' for x in bench['tg_tps_all'])})"
      f" = {100 * bench['tg_tps'] / limit:.0f} % of the bandwidth limit")
print(f"peak memory: {bench['peak_memory_bytes'] / 1e9:.3f} GB, load: {bench['load_seconds']:.3f} s")
EOF
