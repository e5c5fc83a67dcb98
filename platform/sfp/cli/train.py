"""`sfp train RECIPE.yaml`: Kinetics-style pretraining on Ray Train + DeepSpeed, tracked in MLflow, registered."""

from __future__ import annotations

import argparse

from sfp.cli.common import add_overrides, add_ray_address, add_recipe, recipe_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a SlowFast recipe (Ray Train + DeepSpeed), evaluate it and register it in MLflow",
        description="Rerun with the same recipe name to resume a run from its latest checkpoint.",
    )
    add_recipe(parser, "configs/kinetics/*.yaml")
    add_ray_address(parser)
    add_overrides(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sfp.config import load_config
    from sfp.raycluster import init_ray
    from sfp_train.recipe import TrainRecipe
    from sfp_train.workflow import pretrain

    recipe = load_config(TrainRecipe, recipe_path(args), args.overrides)
    init_ray(args.ray_address)
    result = pretrain(recipe)
    evaluation = result.evaluation
    print(f"run: {recipe.name} (MLflow run {result.training.run_id})")
    print(f"checkpoint: {result.training.checkpoint_uri}")
    print(f"test: top-1 {evaluation.top1:.3f}, top-5 {evaluation.top5:.3f} "
          f"({evaluation.clips} clips x {evaluation.views_per_clip} views)")
    print(f"registered: {result.model_uri} (version {result.model_version})")
    return 0
