"""`sfp framestore inspect|ls|preview|errors|verify`: look into a frame store without training on it."""

from __future__ import annotations

import argparse

from sfp_app.cli.common import PositionalDashParser, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("framestore", help="inspect a frame store")
    # clip ids may begin with '-' (YouTube ids do): positionals are whatever is not exactly one of the options
    commands = parser.add_subparsers(dest="framestore_command", required=True, metavar="SUBCOMMAND",
                                     parser_class=PositionalDashParser)
    inspect = commands.add_parser("inspect", help="the manifest summary (reads only _manifest.json)")
    inspect.add_argument("uri")
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(handler=run_inspect)
    listing = commands.add_parser("ls", help="one line (or JSON object) per clip, under a header line")
    listing.add_argument("uri")
    listing.add_argument("--split", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_ls)
    preview = commands.add_parser("preview", help="a contact sheet of one clip's frames as a JPEG")
    preview.add_argument("uri")
    preview.add_argument("clip_id")
    preview.add_argument("-o", "--output", required=True, help="output .jpg")
    preview.add_argument("--frames", type=int, default=16, help="frames on the sheet, evenly spaced")
    preview.set_defaults(handler=run_preview)
    errors = commands.add_parser("errors", help="one line (or JSON object) per row that could not be stored")
    errors.add_argument("uri")
    errors.add_argument("--stage", help="only the errors of this stage (locate, probe or decode)")
    errors.add_argument("--json", action="store_true")
    errors.set_defaults(handler=run_errors)
    verify = commands.add_parser("verify", help="read every shard back and check the counts against the manifest")
    verify.add_argument("uri")
    verify.add_argument("--decode", action="store_true", help="also decode every JPEG (slower; default: check that "
                        "each frame is a whole JPEG)")
    verify.add_argument("--threads", type=int, default=4, help="shards read at a time (default 4)")
    verify.add_argument("--json", action="store_true", help="the whole report as JSON (each shard, each problem)")
    verify.set_defaults(handler=run_verify)


def run_inspect(args: argparse.Namespace) -> int:
    from sfp.framestore import FrameStore

    summary = FrameStore.open(args.uri).manifest.summary()
    if args.json:
        print_json(summary)
        return 0
    for key in ("clips", "errors", "rows", "classes", "splits", "shards", "bytes", "created_at", "code_version"):
        print(f"{key:>13}: {summary[key]}")
    print(f"{'decode':>13}: {summary['decode']}")
    print(f"{'source':>13}: {summary['source']}")
    return 0


CLIP_FIELDS = ("clip_id", "source_path", "label", "split", "num_frames", "fps", "width", "height")
LS_COLUMNS = ("clip_id", "path", "label", "split", "num_frames", "fps", "width", "height")


def run_ls(args: argparse.Namespace) -> int:
    from sfp import storage
    from sfp_app.cli.readable import readable
    from sfp.framestore import FrameStore
    from sfp.framestore.schema import INDEX_FILE

    store = FrameStore.open(args.uri)
    with readable(storage.join_uri(store.uri, INDEX_FILE)):
        records = store.clips(args.split)
    rows = []
    for record in records:
        row = {name: getattr(record, name) for name in CLIP_FIELDS}
        row["path"] = row.pop("source_path")
        rows.append(row)
    if args.json:
        print_json(rows)
        return 0
    print("\t".join(LS_COLUMNS))
    for row in rows:
        print("\t".join(_cell(row[column]) for column in LS_COLUMNS))
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from sfp import storage
    from sfp_app.cli.readable import readable
    from sfp.errors import ConfigError, StorageError
    from sfp.framestore import FrameStore
    from sfp.framestore.schema import INDEX_FILE

    folder = Path(args.output).absolute().parent
    if not folder.is_dir():
        raise StorageError(f"no such folder for the contact sheet ({folder})")
    if Path(args.output).suffix.lower() not in Image.registered_extensions():
        raise ConfigError(f"the contact sheet needs a picture's file name, such as sheet.jpg ({args.output})")
    store = FrameStore.open(args.uri)
    with readable(storage.join_uri(store.uri, INDEX_FILE)):
        record = store.record(args.clip_id)
    count = max(1, min(args.frames, record.num_frames))
    indices = np.linspace(0, record.num_frames - 1, count).round().astype(int)
    with readable(storage.join_uri(store.uri, record.shard)):
        frames = store.read_frames(record, indices)
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    height, width = frames.shape[1:3]
    sheet = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for position, frame in enumerate(frames):
        row, column = divmod(position, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = frame
    Image.fromarray(sheet).save(args.output, quality=90)
    print(f"{args.output}: {count} frames of {record.clip_id} ({record.label}), frames {indices.tolist()}")
    return 0


ERROR_FIELDS = ("clip_id", "stage", "reason", "source_path")


def run_errors(args: argparse.Namespace) -> int:
    """`_errors.parquet`'s rows: clip_id, stage, reason (and the source with --json), tab-separated."""
    from sfp.framestore import FrameStore

    rows = [{name: getattr(error, name) for name in ERROR_FIELDS} for error in FrameStore.open(args.uri).errors()
            if args.stage is None or error.stage == args.stage]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['clip_id']}\t{row['stage']}\t{row['reason']}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Every shard read whole, every count against the manifest; exit 2 with one line naming the first bad file."""
    import sys

    from tqdm import tqdm

    from sfp.errors import ConfigError, FrameStoreError
    from sfp.framestore import FrameStore
    from sfp.framestore.verify import verify_store

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    store = FrameStore.open(args.uri)
    with tqdm(total=len(store.manifest.shards), unit="shard", desc="verify", disable=not sys.stderr.isatty(),
              file=sys.stderr) as bar:
        report = verify_store(store, decode=args.decode, threads=args.threads, on_shard=lambda _: bar.update())
    if args.json:
        print_json(report.to_dict())
    if not report.ok:
        raise FrameStoreError(f"{report.first_problem()} ({store.uri})")
    if not args.json:
        totals = report.to_dict()
        print(f"ok: {len(report.shards)} shards, {report.clips:,} clips, {totals['frames']:,} frames, "
              f"{totals['bytes']:,} bytes read{', every JPEG decoded' if args.decode else ''}; "
              f"{report.errors} error rows; counts match the manifest ({store.uri})")
    return 0
