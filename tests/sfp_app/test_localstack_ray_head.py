"""The local Ray head's environment: a job's `python` is the stack's interpreter, and nothing else of its bin/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sfp_app.localstack.ray_head import write_python_shims


def test_python_on_the_heads_path_is_this_interpreter_and_only_python(tmp_path: Path) -> None:
    folder = write_python_shims(tmp_path / "bin")
    assert sorted(path.name for path in folder.iterdir()) == ["python", "python3"]
    for name in ("python", "python3"):
        ran = subprocess.run(
            [str(folder / name), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
        )
        assert ran.stdout.strip() == sys.prefix
    assert write_python_shims(folder) == folder  # a second stack start rewrites them in place
