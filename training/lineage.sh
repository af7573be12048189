#!/usr/bin/env bash
# The training lineage, for every working period:
#   training/lineage.sh start [--until HH:MM | --for-minutes N]   # background, nice 19, log outside the repo
#   training/lineage.sh stop                                      # pause (state saved); `start` resumes
#   training/lineage.sh finish                                    # stop, cooldown, tinyssd eval, ship if better, record
#   training/lineage.sh status
# Other flags go to `python -m training.lineage <command>` (e.g. finish --max-images 8000, start --ranks 1).
# TINYSSD_DATA: the VOC root (default ../shared/data/voc); TINYSSD_LINEAGE_LOG: the log folder.
set -euo pipefail
cd "$(dirname "$0")/.."

log_dir=${TINYSSD_LINEAGE_LOG:-$HOME/.cache/tinyssd/lineage}
data=(--data "${TINYSSD_DATA:-../shared/data/voc}")
command=${1:-}
shift || true

case "$command" in
  start)
    if pid=$(python3 -m training.lineage running); then
      echo "lineage: already training (pid $pid); log: $log_dir/train.log"
      exit 0
    fi
    mkdir -p "$log_dir"
    nohup nice -n 19 python3 -m training.lineage "${data[@]}" train "$@" >> "$log_dir/train.out" 2>&1 &
    echo "lineage: training in the background (pid $!); log: $log_dir/train.log"
    ;;
  stop | status)
    python3 -m training.lineage "${data[@]}" "$command" "$@"
    ;;
  finish)
    # the evaluation is the app's own: build the release binary if it is missing or stale
    cargo build --release --locked --quiet --bin tinyssd
    python3 -m training.lineage "${data[@]}" finish "$@"
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
