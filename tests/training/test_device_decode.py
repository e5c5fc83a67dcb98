"""The worker-side decode (`device_decode`: what every training, validation and test batch goes through) reproduces
the reference transforms: RoIAlign resampling of a view's region equals cropping then `F.interpolate` (train, within one
uint8 level: the reference rounds to uint8 after resizing) and resizing the short side then cropping (test, exact)."""

import numpy as np
import torch
from torchvision.io import decode_jpeg, encode_jpeg

from sfp.framestore.reader import decode_jpeg as pil_decode
from sfp_train.data.device_decode import decode_views, eval_region, normalize, train_region
from sfp_train.data.transforms import crop_uint8, eval_transform, normalize_uint8, sample_crop

MEAN, STD, CPU = (0.45,) * 3, (0.225,) * 3, torch.device("cpu")
ONE_LEVEL = 1 / (255 * 0.225)


def jpeg_clip(frames=4, height=256, width=340):
    generator = torch.Generator().manual_seed(0)
    images = [torch.nn.functional.avg_pool2d(torch.rand(1, 3, height, width, generator=generator) * 255, 5, 1, 2)[0]
              for _ in range(frames)]
    jpegs = [encode_jpeg(image.to(torch.uint8), quality=90).numpy().tobytes() for image in images]
    decoded = np.stack([decode_jpeg(torch.frombuffer(bytearray(j), dtype=torch.uint8)).permute(1, 2, 0).numpy()
                        for j in jpegs])
    return jpegs, decoded


def test_torchvision_and_pil_decode_the_same_pixels():
    jpegs, decoded = jpeg_clip()
    np.testing.assert_array_equal(decoded, np.stack([pil_decode(j) for j in jpegs]))


def test_train_view_matches_crop_resize_flip_normalise():
    jpegs, frames = jpeg_clip()
    window = sample_crop(256, 340, short_side_range=(64, 80), crop_size=64, rng=np.random.default_rng(3))
    for flip in (False, True):
        reference = crop_uint8(frames, window, 64)
        reference = normalize_uint8((reference.flip(-1) if flip else reference).permute(1, 0, 2, 3), MEAN, STD)
        for uint8 in (False, True):  # RoIAlign (any device) within one level; the uint8 resize (CPU) exactly
            views = decode_views([jpegs], np.array([train_region(window)]), np.array([flip]), 64, CPU, uint8=uint8)
            torch.testing.assert_close(normalize(views, MEAN, STD)[0], reference, rtol=0,
                                       atol=1e-5 if uint8 else ONE_LEVEL * 1.01)


def test_test_views_match_short_side_resize_then_spatial_crop():
    jpegs, frames = jpeg_clip()
    for crop_index in range(3):
        reference = eval_transform(frames, short_side=72, crop_size=64, crop_index=crop_index, num_crops=3,
                                   mean=MEAN, std=STD)
        region = eval_region(256, 340, short_side=72, crop_size=64, crop_index=crop_index, num_crops=3)
        views = decode_views([jpegs, jpegs], np.array([region, region]), np.array([False, False]), 64, CPU)
        assert views.shape == (2, 3, 4, 64, 64)
        torch.testing.assert_close(normalize(views, MEAN, STD)[1], reference, rtol=0, atol=1e-4)


# The loaders (host: read and draw the view) with the decoders (worker: decode and resample) equal the reference
# transforms applied to the same clip, on a real frame store.

def index_batch(store, split: str, **extra) -> dict:
    from sfp_train.data.pipeline import index_rows

    rows = index_rows(store, split)
    return {key: np.asarray([row[key] for row in rows] * len(next(iter(extra.values()), [0])))
            for key in rows[0]} | {key: np.asarray(value) for key, value in extra.items()}


def test_eval_loader_and_decoder_equal_the_reference_views(tmp_path, write_store):
    from sfp_train.data.config import DataConfig
    from sfp_train.data.pipeline import EvalViewLoader, eval_decoder

    jpegs, _ = jpeg_clip(frames=12, height=96, width=128)
    store = write_store(tmp_path, [("-dash_000001_000011", 0, "val", jpegs)], ["cat"], width=128, height=96,
                        frames_per_row_group=4)
    data = DataConfig(framestore=store.uri, train_short_side=(64, 80), crop_size=64, test_short_side=72,
                      test_crop_size=64, test_temporal_views=2, test_spatial_crops=3, sampling_rate=2)
    views = [(t, c) for t in range(2) for c in range(3)]
    rows = index_batch(store, "val", clip_index=[0])
    packed = EvalViewLoader(store, data, num_frames=4)(rows)  # one clip in, its 6 views out
    assert set(packed) == {"jpegs", "region", "flip", "label", "clip_index"}  # bytes and views, no pixels
    assert packed["clip_index"].tolist() == [0] * 6
    batch = eval_decoder(data, arch="slowfast", alpha=2)(packed, CPU)
    assert batch["pathway_0"].shape == (6, 3, 2, 64, 64) and batch["pathway_1"].shape == (6, 3, 4, 64, 64)
    from sfp_train.data.sampling import view_frame_indices

    for position, (view, crop_index) in enumerate(views):
        frames = store.read_frames(store.clips()[0], view_frame_indices(12, 4, 2, view, 2))
        reference = eval_transform(frames, short_side=72, crop_size=64, crop_index=crop_index, num_crops=3,
                                   mean=MEAN, std=STD)
        torch.testing.assert_close(batch["pathway_1"][position], reference, rtol=0, atol=1e-4)


def test_train_loader_and_decoder_equal_the_reference_augmentation(tmp_path, write_store):
    from sfp_train.data.config import DataConfig
    from sfp_train.data.pipeline import TrainClipLoader, train_decoder
    from sfp_train.data.transforms import CropWindow

    jpegs, frames = jpeg_clip(frames=6, height=96, width=128)  # shorter than the window: indices 0..5 then 5, 5
    store = write_store(tmp_path, [("-dash_000001_000011", 0, "val", jpegs)], ["cat"], width=128, height=96,
                        frames_per_row_group=4)
    data = DataConfig(framestore=store.uri, train_short_side=(64, 96), crop_size=64, sampling_rate=1)
    packed = TrainClipLoader(store, data, num_frames=8)(index_batch(store, "val", row=list(range(16))))
    regions, flips = packed["region"], packed["flip"]
    assert regions.shape == (16, 4) and 0 < flips.sum() < 16  # crops and flips are drawn per clip
    assert len({tuple(region) for region in regions}) > 1
    batch = train_decoder(data, arch="fast_only", alpha=1)(packed, CPU)
    clip_frames = frames[np.minimum(np.arange(8), 5)]
    for position in range(16):
        top, left, side, _ = (int(v) for v in regions[position])
        reference = crop_uint8(clip_frames, CropWindow(top, left, side), 64)
        reference = reference.flip(-1) if flips[position] else reference
        reference = normalize_uint8(reference.permute(1, 0, 2, 3), MEAN, STD)
        torch.testing.assert_close(batch["pathway_0"][position], reference, rtol=0, atol=ONE_LEVEL * 1.01)


def test_ava_views_on_the_decoder_equal_the_reference_transforms_with_boxes():
    from sfp_train.ava.transforms import (
        eval_transform_with_boxes,
        eval_view_with_boxes,
        train_transform_with_boxes,
        train_view_with_boxes,
    )
    from sfp_train.data.device_decode import ClipDecoder

    jpegs, frames = jpeg_clip(frames=4, height=96, width=128)
    boxes = np.array([[0.1, 0.2, 0.5, 0.9], [0.6, 0.0, 1.0, 1.0]], np.float32)
    decoder = ClipDecoder(size=64, mean=MEAN, std=STD, arch="fast_only", alpha=1)
    train_decoder = ClipDecoder(size=64, mean=MEAN, std=STD, arch="fast_only", alpha=1, uint8_resize=True)
    view = eval_view_with_boxes(96, 128, boxes, short_side=64, max_aspect=1.78)
    reference, reference_boxes = eval_transform_with_boxes(frames, boxes, short_side=64, max_aspect=1.78, mean=MEAN,
                                                           std=STD)
    assert view.canvas == (64, 128) and view.extent == (64, 85)  # 128 x 96 -> 85 x 64, padded to 1.78 x 64 -> 128
    batch = decoder({"jpegs": [jpegs], "region": np.array([view.region]), "flip": np.array([False]),
                     "extent": np.array([view.extent]), "canvas": np.array([view.canvas])}, CPU)
    torch.testing.assert_close(batch["pathway_0"][0], reference, rtol=0, atol=1e-4)  # the padding is 0 as well
    np.testing.assert_allclose(view.boxes, reference_boxes)
    for seed in range(4):
        window, mirrored, pixel_boxes = train_view_with_boxes(96, 128, boxes, short_side_range=(64, 80), crop_size=64,
                                                              flip=True, rng=np.random.default_rng(seed))
        reference, reference_boxes = train_transform_with_boxes(frames, boxes, short_side_range=(64, 80), crop_size=64,
                                                                flip=True, mean=MEAN, std=STD,
                                                                rng=np.random.default_rng(seed))
        batch = train_decoder({"jpegs": [jpegs], "region": np.array([train_region(window)]),
                               "flip": np.array([mirrored])}, CPU)
        torch.testing.assert_close(batch["pathway_0"][0], reference, rtol=0, atol=ONE_LEVEL * 1.01)
        np.testing.assert_allclose(pixel_boxes, reference_boxes)
