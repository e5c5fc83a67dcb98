import pytest
import torch

from sfp_train.models import ModelConfig, pack_pathways, pathway_inputs, pathway_shapes, slow_indices


def clip(frames: int, batch: int | None = None) -> torch.Tensor:
    """A clip whose every pixel holds its frame index, so the selected frames can be read back."""
    values = torch.arange(frames, dtype=torch.float32).view(1, frames, 1, 1).expand(3, frames, 4, 5)
    return values if batch is None else values.unsqueeze(0).expand(batch, -1, -1, -1, -1)


def test_slow_indices_match_pyslowfast_linspace():
    assert slow_indices(32, 4).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert slow_indices(32, 8).tolist() == [0, 10, 20, 31]
    assert slow_indices(8, 4).tolist() == [0, 7]


def test_pack_pathways_single_clip():
    slow, fast = pack_pathways(clip(32), alpha=4)
    assert slow.shape == (3, 8, 4, 5)
    assert fast.shape == (3, 32, 4, 5)
    assert slow[0, :, 0, 0].tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert fast[1, :, 2, 3].tolist() == list(range(32))


def test_pack_pathways_batched():
    slow, fast = pack_pathways(clip(16, batch=2), alpha=4)
    assert slow.shape == (2, 3, 4, 4, 5)
    assert fast.shape == (2, 3, 16, 4, 5)
    assert slow[1, 2, :, 0, 0].tolist() == [0, 5, 10, 15]


def test_pathway_inputs_per_arch():
    frames = clip(32)
    slow_only = pathway_inputs(frames, "slow_only", alpha=4)
    fast_only = pathway_inputs(frames, "fast_only", alpha=4)
    assert len(slow_only) == 1 and slow_only[0][0, :, 0, 0].tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert len(fast_only) == 1 and fast_only[0].shape == (3, 32, 4, 5)
    assert [x.shape for x in pathway_inputs(frames, "slowfast", alpha=8)] == [(3, 4, 4, 5), (3, 32, 4, 5)]


def test_pathway_shapes_follow_config():
    config = ModelConfig()
    assert config.clip_frames == 32
    shapes = pathway_shapes(arch="slowfast", clip_frames=32, alpha=4, crop_size=224, batch_size=2)
    assert shapes == [(2, 3, 8, 224, 224), (2, 3, 32, 224, 224)]
    assert pathway_shapes(arch="slow_only", clip_frames=32, alpha=4, crop_size=64) == [(1, 3, 8, 64, 64)]


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="too short"):
        pack_pathways(clip(3), alpha=4)
    with pytest.raises(ValueError, match="C, T, H, W"):
        pack_pathways(torch.zeros(3, 4, 5), alpha=4)
    with pytest.raises(ValueError, match="unknown arch"):
        pathway_inputs(clip(8), "x3d", alpha=4)
