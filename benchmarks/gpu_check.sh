#!/usr/bin/env bash
# One command for the first CUDA GPU we are lent (issue 14), about 8 minutes in all:
#   bash benchmarks/gpu_check.sh
# writes benchmarks/results/gpu_check_<UTC time>.json and .log: device, driver, torch and CUDA versions;
# the training throughput (ours against fp32 eager, MFU, peak memory) of the t4 and gpu presets; a short
# gpu-preset training run that is killed and resumed (loss falls, no NaN, final weights against an
# uninterrupted run); sampling and the stand-in metric. On a machine without CUDA it says so and exits 2
# within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
# one Python start (importing torch is most of the time of a refusal)
if ! TORCH_VERSION="$("$PY" -c 'import sys, torch; print(torch.__version__); sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null)"; then
    echo "gpu_check.sh needs a CUDA GPU: torch.cuda.is_available() is False here (torch: ${TORCH_VERSION:-not importable}). Nothing was run." >&2
    exit 2
fi
mkdir -p benchmarks/results
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="benchmarks/results/gpu_check_${STAMP}.log"
JSON="benchmarks/results/gpu_check_${STAMP}.json"
echo "gpu_check: log $LOG, results $JSON"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# the whole check is bounded: 480 s, then whatever was measured so far is in the JSON (written after each part)
timeout --signal=INT 480 "$PY" benchmarks/gpu_check.py --json "$JSON" 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
