"""The demo pipeline: the whole path on embedded defaults, on one machine, without any server started by hand.

synthetic Kinetics-format videos -> Ray Data preprocessing into a frame store -> SlowFast on Ray Train + DeepSpeed
-> multi-view evaluation -> MLflow run, registered model and alias -> the registered model loaded back by alias
and run on one held-out clip; then AVA: synthetic AVA-format movies -> a segment frame store -> the registered model
fine-tuned for action detection -> frame mAP@0.5 next to the untrained head's -> registered under its own name.

    config = load_demo_config("configs/demo.yaml", ["train.optim.epochs=2"], Path(".sfp/demo"))
    result = run_demo(config)  # from `sfp demo`, a notebook or a job alike
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pydantic import Field

from sfp.config import StrictModel, apply_overrides, read_yaml, validate
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.synth.ava import SynthAvaConfig
from sfp_preprocess.synth.render import SynthConfig
from sfp_train.ava.recipe import AvaRecipe
from sfp_train.recipe import TrainRecipe

if TYPE_CHECKING:
    from sfp_train.ava.finetune import FinetuneResult
    from sfp_train.workflow import WorkflowResult

Say = Callable[[str], None]


class DemoAvaYaml(StrictModel):
    """The demo YAML's `ava:` section as written: each stage's section is completed and validated by its own class."""

    enabled: bool = True
    synth: dict[str, Any] | None = None
    preprocess: dict[str, Any] | None = None
    finetune: dict[str, Any] | None = None


class DemoYaml(StrictModel):
    """The demo YAML as written (after overrides): the keys it may hold, before the locations are filled in."""

    synth: dict[str, Any] | None = None
    preprocess: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    ava: DemoAvaYaml = Field(default_factory=DemoAvaYaml)


class DemoAvaStage(StrictModel):
    """The AVA stage: its synthetic movies, their preprocessing and the fine-tuning recipe."""

    synth: SynthAvaConfig
    preprocess: PreprocessConfig
    finetune: AvaRecipe


class DemoConfig(StrictModel):
    """The demo, validated: where it works, the Kinetics stage's three configs and the AVA stage (None: skipped)."""

    workdir: Path
    synth: SynthConfig
    preprocess: PreprocessConfig
    train: TrainRecipe
    ava: DemoAvaStage | None = None

    @property
    def dataset_dir(self) -> Path:
        return self.workdir / "dataset"

    @property
    def ava_dataset_dir(self) -> Path:
        return self.workdir / "ava-dataset"


def read_demo_yaml(data: dict[str, Any]) -> DemoYaml:
    """The demo YAML's keys checked: one line naming the first unknown one."""
    return validate(DemoYaml, data, source="demo config")


def resolve_sections(data: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The demo's sections with the locations under `workdir` that they leave out filled in (plain data)."""
    demo = read_demo_yaml(data)
    synth, preprocess, train = (dict(section or {}) for section in (demo.synth, demo.preprocess, demo.train))
    dataset_dir = workdir / "dataset"
    preprocess.setdefault("dataset", {"manifest": str(dataset_dir / "annotations.csv"),
                                      "video_root": str(dataset_dir / "videos")})
    preprocess["output"] = {"uri": str(workdir / "framestore"), **(preprocess.get("output") or {})}
    train["data"] = {"framestore": preprocess["output"]["uri"], **(train.get("data") or {})}
    train["checkpoint"] = {"storage_uri": str(workdir / "runs"), **(train.get("checkpoint") or {})}
    # the preprocessing run goes to the training runs' store unless its section names one
    preprocess["tracking"] = {**tracking_store(train), **(preprocess.get("tracking") or {})}
    return {"synth": synth, "preprocess": preprocess, "train": train,
            "ava": resolve_ava_section(demo.ava, train, workdir)}


def resolve_ava_section(ava: DemoAvaYaml, train: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The AVA stage: its synthetic movies, preprocessing and fine-tuning recipe, filled in from `train`."""
    synth, preprocess, finetune = (dict(section or {}) for section in (ava.synth, ava.preprocess, ava.finetune))
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
    return {"enabled": ava.enabled, "synth": synth, "preprocess": preprocess, "finetune": finetune}


def tracking_store(recipe: dict[str, Any]) -> dict[str, Any]:
    """The `uri` and `local_dir` of a recipe section's `tracking:` (where its runs go), without the experiment."""
    return {key: value for key, value in (recipe.get("tracking") or {}).items() if key in ("uri", "local_dir")}


def demo_config(data: dict[str, Any], workdir: Path) -> DemoConfig:
    """The demo YAML's data (overrides applied) validated once into a `DemoConfig`, each section by its own class
    (an error names the section: `train: optim.epoch: unknown key`), before any work starts."""
    workdir = Path(workdir).absolute()
    sections = resolve_sections(data, workdir)
    synth = validate(SynthConfig, sections["synth"], source="synth")
    preprocess = validate(PreprocessConfig, sections["preprocess"], source="preprocess")
    train = validate(TrainRecipe, sections["train"], source="train")
    ava = sections["ava"]
    stage = None
    if ava["enabled"]:
        stage = DemoAvaStage(synth=validate(SynthAvaConfig, ava["synth"], source="ava.synth"),
                             preprocess=validate(PreprocessConfig, ava["preprocess"], source="ava.preprocess"),
                             finetune=validate(AvaRecipe, ava["finetune"], source="ava.finetune"))
    return DemoConfig(workdir=workdir, synth=synth, preprocess=preprocess, train=train, ava=stage)


def load_demo_config(path: str | Path, overrides: Sequence[str], workdir: Path) -> DemoConfig:
    """A demo YAML with `key.sub=value` overrides, validated into a `DemoConfig` that works under `workdir`."""
    return demo_config(apply_overrides(read_yaml(path), overrides), workdir)


@dataclass
class DemoResult:
    kinetics: WorkflowResult
    ava: FinetuneResult | None  # None when the AVA stage is off
    seconds: float  # the whole demo, both stages


def run_demo(config: DemoConfig, say: Say = print) -> DemoResult:
    """Run the demo: each step and the results as lines handed to `say`, in the order they happen."""
    from sfp import tracking
    from sfp.framestore import FrameStore
    from sfp.raycluster import init_ray
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import render_dataset
    from sfp_train.predict import classify_clip
    from sfp_train.workflow import pretrain

    started = time.perf_counter()
    recipe = config.train
    say("[1/6] rendering the synthetic motion dataset (Kinetics layout)")
    render_dataset(config.synth, config.dataset_dir)
    say("[2/6] preprocessing into a frame store (Ray Data)")
    init_ray()
    summary = run_preprocess(config.preprocess)
    say("      " + "\n      ".join(summary.lines()))
    say("[3/6] training SlowFast (Ray Train + DeepSpeed), [4/6] evaluating, [5/6] registering in MLflow")
    result = pretrain(recipe)
    say(f"[6/6] loading {result.model_uri} back and classifying one held-out clip")
    tracking.configure(recipe.tracking)
    classifier = tracking.load_model(result.model_uri)
    store = FrameStore.open(recipe.data.framestore)
    clip = store.clips(recipe.data.val_split)[0]
    top = classify_clip(classifier, store, clip, top_k=3)

    chance = 1 / len(store.manifest.classes)
    evaluation = result.evaluation
    say("")
    say("Kinetics stage finished in {:.0f} s".format(time.perf_counter() - started))
    classes = len(store.manifest.classes)
    say(f"  frame store : {recipe.data.framestore} ({store.manifest.clips} clips, {classes} classes)")
    say(f"  checkpoint  : {result.training.checkpoint_uri}")
    say(f"  MLflow store: {tracking.resolve_tracking_uri(recipe.tracking)} (run {result.training.run_id})")
    say(f"  {tracking.key_metrics_line(recipe.tracking)}")
    say(f"  model       : {result.model_uri} (version {result.model_version})")
    say(f"  held-out    : top-1 {evaluation.top1:.3f}, top-5 {evaluation.top5:.3f} "
        f"on {evaluation.clips} clips x {evaluation.views_per_clip} views (chance {chance:.3f})")
    say(f"  one clip    : {clip.clip_id} is {clip.label!r}; the model says "
        + ", ".join(f"{label} {probability:.2f}" for label, probability in top))
    ava = run_ava_stage(config.ava, config.ava_dataset_dir, say) if config.ava is not None else None
    seconds = time.perf_counter() - started
    say("")
    say("Demo finished in {:.0f} s; browse runs and models: make mlflow-ui".format(seconds))
    return DemoResult(kinetics=result, ava=ava, seconds=seconds)


def run_ava_stage(stage: DemoAvaStage, dataset_dir: Path, say: Say = print) -> FinetuneResult:
    """Synthetic AVA movies -> frame store -> fine-tune the registered Kinetics model -> mAP vs untrained head."""
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.ava import render_ava_dataset
    from sfp_train.ava.finetune import finetune

    started = time.perf_counter()
    recipe = stage.finetune
    say("")
    say("[AVA 1/3] rendering synthetic AVA-format movies, preprocessing them into a segment frame store")
    render_ava_dataset(stage.synth, dataset_dir)
    summary = run_preprocess(stage.preprocess)
    say("      " + "\n      ".join(summary.lines()))
    say(f"[AVA 2/3] fine-tuning {recipe.init.from_model} for action detection (Ray Train + DeepSpeed)")
    result = finetune(recipe)
    say("[AVA 3/3] evaluated (official frame mAP@0.5) and registered")
    say("")
    say("AVA stage finished in {:.0f} s".format(time.perf_counter() - started))
    say(f"  frame store : {recipe.data.framestore}")
    say(f"  checkpoint  : {result.training.checkpoint_uri}")
    say(f"  model       : {result.model_uri} (version {result.model_version})")
    if result.baseline is not None:
        say(f"  val mAP@0.5 : {result.evaluation.mAP:.3f} fine-tuned vs {result.baseline.mAP:.3f} with the "
            "untrained head (same backbone)")
    else:
        say(f"  val mAP@0.5 : {result.evaluation.mAP:.3f}")
    say("  per action  : " + ", ".join(f"{name} {ap:.3f}" for name, ap in result.evaluation.per_class.items()))
    return result
