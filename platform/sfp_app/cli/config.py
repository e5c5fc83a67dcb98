"""`sfp config show RECIPE [key.sub=value ...]`: a recipe resolved and validated as its command does it, as YAML."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sfp_app.cli.common import add_overrides

KINDS = ("train", "finetune-ava", "preprocess", "model", "demo")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="recipes as the commands resolve them")
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    show = commands.add_parser(
        "show",
        help="the resolved, validated recipe as YAML (what every run logs as config/recipe.yaml)",
        description="Validate a recipe and its overrides as the command that runs it does, and print it with every "
        "default filled in. A bad key or value stops with one line that names it, as the command would.",
    )
    show.add_argument("recipe", type=Path, help="recipe YAML (configs/kinetics/, configs/ava/, configs/datasets/, ...)")
    show.add_argument(
        "--kind", choices=KINDS, default=None,
        help="whose recipe it is (default: from its sections: init: finetune-ava, dataset: preprocess, synth: demo, "
        "only model: model, otherwise train)",
    )
    show.add_argument("--workdir", default=".sfp/demo", help="demo: the --workdir its locations are filled in under")
    add_overrides(show)
    show.set_defaults(handler=run_show)


def detect_kind(data: dict[str, Any]) -> str:
    """Which command a recipe YAML is for, from its top-level sections."""
    keys = set(data)
    if keys & {"base", "arches"}:
        return "ablation"
    if "synth" in keys:
        return "demo"
    if "init" in keys:
        return "finetune-ava"
    if "dataset" in keys:
        return "preprocess"
    if keys == {"model"}:
        return "model"
    return "train"


def resolve(path: Path, overrides: list[str], kind: str | None = None, workdir: str = ".sfp/demo") -> dict[str, Any]:
    """The recipe at `path` with `overrides`, validated by the command of its kind, as plain data."""
    from sfp.config import apply_overrides, load_config, read_yaml, validate
    from sfp.errors import ConfigError

    data = read_yaml(path)
    kind = kind or detect_kind(data)
    if kind == "train":
        from sfp_train.recipe import TrainRecipe

        return load_config(TrainRecipe, path, overrides).model_dump(mode="json")
    if kind == "finetune-ava":
        from sfp_train.ava.recipe import AvaRecipe

        return load_config(AvaRecipe, path, overrides).model_dump(mode="json")
    if kind == "preprocess":
        from sfp_preprocess.config import PreprocessConfig

        return load_config(PreprocessConfig, path, overrides).model_dump(mode="json")
    if kind == "model":
        from sfp_train.models import ModelConfig

        data = apply_overrides(data, overrides)
        if not isinstance(data.get("model"), dict):
            raise ConfigError(f"{path}: no `model:` section")
        return {"model": validate(ModelConfig, data["model"], source=f"{path}: model").model_dump(mode="json")}
    if kind == "demo":
        return _resolve_demo(apply_overrides(data, overrides), Path(workdir).absolute())
    raise ConfigError(f"{path}: an ablation YAML (base:, arches:): `sfp config show` shows {', '.join(KINDS)} recipes")


def _resolve_demo(data: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The demo's sections with their locations under `workdir`, each validated as `sfp demo` does."""
    from sfp_app.demo import demo_config

    config = demo_config(data, workdir)
    resolved: dict[str, Any] = {"synth": config.synth.model_dump(mode="json"),
                                "preprocess": config.preprocess.model_dump(mode="json"),
                                "train": config.train.model_dump(mode="json")}
    if config.ava is not None:
        resolved["ava"] = config.ava.model_dump(mode="json")
    return resolved


def run_show(args: argparse.Namespace) -> int:
    import yaml

    print(yaml.safe_dump(resolve(args.recipe, args.overrides, args.kind, args.workdir), sort_keys=False), end="")
    return 0
