#!/usr/bin/env bash
# The CUDA check, as run on a lent GPU machine (torch only; no dvc): benchmarks/gpu/gpu_bench.py
# trains each RNN variant 300 steps with bf16 autocast (-> gpu.json), then again in fp32
# (-> gpu_fp32.json), both logged to gpu_log.txt; then benchmarks/gpu/gpu_report.py writes
# gpu.md from the JSON files in $OUT. Not part of this script (run by hand when needed, their
# files then feed gpu_report.py): benchmarks/gpu/gpu_amp_lstm.py (bf16 vs fp32 LSTM ->
# gpu_amp_lstm.json) and benchmarks/gpu/gpu_cuda_model.py (a CUDA-trained model to load on a
# CPU). Run from the repository root; prepared data is carried in .gpu/ (ignored by git):
#   mkdir -p .gpu && cp -r data/prepared/tinyshakespeare .gpu/
#   OUT=/some/dir bash benchmarks/gpu/gpu_check.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks/results}
DATA=${DATA:-.gpu/tinyshakespeare}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
python3 benchmarks/gpu/gpu_bench.py --data "$DATA" --out "$OUT/gpu.json" --steps 300 2>&1 | tee "$OUT/gpu_log.txt"
python3 benchmarks/gpu/gpu_bench.py --data "$DATA" --out "$OUT/gpu_fp32.json" --steps 300 --no-amp 2>&1 | tee -a "$OUT/gpu_log.txt"
python3 benchmarks/gpu/gpu_report.py --dir "$OUT"
