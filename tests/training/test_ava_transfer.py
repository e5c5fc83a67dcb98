"""Fine-tuning starts from a pretrained backbone: every non-head tensor is copied, the head is new, and a backbone of
another shape is refused with one line naming the first parameter that differs."""

from pathlib import Path

import pytest
import torch

from sfp.errors import SfpError
from sfp.tracking import TrackingConfig
from sfp_train.checkpoints import write_model_file
from sfp_train.models.config import ModelConfig, build_model
from sfp_train.transfer import load_source_state, transfer_backbone

TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64)


def test_backbone_is_copied_and_the_head_stays_new():
    torch.manual_seed(0)
    pretrained = build_model(ModelConfig(**TINY), num_classes=6)
    torch.manual_seed(1)
    detector = build_model(ModelConfig(**TINY, task="detection"), num_classes=3)
    fresh_head = detector.head.proj.weight.detach().clone()
    detector.load_state_dict(transfer_backbone(pretrained.state_dict(), detector, source="pretrained"))
    source = pretrained.state_dict()
    for key, value in detector.state_dict().items():
        if key.startswith("head."):
            continue
        assert torch.equal(value, source[key]), key
    assert detector.head.proj.weight.shape == (3, fresh_head.shape[1])
    assert torch.equal(detector.head.proj.weight, fresh_head)


@pytest.mark.parametrize("change", [{"width": 16}, {"depth": 50}, {"arch": "slow_only"}])
def test_a_different_backbone_is_one_line_naming_the_parameter(change):
    other = build_model(ModelConfig(**{**TINY, **change}), num_classes=6)
    detector = build_model(ModelConfig(**TINY, task="detection"), num_classes=3)
    with pytest.raises(SfpError) as error:
        transfer_backbone(other.state_dict(), detector, source="models:/k@pretrained")
    message = str(error.value)
    assert message.startswith("backbones differ (arch, depth or width): ") and "\n" not in message
    assert "models:/k@pretrained" in message and "pathways." in message


def test_a_checkpoint_folder_or_model_file_is_a_source(tmp_path: Path):
    config = ModelConfig(**TINY)
    model = build_model(config, num_classes=6)
    write_model_file(tmp_path, model, config.model_dump(mode="json"), [f"c{i}" for i in range(6)])
    for source in (str(tmp_path), str(tmp_path / "model.pt")):
        state = load_source_state(source, TrackingConfig(local_dir=str(tmp_path / "mlflow")))
        assert torch.equal(state["head.proj.weight"], model.state_dict()["head.proj.weight"])
    with pytest.raises(SfpError, match="no model.pt"):
        load_source_state(str(tmp_path / "missing"), TrackingConfig(local_dir=str(tmp_path / "mlflow")))
