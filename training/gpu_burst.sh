#!/usr/bin/env bash
# A GPU training burst that continues the lineage, on a lent machine (training/README.md, "GPU burst").
#
# Here, once per training list:  python -m training.data.gpu_pack        # -> cache/gpu_pack (~30 MiB)
# There (run tool):  command `training/gpu_burst.sh`, carry ["cache/gpu_pack"], timeout_s 570
# Back here:         python -m training.lineage.gpu_burst adopt <files_at>
# CPU dry run:       OUT=/tmp/burst_dry training/gpu_burst.sh --device cpu --batch-size 8 --minutes 1 --threads 1
#
# Writes $OUT/{lineage.safetensors,tinyssd_voc.safetensors,log.csv,summary.json}. Other flags go to
# `python -m training.lineage.gpu_burst run` (e.g. --minutes 6 for a second attempt).
set -euo pipefail
started=$(date +%s.%N)  # the deadline counts from here, interpreter start-up included
cd "$(dirname "$0")/.."
python=${PYTHON:-$(command -v python3 || command -v python)}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
exec "$python" -m training.lineage.gpu_burst run --started-at "$started" --out "${OUT:-runs/gpu_burst}" "$@"
