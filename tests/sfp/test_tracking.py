"""sfp.tracking: where runs go."""

import mlflow
import pytest

from sfp import tracking


def test_configuring_one_store_does_not_redirect_the_next_config(tmp_path, monkeypatch):
    """MLflow exports a configured URI as MLFLOW_TRACKING_URI; a second config in the same process (the demo's
    preprocessing run, then its training run) must still go to its own store, not to the first one's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    saved = mlflow.get_tracking_uri()
    first = tracking.TrackingConfig(local_dir=str(tmp_path / "first"))
    second = tracking.TrackingConfig(local_dir=str(tmp_path / "second"))
    try:
        assert tracking.configure(first) == f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}"
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}"
        assert tracking.resolve_tracking_uri(second) == f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}"
    finally:
        tracking.use_tracking_uri(saved, create=False)  # not mlflow.set_tracking_uri: it exports MLFLOW_TRACKING_URI


def test_a_user_set_tracking_uri_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    saved = mlflow.get_tracking_uri()
    try:
        tracking.use_tracking_uri(f"sqlite:///{tmp_path / 'x' / 'mlflow.db'}")
        assert tracking.resolve_tracking_uri(tracking.TrackingConfig(local_dir=str(tmp_path / "y"))) == \
            "http://127.0.0.1:5999"
    finally:
        tracking.use_tracking_uri(saved, create=False)  # not mlflow.set_tracking_uri: it exports MLFLOW_TRACKING_URI


# --- one store per user: $SFP_HOME/mlflow, whatever the current folder ----------------------------------------------


def hermetic_home(tmp_path, monkeypatch):
    """SFP_HOME and HOME inside the test's folder, no tracking server named: the real ~/.sfp is never touched."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("SFP_HOME", str(tmp_path / "sfp-home"))
    return tmp_path / "sfp-home"


def test_the_default_store_is_in_sfp_home_from_any_folder(tmp_path, monkeypatch):
    home = hermetic_home(tmp_path, monkeypatch)
    expected = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    for folder in (tmp_path / "a", tmp_path / "a" / "deeper", tmp_path / "b"):
        folder.mkdir(parents=True)
        monkeypatch.chdir(folder)
        assert tracking.resolve_tracking_uri(tracking.TrackingConfig()) == expected
    assert tracking.local_store_uris()[1] == (home / "mlflow" / "artifacts").as_uri()


def test_sfp_home_defaults_to_dot_sfp_in_the_users_home(tmp_path, monkeypatch):
    hermetic_home(tmp_path, monkeypatch)
    monkeypatch.delenv("SFP_HOME")
    monkeypatch.chdir(tmp_path)

    assert tracking.sfp_home() == tmp_path / "user" / ".sfp"
    assert tracking.resolve_tracking_uri(tracking.TrackingConfig()) == \
        f"sqlite:///{tmp_path / 'user' / '.sfp' / 'mlflow' / 'mlflow.db'}"
    # a store named in the recipe is still the recipe's (relative to the folder the command runs in)
    assert tracking.resolve_tracking_uri(tracking.TrackingConfig(local_dir="runs/mlflow")) == \
        f"sqlite:///{tmp_path / 'runs' / 'mlflow' / 'mlflow.db'}"


TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64)


def test_a_model_registered_in_one_folder_is_predicted_from_another(tmp_path, monkeypatch, fixtures_dir, capsys):
    """The demo's case: training registers `slowfast-demo@kinetics-pretrained` from the checkout; `sfp predict` and
    `sfp model list` find it from another folder, with nothing named on the command line."""
    import torch

    from sfp_app.cli.main import main
    from sfp_train.models.config import ModelConfig, build_model
    from sfp_train.serving import ClipClassifier

    home = hermetic_home(tmp_path, monkeypatch)
    (tmp_path / "checkout").mkdir()
    monkeypatch.chdir(tmp_path / "checkout")
    torch.manual_seed(0)
    classes = [f"c{i}" for i in range(6)]
    classifier = ClipClassifier(build_model(ModelConfig(**TINY), 6), arch="slowfast", alpha=4, classes=classes,
                                clip_frames=16, sampling_rate=2, crop_size=64, mean=(0.45,) * 3, std=(0.225,) * 3)
    config = tracking.TrackingConfig(experiment="demo")
    saved = mlflow.get_tracking_uri()
    try:
        lineage = {"sfp.framestore.uri": "/data/store", "sfp.git_commit": "abc123", "sfp.model.arch": "slowfast"}
        run_id = tracking.start_or_resume_run(config, "demo", lineage)
        tracking.log_metrics(run_id, {"test/top1": 0.625, "train/clips_per_s": 12.5, "train/loss": 1.0}, step=1)
        version = tracking.log_and_register_model(run_id, classifier, registered_name="slowfast-demo",
                                                  alias="kinetics-pretrained", signature=None,
                                                  pip_requirements=["torch"])
        tracking.end_run(run_id)
    finally:
        tracking.use_tracking_uri(saved, create=False)  # MLflow's own setter would export it as MLFLOW_TRACKING_URI
    check_what_the_ui_shows(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}", run_id)
    assert version == 1 and (home / "mlflow" / "mlflow.db").is_file()
    assert not (tmp_path / "checkout" / ".sfp").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    video = fixtures_dir / "videos" / "h264_340x256_32frames.mp4"
    assert main(["predict", "models:/slowfast-demo@kinetics-pretrained", str(video), "--top-k", "2"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["start_sec", "end_sec", "rank", "label", "probability"]
    assert [row[2] for row in rows[1:]] == ["1", "2"] and {row[3] for row in rows[1:]} <= set(classes)
    assert main(["model", "list", "--json"]) == 0
    assert '"name": "slowfast-demo"' in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []


def check_what_the_ui_shows(uri: str, run_id: str) -> None:
    """The model version's description and tags carry its run, lineage and key metrics; the run's description names
    the version; the model and the experiment have descriptions."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version("slowfast-demo", "1")
    assert version.description == (
        f"Trained by run `demo` ({run_id}); alias `kinetics-pretrained` pointed here when it was registered.\n\n"
        "- sfp.framestore.uri: /data/store\n- sfp.git_commit: abc123\n- sfp.model.arch: slowfast\n\n"
        "Metrics: test/top1 0.6250, train/clips_per_s 12.5000")
    assert {key: version.tags[key] for key in ("sfp.framestore.uri", "sfp.git_commit", "sfp.run_id")} == {
        "sfp.framestore.uri": "/data/store", "sfp.git_commit": "abc123", "sfp.run_id": run_id}
    assert client.get_run(run_id).data.tags["mlflow.note.content"] == (
        "Registered as models:/slowfast-demo/1 (alias `kinetics-pretrained`). test/top1 0.6250, "
        "train/clips_per_s 12.5000.")
    model = client.get_registered_model("slowfast-demo")
    assert model.description.startswith("slowfast models trained by the SlowFast platform.")
    assert model.aliases == {"kinetics-pretrained": 1}
    experiment = client.get_experiment_by_name("demo")
    assert experiment.tags["mlflow.note.content"].startswith("Runs of the SlowFast platform")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_lookup_without_a_store_is_one_line_and_creates_none(tmp_path, monkeypatch, fixtures_dir, capsys,
                                                                 command):
    from sfp_app.cli.main import main
    from sfp.framestore import EncodedClip, finalize_store, shard_name_for, write_shard

    home = hermetic_home(tmp_path, monkeypatch)
    store = str(tmp_path / "store")
    clip = EncodedClip(clip_id="c", label="cat", label_id=0, split="val", source_path="c.mp4", start_sec=None,
                       end_sec=None, fps=30.0, width=48, height=32, frames=[_jpeg()] * 4,
                       timestamps=[i / 30 for i in range(4)])
    shard, records = write_shard(store, shard_name_for(["c"]), [clip])
    finalize_store(store, shards=[shard], records=records, errors=[], classes=["cat"], source_rows=1,
                   source={"format": "csv", "sha256": "x"}, decode={"fps": 30}, code_version="test")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    argv = {"predict": ["predict", "models:/slowfast-demo@kinetics-pretrained",
                        str(fixtures_dir / "videos" / "h264_340x256_32frames.mp4")],
            "evaluate": ["evaluate", "models:/slowfast-demo@kinetics-pretrained", "--framestore", store]}[command]

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"sfp: error: no MLflow store at {home / 'mlflow'}: nothing was tracked there")
    assert captured.err.count("\n") == 1
    assert not home.exists() and list((tmp_path / "elsewhere").iterdir()) == []


def _jpeg() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), 90, dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_retired_runs_are_not_resumed_and_a_missing_store_is_not_created(tmp_path, monkeypatch):
    """`sfp preprocess --overwrite`: the replaced store's runs keep their records but are no longer found by name."""
    from mlflow.tracking import MlflowClient

    home = hermetic_home(tmp_path, monkeypatch)
    config = tracking.TrackingConfig(experiment="preprocessing")
    tags = {"sfp.stage": "preprocess", "sfp.framestore.uri": "/data/store"}
    assert tracking.retire_runs(config, tags, reason="x") == 0 and not home.exists()
    saved = mlflow.get_tracking_uri()
    try:
        old = tracking.start_or_resume_run(config, "preprocess-store-1", tags=tags)
        other = tracking.start_or_resume_run(config, "preprocess-other-2", tags={**tags, "sfp.framestore.uri": "/o"})
        assert tracking.start_or_resume_run(config, "preprocess-store-1", tags=tags) == old  # a resume

        assert tracking.retire_runs(config, tags, reason="replaced by --overwrite") == 1
        new = tracking.start_or_resume_run(config, "preprocess-store-1", tags=tags)
        assert tracking.start_or_resume_run(config, "preprocess-other-2") == other
    finally:
        tracking.use_tracking_uri(saved, create=False)
    assert new != old
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    retired = client.get_run(old).data.tags
    assert retired["sfp.replaced"] == "replaced by --overwrite"
    assert retired["sfp.run_name"].startswith("preprocess-store-1-replaced-")


# --- the runs table's Key metrics view: a saved view in the experiment's tags, as MLflow's UI writes one ---------


def view_of(experiment) -> dict:
    """The view the UI reads from the experiment's tag: the envelope, then its `state` (the view's JSON)."""
    import json

    envelope = json.loads(experiment.tags[tracking.KEY_METRICS_VIEW_TAG])
    assert envelope["name"] == "Key metrics" and isinstance(envelope["createdAt"], int), envelope
    return json.loads(envelope["state"])


def test_the_experiment_gets_the_key_metrics_view_once(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    home = hermetic_home(tmp_path, monkeypatch)
    config = tracking.TrackingConfig(experiment="views")
    saved = mlflow.get_tracking_uri()
    try:
        experiment_id = tracking.ensure_experiment(config)
        client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        first = client.get_experiment(experiment_id)
        view = view_of(first)
        columns = ["metrics.`test/top1`", "metrics.`test/mAP`", "metrics.`val/top1`", "metrics.`val/mAP`",
                   "metrics.`train/clips_per_s`"]
        assert view == {"orderByKey": "attributes.start_time", "orderByAsc": False,
                        "selectedColumns": ["attributes.`Models`", *columns], "columnOrder": columns}
        note = first.tags["mlflow.note.content"]
        assert note == tracking.experiment_note(experiment_id)
        assert f"(#/experiments/{experiment_id}/runs?viewStateShareKey=sfp-key-metrics)" in note
        assert all(metric in note for metric in ("test/top1", "val/top1", "train/clips_per_s"))

        assert tracking.ensure_experiment(config) == experiment_id  # again (each run does): the same tags
        assert client.get_experiment(experiment_id).tags == first.tags
        assert tracking.key_metrics_url(config) == \
            f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?viewStateShareKey=sfp-key-metrics"
        assert tracking.key_metrics_line(config).endswith("(serve it with `make mlflow-ui`)")
    finally:
        tracking.use_tracking_uri(saved, create=False)


def test_an_existing_experiment_gets_the_view_and_keeps_a_users_description(tmp_path, monkeypatch):
    """An experiment made before the view existed (or by hand): the view is added; a description someone wrote stays,
    one an earlier platform wrote is replaced by today's."""
    from mlflow.tracking import MlflowClient

    home = hermetic_home(tmp_path, monkeypatch)
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    (home / "mlflow").mkdir(parents=True)
    client = MlflowClient(tracking_uri=uri)
    mine = client.create_experiment("mine", tags={"mlflow.note.content": "My own notes."})
    older = client.create_experiment("older", tags={"mlflow.note.content": tracking.PREVIOUS_NOTES[0]})
    client.set_experiment_tag(older, tracking.KEY_METRICS_VIEW_TAG, '{"selectedColumns": []}')  # a stale view
    saved = mlflow.get_tracking_uri()
    try:
        assert tracking.ensure_experiment(tracking.TrackingConfig(experiment="mine")) == mine
        assert tracking.ensure_experiment(tracking.TrackingConfig(experiment="older")) == older
    finally:
        tracking.use_tracking_uri(saved, create=False)
    for experiment_id in (mine, older):
        assert "metrics.`val/top1`" in view_of(client.get_experiment(experiment_id))["selectedColumns"]
    assert client.get_experiment(mine).tags["mlflow.note.content"] == "My own notes."
    assert client.get_experiment(older).tags["mlflow.note.content"] == tracking.experiment_note(older)


def test_the_view_is_on_a_tracking_servers_own_address():
    assert tracking.ui_address("http://10.0.0.5:5000/") == "http://10.0.0.5:5000"
    assert tracking.ui_address("https://mlflow.example.org/team") == "https://mlflow.example.org/team"
    assert tracking.ui_address("sqlite:////home/me/.sfp/mlflow/mlflow.db") == "http://127.0.0.1:5000"
    assert tracking.key_metrics_path("7") == "#/experiments/7/runs?viewStateShareKey=sfp-key-metrics"
