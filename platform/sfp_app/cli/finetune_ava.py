"""`sfp finetune-ava RECIPE.yaml`: fine-tune a Kinetics-pretrained SlowFast for AVA action detection."""

from __future__ import annotations

import argparse
import math

from sfp_app.cli.common import add_overrides, add_ray_address, add_recipe, recipe_path
from sfp_app.cli.train import add_dry_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune-ava",
        help="fine-tune a pretrained SlowFast on AVA (Ray Train + DeepSpeed), evaluate frame mAP, register it",
        description="The backbone comes from init.from_model (models:/name@alias, a checkpoint folder or model.pt), "
        "the head is new. Rerun with the same recipe name to resume a run from its latest checkpoint.",
    )
    add_recipe(parser, "configs/ava/*.yaml")
    parser.add_argument("--detections", default=None, help="also write the val detections (official CSV) here")
    add_ray_address(parser)
    add_dry_run(parser, "actions (default 80)")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sfp import tracking
    from sfp.config import load_config
    from sfp.raycluster import init_ray
    from sfp_train.ava.annotations import write_detections
    from sfp_train.ava.finetune import finetune
    from sfp_train.ava.recipe import AvaRecipe

    recipe = load_config(AvaRecipe, recipe_path(args), args.overrides)
    if args.dry_run:
        from sfp_train.plan import ava_data, plan_lines, plan_training

        data, actions = ava_data(recipe, args.train_clips, args.classes)
        print("\n".join(plan_lines(plan_training(recipe, data, actions, args.clips_per_s))))
        return 0
    init_ray(args.ray_address)
    result = finetune(recipe)
    if args.detections:
        write_detections(args.detections, result.detections)
    print(f"run: {recipe.name} (MLflow run {result.training.run_id})")
    print(tracking.key_metrics_line(recipe.tracking))
    print(f"checkpoint: {result.training.checkpoint_uri}")
    if result.baseline is not None:
        print(f"baseline (pretrained backbone, untrained head): frame mAP@0.5 {result.baseline.mAP:.4f}")
    print(f"val: frame mAP@0.5 {result.evaluation.mAP:.4f}")
    for name, ap in result.evaluation.per_class.items():
        print(f"  {name:<32} {'n/a' if math.isnan(ap) else f'{ap:.4f}'}")
    print(f"registered: {result.model_uri} (version {result.model_version})")
    return 0
