#!/usr/bin/env bash
# LoRA training speed on a Llama-3.2-1B-shaped model (bf16 base and a 4-bit copy) at batch 1,
# sequence length 512, next to the machine's measured GEMM rate: training tokens/s from
# `tessera lora` and the fraction of the GEMM FLOP/s it reaches, counting 3x the forward-pass
# FLOPs per token (forward, backward through activations, adapter gradients).
#
#   bench/lora_bench.sh [-i iters] [-t threads] [-L seq_len] [--model DIR]
#
# BUILD_DIR (default build) holds the built `tessera` and `bench/gemm_bench`. Without --model
# the random-weight model is written to /tmp/llama-1b once (needs python3-numpy) and its 4-bit
# copy to /tmp/llama-1b-4bit.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
model=/tmp/llama-1b
iters=4
threads=$(nproc)
seq_len=512
while [ $# -gt 0 ]; do
  case "$1" in
    -i) iters=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -L) seq_len=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done
for exe in "$build_dir/tessera" "$build_dir/bench/gemm_bench"; do
  if [ ! -x "$exe" ]; then
    echo "error: $exe is missing; build it first (cmake --build $build_dir --target tessera_cli gemm_bench)" >&2
    exit 1
  fi
done
if [ ! -f "$model/config.json" ]; then
  /usr/bin/python3 ../shared/tools/make_random_llama.py --out-dir "$model"
fi
qmodel="${model%/}-4bit"
if [ ! -f "$qmodel/config.json" ]; then
  "$build_dir/tessera" convert --hf-path "$model" --mlx-path "$qmodel" -q
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One text record far longer than the sequence length: every step trains on seq_len tokens.
/usr/bin/python3 - "$work/data/train.jsonl" <<'PY'
import json, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
words = "the quick brown fox jumps over the lazy dog while a small bird sings in the old tree".split()
text = " ".join(words[i % len(words)] for i in range(4000))
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"text": text}) + "\n")
PY

export TESSERA_NUM_THREADS=$threads
run_lora() {
  "$build_dir/tessera" lora --model "$1" --train --data "$work/data" --iters "$iters" --batch-size 1 \
    --max-seq-length "$seq_len" --val-batches 0 --steps-per-report 1 --save-every 100000 --num-layers -1 \
    --adapter-path "$work/adapters-$2" | tee "$work/$2.log"
}
run_lora "$model" bf16
run_lora "$qmodel" q4
"$build_dir/bench/gemm_bench" --benchmark_filter='BM_(matmul_op|gemm_bf16|sgemm_openblas)/M:512/N:2048/K:2048' \
  --benchmark_format=json > "$work/gemm.json"

/usr/bin/python3 - "$model/config.json" "$work/gemm.json" "$work/bf16.log" "$work/q4.log" "$seq_len" <<'PY'
import json, re, sys
cfg = json.load(open(sys.argv[1]))
gemm = json.load(open(sys.argv[2]))
seq = int(sys.argv[5])
d, ff, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
H, KV = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
hd = cfg.get("head_dim", d // H)
# Forward FLOPs per token: the weight GEMMs, the LM head, and causal attention (average context seq/2).
weights = L * (d * H * hd + 2 * d * KV * hd + H * hd * d + 3 * d * ff) + d * V
fwd = 2 * weights + L * 2 * 2 * (seq / 2) * H * hd
peak = max(b["FLOPS"] for b in gemm["benchmarks"])
print()
print(f"GEMM peak (512x2048x2048, best of core op / bf16 kernel / OpenBLAS): {peak / 1e9:.1f} GFLOP/s")
print(f"forward FLOPs per token: {fwd / 1e9:.2f} GFLOP (training counts 3x)")
for name, log in (("bf16", sys.argv[3]), ("4-bit", sys.argv[4])):
    rates = [float(m) for m in re.findall(r"Tokens/sec ([0-9.]+)", open(log).read())]
    if not rates:
        sys.exit(f"no Tokens/sec in {log}")
    steady = rates[1:] or rates  # the first step includes warm-up
    tps = sum(steady) / len(steady)
    print(f"LoRA {name}: {tps:.1f} tokens/s -> {100 * tps * 3 * fwd / peak:.1f}% of GEMM peak")
PY
