#!/usr/bin/env bash
# Builds the core, tokenizer and template unit tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (into build-asan/) and runs them from the source root.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-asan}
tests=(test_core test_tokenizer test_template)
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON \
    -DTESSERA_BUILD_BENCH=OFF
fi
cmake --build "$build_dir" -j "$(nproc)" --target "${tests[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${tests[@]}"; do
  "$build_dir/tests/$t" --gtest_brief=1
done
