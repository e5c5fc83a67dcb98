"""`sfp train RECIPE.yaml`: Kinetics-style pretraining on Ray Train + DeepSpeed, tracked in MLflow, registered."""

from __future__ import annotations

import argparse

from sfp_app.cli.common import add_overrides, add_ray_address, add_recipe, recipe_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a SlowFast recipe (Ray Train + DeepSpeed), evaluate it and register it in MLflow",
        description="Rerun with the same recipe name to resume a run from its latest checkpoint.",
    )
    add_recipe(parser, "configs/kinetics/*.yaml")
    add_ray_address(parser)
    add_dry_run(parser, "classes (default 400)")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def add_dry_run(parser: argparse.ArgumentParser, classes: str) -> None:
    """`--dry-run` and its figures (`sfp train`, `sfp finetune-ava`)."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (workers, batches, steps, schedule, checkpoints, data, time) and stop: "
                        "no Ray, no workers")
    parser.add_argument("--clips-per-s", type=float, default=None, metavar="N",
                        help="with --dry-run: training clips/s per worker for the time estimate (default: the "
                        "estimate of sfp_train.plan.FIGURES)")
    parser.add_argument("--train-clips", type=int, default=None, metavar="N",
                        help="with --dry-run: plan for N training clips without reading the data")
    parser.add_argument("--classes", type=int, default=None, metavar="K", help=f"with --train-clips: {classes}")


def run(args: argparse.Namespace) -> int:
    from sfp import tracking
    from sfp.config import load_config
    from sfp.raycluster import init_ray
    from sfp_train.recipe import TrainRecipe
    from sfp_train.workflow import pretrain

    recipe = load_config(TrainRecipe, recipe_path(args), args.overrides)
    if args.dry_run:
        from sfp_train.plan import kinetics_data, plan_lines, plan_training

        data, classes = kinetics_data(recipe, args.train_clips, args.classes)
        print("\n".join(plan_lines(plan_training(recipe, data, classes, args.clips_per_s))))
        return 0
    init_ray(args.ray_address)
    result = pretrain(recipe)
    evaluation = result.evaluation
    print(f"run: {recipe.name} (MLflow run {result.training.run_id})")
    print(tracking.key_metrics_line(recipe.tracking))
    print(f"checkpoint: {result.training.checkpoint_uri}")
    print(f"test: top-1 {evaluation.top1:.3f}, top-5 {evaluation.top5:.3f} "
          f"({evaluation.clips} clips x {evaluation.views_per_clip} views)")
    print(f"registered: {result.model_uri} (version {result.model_version})")
    return 0
