#!/usr/bin/env bash
# A ~10-minute training run on a lent GPU machine (no internet, no shared data there).
#
# Here, once:   python -m training.pack_gpu_data          # -> cache/gpu_pack (~53 MiB, git-ignored)
# There:        run tool, command `training/gpu_train.sh`, carry ["cache/gpu_pack"]
# CPU check:    DEVICE=cpu MINUTES=1 BATCH=8 WORKERS=2 OUT=/tmp/gpu_check training/gpu_train.sh
#
# Starts from models/tinyssd_voc.safetensors when it exists (continued training), else
# from scratch. Writes $OUT/run/{log.csv,loss.png,best.pt,last.pt} and
# $OUT/tinyssd_voc.safetensors (exported from best.pt).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/gpu}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-10}
BATCH=${BATCH:-128}
LR=${LR:-4e-3}
WORKERS=${WORKERS:-14}   # CPU augmentation keeps the GPU fed: 16 cores there
PACK=${PACK:-cache/gpu_pack}

INIT=()
if [[ -f models/tinyssd_voc.safetensors && -z "${FROM_SCRATCH:-}" ]]; then
  INIT=(--init models/tinyssd_voc.safetensors)
fi

[[ "$DEVICE" == cuda ]] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -m training.train --packed "$PACK" --out "$OUT/run" --device "$DEVICE" --minutes "$MINUTES" \
  --batch-size "$BATCH" --lr "$LR" --workers "$WORKERS" --threads 2 \
  --eval-minutes 3 --checkpoint-minutes 2 "${INIT[@]}"
python -m training.export --checkpoint "$OUT/run/best.pt" --out "$OUT/tinyssd_voc.safetensors" \
  --source-note "GPU run ($DEVICE, $MINUTES min, batch $BATCH, lr $LR), packed JPEGs from training/pack_gpu_data.py"
python -m training.evaluate --model "$OUT/tinyssd_voc.safetensors" --packed "$PACK" --out "$OUT/eval"
