"""The worker-side decode (`device_decode`, issue 12's next step: not yet wired into the pipeline) reproduces the
reference transforms: RoIAlign resampling of a view's region equals cropping then `F.interpolate` (train, within one
uint8 level: the reference rounds to uint8 after resizing) and resizing the short side then cropping (test, exact)."""

import numpy as np
import torch
from torchvision.io import decode_jpeg, encode_jpeg

from sfp.framestore.reader import decode_jpeg as pil_decode
from sfp_train.data.device_decode import decode_views, normalize, train_region
from sfp_train.data.device_decode import test_region as view_region  # not a test
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
        views = decode_views([jpegs], np.array([train_region(window)]), np.array([flip]), 64, CPU)
        torch.testing.assert_close(normalize(views, MEAN, STD)[0], reference, rtol=0, atol=ONE_LEVEL * 1.01)


def test_test_views_match_short_side_resize_then_spatial_crop():
    jpegs, frames = jpeg_clip()
    for crop_index in range(3):
        reference = eval_transform(frames, short_side=72, crop_size=64, crop_index=crop_index, num_crops=3,
                                   mean=MEAN, std=STD)
        region = view_region(256, 340, short_side=72, crop_size=64, crop_index=crop_index, num_crops=3)
        views = decode_views([jpegs, jpegs], np.array([region, region]), np.array([False, False]), 64, CPU)
        assert views.shape == (2, 3, 4, 64, 64)
        torch.testing.assert_close(normalize(views, MEAN, STD)[1], reference, rtol=0, atol=1e-4)
