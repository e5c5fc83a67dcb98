"""Our SlowFast against the published numbers and against PyTorchVideo's implementation, weight for weight."""

import warnings

import pytest
import torch

from sfp_app.cli.main import main
from sfp_train.models import ModelConfig, build_model, pack_pathways, preset_config
from sfp_train.models.summary import summarize, summarize_config
from sfp_train.models.pytorchvideo_import import import_pytorchvideo

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # pytorchvideo calls torch.jit.script at import
    from pytorchvideo.models import hub as pytorchvideo_hub
    from pytorchvideo.models.slowfast import create_slowfast as pytorchvideo_create_slowfast

torch.set_num_threads(1)

# The presets (sfp_train.models.config.PRESETS: what recipes, configs/models/ and the preset builders refer to)
CONFIGS = {
    name: (preset_config(name), 80 if name == "slowfast_r50_ava" else 400)
    for name in ("slowfast_r50_8x8", "slowfast_r50_4x16", "slowfast_r101_8x8", "slowfast_r50_ava", "slow_only_r50")
}
# Exact counts of PyTorchVideo's slowfast_r50 / create_slowfast 4x16 / slowfast_r101 / slowfast_r50_detection /
# slow_r50 (pretrained=False); the paper and PySlowFast round them to 34.57M, 34.48M, 62.83M, 33.82M, 32.45M.
PARAMS = {
    "slowfast_r50_8x8": 34_566_488,
    "slowfast_r50_4x16": 34_480_216,
    "slowfast_r101_8x8": 62_826_968,
    "slowfast_r50_ava": 33_828_888,
    "slow_only_r50": 32_454_096,
}


def meta_model(name: str) -> torch.nn.Module:
    config, num_classes = CONFIGS[name]
    with torch.device("meta"):
        return build_model(config, num_classes)


def count(model: torch.nn.Module) -> int:
    return sum(param.numel() for param in model.parameters())


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_are_the_published_ones(name):
    assert count(meta_model(name)) == PARAMS[name]
    assert round(PARAMS[name] / 1e6, 2) == {
        "slowfast_r50_8x8": 34.57,
        "slowfast_r50_4x16": 34.48,
        "slowfast_r101_8x8": 62.83,
        "slowfast_r50_ava": 33.83,  # 33,828,888: the 33.82M of the model zoo is truncated
        "slow_only_r50": 32.45,
    }[name]


def test_parameter_counts_equal_pytorchvideo():
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = {
            "slowfast_r50_8x8": pytorchvideo_hub.slowfast_r50(),
            "slowfast_r50_4x16": pytorchvideo_create_slowfast(
                slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1)
            ),
            "slowfast_r101_8x8": pytorchvideo_hub.slowfast_r101(),
            "slowfast_r50_ava": pytorchvideo_hub.slowfast_r50_detection(),
            "slow_only_r50": pytorchvideo_hub.slow_r50(),
        }
    assert {name: count(model) for name, model in theirs.items()} == PARAMS


@pytest.mark.parametrize(
    "name, gmacs, split",
    [
        ("slowfast_r50_8x8", 65.7, {"slow": 57.37, "fast": 6.90, "lateral": 1.44, "head": 0.0}),
        ("slowfast_r50_4x16", 36.1, {"slow": 28.68, "fast": 6.90, "lateral": 0.51, "head": 0.0}),
    ],
)
def test_macs_at_256_are_the_published_ones(name, gmacs, split):
    config, num_classes = CONFIGS[name]
    summary = summarize_config(config, num_classes, crop_size=256)
    assert summary.input_shapes[0] == [1, 3, 32 // config.alpha, 256, 256]
    assert round(summary.gmacs, 1) == gmacs
    assert {part: round(macs / 1e9, 2) for part, macs in summary.macs_by_part.items()} == split
    assert sum(summary.macs_by_stage.values()) == summary.macs


def test_convolution_macs_equal_pytorchvideo():
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pytorchvideo_hub.slowfast_r50(head_pool_kernel_sizes=((8, 8, 8), (32, 8, 8))).eval()
        with FlopCounterMode(display=False) as counter:
            theirs([torch.zeros(1, 3, 8, 256, 256), torch.zeros(1, 3, 32, 256, 256)])
    theirs_conv = counter.get_flop_counts()["Global"][torch.ops.aten.convolution] // 2
    ours = summarize(meta_model("slowfast_r50_8x8"), [(1, 3, 8, 256, 256), (1, 3, 32, 256, 256)])
    assert ours.macs - ours.macs_by_stage["head"] == theirs_conv == 65_707_966_464


def randomize_batchnorm(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so that every layer shows in the output."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            for tensor, low, high in (
                (module.weight.data, 0.4, 0.8),
                (module.bias.data, -0.2, 0.2),
                (module.running_mean, -0.2, 0.2),
                (module.running_var, 0.5, 1.5),
            ):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)


def test_imported_slowfast_r50_gives_pytorchvideo_outputs(tmp_path, capsys):
    torch.manual_seed(0)
    # 32 x 64 x 64 clips: res5 is 2 x 2, so PyTorchVideo's fixed head pool is set to the map, as ours computes it.
    theirs = pytorchvideo_hub.slowfast_r50(head_pool_kernel_sizes=((8, 2, 2), (32, 2, 2))).eval()
    randomize_batchnorm(theirs)
    torch.save(theirs.state_dict(), tmp_path / "slowfast_r50.pt")
    out = tmp_path / "imported.pt"
    argv = ["model", "import", "--from", "pytorchvideo", "--arch", "slowfast_r50", str(tmp_path / "slowfast_r50.pt")]
    assert main([*argv, "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out

    checkpoint = torch.load(out, weights_only=True)
    assert set(checkpoint) == {"model_state", "model_config", "num_classes"}
    config = ModelConfig(**checkpoint["model_config"])
    assert (config.depth, config.alpha, config.fusion_kernel_size, checkpoint["num_classes"]) == (50, 4, 7, 400)
    ours = build_model(config, checkpoint["num_classes"]).eval()
    ours.load_state_dict(checkpoint["model_state"])

    inputs = pack_pathways(torch.randn(2, 3, 32, 64, 64), alpha=4)
    with torch.no_grad():
        expected = theirs([x.clone() for x in inputs])
        logits = ours(inputs)
    assert logits.shape == expected.shape == (2, 400)
    assert expected.std() > 0.01  # the comparison is not between two near-constant outputs
    assert (logits - expected).abs().max().item() < 1e-4


def test_imported_detection_model_gives_pytorchvideo_outputs():
    torch.manual_seed(0)
    theirs = pytorchvideo_hub.slowfast_r50_detection().eval()
    randomize_batchnorm(theirs)
    config, num_classes, state = import_pytorchvideo(theirs.state_dict(), "slowfast_r50_detection")
    assert (config.task, config.roi_aligned, num_classes) == ("detection", False, 80)
    ours = build_model(config, num_classes).eval()
    ours.load_state_dict(state)

    inputs = pack_pathways(torch.randn(2, 3, 32, 64, 64), alpha=4)
    boxes = torch.tensor([[0, 4.0, 6.0, 50.0, 60.0], [1, 20.0, 10.0, 40.0, 30.0], [1, 0.0, 0.0, 63.0, 63.0]])
    with torch.no_grad():
        expected = theirs([x.clone() for x in inputs], boxes)  # PyTorchVideo applies the sigmoid itself
        logits = ours(inputs, boxes)
    assert logits.shape == expected.shape == (3, 80)
    assert expected.std() > 0.001
    assert (torch.sigmoid(logits) - expected).abs().max().item() < 1e-4
