"""sfp demo's sections: locations filled in under the workdir, and every run of the demo in one MLflow store."""

from pathlib import Path

from sfp_app.cli.demo import DEFAULT_CONFIG
from sfp_app.demo import resolve_sections
from sfp.config import apply_overrides, read_yaml


def sections(*overrides: str) -> dict:
    return resolve_sections(apply_overrides(read_yaml(DEFAULT_CONFIG), list(overrides)), Path("/w"))


def test_both_preprocessing_runs_go_to_the_training_runs_store():
    resolved = sections("train.tracking.local_dir=/elsewhere/mlflow")
    assert resolved["preprocess"]["tracking"] == {"local_dir": "/elsewhere/mlflow"}
    assert resolved["ava"]["preprocess"]["tracking"] == {"local_dir": "/elsewhere/mlflow"}
    assert resolved["ava"]["finetune"]["tracking"] == {"local_dir": "/elsewhere/mlflow"}


def test_a_preprocessing_section_that_names_its_store_keeps_it_and_the_default_is_the_users_store():
    resolved = sections("train.tracking.uri=http://mlflow:5000", "preprocess.tracking.experiment=prep",
                        "preprocess.tracking.uri=http://other:5000")
    assert resolved["preprocess"]["tracking"] == {"uri": "http://other:5000", "experiment": "prep"}
    assert sections()["preprocess"]["tracking"] == {}  # no store named: $SFP_HOME/mlflow, as every command
    assert sections()["train"]["data"]["framestore"] == "/w/framestore"
