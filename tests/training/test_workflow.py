"""The one training workflow's lifecycle without a Ray Train run: what follows `fit` (the final checkpoint's model,
the evaluation, the registration) runs on a real checkpoint folder in a real local MLflow store; a failure there
ends the run FAILED, registers nothing and tags no model. A checkpoint folder gives back its classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from sfp import tracking
from sfp.config import validate
from sfp.errors import SfpError
from sfp_train.checkpoints import TrainState, classifier_from_checkpoint, write_model_file, write_train_state
from sfp_train.models.config import build_model
from sfp_train.recipe import TrainRecipe
from sfp_train.trainer import TrainingResult
from sfp_train.workflow import PretrainTask, ending_run, finish

TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64)
CLASSES = ["move_left", "move_right"]


@pytest.fixture(scope="module")
def mlflow_dir(tmp_path_factory) -> Path:
    """One local MLflow store for the module (creating one costs seconds); each test names its own run."""
    return tmp_path_factory.mktemp("mlflow")


def tiny_recipe(tmp_path: Path, mlflow_dir: Path, name: str) -> TrainRecipe:
    return validate(TrainRecipe, {
        "name": name,
        "data": {"framestore": str(tmp_path / "store"), "crop_size": 64, "train_short_side": [64, 80],
                 "test_short_side": 64, "test_crop_size": 64, "sampling_rate": 2},
        "model": TINY,
        "tracking": {"local_dir": str(mlflow_dir)},
        "registry": {"model_name": "after-fit-model", "alias": "trained"},
    }, source="test")


def write_checkpoint(folder: Path, recipe: TrainRecipe, *, model_file: bool = True) -> torch.nn.Module:
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = build_model(recipe.model.model_copy(update={"compile": False}), num_classes=len(CLASSES))
    if model_file:
        write_model_file(folder, model, recipe.model.model_dump(mode="json"), CLASSES)
    write_train_state(folder, TrainState(1, 2, recipe.model_dump(mode="json"), world_size=1))
    return model


@pytest.mark.parametrize("failure", ["evaluation", "checkpoint"])
def test_a_failure_after_fit_ends_the_run_failed_and_registers_nothing(tmp_path, mlflow_dir, failure):
    """`evaluation`: the frame store is gone when the final evaluation opens it (the checkpoint's model was read);
    `checkpoint`: the final checkpoint holds no model.pt."""
    recipe = tiny_recipe(tmp_path, mlflow_dir, f"after-fit-{failure}")
    checkpoint = tmp_path / "runs" / recipe.name / "checkpoint_000000"
    write_checkpoint(checkpoint, recipe, model_file=failure == "evaluation")
    run_id = tracking.start_or_resume_run(recipe.tracking, recipe.name, {"sfp.model.arch": "slowfast"})
    training = TrainingResult(run_id, str(checkpoint), {"epoch": 1}, CLASSES)

    with pytest.raises(SfpError) as error:
        with ending_run(run_id):
            finish(recipe, PretrainTask(recipe), training)

    assert str(tmp_path / ("store" if failure == "evaluation" else "runs")) in str(error.value)
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    assert "sfp.registered_model" not in run.data.tags and "sfp.checkpoint" not in run.data.tags
    assert run.data.metrics == {}
    assert client.search_registered_models(filter_string="name = 'after-fit-model'") == []


def test_the_run_is_finished_when_the_block_ends(tmp_path, mlflow_dir):
    recipe = tiny_recipe(tmp_path, mlflow_dir, "finished")
    run_id = tracking.start_or_resume_run(recipe.tracking, recipe.name)
    assert MlflowClient().get_run(run_id).info.status == "RUNNING"
    with ending_run(run_id):
        pass
    assert MlflowClient().get_run(run_id).info.status == "FINISHED"
    rerun = tracking.start_or_resume_run(recipe.tracking, recipe.name)  # a rerun of the name resumes the one run
    assert rerun == run_id and MlflowClient().get_run(run_id).info.status == "RUNNING"


def test_a_checkpoint_folder_gives_its_classifier_with_the_recipe_it_holds(tmp_path, mlflow_dir):
    recipe = tiny_recipe(tmp_path, mlflow_dir, "checkpoint")
    model = write_checkpoint(tmp_path / "checkpoint", recipe)

    classifier, held = classifier_from_checkpoint(str(tmp_path / "checkpoint"))

    assert held == recipe
    assert classifier.classes == CLASSES
    assert (classifier.arch, classifier.alpha, classifier.clip_frames) == ("slowfast", 4, recipe.model.clip_frames)
    assert (classifier.crop_size, classifier.sampling_rate) == (64, 2)
    assert list(classifier.mean) == list(recipe.data.mean) and list(classifier.std) == list(recipe.data.std)
    trained = classifier.model.state_dict()
    assert trained.keys() == model.state_dict().keys()
    assert all(torch.equal(trained[key], value) for key, value in model.state_dict().items())
