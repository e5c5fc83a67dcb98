"""`sfp demo`: the whole path on embedded defaults, on one machine, without any server started by hand.

synthetic Kinetics-format videos -> Ray Data preprocessing into a frame store -> SlowFast on Ray Train + DeepSpeed
-> multi-view evaluation -> MLflow run, registered model and alias -> the registered model loaded back by alias
and run on one held-out clip; then AVA: synthetic AVA-format movies -> a segment frame store -> the registered model
fine-tuned for action detection -> frame mAP@0.5 next to the untrained head's -> registered under its own name.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sfp_app.cli.common import add_overrides

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "demo.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole platform end to end on a synthetic dataset")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="demo YAML (synth:, preprocess:, train:, ava:)")
    parser.add_argument("--workdir", default=".sfp/demo", help="where the dataset, frame store and runs go")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def resolve_sections(data: dict, workdir: Path) -> dict:
    """Fill in the locations under `workdir` that the demo's sections leave out."""
    synth, preprocess, train = (dict(data.get(key) or {}) for key in ("synth", "preprocess", "train"))
    unknown = set(data) - {"synth", "preprocess", "train", "ava"}
    if unknown:
        from sfp.errors import ConfigError

        raise ConfigError(f"demo config: unknown key {sorted(unknown)[0]}")
    dataset_dir = workdir / "dataset"
    preprocess.setdefault("dataset", {"manifest": str(dataset_dir / "annotations.csv"),
                                      "video_root": str(dataset_dir / "videos")})
    preprocess["output"] = {"uri": str(workdir / "framestore"), **(preprocess.get("output") or {})}
    train["data"] = {"framestore": preprocess["output"]["uri"], **(train.get("data") or {})}
    train["checkpoint"] = {"storage_uri": str(workdir / "runs"), **(train.get("checkpoint") or {})}
    # the preprocessing run goes to the training runs' store unless its section names one
    preprocess["tracking"] = {**tracking_store(train), **(preprocess.get("tracking") or {})}
    return {"synth": synth, "preprocess": preprocess, "train": train,
            "ava": resolve_ava_section(dict(data.get("ava") or {}), train, workdir)}


def resolve_ava_section(ava: dict, train: dict, workdir: Path) -> dict:
    """The AVA stage: its synthetic movies, preprocessing and fine-tuning recipe, filled in from `train`."""
    unknown = set(ava) - {"enabled", "synth", "preprocess", "finetune"}
    if unknown:
        from sfp.errors import ConfigError

        raise ConfigError(f"demo config: unknown key ava.{sorted(unknown)[0]}")
    synth, preprocess, finetune = (dict(ava.get(key) or {}) for key in ("synth", "preprocess", "finetune"))
    dataset_dir, annotations = workdir / "ava-dataset", workdir / "ava-dataset" / "annotations"
    keyframe_range = synth.get("keyframe_range", [2, 9])
    preprocess["dataset"] = {"format": "ava", "manifest": str(annotations / "movies.txt"),
                             "video_root": str(dataset_dir / "videos"), "ava": {"keyframe_range": keyframe_range},
                             **(preprocess.get("dataset") or {})}
    preprocess["output"] = {"uri": str(workdir / "ava-framestore"), **(preprocess.get("output") or {})}
    finetune["data"] = {"framestore": preprocess["output"]["uri"], "labelmap": str(annotations / "labelmap.pbtxt"),
                        "train_annotations": str(annotations / "train.csv"),
                        "val_annotations": str(annotations / "val.csv"),
                        "val_detections": str(annotations / "val_predicted_boxes.csv"),
                        **(finetune.get("data") or {})}
    finetune["model"] = {**(train.get("model") or {}), "task": "detection", **(finetune.get("model") or {})}
    registry = train.get("registry") or {}
    source = f"models:/{registry.get('model_name', 'slowfast-kinetics')}@{registry.get('alias', 'kinetics-pretrained')}"
    finetune["init"] = {"from_model": source, **(finetune.get("init") or {})}
    finetune["checkpoint"] = {"storage_uri": str(workdir / "runs"), **(finetune.get("checkpoint") or {})}
    finetune["tracking"] = {**(train.get("tracking") or {}), **(finetune.get("tracking") or {})}
    preprocess["tracking"] = {**tracking_store(finetune), **(preprocess.get("tracking") or {})}
    return {"enabled": ava.get("enabled", True), "synth": synth, "preprocess": preprocess, "finetune": finetune,
            "dataset_dir": dataset_dir}


def tracking_store(recipe: dict) -> dict:
    """The `uri` and `local_dir` of a recipe section's `tracking:` (where its runs go), without the experiment."""
    return {key: value for key, value in (recipe.get("tracking") or {}).items() if key in ("uri", "local_dir")}


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
    ava = validate_ava_stage(sections["ava"]) if sections["ava"]["enabled"] else None  # fails before any work

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
    print("Kinetics stage finished in {:.0f} s".format(time.perf_counter() - started))
    print(f"  frame store : {recipe.data.framestore} ({store.manifest.clips} clips, {len(store.manifest.classes)} classes)")
    print(f"  checkpoint  : {result.training.checkpoint_uri}")
    print(f"  MLflow store: {tracking.resolve_tracking_uri(recipe.tracking)} (run {result.training.run_id})")
    print(f"  model       : {result.model_uri} (version {result.model_version})")
    print(f"  held-out    : top-1 {evaluation.top1:.3f}, top-5 {evaluation.top5:.3f} "
          f"on {evaluation.clips} clips x {evaluation.views_per_clip} views (chance {chance:.3f})")
    print(f"  one clip    : {clip.clip_id} is {clip.label!r}; the model says "
          + ", ".join(f"{label} {probability:.2f}" for label, probability in top))
    if ava is not None:
        run_ava_stage(*ava)
    print()
    print("Demo finished in {:.0f} s; browse runs and models: make mlflow-ui".format(time.perf_counter() - started))
    return 0


def validate_ava_stage(ava: dict) -> tuple:
    from sfp.config import validate
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.synth.ava import SynthAvaConfig
    from sfp_train.ava.recipe import AvaRecipe

    return (validate(SynthAvaConfig, ava["synth"], source="ava.synth"),
            validate(PreprocessConfig, ava["preprocess"], source="ava.preprocess"),
            validate(AvaRecipe, ava["finetune"], source="ava.finetune"),
            ava["dataset_dir"])


def run_ava_stage(synth, preprocess, recipe, dataset_dir: Path) -> None:
    """Synthetic AVA movies -> frame store -> fine-tune the registered Kinetics model -> mAP vs untrained head."""
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.ava import render_ava_dataset
    from sfp_train.ava.finetune import finetune

    started = time.perf_counter()
    print()
    print("[AVA 1/3] rendering synthetic AVA-format movies, preprocessing them into a segment frame store")
    render_ava_dataset(synth, dataset_dir)
    summary = run_preprocess(preprocess)
    print("      " + "\n      ".join(summary.lines()))
    print(f"[AVA 2/3] fine-tuning {recipe.init.from_model} for action detection (Ray Train + DeepSpeed)")
    result = finetune(recipe)
    print("[AVA 3/3] evaluated (official frame mAP@0.5) and registered")
    print()
    print("AVA stage finished in {:.0f} s".format(time.perf_counter() - started))
    print(f"  frame store : {recipe.data.framestore}")
    print(f"  checkpoint  : {result.training.checkpoint_uri}")
    print(f"  model       : {result.model_uri} (version {result.model_version})")
    if result.baseline is not None:
        print(f"  val mAP@0.5 : {result.evaluation.mAP:.3f} fine-tuned vs {result.baseline.mAP:.3f} with the "
              "untrained head (same backbone)")
    else:
        print(f"  val mAP@0.5 : {result.evaluation.mAP:.3f}")
    print("  per action  : " + ", ".join(f"{name} {ap:.3f}" for name, ap in result.evaluation.per_class.items()))
