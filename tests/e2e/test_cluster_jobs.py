"""`sfp jobs submit` on a real cluster (the local stack): a preprocessing job writes a frame store to S3, a training job
trains on it with checkpoints in S3 and registers the model on the MLflow server, whose artifacts land in S3; a job
that fails is reported with its reason; no credential travels with a job."""

from __future__ import annotations

import json
import re
import sys

import pytest

pytestmark = pytest.mark.slow

SUBMITTED = re.compile(r"^submitted: (raysubmit_\w+)", re.MULTILINE)


def submission_id(result) -> str:
    match = SUBMITTED.search(result.out)
    assert match, result
    return match.group(1)


@pytest.fixture
def s3_env(local_stack, monkeypatch: pytest.MonkeyPatch):
    for name, value in local_stack.seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return local_stack


def test_preprocessing_job_writes_the_frame_store_to_s3(cluster_run, s3_env) -> None:
    from sfp.framestore import FrameStore

    assert cluster_run.preprocess.code == 0, cluster_run.preprocess
    job = submission_id(cluster_run.preprocess)
    assert f"job {job} SUCCEEDED" in cluster_run.preprocess.out
    store = FrameStore.open(cluster_run.framestore)
    classes = cluster_run.classes
    clips = len(classes) * cluster_run.clips_per_class
    assert store.manifest.clips == clips and store.manifest.errors == 0
    assert store.manifest.splits == {"train": clips - len(classes), "val": len(classes)}
    assert sorted(store.manifest.classes) == sorted(classes)
    record = store.clips("val")[0]
    assert min(record.width, record.height) == 64 and record.num_frames == 30


def test_training_job_checkpoints_to_s3_and_is_tracked_and_registered(cluster_run, local_stack) -> None:
    from mlflow.tracking import MlflowClient

    from sfp_app.jobs import connect

    assert cluster_run.train.code == 0, cluster_run.train
    assert f"job {submission_id(cluster_run.train)} SUCCEEDED" in cluster_run.train.out
    model, alias = cluster_run.model_name, cluster_run.alias
    assert f"registered: models:/{model}@{alias}" in cluster_run.train.out, cluster_run.train

    s3 = local_stack.seaweedfs.client()
    checkpoint_keys = [o["Key"] for o in s3.list_objects_v2(Bucket="sfp-data", Prefix=f"{cluster_run.prefix}/runs/")
                       .get("Contents", [])]
    assert any("/checkpoint_" in key and key.endswith("train_state.json") for key in checkpoint_keys), checkpoint_keys

    client = MlflowClient(tracking_uri=local_stack.mlflow.tracking_uri, registry_uri=local_stack.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(cluster_run.experiment)
    (run,) = client.search_runs([experiment.experiment_id],
                                filter_string=f"tags.`sfp.run_name` = '{cluster_run.run_name}'")
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert (params["model.depth"], params["model.width"], params["optim.batch_size"]) == ("18", "8", "2")
    assert params["data.framestore"] == cluster_run.framestore
    jobs = connect(local_stack.ray.dashboard_url, {"RAY_AUTH_TOKEN_PATH": str(local_stack.ray.token_path)})
    submitted_from = jobs.get_job_info(submission_id(cluster_run.train)).metadata["sfp.code"]
    assert run.data.tags["sfp.git_commit"] == submitted_from  # the submitter's commit, though the job ran a copy
    for metric in ("train/loss", "val/top1", "test/top1", "test/top5"):
        assert metric in run.data.metrics, metric
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 3  # 6 train clips, batch 2, 1 epoch

    # The server proxies artifacts into S3: the run's files and the logged model are objects in sfp-mlflow.
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="sfp-mlflow", Prefix=f"artifacts/{experiment.experiment_id}/") for o in page.get("Contents", [])]
    run_keys = [key for key in keys if f"/{run.info.run_id}/artifacts/" in key]
    assert any("/config/" in key for key in run_keys), run_keys
    assert any(key.endswith("/MLmodel") for key in keys), keys
    version = client.get_model_version_by_alias(model, alias)
    assert version.run_id == run.info.run_id


def test_jobs_carry_settings_and_code_but_no_credentials(cluster_run, local_stack) -> None:
    from sfp_app.jobs import connect

    secret = local_stack.seaweedfs.secret_key
    client = connect(local_stack.ray.dashboard_url, {"RAY_AUTH_TOKEN_PATH": str(local_stack.ray.token_path)})
    for result in (cluster_run.preprocess, cluster_run.train):
        info = client.get_job_info(submission_id(result))
        env_vars = info.runtime_env["env_vars"]
        assert env_vars["MLFLOW_TRACKING_URI"] == local_stack.mlflow.tracking_uri
        assert env_vars["AWS_ENDPOINT_URL_S3"] == local_stack.seaweedfs.endpoint_url
        assert env_vars["PYTHONPATH"] == "platform:preprocessing:training"
        assert env_vars["SFP_CODE_VERSION"] == info.metadata["sfp.code"]  # the commit submitted from
        assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?", env_vars["SFP_CODE_VERSION"]), env_vars
        assert not any(name.startswith("AWS_") and ("KEY" in name or "TOKEN" in name) for name in env_vars)
        assert info.runtime_env["working_dir"].startswith("gcs://")
        assert ".git" in info.runtime_env["excludes"] and ".venv/" in info.runtime_env["excludes"]
        recorded = json.dumps([info.runtime_env, info.metadata, info.entrypoint])
        assert secret not in recorded and local_stack.seaweedfs.access_key not in recorded
        assert info.entrypoint.startswith("python -m sfp_app.cli.main ")


def test_job_imports_the_packaged_checkout_with_the_clusters_python(local_stack, repo_root) -> None:
    """`python` in a job is the head's interpreter and `sfp` comes from the uploaded working dir, not the install."""
    from sfp_app.jobs import connect, job_spec, wait_for_end

    client = connect(local_stack.ray.dashboard_url, {"RAY_AUTH_TOKEN_PATH": str(local_stack.ray.token_path)})
    spec = job_spec(["--help"], repo_root, {})
    probe = ("import json, os, sys, ray, sfp, sfp_preprocess, sfp_train; print(json.dumps({'cwd': os.getcwd(), "
             "'prefix': sys.prefix, 'modules': [m.__file__ for m in (sfp, sfp_preprocess, sfp_train)]}))")
    job = client.submit_job(entrypoint=f"python -c \"{probe}\"", runtime_env=spec.runtime_env)
    info = wait_for_end(client, job, timeout_s=120)
    logs = client.get_job_logs(job)
    assert str(info.status) == "SUCCEEDED", logs
    found = json.loads(logs.strip().splitlines()[-1])
    assert found["prefix"] == sys.prefix
    assert "working_dir_files" in found["cwd"]
    for module in found["modules"]:
        assert module.startswith(found["cwd"] + "/") and not module.startswith(str(repo_root) + "/"), found


def test_a_bad_config_key_fails_the_job_with_its_reason(sfp_jobs) -> None:
    result = sfp_jobs("submit", "--", "preprocess", "configs/datasets/kinetics400.yaml", "decode.fsp=15")
    assert result.code == 1, result
    job = submission_id(result)
    (reason,) = [line for line in result.err.splitlines() if line.startswith("sfp: job")]
    assert reason == f"sfp: job {job} FAILED: configs/datasets/kinetics400.yaml: decode.fsp: unknown key"


def test_a_missing_dataset_fails_the_job_with_its_reason(sfp_jobs) -> None:
    manifest = "s3://sfp-data/no-such-dataset/annotations.csv"
    result = sfp_jobs("submit", "--", "preprocess", "configs/datasets/kinetics400.yaml", f"dataset.manifest={manifest}",
                      "output.uri=s3://sfp-data/no-such-dataset/framestore", "tracking.enabled=false")
    assert result.code == 1, result
    (reason,) = [line for line in result.err.splitlines() if line.startswith("sfp: job")]
    assert reason.startswith(f"sfp: job {submission_id(result)} FAILED: ") and f"{manifest}: not found" in reason


def test_list_logs_and_stop(cluster_run, local_stack, sfp_jobs) -> None:
    from sfp_app.jobs import connect, wait_for_end

    listed = sfp_jobs("list", "--json")
    assert listed.code == 0, listed
    statuses = {row["submission_id"]: row["status"] for row in json.loads(listed.out)}
    assert statuses[submission_id(cluster_run.train)] == "SUCCEEDED"

    logs = sfp_jobs("logs", submission_id(cluster_run.train))
    assert logs.code == 0 and f"registered: models:/{cluster_run.model_name}@{cluster_run.alias}" in logs.out

    started = sfp_jobs("submit", "--no-wait", "--", "train", "configs/kinetics/slowfast_r50_8x8.yaml",
                       "name=never-runs", "data.framestore=s3://sfp-data/no-such-store")
    assert started.code == 0, started
    job = submission_id(started)
    stopped = sfp_jobs("stop", job)
    assert stopped.code == 0 and stopped.out.startswith(f"stopping {job}"), stopped
    client = connect(local_stack.ray.dashboard_url, {"RAY_AUTH_TOKEN_PATH": str(local_stack.ray.token_path)})
    assert str(wait_for_end(client, job, timeout_s=60).status) == "STOPPED"

    unknown = sfp_jobs("logs", "raysubmit_doesnotexist")
    assert unknown.code == 2 and unknown.err.startswith("sfp: error: ") and len(unknown.err.splitlines()) == 1

    refused = sfp_jobs("list", env={"RAY_AUTH_TOKEN": "0" * 64})
    assert refused.code == 2 and len(refused.err.splitlines()) == 1, refused
    assert refused.err.startswith(f"sfp: error: Ray Jobs API at {local_stack.ray.dashboard_url}: "), refused
