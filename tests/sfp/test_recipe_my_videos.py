"""configs/my_videos_cpu.yaml, the CPU recipe for a user's own folder of videos: it validates as `sfp train` reads
it, trains on the store that configs/datasets/example_folder.yaml writes, and fits a CPU (small network and batch)."""

from pathlib import Path

from sfp.config import load_config
from sfp_preprocess.config import PreprocessConfig
from sfp_train.recipe import TrainRecipe

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_recipe_validates_and_reads_the_example_folders_store():
    recipe = load_config(TrainRecipe, CONFIGS / "my_videos_cpu.yaml")
    dataset = load_config(PreprocessConfig, CONFIGS / "datasets" / "example_folder.yaml",
                          ["dataset.video_root=/videos", "dataset.split_folders=true"])

    assert recipe.data.framestore == dataset.output.uri == ".sfp/framestores/my_videos"
    assert (recipe.data.train_split, recipe.data.val_split) == ("train", "val")
    assert dataset.dataset.format == "folder" and dataset.dataset.split_folders
    model = recipe.model
    assert (model.depth, model.width, model.clip_frames, model.crop_size) == (18, 16, 16, 112)
    assert recipe.data.crop_size == 112 <= min(recipe.data.train_short_side) <= dataset.decode.short_side
    assert (recipe.scaling.num_workers, recipe.micro_batch_size, recipe.optim.optimizer) == (2, 4, "adamw")
    assert (recipe.registry.model_name, recipe.registry.alias) == ("slowfast-my-videos", "trained")
    assert recipe.tracking.uri is None and recipe.tracking.local_dir is None  # the user's store, $SFP_HOME/mlflow


def test_config_show_prints_the_resolved_recipe(capsys):
    import yaml

    from sfp_app.cli.main import main

    assert main(["config", "show", str(CONFIGS / "my_videos_cpu.yaml"), "optim.epochs=40"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["optim"]["epochs"] == 40 and shown["data"]["framestore"] == ".sfp/framestores/my_videos"
