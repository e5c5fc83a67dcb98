"""Every `make` line in README's examples names a real target with the variables it documents: `make -n` (print,
run nothing) expands it to the `sfp` (or `ray`, or pytest) command README says it is, carrying each value given on
the line. The commands themselves run in their own tests (the demo, the stack, the jobs, training, evaluation)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND_OF_TARGET = {  # what each documented target runs
    "demo": "bin/sfp demo", "test": "bin/python -m pytest", "ablation": "bin/sfp experiment ablation",
    "preprocess": "bin/sfp preprocess", "train": "bin/sfp", "evaluate": "bin/sfp evaluate",
    "finetune-ava": "bin/sfp finetune-ava", "predict": "bin/sfp predict", "jobs": "bin/sfp jobs list",
    "logs": "bin/sfp jobs logs", "stop": "bin/sfp jobs stop", "up": "bin/sfp stack up", "down": "bin/sfp stack down",
    "status": "bin/sfp stack status", "cluster-up": "bin/ray up -y", "cluster-down": "bin/ray down -y",
}


def readme_make_lines() -> list[str]:
    lines, inside = [], False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and re.match(r"(\$ )?make [a-z]", line):
            command = line.removeprefix("$ ").split("  #")[0].split(" # ")[0].strip()
            if "<" not in command:  # a placeholder to fill in, not a line to run as written
                lines.append(command)
    return sorted(set(lines))


def test_readme_documents_make_lines():
    assert len(readme_make_lines()) >= 15


@pytest.mark.parametrize("line", readme_make_lines())
def test_a_readme_make_line_expands_to_its_documented_command(line):
    words = shlex.split(line)
    target, assignments = words[1], dict(word.split("=", 1) for word in words[2:] if "=" in word)
    done = subprocess.run(["make", "-n", *words[1:], "VENV=.venv"], cwd=README.parent, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(README.parent)})
    assert done.returncode == 0, done.stderr
    command = done.stdout.strip().splitlines()[-1]
    assert COMMAND_OF_TARGET[target] in command, (line, command)
    for name, value in assignments.items():
        if name not in ("CLUSTER",) or target.startswith("cluster"):
            assert value in command, (line, name, command)
    if "CLUSTER" in assignments and not target.startswith("cluster"):  # a job on the cluster named
        assert "bin/sfp jobs submit --address http://127.0.0.1:8265 --" in command, command
