import pytest
import torch
from torch import nn

from sfp_train.models import (
    ModelConfig,
    build_model,
    create_slowfast,
    param_groups,
    pathway_inputs,
)
from sfp_train.models.head import ClassificationHead
from sfp_train.models.lateral import TimeStridedConv, TimeToChannel
from sfp_train.models.resnet import BottleneckBlock

torch.set_num_threads(1)  # tiny convs: more threads only add synchronisation on a shared machine

TINY = {"width": 8, "slow_frames": 2, "alpha": 4, "crop_size": 32}


def forward(model: nn.Module, config: ModelConfig, size: int, batch: int = 2, boxes=None) -> torch.Tensor:
    torch.manual_seed(0)
    frames = torch.randn(batch, 3, config.clip_frames, size, size)
    model.eval()
    with torch.no_grad():
        inputs = pathway_inputs(frames, config.arch, config.alpha)
        return model(inputs) if boxes is None else model(inputs, boxes)


@pytest.mark.parametrize("arch", ["slowfast", "slow_only", "fast_only"])
@pytest.mark.parametrize("depth", [18, 50, 101])
def test_forward_returns_logits_for_every_arch_and_depth(arch, depth):
    config = ModelConfig(arch=arch, depth=depth, **TINY)
    model = build_model(config, num_classes=7)
    logits = forward(model, config, size=32)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    assert list(model.pathways) == {"slowfast": ["slow", "fast"], "slow_only": ["slow"], "fast_only": ["fast"]}[arch]


def test_stage_layout_follows_pyslowfast():
    model = build_model(ModelConfig(depth=18), 400)
    assert [len(getattr(model.pathways.slow, stage)) for stage in ("res2", "res3", "res4", "res5")] == [2, 2, 2, 2]
    assert isinstance(model.pathways.slow.res2[0], BottleneckBlock)  # bottlenecks at every depth
    model = build_model(ModelConfig(depth=101, width=8), 400)
    assert [len(getattr(model.pathways.fast, stage)) for stage in ("res2", "res3", "res4", "res5")] == [3, 4, 23, 3]


def test_kernels_strides_and_widths_match_the_paper():
    model = create_slowfast()
    slow, fast = model.pathways.slow, model.pathways.fast
    assert slow.stem.conv.kernel_size == (1, 7, 7) and fast.stem.conv.kernel_size == (5, 7, 7)
    assert slow.stem.pool.kernel_size == (1, 3, 3) and slow.stem.pool.stride == (1, 2, 2)
    assert [getattr(slow, s)[0].conv_a.kernel_size[0] for s in ("res2", "res3", "res4", "res5")] == [1, 1, 3, 3]
    assert [getattr(fast, s)[0].conv_a.kernel_size[0] for s in ("res2", "res3", "res4", "res5")] == [3, 3, 3, 3]
    assert all(m.stride[0] == 1 for p in (slow, fast) for m in p.modules() if isinstance(m, nn.Conv3d))
    assert slow.stem.conv.out_channels == 64 and fast.stem.conv.out_channels == 8
    lateral = model.laterals.res2
    assert isinstance(lateral, TimeStridedConv)
    assert lateral.conv.kernel_size == (7, 1, 1) and lateral.conv.stride == (4, 1, 1)
    assert (lateral.conv.in_channels, lateral.conv.out_channels) == (32, 64)
    assert slow.res3[0].conv_a.in_channels == 256 + 64
    assert model.head.proj.in_features == 2048 + 256
    assert model.head.dropout.p == 0.5
    assert list(model.laterals) == ["stem", "res2", "res3", "res4"]


@pytest.mark.parametrize(
    "lateral, fusion, alpha, res3_in",
    [
        ("time_strided_conv", "concat", 4, 32 + 8),
        ("time_to_channel", "concat", 4, 32 + 16),
        ("time_strided_sample", "concat", 4, 32 + 4),
        ("time_strided_conv", "sum", 4, 32),
        ("time_to_channel", "sum", 8, 32),
    ],
)
def test_lateral_variants(lateral, fusion, alpha, res3_in):
    config = ModelConfig(**{**TINY, "alpha": alpha, "lateral": lateral, "fusion": fusion})
    model = build_model(config, num_classes=5)
    assert model.pathways.slow.res3[0].conv_a.in_channels == res3_in
    assert forward(model, config, size=32).shape == (2, 5)


def test_time_to_channel_packs_alpha_frames_into_channels():
    fast = torch.arange(2 * 8, dtype=torch.float32).view(1, 2, 8, 1, 1)  # channel c, frame t -> 8c + t
    out = TimeToChannel(alpha=4)(fast)
    assert out.shape == (1, 8, 2, 1, 1)
    assert out[0, :, 0, 0, 0].tolist() == [0, 1, 2, 3, 8, 9, 10, 11]
    assert out[0, :, 1, 0, 0].tolist() == [4, 5, 6, 7, 12, 13, 14, 15]


def test_sum_fusion_with_mismatched_widths_is_a_config_error():
    with pytest.raises(ValueError, match="fusion 'sum'"):
        ModelConfig(lateral="time_strided_sample", fusion="sum")
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(width=12)


def test_classification_head_is_fully_convolutional():
    head = ClassificationHead(4, 3, pool_size=2, dropout=0.5).eval()
    features = torch.arange(9, dtype=torch.float32).view(1, 1, 1, 3, 3).expand(1, 4, 2, 3, 3)
    # 3x3 map, 2x2 windows at stride 1: window means 2, 3, 5, 6 -> averaged 4 (global mean is also 4 here)
    assert torch.allclose(head.pool(features), torch.full((1, 4), 4.0))
    corner = torch.zeros(1, 1, 1, 3, 3)
    corner[..., 0, 0] = 9.0
    assert head.pool(corner).item() == pytest.approx(9 / 4 / 4)  # one of four windows sees it, a quarter of it
    assert head.pool(torch.ones(1, 1, 1, 1, 1)).item() == 1.0  # smaller than the window: global mean


def test_model_trained_at_224_accepts_larger_and_smaller_crops():
    config = ModelConfig(**{**TINY, "crop_size": 64})
    model = build_model(config, num_classes=3)
    for size in (64, 96, 32):
        assert forward(model, config, size=size, batch=1).shape == (1, 3)


def test_detection_network_returns_one_row_per_box():
    config = ModelConfig(**{**TINY, "task": "detection"})
    model = build_model(config, num_classes=80)
    slow = model.pathways.slow
    assert slow.res5[0].conv_b.stride == (1, 1, 1) and slow.res5[0].conv_b.dilation == (1, 2, 2)
    assert model.head.roi_align.spatial_scale == 1 / 16 and model.head.roi_align.aligned
    boxes = torch.tensor([[0, 0.0, 0.0, 31.0, 31.0], [1, 4.0, 8.0, 20.0, 30.0], [1, 0.0, 0.0, 16.0, 16.0]])
    logits = forward(model, config, size=32, boxes=boxes)
    assert logits.shape == (3, 80)
    assert not torch.allclose(logits[1], logits[2])


def test_slow_only_detection_network():
    config = ModelConfig(**{**TINY, "arch": "slow_only", "task": "detection"})
    boxes = torch.tensor([[0, 2.0, 2.0, 30.0, 30.0]])
    assert forward(build_model(config, num_classes=80), config, size=32, batch=1, boxes=boxes).shape == (1, 80)


def test_fast_only_is_the_fast_pathway_alone():
    model = build_model(ModelConfig(arch="fast_only"), num_classes=400)
    fast = model.pathways.fast
    assert fast.stem.conv.kernel_size == (5, 7, 7) and fast.stem.conv.out_channels == 8
    assert fast.res2[0].conv_a.in_channels == 8  # no lateral channels
    assert model.head.proj.in_features == 256
    assert sum(p.numel() for p in model.parameters()) == 616_952


def test_init_follows_the_reference():
    model = create_slowfast(width=16)
    for module in model.modules():
        if isinstance(module, BottleneckBlock):
            assert torch.all(module.bn_c.weight == 0)
            assert torch.all(module.bn_a.weight == 1)
    assert torch.all(model.laterals.res2.bn.weight == 1)
    assert model.pathways.slow.res2[0].bn_a.eps == 1e-5 and model.pathways.slow.res2[0].bn_a.momentum == 0.1
    assert model.head.proj.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.all(model.head.proj.bias == 0)
    conv = model.pathways.slow.res4[0].conv_b.weight  # 64 -> 64 channels, 1x3x3: fan_out = 64 * 9
    assert conv.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)


def test_param_groups_exempt_bn_and_biases_from_weight_decay():
    model = build_model(ModelConfig(**TINY), num_classes=5)
    groups = {group["name"]: group for group in param_groups(model, weight_decay=1e-4)}
    assert groups["decayed"]["weight_decay"] == 1e-4
    assert groups["bn"]["weight_decay"] == 0.0 and groups["bias"]["weight_decay"] == 0.0
    bn_params = [p for m in model.modules() if isinstance(m, nn.BatchNorm3d) for p in m.parameters()]
    assert {id(p) for p in groups["bn"]["params"]} == {id(p) for p in bn_params}
    assert [id(p) for p in groups["bias"]["params"]] == [id(model.head.proj.bias)]
    assert sum(p.numel() for g in groups.values() for p in g["params"]) == sum(p.numel() for p in model.parameters())
    assert all(p.ndim == 5 or p is model.head.proj.weight for p in groups["decayed"]["params"])
    torch.optim.SGD(param_groups(model, 1e-4), lr=0.1, momentum=0.9)  # the groups are valid optimizer input


def test_training_step_updates_and_gradients_reach_both_pathways():
    config = ModelConfig(**TINY)
    model = build_model(config, num_classes=4).train()
    frames = torch.randn(2, 3, config.clip_frames, 32, 32)
    loss = nn.functional.cross_entropy(model(pathway_inputs(frames, "slowfast", 4)), torch.tensor([0, 3]))
    loss.backward()
    assert model.pathways.fast.stem.conv.weight.grad.abs().sum() > 0
    assert model.laterals.stem.conv.weight.grad.abs().sum() > 0
    assert model.pathways.slow.stem.conv.weight.grad.abs().sum() > 0


def test_channels_last_gives_the_same_logits():
    config = ModelConfig(**TINY)
    torch.manual_seed(1)
    plain = build_model(config, num_classes=4)
    fast_layout = build_model(config.model_copy(update={"channels_last": True}), num_classes=4)
    fast_layout.load_state_dict(plain.state_dict())
    assert fast_layout.pathways.slow.res2[0].conv_a.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(forward(plain, config, 32), forward(fast_layout, config, 32), atol=1e-5)


def test_wrong_number_of_inputs_is_explained():
    model = build_model(ModelConfig(**TINY), num_classes=4)
    with pytest.raises(ValueError, match="expected 2 input tensors"):
        model([torch.zeros(1, 3, 2, 32, 32)])
