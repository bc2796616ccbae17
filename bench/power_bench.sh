#!/usr/bin/env bash
# Generation power features, end to end through the `tessera` command:
#  1. time to first token after a 2,000-token prefix, from a prompt cache file vs a full prefill;
#  2. speculative decoding: draft acceptance rate and speed-up over plain decoding, with the
#     model as its own draft (the upper bound) and with its 4-bit copy as the draft;
#  3. batched generation: decode throughput of 8 prompts at batch 8 vs batch 1 (with
#     --int8-activations, a quantized model's activations rounded to int8 in both);
#  4. the quantized KV cache: prompt and decoding speed and peak memory after the same prefix,
#     with the cache in floating point, 8 and 4 bits.
#
#   bench/power_bench.sh [--model DIR] [--q4 DIR] [-n GEN_TOKENS] [--prefix-tokens N] [--skip SECTIONS]
#                        [--int8-activations]
#
# BUILD_DIR (default build) holds the built `tessera`. The model defaults to the demo model;
# its 4-bit copy (--q4) is made with `tessera convert -q` into a scratch folder unless given.
# --skip takes a comma-separated list of sections (cache, speculative, batch, kv) to leave out.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
exe="$build_dir/tessera"
model=models/stories260K
n_gen=200
prefix_tokens=2000
q4=""
skip=""
batch_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    -n) n_gen=$2; shift 2 ;;
    --prefix-tokens) prefix_tokens=$2; shift 2 ;;
    --q4) q4=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --int8-activations) batch_flags+=(--int8-activations); shift ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done
if [ ! -x "$exe" ]; then
  echo "error: $exe is missing; build it first (scripts/build.sh)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "Prompt: N tokens, X tokens-per-sec" -> seconds of the prompt phase (which ends with the
# first generated token).
prompt_seconds() { awk '/^Prompt:/ { printf "%.4f", $2 / $4 }'; }
generation_tps() { awk '/^Generation:/ { print $4 }'; }

echo "model: $model"
runs() { [[ ",$skip," != *",$1,"* ]]; }

# A prefix of about prefix_tokens tokens, for the prompt cache and the quantized KV cache.
make_prefix() {
  local sentence="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. "
  prefix=""
  while [ "$("$exe" tokenize --model "$model" --text "$prefix" 2>/dev/null | head -1 | wc -w)" -lt "$prefix_tokens" ]; do
    prefix="$prefix$sentence$sentence$sentence$sentence"
  done
}

# 1. Prompt cache.
if runs cache; then
make_prefix
question=" One day, Lily saw a big dog"
printf '%s' "$prefix" > "$work/prefix.txt"
printf '%s' "$prefix$question" > "$work/full.txt"
"$exe" cache_prompt --model "$model" --ignore-chat-template --prompt - --prompt-cache-file "$work/prefix.safetensors" \
  < "$work/prefix.txt" > /dev/null
full=$("$exe" generate --model "$model" --ignore-chat-template --prompt - -m 1 < "$work/full.txt")
cached=$("$exe" generate --model "$model" --ignore-chat-template --prompt-cache-file "$work/prefix.safetensors" \
  --prompt "$question" -m 1)
t_full=$(prompt_seconds <<< "$full")
t_cached=$(prompt_seconds <<< "$cached")
full_tokens=$(awk '/^Prompt:/ { print $2 }' <<< "$full")
echo "prompt cache: TTFT full prefill of $full_tokens tokens ${t_full}s, from the cached prefix ${t_cached}s," \
  "$(awk -v a="$t_full" -v b="$t_cached" 'BEGIN { printf "%.1f", a / b }')x shorter"
fi

# 2. Speculative decoding.
if runs speculative; then
if [ -z "$q4" ]; then
  q4="$work/q4"
  "$exe" convert --hf-path "$model" --mlx-path "$q4" -q > /dev/null
fi
story="Once upon a time"
plain=$("$exe" generate --model "$model" -p "$story" -m "$n_gen" --ignore-chat-template)
plain_tps=$(generation_tps <<< "$plain")
echo "plain decoding: $plain_tps tokens/s"
for draft in "$model" "$q4"; do
  for k in 2 3 4; do
    out=$("$exe" generate --model "$model" -p "$story" -m "$n_gen" --ignore-chat-template --draft-model "$draft" \
      --num-draft-tokens "$k" 2> "$work/err")
    tps=$(generation_tps <<< "$out")
    # Each verification pass emits one token of the main model after the accepted drafts, so
    # passes = generated - drafted and proposals = passes * k (the last pass may propose fewer).
    accepted=$(awk -v k="$k" '/^Draft tokens accepted:/ {
      printf "%d of %d tokens, acceptance %.0f%%", $4, $6, 100 * $4 / (($6 - $4) * k) }' "$work/err")
    name=$([ "$draft" = "$model" ] && echo "itself" || echo "4-bit copy")
    echo "speculative (draft: $name, k=$k): $tps tokens/s, $(awk -v a="$tps" -v b="$plain_tps" \
      'BEGIN { printf "%.2f", a / b }')x plain; from the draft: $accepted"
  done
done

fi

# 3. Batched generation of 8 prompts.
if runs batch; then
for p in "Once upon a time" "The cat" "Lily had a red ball. She" "Tom and his mom went to" \
  "There was a big tree in the garden." "One day, a little bird" "Sam liked to" "The sun was shining and"; do
  echo "$p"
done > "$work/prompts.txt"
for b in 1 8; do
  out=$("$exe" generate --model "$model" --prompts-file "$work/prompts.txt" -m "$n_gen" --batch-size "$b" \
    --ignore-chat-template "${batch_flags[@]}")
  tps=$(generation_tps <<< "$out")
  echo "batch $b: $tps tokens/s"
  eval "batch_$b=$tps"
done
echo "batch 8 vs batch 1: $(awk -v a="$batch_8" -v b="$batch_1" 'BEGIN { printf "%.2f", a / b }')x throughput"
fi

# 4. The quantized KV cache after the prefix.
if runs kv; then
make_prefix
printf '%s' "$prefix" > "$work/long.txt"
for kv in "" "--kv-bits 8" "--kv-bits 4"; do
  # shellcheck disable=SC2086
  out=$("$exe" generate --model "$model" --ignore-chat-template --prompt - -m "$n_gen" $kv < "$work/long.txt")
  echo "KV cache ${kv:-float}: prompt $(awk '/^Prompt:/ { print $4 }' <<< "$out") tokens/s," \
    "generation $(generation_tps <<< "$out") tokens/s, $(awk '/^Peak memory:/ { print $3, $4 }' <<< "$out") peak"
done
fi
