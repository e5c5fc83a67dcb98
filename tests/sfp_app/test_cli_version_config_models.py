"""`sfp --version`, `sfp config show` (the resolved recipe every run logs) and `sfp model list` (the registry)."""

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
import yaml

from sfp_app.cli.main import main


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_is_the_installed_package_version(repo_root):
    completed = subprocess.run([sys.executable, "-m", "sfp_app.cli.main", "--version"], capture_output=True, text=True,
                               cwd=repo_root, check=True)

    assert completed.stdout == f"sfp {version('slowfast-platform')}\n"


# --- sfp config show --------------------------------------------------------------------------------------------


def test_config_show_prints_the_recipe_as_training_logs_it(repo_root, capsys):
    from sfp.config import load_config
    from sfp_train.recipe import TrainRecipe

    path = repo_root / "configs" / "kinetics" / "slowfast_r50_8x8.yaml"
    overrides = ["optim.epochs=4", "data.flip=false"]

    code, out, err = run(["config", "show", str(path), *overrides], capsys)

    assert (code, err) == (0, "")
    shown = yaml.safe_load(out)
    assert shown == load_config(TrainRecipe, path, overrides).model_dump(mode="json")  # what the trainer logs
    assert shown["optim"]["epochs"] == 4 and shown["data"]["flip"] is False
    assert shown["engine"]["grad_accumulation"] == 8  # the YAML's own value
    assert "zero_stage" in shown["engine"] and "val_every_n_epochs" in shown  # defaults filled in
    assert list(shown)[:2] == ["name", "seed"]  # in the recipe's order, not sorted


@pytest.mark.parametrize(
    ("recipe", "kind_key"),
    [
        ("configs/ava/slowfast_r50_8x8.yaml", "init"),
        ("configs/datasets/kinetics400.yaml", "dataset"),
        ("configs/models/slowfast_r50_8x8.yaml", "model"),
    ],
)
def test_config_show_validates_each_kind_of_recipe_as_its_command(repo_root, capsys, recipe, kind_key):
    code, out, _ = run(["config", "show", str(repo_root / recipe)], capsys)

    assert code == 0
    assert kind_key in yaml.safe_load(out)


def test_config_show_of_the_demo_fills_in_its_locations(repo_root, tmp_path, capsys):
    code, out, _ = run(["config", "show", str(repo_root / "configs" / "demo.yaml"), "train.optim.epochs=2",
                        "--workdir", str(tmp_path)], capsys)

    assert code == 0
    shown = yaml.safe_load(out)
    assert set(shown) == {"synth", "preprocess", "train", "ava"}
    assert shown["train"]["optim"]["epochs"] == 2
    assert shown["train"]["data"]["framestore"] == str(tmp_path / "framestore")
    assert shown["ava"]["finetune"]["init"]["from_model"].startswith("models:/")


@pytest.mark.parametrize(
    ("recipe", "override", "message"),
    [
        ("configs/kinetics/slowfast_r50_8x8.yaml", "optim.epoch=4",
         "sfp: error: {path}: optim.epoch: unknown key\n"),
        ("configs/kinetics/slowfast_r50_8x8.yaml", "registry.alias=latest",
         "sfp: error: {path}: registry.alias: 'latest' is reserved by MLflow (models:/<name>@latest is "
         "the newest version)\n"),
        ("configs/demo.yaml", "train.optim.epoch=4", "sfp: error: train: optim.epoch: unknown key\n"),
    ],
)
def test_config_show_stops_on_a_bad_key_with_one_line(repo_root, tmp_path, capsys, recipe, override, message):
    path = repo_root / recipe

    code, out, err = run(["config", "show", str(path), override, "--workdir", str(tmp_path)], capsys)

    assert (code, out) == (2, "")
    assert err == message.format(path=path)


def test_train_refuses_a_reserved_alias_before_starting_anything(repo_root, capsys):
    # the same validation `sfp train` runs before Ray or MLflow: it fails in the recipe, not at registration
    path = repo_root / "configs" / "kinetics" / "slowfast_r50_8x8.yaml"

    code, _, err = run(["train", str(path), "registry.alias=latest"], capsys)

    assert code == 2
    assert err.startswith(f"sfp: error: {path}: registry.alias: ") and "'latest' is reserved" in err


def test_config_show_refuses_an_ablation_yaml_with_one_line(repo_root, capsys):
    path = repo_root / "configs" / "ablation.yaml"

    code, _, err = run(["config", "show", str(path)], capsys)

    assert code == 2
    assert err.startswith(f"sfp: error: {path}: an ablation YAML") and err.count("\n") == 1


# --- sfp model list ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """A local MLflow store: `slowfast-a` with versions 1-3 (alias `kinetics-pretrained` on 3, `old` on 1),
    `slowfast-b` with no version yet."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.create_run(client.create_experiment("e", artifact_location=(root / "artifacts").as_uri()))
    client.create_registered_model("slowfast-a")
    for _ in range(3):
        client.create_model_version("slowfast-a", source=(root / "artifacts").as_uri(), run_id=run.info.run_id)
    client.set_registered_model_alias("slowfast-a", "kinetics-pretrained", "3")
    client.set_registered_model_alias("slowfast-a", "old", "1")
    client.create_registered_model("slowfast-b")
    return uri, run.info.run_id


def test_model_list_json_has_every_model_version_and_alias(registry, capsys):
    uri, run_id = registry

    code, out, _ = run(["model", "list", "--tracking-uri", uri, "--json"], capsys)

    assert code == 0
    models = json.loads(out)
    assert [model["name"] for model in models] == ["slowfast-a", "slowfast-b"]
    first, second = models
    assert first["aliases"] == {"kinetics-pretrained": 3, "old": 1}
    assert [(v["version"], v["aliases"], v["run_id"]) for v in first["versions"]] == [
        (1, ["old"], run_id), (2, [], run_id), (3, ["kinetics-pretrained"], run_id)]
    assert second == {"name": "slowfast-b", "aliases": {}, "versions": []}


def test_model_list_table_has_one_line_per_version(registry, capsys):
    uri, run_id = registry

    code, out, _ = run(["model", "list", "--tracking-uri", uri], capsys)

    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["model", "version", "aliases", "created", "(UTC)", "run"]
    assert [line[:3] for line in lines[1:]] == [["slowfast-a", "1", "old"], ["slowfast-a", "2", "-"],
                                                ["slowfast-a", "3", "kinetics-pretrained"], ["slowfast-b", "-", "-"]]
    assert lines[1][-1] == run_id


def test_model_list_of_the_default_store_from_the_environment(registry, monkeypatch, capsys):
    uri, _ = registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    code, out, _ = run(["model", "list", "--json"], capsys)

    assert code == 0 and [model["name"] for model in json.loads(out)] == ["slowfast-a", "slowfast-b"]


def test_model_list_of_a_store_never_written_creates_nothing(tmp_path, capsys):
    database = tmp_path / "mlflow" / "mlflow.db"

    code, out, _ = run(["model", "list", "--tracking-uri", f"sqlite:///{database}"], capsys)

    assert (code, out) == (0, f"no registered models in sqlite:///{database}\n")
    assert not database.parent.exists()
