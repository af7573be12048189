#!/usr/bin/env bash
# Fuzz every target in turn, one process (one core) at a time.
#   tests/fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600, all four)
# Builds once with cargo-fuzz (stable toolchain + RUSTC_BOOTSTRAP, no sanitizer), then
# runs the libFuzzer binaries on tests/fuzz/corpus/<target> (grown, not committed) and
# tests/fuzz/seeds/<target> (committed). Crashes land in tests/fuzz/artifacts/<target>/;
# logs in tests/fuzz/logs/<target>.log, whose last lines give the executions ("Done N runs").
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(weights image_decode eval_data profile)
RUSTC_BOOTSTRAP=1 cargo fuzz build -s none --fuzz-dir tests/fuzz
bin=tests/fuzz/target/x86_64-unknown-linux-gnu/release
mkdir -p tests/fuzz/logs
status=0
for target in "${targets[@]}"; do
    mkdir -p "tests/fuzz/corpus/$target" "tests/fuzz/artifacts/$target"
    echo "fuzzing $target for $seconds s"
    # -timeout: an input running 10 s is a hang; -malloc_limit_mb: one allocation
    # over 1 GiB is a bug (a header claiming terabytes must be refused first).
    if ! "$bin/$target" "tests/fuzz/corpus/$target" "tests/fuzz/seeds/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="tests/fuzz/artifacts/$target/" \
        >"tests/fuzz/logs/$target.log" 2>&1; then
        echo "$target: FAILED (see tests/fuzz/logs/$target.log; move the input from"
        echo "  tests/fuzz/artifacts/$target/ to tests/fuzz/regressions/$target/ once fixed)"
        status=1
    fi
    grep -E "^Done" "tests/fuzz/logs/$target.log" || true
done
exit $status
