#!/usr/bin/env bash
# Which inference thread count is fastest while the UI draws: runs the real app on the
# demo source under Xvfb (software OpenGL, so drawing costs CPU as on a laptop without a
# GPU driver) at each --threads value in turn, for several alternating rounds, and prints
# the app's own inference rate and latency as its log reports them every 5 s.
# Needs `scripts/setup.sh --with-screenshot`. Pause the training lineage first.
#
# Usage: scripts/app_threads.sh [ROUNDS] [SECONDS] [FPS]   (defaults 3 rounds x 25 s, the
#   demo at 30 fps; a higher FPS keeps the worker always busy, to see its own limit)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
seconds=${2:-25}
fps=${3:-30}
display=:${APP_THREADS_DISPLAY:-98}
log_dir=target/app_threads
source scripts/xvfb.sh
start_screen app_threads "$display" 1120x720
mkdir -p "$log_dir"

echo "| round | threads | inference fps | UI fps | latency ms | network ms |"
echo "| --- | --- | --- | --- | --- | --- |"
for round in $(seq 1 "$rounds"); do
  for threads in 1 2; do
    log="$log_dir/round${round}_threads${threads}.log"
    DISPLAY=$display LIBGL_ALWAYS_SOFTWARE=1 RUST_LOG=tinyssd=info \
      target/release/tinyssd --source demo --fps "$fps" --no-persist --threads "$threads" >"$log" 2>&1 &
    app_pid=$!
    sleep "$seconds"
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
    # The app logs its 2-second rates every 5 s: average them, the first (start-up) left out.
    if ! grep -E -o "inference [0-9.]+ fps, UI [0-9.]+ fps.*latency [0-9.]+ ms \(pre [0-9.]+ \+ network [0-9.]+" "$log" |
      tail -n +2 | tr -d '(' |
      awk -v round="$round" -v threads="$threads" '
        { inference += $2; ui += $5; latency += $12; network += $18; n++ }
        END { if (n == 0) exit 1
              printf "| %d | %d | %.1f | %.1f | %.1f | %.2f |\n", round, threads, inference / n, ui / n, latency / n, network / n }'; then
      echo "app_threads: too few stats lines in $log" >&2
      exit 1
    fi
  done
done
