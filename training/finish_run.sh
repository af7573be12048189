#!/usr/bin/env bash
# Waits for a training process to end, then exports its best checkpoint as the app's
# model and evaluates it. Usage: training/finish_run.sh PID RUN_DIR "SOURCE NOTE"
set -euo pipefail
cd "$(dirname "$0")/.."
pid=$1 run=$2 note=${3:-}
while kill -0 "$pid" 2>/dev/null; do sleep 30; done
python -m training.export --checkpoint "$run/best.pt" --out models/tinyssd_voc.safetensors --source-note "$note"
python -m training.evaluate --model models/tinyssd_voc.safetensors --split training/val_split.txt --out "$run/eval"
