import warnings

import pytest
import torch

from sfp_train.models import ModelConfig, build_model
from sfp_train.models.pytorchvideo_import import convert_pytorchvideo_state_dict, import_pytorchvideo

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from pytorchvideo.models import hub as pytorchvideo_hub


def meta_state_dict(builder, **kwargs) -> dict[str, torch.Tensor]:
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return builder(**kwargs).state_dict()


@pytest.fixture(scope="module")
def r50_state() -> dict[str, torch.Tensor]:
    return meta_state_dict(pytorchvideo_hub.slowfast_r50)


def test_every_key_finds_its_place(r50_state):
    config, num_classes, state = import_pytorchvideo(r50_state, "slowfast_r50")
    assert num_classes == 400 and config == ModelConfig()
    assert len(state) == len(r50_state)
    stem = r50_state["blocks.0.multipathway_blocks.0.conv.weight"]
    assert state["pathways.slow.stem.conv.weight"].shape == stem.shape == (64, 3, 1, 7, 7)
    assert state["laterals.res4.bn.running_var"].shape == (256,)  # 2 x the 128 channels of Fast res4
    assert state["pathways.fast.res3.0.shortcut.bn.num_batches_tracked"].shape == ()
    assert state["head.proj.weight"].shape == (400, 2304)


def test_num_classes_comes_from_the_weights():
    state = meta_state_dict(pytorchvideo_hub.slowfast_r50, model_num_class=101)
    assert import_pytorchvideo(state, "slowfast_r50")[1] == 101


def test_unknown_keys_raise_with_their_names(r50_state):
    state = {**r50_state, "blocks.7.extra.weight": torch.zeros(1), "blocks.0.new_layer.bias": torch.zeros(1)}
    message = r"2 PyTorchVideo key\(s\) have no place in the model: blocks\.7\.extra\.weight, blocks\.0\.new_layer"
    with pytest.raises(ValueError, match=message):
        import_pytorchvideo(state, "slowfast_r50")


def test_missing_keys_raise_with_their_names(r50_state):
    state = {k: v for k, v in r50_state.items() if not k.startswith("blocks.2.multipathway_fusion.")}
    message = r"6 model key\(s\) missing .*: laterals\.res3\.conv\.weight, laterals\.res3\.bn"
    with pytest.raises(ValueError, match=message):
        import_pytorchvideo(state, "slowfast_r50")


def test_wrong_arch_is_refused(r50_state):
    r101 = meta_state_dict(pytorchvideo_hub.slowfast_r101)
    with pytest.raises(ValueError, match="have no place in the model: blocks.3.multipathway_blocks.0.res_blocks.6"):
        import_pytorchvideo(r101, "slowfast_r50")
    with pytest.raises(ValueError, match="missing"):
        import_pytorchvideo(r50_state, "slowfast_r101")
    with pytest.raises(ValueError, match="unknown PyTorchVideo arch 'x3d_m'"):
        import_pytorchvideo(r50_state, "x3d_m")


def test_shape_mismatch_raises(r50_state):
    with torch.device("meta"):
        target = build_model(ModelConfig(fusion_kernel_size=5), 400).state_dict()
    message = r"wrong shape .*laterals\.stem\.conv\.weight \(16, 8, 7, 1, 1\) vs \(16, 8, 5, 1, 1\)"
    with pytest.raises(ValueError, match=message):
        convert_pytorchvideo_state_dict(r50_state, target)


def test_detection_keys_map_to_the_detection_model():
    state = meta_state_dict(pytorchvideo_hub.slowfast_r50_detection)
    assert all(key.startswith(("model.", "detection_head.")) for key in state)
    config, num_classes, converted = import_pytorchvideo(state, "slowfast_r50_detection")
    assert config.task == "detection" and num_classes == 80 and converted["head.proj.weight"].shape == (80, 2304)
