"""`sfp demo`: the whole path on embedded defaults, on one machine, without any server started by hand.

synthetic Kinetics-format videos -> Ray Data preprocessing into a frame store -> SlowFast on Ray Train + DeepSpeed
-> multi-view evaluation -> MLflow run, registered model and alias -> the registered model loaded back by alias
and run on one held-out clip.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sfp.cli.common import add_overrides

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "demo.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole platform end to end on a synthetic dataset")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="demo YAML (synth:, preprocess:, train:)")
    parser.add_argument("--workdir", default=".sfp/demo", help="where the dataset, frame store and runs go")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def resolve_sections(data: dict, workdir: Path) -> dict:
    """Fill in the locations under `workdir` that the demo's sections leave out."""
    synth, preprocess, train = (dict(data.get(key) or {}) for key in ("synth", "preprocess", "train"))
    unknown = set(data) - {"synth", "preprocess", "train"}
    if unknown:
        from sfp.errors import ConfigError

        raise ConfigError(f"demo config: unknown key {sorted(unknown)[0]}")
    dataset_dir = workdir / "dataset"
    preprocess.setdefault("dataset", {"manifest": str(dataset_dir / "annotations.csv"),
                                      "video_root": str(dataset_dir / "videos")})
    preprocess["output"] = {"uri": str(workdir / "framestore"), **(preprocess.get("output") or {})}
    train["data"] = {"framestore": preprocess["output"]["uri"], **(train.get("data") or {})}
    train["checkpoint"] = {"storage_uri": str(workdir / "runs"), **(train.get("checkpoint") or {})}
    return {"synth": synth, "preprocess": preprocess, "train": train}


def run(args: argparse.Namespace) -> int:
    from sfp import tracking
    from sfp.config import apply_overrides, read_yaml, validate
    from sfp.framestore import FrameStore
    from sfp.raycluster import init_ray
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import SynthConfig, render_dataset
    from sfp_train.predict import classify_clip
    from sfp_train.recipe import TrainRecipe
    from sfp_train.workflow import pretrain

    started = time.perf_counter()
    workdir = Path(args.workdir).absolute()
    sections = resolve_sections(apply_overrides(read_yaml(args.config), args.overrides), workdir)
    synth = validate(SynthConfig, sections["synth"], source="synth")
    preprocess = validate(PreprocessConfig, sections["preprocess"], source="preprocess")
    recipe = validate(TrainRecipe, sections["train"], source="train")

    print("[1/6] rendering the synthetic motion dataset (Kinetics layout)")
    render_dataset(synth, workdir / "dataset")
    print("[2/6] preprocessing into a frame store (Ray Data)")
    init_ray()
    summary = run_preprocess(preprocess)
    print("      " + "\n      ".join(summary.lines()))
    print("[3/6] training SlowFast (Ray Train + DeepSpeed), [4/6] evaluating, [5/6] registering in MLflow")
    result = pretrain(recipe)
    print(f"[6/6] loading {result.model_uri} back and classifying one held-out clip")
    tracking.configure(recipe.tracking)
    classifier = tracking.load_model(result.model_uri)
    store = FrameStore.open(recipe.data.framestore)
    clip = store.clips(recipe.data.val_split)[0]
    top = classify_clip(classifier, store, clip, top_k=3)

    chance = 1 / len(store.manifest.classes)
    evaluation = result.evaluation
    print()
    print("Demo finished in {:.0f} s".format(time.perf_counter() - started))
    print(f"  frame store : {recipe.data.framestore} ({store.manifest.clips} clips, {len(store.manifest.classes)} classes)")
    print(f"  checkpoint  : {result.training.checkpoint_uri}")
    print(f"  MLflow store: {tracking.resolve_tracking_uri(recipe.tracking)} (run {result.training.run_id})")
    print(f"  model       : {result.model_uri} (version {result.model_version})")
    print(f"  held-out    : top-1 {evaluation.top1:.3f}, top-5 {evaluation.top5:.3f} "
          f"on {evaluation.clips} clips x {evaluation.views_per_clip} views (chance {chance:.3f})")
    print(f"  one clip    : {clip.clip_id} is {clip.label!r}; the model says "
          + ", ".join(f"{label} {probability:.2f}" for label, probability in top))
    print("  browse runs and models: make mlflow-ui")
    return 0
