"""JPEG bytes to model inputs on the training worker's own device: decode, crop and resize, flip, normalise, pack.

Ray Data tasks only read and sample (`pipeline.py`, `ava/data.py`): each row is a clip's sampled JPEG frames and
where its view lies in the source frames (`region`: top, left, height, width in source pixels, fractional for test
views) with a flip flag. The worker decodes the whole batch with one `torchvision.io.decode_jpeg(list, device=...)`
call (nvJPEG on a GPU, libjpeg-turbo on CPU) and cuts every frame's view with one `roi_align` per frame size: with
`aligned=True` and one sample per bin, RoIAlign is bilinear resampling of the region at the output pixels' centres,
the very samples `F.interpolate(crop, size, mode="bilinear", align_corners=False)` takes, so the reference's
short-side jitter + random crop (train) and short-side resize + spatial crop (test) are reproduced exactly
(`transforms.py` holds the reference forms; tests compare them). On CPU, training crops (whole-pixel regions) are
cut and resized as uint8 instead, the reference's own computation and cheaper there.

A view fills the decoder's canvas unless its row says otherwise: AVA's test views keep the frame's aspect ratio and
are padded at the right and bottom (`extent`: the view's height and width inside the canvas; `canvas`: the batch's
output size), the padding being zero after normalisation, as the reference pads normalised clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sfp_train.models.packing import pathway_inputs

JPEG_COLUMN = "jpegs"  # per row: the sampled frames' JPEG bytes, in time order
REGION_COLUMN = "region"  # per row: float32 (top, left, height, width) of the view in source pixels
FLIP_COLUMN = "flip"  # per row: mirror the view
EXTENT_COLUMN = "extent"  # optional, per row: int (height, width) the view is resampled to, at the canvas' top left
CANVAS_COLUMN = "canvas"  # optional, per row (equal in a batch): int (height, width) of the output
VIEW_COLUMNS = (JPEG_COLUMN, REGION_COLUMN, FLIP_COLUMN, EXTENT_COLUMN, CANVAS_COLUMN)


@dataclass(frozen=True)
class ClipDecoder:
    """Batches of sampled JPEG frames -> `{"pathway_i": [B, 3, T_i, H, W] float32, ...}` on `device`, `H x W` the
    canvas (`size` square, or the batch's `canvas` column); every other column is moved to the device as a tensor."""

    size: int  # output side: the crop (train) or the test crop; a `canvas` column overrides it
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    arch: str
    alpha: int
    uint8_resize: bool = False  # training views: resized as uint8 where that is cheaper (CPU), as the reference

    def __call__(self, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
        canvas = batch_canvas(batch, self.size)
        extents = batch.get(EXTENT_COLUMN)
        clips = decode_views(batch[JPEG_COLUMN], np.asarray(batch[REGION_COLUMN], dtype=np.float32),
                             np.asarray(batch[FLIP_COLUMN], dtype=bool), canvas, device,
                             extents=None if extents is None else np.asarray(extents, dtype=np.int64),
                             uint8=self.uint8_resize)
        clips = normalize(clips, self.mean, self.std)
        if extents is not None:
            clips = clips * extent_mask(np.asarray(extents, dtype=np.int64), canvas, device)
        out = {f"pathway_{i}": x for i, x in enumerate(pathway_inputs(clips, self.arch, self.alpha))}
        for key, value in batch.items():
            if key not in VIEW_COLUMNS:
                out[key] = torch.tensor(np.asarray(value)).to(device, non_blocking=True)  # Ray's arrays are read-only
        return out


def batch_canvas(batch: dict, size: int) -> tuple[int, int]:
    if CANVAS_COLUMN not in batch:
        return size, size
    canvases = {tuple(int(v) for v in row) for row in np.asarray(batch[CANVAS_COLUMN])}
    if len(canvases) != 1:
        raise ValueError(f"views of one batch must share one output size, got {sorted(canvases)}")
    height, width = canvases.pop()
    return height, width


def decode_views(jpegs: Sequence[Sequence[bytes]], regions: np.ndarray, flips: np.ndarray, size: int | tuple[int, int],
                 device: torch.device, *, extents: np.ndarray | None = None, uint8: bool = False) -> torch.Tensor:
    """uint8-valued float32 `[B, 3, T, H, W]` (`size`: `H x W`, or one side of a square): each clip's frames decoded
    on `device`, its region resampled to its extent (default: the whole canvas; zeros around it; `uint8`: see
    `resample`), mirrored where `flips` says."""
    from torchvision.io import decode_jpeg

    height, width = (size, size) if isinstance(size, int) else size
    counts = [len(frames) for frames in jpegs]
    if len(set(counts)) != 1:
        raise ValueError(f"clips of a batch must have the same number of frames, got {sorted(set(counts))}")
    num_clips, num_frames = len(counts), counts[0]
    data = [torch.frombuffer(bytearray(jpeg), dtype=torch.uint8) for frames in jpegs for jpeg in frames]
    frames = decode_jpeg(data, device=device)  # one call for the batch: nvJPEG batches it on a GPU
    boxes = torch.tensor(regions, dtype=torch.float32).repeat_interleave(num_frames, dim=0)  # per frame
    if extents is None:
        view_sizes = [(height, width)] * len(frames)
    else:
        view_sizes = [tuple(int(v) for v in extents[index // num_frames]) for index in range(len(frames))]
    out = (torch.empty if extents is None else torch.zeros)(len(frames), 3, height, width, dtype=torch.float32,
                                                            device=device)
    groups: dict[tuple[tuple[int, int], tuple[int, int]], list[int]] = {}
    for index, frame in enumerate(frames):
        groups.setdefault((tuple(frame.shape[-2:]), view_sizes[index]), []).append(index)
    for (_, (view_height, view_width)), positions in groups.items():  # one resampling per frame and view size
        stacked = torch.stack([frames[i] for i in positions])
        index = torch.as_tensor(positions, device=device)
        out[index, :, :view_height, :view_width] = resample(stacked, boxes[positions], (view_height, view_width),
                                                            uint8=uint8)
    clips = out.view(num_clips, num_frames, 3, height, width).permute(0, 2, 1, 3, 4)  # [B, 3, T, H, W]
    mirror = torch.tensor(flips, device=device).view(-1, 1, 1, 1, 1)
    return torch.where(mirror, clips.flip(-1), clips)


def resample(frames: torch.Tensor, regions: torch.Tensor, size: tuple[int, int], *, uint8: bool) -> torch.Tensor:
    """uint8 `[N, 3, H, W]` frames, each one's region (top, left, height, width) resampled bilinearly to `size`, as
    float32. RoIAlign does it for any region on any device; with `uint8` on CPU, whole-pixel regions (training
    crops) take PyTorch's uint8 resize of the cut instead: the reference augmentation's very computation, and 2-3x
    cheaper there."""
    from torchvision.ops import roi_align

    whole = bool((regions == regions.round()).all())
    if uint8 and whole and frames.device.type == "cpu":
        out = torch.empty(len(frames), 3, *size, dtype=torch.float32)
        cuts: dict[tuple[int, ...], list[int]] = {}
        for position, region in enumerate(regions.to(torch.int64).tolist()):
            cuts.setdefault(tuple(region), []).append(position)  # a clip's frames share their region
        for (top, left, height, width), positions in cuts.items():
            cut = frames[positions, :, top:top + height, left:left + width]
            if (height, width) != size:
                cut = F.interpolate(cut, size=size, mode="bilinear", align_corners=False, antialias=False)
            out[positions] = cut.float()
        return out
    top, left, height, width = regions.unbind(1)
    rois = torch.stack([torch.arange(len(frames), dtype=torch.float32), left, top, left + width, top + height],
                       dim=1).to(frames.device)
    return roi_align(frames.float(), rois, output_size=size, spatial_scale=1.0, sampling_ratio=1, aligned=True)


def extent_mask(extents: np.ndarray, canvas: tuple[int, int], device: torch.device) -> torch.Tensor:
    """`[B, 1, 1, H, W]` ones inside each view's extent (top left), zeros in its padding."""
    rows = torch.arange(canvas[0], device=device).view(1, -1, 1)
    columns = torch.arange(canvas[1], device=device).view(1, 1, -1)
    sizes = torch.tensor(extents, device=device)
    inside = (rows < sizes[:, 0].view(-1, 1, 1)) & (columns < sizes[:, 1].view(-1, 1, 1))
    return inside.unsqueeze(1).unsqueeze(1).float()


def normalize(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """`[B, 3, T, H, W]` in 0..255 -> `(x / 255 - mean) / std`, contiguous."""
    scale = torch.tensor([1 / (255.0 * s) for s in std], device=clips.device).view(1, 3, 1, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], device=clips.device).view(1, 3, 1, 1, 1)
    return (clips * scale - shift).contiguous()


def train_region(window) -> tuple[float, float, float, float]:
    """A training crop window (`transforms.sample_crop`) as a region."""
    return float(window.top), float(window.left), float(window.side), float(window.side)


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """The frame size `transforms.resize_short_side` produces."""
    if min(height, width) == short_side:
        return height, width
    if height < width:
        return short_side, int(round(width * short_side / height))
    return int(round(height * short_side / width)), short_side


def eval_region(height: int, width: int, *, short_side: int, crop_size: int, crop_index: int,
                num_crops: int) -> tuple[float, float, float, float]:
    """The source region that `resize_short_side(short_side)` then `spatial_crop(crop_size, crop_index)` keeps
    (`transforms.py`): the crop's offsets in the resized frame, scaled back by each axis' own resize factor."""
    res_h, res_w = resized_shape(height, width, short_side)
    position = crop_index / (num_crops - 1) if num_crops > 1 else 0.5
    top = int(round((res_h - crop_size) * position)) if res_h > res_w else (res_h - crop_size) // 2
    left = int(round((res_w - crop_size) * position)) if res_w >= res_h else (res_w - crop_size) // 2
    scale_y, scale_x = height / res_h, width / res_w
    return top * scale_y, left * scale_x, crop_size * scale_y, crop_size * scale_x
