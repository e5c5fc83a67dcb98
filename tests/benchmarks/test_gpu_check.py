"""scripts/gpu_check.sh in its reduced form, on CPU: every row of the device check runs and prints its figures
(the end-to-end bench-train row is left out: it is two Ray Train runs, measured by `make bench-train`)."""

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


def test_reduced_gpu_check_prints_every_row():
    done = subprocess.run([str(SCRIPT), "--reduced", "--skip-train"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})  # CI's virtualenv is not .venv
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("gpu check on CPU")
    rows = {match[1]: (float(match[2]), float(match[3]))
            for match in re.finditer(r"^\s+(fp32|autocast|deepspeed-bf16)\s+([\d.]+)\s+([\d.]+)\s", out, re.M)}
    assert set(rows) == {"fp32", "autocast", "deepspeed-bf16"}, out
    assert abs(rows["autocast"][0] - rows["fp32"][0]) / rows["fp32"][0] < 0.01  # the first loss, same batch
    (rate,) = re.findall(r"^\s+2\s+False\s+([\d.]+)\s+-", out, re.M)
    assert float(rate) > 0
    decoded = re.search(r"decode_jpeg on cpu: ([\d,]+) frames/s", out)
    assert decoded and int(decoded[1].replace(",", "")) > 0
    clip_decoder = re.search(r"ClipDecoder on cpu: ([\d,.]+) training clips/s .* = ([\d,]+) frames/s", out)
    assert clip_decoder and float(clip_decoder[1].replace(",", "")) > 0, out
