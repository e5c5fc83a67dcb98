import numpy as np
import pytest
import torch

from sfp_train.data.sampling import view_frame_indices, train_frame_indices
from sfp_train.data.transforms import normalize, resize_short_side, spatial_crop, train_transform


def test_train_window_is_strided_and_inside_the_clip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        indices = train_frame_indices(300, 32, 2, rng)
        assert len(indices) == 32 and indices.min() >= 0 and indices.max() <= 299
        assert np.all(np.diff(indices) >= 1) and indices[-1] - indices[0] <= 64


def test_short_clips_are_padded_by_repeating_frames():
    indices = train_frame_indices(20, 32, 2, np.random.default_rng(0))
    assert len(indices) == 32 and indices.max() == 19 and list(indices).count(19) > 1


def test_test_views_cover_the_clip_evenly():
    starts = [view_frame_indices(300, 32, 2, view, 10)[0] for view in range(10)]
    assert starts[0] == 0 and view_frame_indices(300, 32, 2, 9, 10)[-1] == 299
    assert np.all(np.diff(starts) > 0)
    assert view_frame_indices(300, 8, 8, 0, 1)[0] == (300 - 64) // 2


def test_resize_short_side_and_three_crops():
    clip = torch.rand(3, 4, 256, 340)
    resized = resize_short_side(clip, 128)
    assert resized.shape[-2:] == (128, 170)
    crops = [spatial_crop(resized, 128, index, 3) for index in range(3)]
    assert all(crop.shape[-2:] == (128, 128) for crop in crops)
    assert torch.equal(crops[0], resized[..., :, :128]) and torch.equal(crops[2], resized[..., :, -128:])


def test_train_transform_shape_and_normalisation():
    frames = np.full((8, 72, 96, 3), 115, dtype=np.uint8)  # 115/255 = 0.451 ~ the mean
    clip = train_transform(frames, short_side_range=(64, 72), crop_size=64, flip=True,
                           mean=(0.45,) * 3, std=(0.225,) * 3, rng=np.random.default_rng(0))
    assert clip.shape == (3, 8, 64, 64) and clip.dtype == torch.float32
    assert clip.abs().max() < 0.02
    assert torch.allclose(normalize(torch.ones(3, 1, 1, 1), (0.5,) * 3, (0.25,) * 3), torch.full((3, 1, 1, 1), 2.0))


def test_flip_is_a_mirror():
    frames = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    frames[:, :, :8] = 255
    seen = set()
    for seed in range(8):
        clip = train_transform(frames, short_side_range=(64, 64), crop_size=64, flip=True,
                               mean=(0.0,) * 3, std=(1.0,) * 3, rng=np.random.default_rng(seed))
        seen.add("left" if clip[0, 0, 0, 0] > 0.5 else "right")
    assert seen == {"left", "right"}
