"""`sfp experiment ablation` on a tiny setting (24 clips; per architecture 1 worker, 1 step of 4 clips, 1 test view):
the three runs land in one MLflow experiment nested under the summary run, which holds the comparison picture and
per-arch metrics."""

from pathlib import Path

import pytest

from sfp.errors import ConfigError

pytestmark = pytest.mark.slow

ARCHES = {"slow-only": "slow_only", "fast-only": "fast_only", "slowfast": "slowfast"}


@pytest.fixture(scope="module")
def ablation(tmp_path_factory, ray_cluster):
    from sfp_app.cli.main import main

    workdir = tmp_path_factory.mktemp("ablation")
    overrides = [
        "synth.clips_per_class=4",
        "synth.width=96",
        "synth.height=72",
        "train.optim.epochs=1",
        "train.optim.batch_size=4",
        "train.max_steps_per_epoch=1",
        "train.scaling.num_workers=1",
        "train.data.test_temporal_views=1",
        f"train.tracking.local_dir={workdir / 'mlflow'}",
    ]
    assert main(["experiment", "ablation", "--workdir", str(workdir), "--name", "abl", *overrides]) == 0
    return workdir


@pytest.mark.extended
def test_three_runs_nested_under_the_summary_run_with_the_picture(ablation):
    from mlflow.tracking import MlflowClient
    from PIL import Image

    from sfp import tracking

    tracking.configure(tracking.TrackingConfig(local_dir=str(ablation / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("ablation")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"abl", *(f"abl-{key}" for key in ARCHES)}
    parent = runs["abl"]
    assert parent.info.status == "FINISHED"
    for key, arch in ARCHES.items():
        run = runs[f"abl-{key}"]
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params["model.arch"] == arch
        # the same budget: only the network differs
        for param in ("optim.epochs", "optim.batch_size", "data.crop_size", "seed", "max_steps_per_epoch"):
            assert run.data.params[param] == runs["abl-slowfast"].data.params[param]
        assert 0.0 <= run.data.metrics["test/top1"] <= 1.0
        assert parent.data.metrics[f"{key}/test_top1"] == run.data.metrics["test/top1"]

    metrics = parent.data.metrics
    # Fast-only (1/8 the width) costs least, SlowFast (both pathways and laterals) most
    assert 0 < metrics["fast-only/gflops"] < metrics["slow-only/gflops"] < metrics["slowfast/gflops"]
    assert metrics["fast-only/params"] < metrics["slow-only/params"] < metrics["slowfast/params"]

    picture = ablation / "abl.png"
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (1100, 360)
    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id, "ablation")}
    assert {"ablation/abl.png", "ablation/table.txt", "ablation/models.txt"} <= artifacts
    table = Path(client.download_artifacts(parent.info.run_id, "ablation/table.txt", str(ablation))).read_text()
    assert [line.split()[0] for line in table.splitlines()[1:4]] == list(ARCHES)


def test_architectures_may_only_change_the_model():
    from sfp_train.ablation import arch_recipes

    train = {"name": "x", "data": {"framestore": "/tmp/store", "crop_size": 64},
             "model": {"crop_size": 64, "width": 8, "depth": 18}, "optim": {"epochs": 3, "batch_size": 4}}
    recipes = arch_recipes(train, {"a": {"model": {"arch": "slow_only"}}, "b": None}, "run")
    assert {key: (recipe.name, recipe.model.arch, recipe.optim.epochs) for key, recipe in recipes.items()} == {
        "a": ("run-a", "slow_only", 3), "b": ("run-b", "slowfast", 3)}
    assert recipes["a"].registry.model_name == "slowfast-kinetics-a"
    with pytest.raises(ConfigError, match=r"arches\.a\.optim: only `model:` may differ"):
        arch_recipes(train, {"a": {"model": {"arch": "slow_only"}, "optim": {"epochs": 9}}}, "run")


def test_the_ablation_config_is_the_demos_recipe_with_its_overrides(tmp_path):
    from sfp_app.ablation import load_sections

    (tmp_path / "demo.yaml").write_text(
        "synth: {clips_per_class: 24}\ntrain: {name: demo, optim: {epochs: 12, batch_size: 8}}\n"
        "ava: {enabled: true}\n"  # a later stage of the demo: not the ablation's
    )
    (tmp_path / "ablation.yaml").write_text(
        "base: demo.yaml\ntrain: {name: ablation, optim: {epochs: 6}}\narches: {slowfast: {model: {arch: slowfast}}}\n"
    )
    data = load_sections(tmp_path / "ablation.yaml", ["train.optim.batch_size=4"])
    assert data == {"synth": {"clips_per_class": 24},
                    "train": {"name": "ablation", "optim": {"epochs": 6, "batch_size": 4}},
                    "arches": {"slowfast": {"model": {"arch": "slowfast"}}}}
    (tmp_path / "bad.yaml").write_text("base: demo.yaml\narchs: {}\n")
    with pytest.raises(ConfigError, match="archs: unknown key"):
        load_sections(tmp_path / "bad.yaml", [])
