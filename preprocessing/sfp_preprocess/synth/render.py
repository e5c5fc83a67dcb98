"""Render the synthetic motion dataset with ffmpeg, in the Kinetics layout.

    <out>/annotations.csv                         label,youtube_id,time_start,time_end,split
    <out>/videos/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    <out>/synth_config.json                       the resolved SynthConfig the clips were rendered from

`time_end - time_start` is the clip's duration rounded up to whole seconds (Kinetics' CSVs hold whole seconds);
`time_start` is a random offset, as if the clip were cut from a longer video.

Everything is a function of the config: `plan_clips` draws every clip's id, window, split, appearance and motion
from `seed`, and the same config renders the same frames. Clip `i` of every class shares one appearance (so
appearance is exactly balanced across classes), and the same indices are held out for `val` in every class (so
val appearances are never seen in training).

Clips are rendered into a staging folder next to `<out>` and moved into place; the CSV is written last, so a
folder with `annotations.csv` is complete. Rendering again with the same config does nothing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import os
import random
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import ffmpeg
from pydantic import Field, ValidationInfo, field_validator
from tqdm import tqdm

from sfp.config import StrictModel
from sfp.errors import SfpError
from sfp_preprocess.synth.motion import (
    CLASSES,
    Appearance,
    disc_alpha_expression,
    hex_colour,
    overlay_expressions,
    sample_appearance,
)

ANNOTATIONS_CSV = "annotations.csv"
MANIFEST_JSON = "synth_config.json"
VIDEOS_DIR = "videos"
CSV_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
MAX_TIME_START = 300  # seconds; the window's offset into the (imaginary) source video
CLIPS_PER_PROCESS = 6  # clips that one ffmpeg process renders


class SynthConfig(StrictModel):
    """What `sfp datasets synth` renders; see `sfp_preprocess.synth.motion` for the classes."""

    classes: list[str] = Field(default_factory=lambda: list(CLASSES), min_length=1)
    clips_per_class: int = Field(24, ge=1)
    val_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    duration_sec: float = Field(2.0, gt=0.0)
    fps: int = Field(30, ge=1, le=120)
    width: int = Field(160, ge=32, le=1920)
    height: int = Field(120, ge=32, le=1080)
    objects: int = Field(3, ge=1, le=8)  # per clip, all moving with the class motion
    background_spread: int = Field(8, ge=0, le=127)  # background colour: 128 +- this, per channel
    seed: int = Field(0, ge=0)
    workers: int = Field(2, ge=1, le=64)

    @field_validator("classes")
    @classmethod
    def _known_unique_classes(cls, classes: list[str]) -> list[str]:
        unknown = [name for name in classes if name not in CLASSES]
        if unknown:
            raise ValueError(f"unknown class {unknown[0]!r}; known: {', '.join(CLASSES)}")
        if len(set(classes)) != len(classes):
            raise ValueError("each class may be listed once")
        return classes

    @field_validator("val_fraction")
    @classmethod
    def _leaves_both_splits(cls, val_fraction: float, info: ValidationInfo) -> float:
        clips = info.data.get("clips_per_class")
        if clips is not None and val_fraction > 0 and clips < 2:
            raise ValueError(f"{clips} clip per class cannot be split into train and val; use val_fraction=0")
        return val_fraction

    @field_validator("fps")
    @classmethod
    def _fps_gives_whole_frames(cls, fps: int, info: ValidationInfo) -> int:
        # validated after duration_sec (field order), so both are known here
        duration = info.data.get("duration_sec")
        if duration is not None and (abs(duration * fps - round(duration * fps)) > 1e-6 or round(duration * fps) < 2):
            raise ValueError(f"duration_sec={duration} at {fps} fps is not a whole number (>= 2) of frames")
        return fps

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even for yuv420p video (got {value})")
        return value

    @property
    def num_frames(self) -> int:
        return round(self.duration_sec * self.fps)

    @property
    def val_clips_per_class(self) -> int:
        if self.val_fraction == 0:
            return 0
        return min(self.clips_per_class - 1, max(1, math.floor(self.clips_per_class * self.val_fraction + 0.5)))


@dataclass(frozen=True)
class ClipSpec:
    label: str
    index: int  # within its class; clips with the same index share their appearance
    youtube_id: str
    time_start: int
    time_end: int
    split: str
    appearance: Appearance
    overlays: tuple[tuple[str, str], ...]  # per sprite, the `overlay` x and y expressions of `t`

    @property
    def path(self) -> Path:
        """Relative to the dataset folder, named like the common Kinetics downloaders name trimmed clips."""
        return Path(VIDEOS_DIR, self.label, f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}.mp4")

    def csv_row(self) -> tuple[str, str, int, int, str]:
        return (self.label, self.youtube_id, self.time_start, self.time_end, self.split)


def plan_clips(config: SynthConfig) -> list[ClipSpec]:
    """Every clip of the dataset, ordered by class then index; a pure function of the config."""
    appearances = [
        sample_appearance(
            random.Random(f"synth/{config.seed}/appearance/{index}"),
            width=config.width,
            height=config.height,
            objects=config.objects,
            background_spread=config.background_spread,
        )
        for index in range(config.clips_per_class)
    ]
    split_rng = random.Random(f"synth/{config.seed}/split")
    val_indices = set(split_rng.sample(range(config.clips_per_class), config.val_clips_per_class))
    window = math.ceil(config.duration_sec)  # the CSV holds whole seconds, like Kinetics'
    clips = []
    for label in config.classes:
        for index, appearance in enumerate(appearances):
            rng = random.Random(f"synth/{config.seed}/motion/{label}/{index}")
            overlays = overlay_expressions(
                label, appearance, rng, width=config.width, height=config.height, duration_sec=config.duration_sec
            )
            time_start = rng.randint(0, MAX_TIME_START)
            clips.append(
                ClipSpec(
                    label=label,
                    index=index,
                    youtube_id=youtube_id(config.seed, label, index),
                    time_start=time_start,
                    time_end=time_start + window,
                    split="val" if index in val_indices else "train",
                    appearance=appearance,
                    overlays=overlays,
                )
            )
    return clips


def youtube_id(seed: int, label: str, index: int) -> str:
    """An 11-character id from YouTube's alphabet (A-Z a-z 0-9 - _), stable for a seed, class and index."""
    digest = hashlib.sha256(f"synth/{seed}/{label}/{index}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:11]


def annotations_text(clips: list[ClipSpec]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(clip.csv_row() for clip in clips)
    return buffer.getvalue()


def require_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        raise SfpError("ffmpeg not found on PATH; install it with `apt-get install -y ffmpeg`")


def render_clips(clips: Sequence[ClipSpec], config: SynthConfig, root: Path) -> None:
    """Render clips to `root / clip.path` in one ffmpeg process (one process for several clips halves the CPU
    time, most of which is ffmpeg starting up).

    Each is H.264 in mp4, yuv420p, `config.fps` fps, exactly `config.num_frames` frames. The clips must differ in
    background colour: a clip's graph starts from a `color` source of it, and ffmpeg-python merges identical nodes.
    """
    if len({clip.appearance.background for clip in clips}) != len(clips):
        raise ValueError("clips rendered together must differ in background colour")
    outputs = ffmpeg.merge_outputs(*(_clip_output(clip, config, root / clip.path) for clip in clips))
    outputs = outputs.global_args("-nostdin", "-loglevel", "error").overwrite_output()
    try:
        outputs.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        message = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        names = ", ".join(str(clip.path) for clip in clips)
        raise SfpError(f"ffmpeg failed on {names}: {message[-1] if message else 'no message'}") from None


def _clip_output(clip: ClipSpec, config: SynthConfig, path: Path) -> ffmpeg.nodes.OutputStream:
    """Background: a `color` source with a static `noise` texture. Each sprite: a crop of the same source painted
    with `drawbox`, cut to a disc by a `geq` alpha mask, placed by `overlay` at its x/y expressions of `t`."""
    look = clip.appearance
    source = ffmpeg.input(
        f"color=c={hex_colour(look.background)}:s={config.width}x{config.height}:r={config.fps}", f="lavfi"
    ).split()
    frames = source[0].filter("noise", alls=look.texture, allf="u", all_seed=look.texture_seed)
    for number, (sprite, (x, y)) in enumerate(zip(look.sprites, clip.overlays), start=1):
        width, height = sprite.size
        thing = source[number].crop(0, 0, width, height)
        thing = thing.drawbox(0, 0, width, height, color=hex_colour(sprite.colour), thickness="fill")
        if sprite.shape == "disc":
            copies = thing.split()
            mask = copies[1].filter("format", "gray").filter("geq", lum=disc_alpha_expression(width))
            thing = ffmpeg.filter([copies[0], mask], "alphamerge")
        # yuv444 so that positions are not rounded to even pixels (the chroma grid of yuv420)
        frames = ffmpeg.overlay(frames, thing, x=x, y=y, format="yuv444", shortest=1)
    return frames.output(
        str(path),
        vcodec="libx264",
        preset="ultrafast",
        pix_fmt="yuv420p",
        g=config.fps,  # a keyframe every second, for decoders that seek
        movflags="+faststart",
        threads=1,  # the pool runs `workers` ffmpeg processes side by side
        map_metadata=-1,
        **{"frames:v": config.num_frames, "fflags": "+bitexact"},
    )


def is_complete(config: SynthConfig, out_dir: str | Path) -> bool:
    """True when `out_dir` holds exactly the dataset `config` renders: same config, CSV and every video."""
    out_dir = Path(out_dir)
    csv_path = out_dir / ANNOTATIONS_CSV
    if not csv_path.is_file() or _read_manifest(out_dir) != _manifest(config):
        return False
    clips = plan_clips(config)
    if csv_path.read_text() != annotations_text(clips):
        return False
    return all((out_dir / clip.path).is_file() for clip in clips)


def render_dataset(config: SynthConfig, out_dir: str | Path, *, force: bool = False) -> Path:
    """Render the dataset into `out_dir` and return the path of its `annotations.csv`.

    Does nothing when `out_dir` already holds this dataset, unless `force`. A dataset of another config is
    replaced only with `force`; a folder with `videos/` or `annotations.csv` not written by this function is
    never touched.
    """
    out_dir = Path(out_dir)
    if not force and is_complete(config, out_dir):
        return out_dir / ANNOTATIONS_CSV
    _check_replaceable(config, out_dir, force=force)
    require_ffmpeg()
    clips = plan_clips(config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.synth-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private, and it may become `out_dir` itself
    try:
        _render_all(clips, config, staging)
        (staging / MANIFEST_JSON).write_text(json.dumps(_manifest(config), indent=2) + "\n")
        _publish(staging, out_dir, annotations_text(clips))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / ANNOTATIONS_CSV


def _render_all(clips: list[ClipSpec], config: SynthConfig, staging: Path) -> None:
    for label in config.classes:
        (staging / VIDEOS_DIR / label).mkdir(parents=True)
    batches = _batches(clips, CLIPS_PER_PROCESS)
    pool = ThreadPoolExecutor(max_workers=config.workers)
    try:
        futures = {pool.submit(render_clips, batch, config, staging): len(batch) for batch in batches}
        with tqdm(total=len(clips), desc="render", unit="clip") as progress:
            for future in as_completed(futures):
                future.result()
                progress.update(futures[future])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _batches(clips: list[ClipSpec], size: int) -> list[list[ClipSpec]]:
    """Consecutive clips, up to `size` at a time, of distinct background colours (clips of one appearance share it)."""
    batches: list[list[ClipSpec]] = []
    for clip in clips:
        taken = {other.appearance.background for other in batches[-1]} if batches else set()
        if not batches or len(batches[-1]) == size or clip.appearance.background in taken:
            batches.append([])
        batches[-1].append(clip)
    return batches


def _publish(staging: Path, out_dir: Path, csv_text: str) -> None:
    """Move the staged dataset into `out_dir`; the CSV comes last, so its presence means complete."""
    if not out_dir.exists():
        (staging / ANNOTATIONS_CSV).write_text(csv_text)
        staging.rename(out_dir)
        return
    (out_dir / ANNOTATIONS_CSV).unlink(missing_ok=True)
    os.replace(staging / MANIFEST_JSON, out_dir / MANIFEST_JSON)
    if (out_dir / VIDEOS_DIR).exists():
        shutil.rmtree(out_dir / VIDEOS_DIR)
    (staging / VIDEOS_DIR).rename(out_dir / VIDEOS_DIR)
    partial = staging / ANNOTATIONS_CSV
    partial.write_text(csv_text)
    os.replace(partial, out_dir / ANNOTATIONS_CSV)


def _check_replaceable(config: SynthConfig, out_dir: Path, *, force: bool) -> None:
    ours = [out_dir / ANNOTATIONS_CSV, out_dir / VIDEOS_DIR]
    manifest = _read_manifest(out_dir)
    if manifest is None and any(path.exists() for path in ours):
        raise SfpError(
            f"{out_dir} holds videos/ or {ANNOTATIONS_CSV} not written by `sfp datasets synth`; choose another folder"
        )
    if force or manifest is None or not (out_dir / ANNOTATIONS_CSV).exists():
        return  # nothing there yet, or a partial earlier run: render over it
    wanted = _manifest(config)["config"]
    changed = sorted(key for key in wanted if manifest.get("config", {}).get(key) != wanted[key])
    if changed:
        raise SfpError(
            f"{out_dir} holds a dataset rendered with another config (differs in {', '.join(changed)}); "
            "pass --force to replace it"
        )


def _manifest(config: SynthConfig) -> dict:
    # `workers` changes how fast, not what is rendered
    return {"generator": "sfp datasets synth", "config": config.model_dump(mode="json", exclude={"workers"})}


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST_JSON).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
