"""`sfp evaluate`: multi-view testing of a checkpoint or a registered model on a frame store."""

from __future__ import annotations

import argparse

from sfp_app.cli.common import add_overrides, add_ray_address, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="multi-view top-1/top-5 of a model on a frame store")
    parser.add_argument("model", help="models:/<name>@<alias>, models:/<name>/<version>, or a checkpoint folder URI")
    parser.add_argument("--framestore", required=True, help="frame store URI")
    parser.add_argument("--split", default="val")
    parser.add_argument("--recipe", default=None, help="recipe YAML whose data: section sets the test views")
    parser.add_argument("--confusion", default=None, help="write the confusion matrix picture here (.png)")
    parser.add_argument("--workers", type=int, default=None,
                        help="scoring actors (default: one per GPU of the cluster, or 1 without GPUs)")
    parser.add_argument("--json", action="store_true")
    add_ray_address(parser)
    add_overrides(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sfp import storage, tracking
    from sfp_app.cli.common import load_model
    from sfp_app.cli.readable import check_shards, readable
    from sfp.config import apply_overrides, read_yaml, validate
    from sfp.errors import ConfigError, StorageError
    from sfp.framestore import FrameStore
    from sfp.framestore.schema import INDEX_FILE

    if args.confusion and not Path(args.confusion).absolute().parent.is_dir():
        raise StorageError(f"no such folder for the confusion picture ({Path(args.confusion).absolute().parent})")
    store = FrameStore.open(args.framestore)
    with readable(storage.join_uri(store.uri, INDEX_FILE)):
        records = store.clips(args.split)
    if not records:
        raise ConfigError(f"no clips in split {args.split!r} (splits: {store.manifest.splits}) ({store.uri})")
    check_shards(store, {record.shard for record in records})  # here, not inside a Ray task

    from sfp.raycluster import init_ray
    from sfp_train.checkpoints import classifier_from_checkpoint
    from sfp_train.data.config import DataConfig
    from sfp_train.evaluate import evaluate, plot_confusion
    from sfp_train.serving import ClipClassifier

    if args.model.startswith(("models:/", "runs:/")):
        classifier: ClipClassifier = load_model(args.model, tracking.configure_existing(tracking.TrackingConfig()))
        if not isinstance(classifier, ClipClassifier):
            raise ConfigError(f"{args.model}: not a clip classifier ({type(classifier).__name__}); "
                              "evaluate an action detector with `sfp ava-eval`")
        data_fields = {"crop_size": classifier.crop_size, "train_short_side": [classifier.crop_size] * 2,
                       "test_short_side": classifier.crop_size, "test_crop_size": classifier.crop_size,
                       "sampling_rate": classifier.sampling_rate, "mean": list(classifier.mean), "std": list(classifier.std)}
    else:
        classifier, recipe = classifier_from_checkpoint(args.model)
        data_fields = recipe.data.model_dump(mode="json")
    if args.recipe:
        data_fields.update(read_yaml(args.recipe).get("data", {}))
    data_fields["framestore"] = args.framestore
    data = validate(DataConfig, apply_overrides(data_fields, args.overrides), source="data")
    init_ray(args.ray_address)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    result = evaluate(classifier.model, store, data, args.split, arch=classifier.arch, alpha=classifier.alpha,
                      num_frames=classifier.clip_frames, workers=args.workers)
    if args.confusion:
        plot_confusion(result, Path(args.confusion))
    if args.json:
        print_json({"top1": result.top1, "top5": result.top5, "clips": result.clips,
                    "views_per_clip": result.views_per_clip, "per_class": result.per_class})
    else:
        print(f"top-1 {result.top1:.4f}  top-5 {result.top5:.4f}  ({result.clips} clips x {result.views_per_clip} views)")
        for name, accuracy in result.per_class.items():
            print(f"  {name:>24}: {accuracy:.3f}")
    return 0
