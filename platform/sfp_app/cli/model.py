"""`sfp model summary` (parameters and GMACs of a recipe's model), `sfp model import` (foreign weights) and
`sfp model list` (what the MLflow registry holds)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# `sfp_train.models.pytorchvideo_import.PYTORCHVIDEO_ARCHS`, named here so that parsing imports no torch (a test
# keeps the two equal)
PYTORCHVIDEO_ARCHS = ("slowfast_r50", "slowfast_r101", "slowfast_r50_detection")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="inspect models and import pretrained weights")
    commands = parser.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")

    summary = commands.add_parser(
        "summary", help="parameter count (total, per pathway and stage) and GMACs of one view of a recipe's model"
    )
    summary.add_argument("config", type=Path, help="recipe YAML with a top-level `model:` section")
    summary.add_argument("overrides", nargs="*", help="key=value overrides, e.g. model.depth=101")
    summary.add_argument(
        "--num-classes", type=int, default=None, help="classes of the head (default 400; 80 for a detection model)"
    )
    summary.add_argument("--crop-size", type=int, default=256, help="spatial size of the view (default 256)")
    summary.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    summary.set_defaults(handler=run_summary)

    imports = commands.add_parser("import", help="convert foreign weights into a checkpoint training can start from")
    imports.add_argument("state_dict", type=Path, help="state dict saved with torch.save (or a .pyth checkpoint)")
    imports.add_argument("--from", dest="source", choices=("pytorchvideo",), required=True)
    imports.add_argument("--arch", choices=PYTORCHVIDEO_ARCHS, required=True)
    imports.add_argument("-o", "--output", type=Path, required=True, help="checkpoint file to write")
    imports.set_defaults(handler=run_import)

    listing = commands.add_parser("list", help="registered models with their versions and aliases (MLflow registry)")
    listing.add_argument("--tracking-uri", default=None,
                         help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the local store "
                              "$SFP_HOME/mlflow, SFP_HOME defaulting to ~/.sfp)")
    listing.add_argument("--json", action="store_true", help="one JSON list of models, each with its versions")
    listing.set_defaults(handler=run_list)


def run_summary(args: argparse.Namespace) -> int:
    from sfp.config import apply_overrides, read_yaml, validate
    from sfp.errors import ConfigError
    from sfp_train.models.config import ModelConfig
    from sfp_train.models.summary import summarize_config

    data = apply_overrides(read_yaml(args.config), args.overrides)
    if not isinstance(data.get("model"), dict):
        raise ConfigError(f"{args.config}: no `model:` section")
    config = validate(ModelConfig, data["model"], source=f"{args.config}: model")
    num_classes = args.num_classes or (80 if config.task == "detection" else 400)
    if args.crop_size < 32:
        raise ConfigError(f"--crop-size must be at least 32, got {args.crop_size}")
    summary = summarize_config(config, num_classes, args.crop_size)
    if args.json:
        print(json.dumps({**summary.to_dict(), "num_classes": num_classes, "model_config": config.model_dump()}))
        return 0
    print(
        f"{config.arch} R{config.depth}, {config.task}, {num_classes} classes,"
        f" {config.clip_frames}-frame clips (Slow {config.clip_frames // config.alpha}, alpha {config.alpha})"
    )
    print(f"input: {' + '.join('x'.join(map(str, shape)) for shape in summary.input_shapes)}")
    print(f"parameters: {summary.params:,} ({summary.params / 1e6:.2f}M)")
    print(f"GMACs per view: {summary.gmacs:.1f}")
    print(f"{'part':<16}{'params':>14}{'GMACs':>10}")
    for part, count in summary.params_by_part.items():
        print(f"{part:<16}{count:>14,}{summary.macs_by_part[part] / 1e9:>10.2f}")
    print(f"{'stage':<16}{'params':>14}{'GMACs':>10}")
    for stage, count in summary.params_by_stage.items():
        print(f"  {stage:<14}{count:>14,}{summary.macs_by_stage[stage] / 1e9:>10.2f}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from sfp_train.pytorchvideo_weights import import_pytorchvideo_file

    path, config, num_classes = import_pytorchvideo_file(args.state_dict, args.arch, args.output)
    print(f"wrote {path}: {args.arch} ({config.arch} R{config.depth}, {config.task}, {num_classes} classes)")
    return 0


def registered_models(client) -> list[dict]:
    """Every registered model of the registry `client` talks to, by name: its aliases and versions (oldest first)."""
    from datetime import datetime, timezone

    def pages(search, **options):
        token = None
        while True:
            page = search(page_token=token, **options)
            yield from page
            token = page.token
            if not token:
                return

    models = {model.name: {"name": model.name, "aliases": dict(model.aliases), "versions": []}
              for model in pages(client.search_registered_models, max_results=100)}
    for version in pages(client.search_model_versions, max_results=1000):
        entry = models.setdefault(version.name, {"name": version.name, "aliases": {}, "versions": []})
        created = datetime.fromtimestamp(version.creation_timestamp / 1000, timezone.utc)
        entry["versions"].append({"version": int(version.version), "created": created.isoformat(timespec="seconds"),
                                  "run_id": version.run_id, "status": version.status})
    for entry in models.values():
        entry["versions"].sort(key=lambda version: version["version"])
        for version in entry["versions"]:
            version["aliases"] = sorted(alias for alias, number in entry["aliases"].items()
                                        if int(number) == version["version"])
    return [models[name] for name in sorted(models)]


def run_list(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from sfp import tracking
    from sfp.errors import StorageError

    uri = tracking.resolve_tracking_uri(tracking.TrackingConfig(uri=args.tracking_uri))
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        models = []  # a store that was never written holds no models (and a listing does not create one)
    else:
        try:
            models = registered_models(MlflowClient(tracking_uri=uri, registry_uri=uri))
        except MlflowException as error:
            reason = (str(error.message).strip().splitlines() or ["no answer"])[0]
            raise StorageError(f"cannot read the model registry: {reason} ({uri})") from None
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    if not models:
        print(f"no registered models in {uri}")
        return 0
    rows = [("model", "version", "aliases", "created (UTC)", "run")]
    for model in models:
        rows += [(model["name"], str(version["version"]), ",".join(version["aliases"]) or "-",
                  version["created"][:16].replace("T", " "), version["run_id"] or "-") for version in model["versions"]]
        if not model["versions"]:
            rows.append((model["name"], "-", "-", "-", "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0
