#!/usr/bin/env bash
# The CUDA check, as run on a lent GPU machine (torch only; no dvc): each RNN variant
# a few hundred steps with bf16 autocast, then fp32 for comparison, then loading a
# CUDA-trained model on CPU. Prepared data is carried in .gpu/ (ignored by git):
#   mkdir -p .gpu && cp -r data/prepared/tinyshakespeare .gpu/
#   OUT=/some/dir bash benchmarks/gpu_check.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks/results}
DATA=${DATA:-.gpu/tinyshakespeare}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
python3 benchmarks/gpu_bench.py --data "$DATA" --out "$OUT/gpu.json" --steps 300 2>&1 | tee "$OUT/gpu_log.txt"
python3 benchmarks/gpu_bench.py --data "$DATA" --out "$OUT/gpu_fp32.json" --steps 300 --no-amp 2>&1 | tee -a "$OUT/gpu_log.txt"
