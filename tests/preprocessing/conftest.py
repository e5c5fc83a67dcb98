"""Real test videos made with ffmpeg on the spot (small, a second or two), for the decoding edge cases."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

MakeVideo = Callable[..., Path]


def run_ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def make_video(tmp_path_factory: pytest.TempPathFactory) -> MakeVideo:
    """`make_video(name, *ffmpeg args before the output)`: the file, made once per session."""
    folder = tmp_path_factory.mktemp("videos")

    def make(name: str, *args: str) -> Path:
        path = folder / name
        if not path.exists():
            run_ffmpeg(*args, str(path))
        return path

    return make


@pytest.fixture(scope="session")
def videos(fixtures_dir: Path) -> Path:
    return fixtures_dir / "videos"
