"""``bash benchmarks/gpu_check.sh`` on a machine without CUDA: a clear message and a non-zero exit within
10 s (issue 14). Skipped where CUDA is available (there the script runs its 8-minute check)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available: gpu_check.sh would run the full check")
def test_gpu_check_refuses_quickly_without_cuda(tmp_path):
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)})
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert "needs a CUDA GPU" in proc.stderr and "Nothing was run" in proc.stderr
    assert elapsed < 10, f"took {elapsed:.1f} s"
