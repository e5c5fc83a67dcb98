"""`platform/` holds the platform layer's package but must never shadow the standard library's `platform`."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def test_platform_folder_has_no_init(repo_root):
    assert (repo_root / "platform" / "sfp" / "__init__.py").is_file()
    assert not (repo_root / "platform" / "__init__.py").exists()


def test_import_platform_from_repo_root_is_stdlib(repo_root):
    output = subprocess.run(
        [sys.executable, "-c", "import platform; platform.system(); print(platform.__file__)"],
        cwd=repo_root, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(output).resolve().parent == STDLIB


@pytest.mark.slow
def test_import_platform_inside_a_ray_task_is_stdlib(ray_cluster):
    import ray

    @ray.remote
    def where() -> tuple[str, str]:
        import platform

        return platform.system(), platform.__file__

    system, path = ray.get(where.remote())
    assert system == "Linux"
    assert Path(path).resolve().parent == STDLIB
