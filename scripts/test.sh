#!/usr/bin/env bash
# Builds if needed, fetches the test data that is not kept in git, and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir=${BUILD_DIR:-build}
if [ -x scripts/fetch_test_data.sh ]; then
  scripts/fetch_test_data.sh
fi
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
