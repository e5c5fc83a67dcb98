"""`sfp demo` on its own configuration (configs/demo.yaml, nothing overridden but where it writes) meets the numbers
the README promises: held-out top-1 at least twice chance after Kinetics-format pretraining, and AVA val mAP clearly
above the untrained head's on the same backbone. About 10 minutes on 2 cores: `make test-all` runs it."""

import contextlib
import io

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.extended]

MIN_MAP_GAIN = 0.1  # fine-tuned minus untrained-head val mAP, in mAP points (measured: about 0.2)


@pytest.fixture(scope="module")
def demo_workdir(tmp_path_factory, ray_cluster):
    from sfp_app.cli.main import main

    workdir = tmp_path_factory.mktemp("demo-full")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(["demo", "--workdir", str(workdir), f"train.tracking.local_dir={workdir / 'mlflow'}"])
    assert code == 0, output.getvalue()[-3000:]
    return workdir


def finished_run(workdir, name: str):
    from mlflow.tracking import MlflowClient

    from sfp import tracking

    tracking.configure(tracking.TrackingConfig(local_dir=str(workdir / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    (run,) = client.search_runs([experiment.experiment_id], filter_string=f"tags.`sfp.run_name` = '{name}'")
    assert run.info.status == "FINISHED"
    return run


def test_pretraining_reaches_twice_chance_on_the_held_out_split(demo_workdir):
    run = finished_run(demo_workdir, "demo")
    chance = 1 / 6
    assert run.data.metrics["test/top1"] >= 2 * chance, run.data.metrics


def test_ava_fine_tuning_beats_the_untrained_head(demo_workdir):
    run = finished_run(demo_workdir, "demo-ava")
    metrics = run.data.metrics
    assert metrics["test/mAP"] >= metrics["baseline/mAP"] + MIN_MAP_GAIN, metrics
