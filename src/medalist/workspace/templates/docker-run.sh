#!/usr/bin/env bash
# Open a shell in the Kaggle docker image with this workspace mounted at /kaggle/working,
# the way the Kaggle platform runs notebooks. Usage:
#   scripts/docker-run.sh                 # GPU image, interactive bash
#   IMAGE=gcr.io/kaggle-images/python scripts/docker-run.sh python train.py
set -euo pipefail
IMAGE="${IMAGE:-gcr.io/kaggle-gpu-images/python}"
GPUS=()
if command -v nvidia-smi >/dev/null 2>&1; then GPUS=(--gpus=all); fi
cmd=("$@")
[ ${#cmd[@]} -eq 0 ] && cmd=(bash)
exec docker run --shm-size=8G --net=host "${GPUS[@]}" -it --rm \
  -u "$(id -u):$(id -g)" -v /etc/passwd:/etc/passwd:ro \
  -v "$PWD":/kaggle/working -w /kaggle/working \
  "$IMAGE" "${cmd[@]}"
