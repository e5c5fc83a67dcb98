"""`sfp preprocess`: the YAML positionally or with --config (as the RayJob manifests call it), flags, overrides."""

import os

import pytest

from sfp_app.cli.main import main
from sfp.framestore import Manifest
from sfp_preprocess.summary import PreprocessSummary


@pytest.fixture
def captured(monkeypatch):
    """Run the command line up to the job: the validated config is captured instead of starting Ray."""
    import sfp.raycluster
    import sfp_preprocess.job

    configs, ray_inits = Captured(), []

    def fake_job(config):
        configs.append(config)
        manifest = Manifest(classes=[], shards=[], source_rows=0, clips=0, errors=0, splits={}, source={}, decode={},
                            code_version="t")
        return PreprocessSummary(config.output.uri, manifest, 1.0, 0.0, 0, 0)

    monkeypatch.setattr(sfp.raycluster, "init_ray",
                        lambda address=None, num_cpus=None: ray_inits.append((address, num_cpus)))
    monkeypatch.setattr(sfp_preprocess.job, "run_preprocess", fake_job)
    configs.ray_inits = ray_inits
    return configs


class Captured(list):
    ray_inits: list


def test_config_flag_with_overrides(captured, repo_root, capsys):
    path = str(repo_root / "configs" / "datasets" / "kinetics400.yaml")
    assert main(["preprocess", "--config", path, "decode.fps=25", "output.clips_per_shard=8"]) == 0
    (config,) = captured
    assert (config.decode.fps, config.decode.short_side, config.output.clips_per_shard) == (25, 256, 8)
    assert config.dataset.manifest.startswith("s3://")
    assert "frame store: s3://" in capsys.readouterr().out


def test_positional_yaml_and_flags(captured, repo_root, tmp_path):
    path = str(repo_root / "configs" / "datasets" / "example_folder.yaml")
    assert main(["preprocess", path, "dataset.video_root=/videos"]) == 0
    assert captured[-1].dataset.format == "folder" and captured[-1].dataset.video_root == "/videos"
    assert main(["preprocess", "--format", "folder", "--video-root", str(tmp_path), "--output", str(tmp_path / "s"),
                 "tracking.enabled=false"]) == 0
    assert captured[-1].dataset.root == str(tmp_path) and not captured[-1].tracking.enabled


def test_local_ray_has_one_cpu_per_core(captured, repo_root):
    """Every preprocessing task is CPU-bound ffmpeg: training's extra logical CPUs would run more decoders than
    cores (0.57x the clips/s on 2 cores); an address given keeps the cluster's own CPUs."""
    path = str(repo_root / "configs" / "datasets" / "example_folder.yaml")
    assert main(["preprocess", path, "dataset.video_root=/videos"]) == 0
    assert main(["preprocess", path, "dataset.video_root=/videos", "--ray-address", "ray://head:10001"]) == 0
    assert captured.ray_inits == [(None, os.cpu_count()), ("ray://head:10001", os.cpu_count())]


def test_errors_are_one_line(captured, repo_root, capsys):
    path = str(repo_root / "configs" / "datasets" / "kinetics400.yaml")
    assert main(["preprocess", path, "--config", path]) == 2
    assert "give the dataset YAML once" in capsys.readouterr().err
    assert main(["preprocess", "--config", path, "decode.fsp=25"]) == 2
    assert "decode.fsp: unknown key" in capsys.readouterr().err
    assert main(["preprocess", "--format", "csv", "--output", "/tmp/x"]) == 2
    assert captured == []
