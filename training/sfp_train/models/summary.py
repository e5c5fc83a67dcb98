"""Parameter and multiply-accumulate counts of a `SlowFast` network, for one view.

MACs are counted by `torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products; BN, ReLU and
pooling are not counted, as in fvcore, which PySlowFast uses) and halved, torch counting 2 FLOPs per MAC. Run it on a
model built on the meta device and nothing is computed: SlowFast R50 8x8 at 32 x 256 x 256 gives 65.7 GMACs, the
paper's and PySlowFast's figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sfp_train.models.config import ModelConfig, build_model
from sfp_train.models.head import DetectionHead
from sfp_train.models.packing import pathway_shapes


@dataclass(frozen=True)
class ModelSummary:
    params: int
    macs: int
    params_by_part: dict[str, int] = field(default_factory=dict)  # slow, fast, lateral, head
    params_by_stage: dict[str, int] = field(default_factory=dict)  # slow.stem, slow.res2, ..., lateral.res4, head
    macs_by_part: dict[str, int] = field(default_factory=dict)
    macs_by_stage: dict[str, int] = field(default_factory=dict)
    input_shapes: list[list[int]] = field(default_factory=list)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gmacs": self.gmacs}


def _stages(model: nn.Module) -> dict[str, tuple[str, str, nn.Module]]:
    """`{"slow.res2": ("slow", "pathways.slow.res2", module), "lateral.stem": ("lateral", "laterals.stem", ...)}`."""
    stages: dict[str, tuple[str, str, nn.Module]] = {}
    for name, pathway in model.pathways.items():
        for stage, module in pathway.named_children():
            stages[f"{name}.{stage}"] = (name, f"pathways.{name}.{stage}", module)
    for stage, module in model.laterals.items():
        stages[f"lateral.{stage}"] = ("lateral", f"laterals.{stage}", module)
    stages["head"] = ("head", "head", model.head)
    return stages


def _by_part(by_stage: dict[str, int], stages: dict[str, tuple[str, str, nn.Module]]) -> dict[str, int]:
    by_part: dict[str, int] = {}
    for key, (part, _, _) in stages.items():
        by_part[part] = by_part.get(part, 0) + by_stage[key]
    return by_part


def count_parameters(model: nn.Module) -> tuple[int, dict[str, int], dict[str, int]]:
    """(total, by part, by stage) parameter counts; parts are the pathways, `lateral` and `head`."""
    stages = _stages(model)
    by_stage = {key: sum(p.numel() for p in module.parameters()) for key, (_, _, module) in stages.items()}
    return sum(p.numel() for p in model.parameters()), _by_part(by_stage, stages), by_stage


def count_macs(
    model: nn.Module, inputs: Sequence[torch.Tensor], boxes: torch.Tensor | None = None
) -> tuple[int, dict[str, int], dict[str, int]]:
    """(total, by part, by stage) multiply-accumulates of one forward pass in eval mode."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(list(inputs)) if boxes is None else model(list(inputs), boxes)
    finally:
        model.train(was_training)
    flops = {name: sum(counts.values()) for name, counts in counter.get_flop_counts().items()}
    # FlopCounterMode names modules by the path of calls, `SlowFast.pathways.slow.res2`, `SlowFast.laterals.stem`.
    root = type(model).__name__
    stages = _stages(model)
    by_stage = {key: flops.get(f"{root}.{path}", 0) // 2 for key, (_, path, _) in stages.items()}
    return counter.get_total_flops() // 2, _by_part(by_stage, stages), by_stage


def summarize(
    model: nn.Module, input_shapes: Sequence[Sequence[int]], *, num_boxes: int = 1
) -> ModelSummary:
    """Counts for `model` on inputs of `input_shapes` (one per pathway), on the model's device.

    A detection model is given `num_boxes` boxes covering each clip's centre quarter.
    """
    device = next(model.parameters()).device
    inputs = [torch.zeros(tuple(shape), device=device) for shape in input_shapes]
    boxes = None
    if isinstance(model.head, DetectionHead):
        batch, height, width = input_shapes[0][0], input_shapes[0][-2], input_shapes[0][-1]
        box = [width / 4, height / 4, 3 * width / 4, 3 * height / 4]
        rows = [[float(b), *box] for b in range(batch) for _ in range(num_boxes)]
        boxes = torch.tensor(rows, device=device)
    total, by_part, by_stage = count_parameters(model)
    macs, macs_by_part, macs_by_stage = count_macs(model, inputs, boxes)
    return ModelSummary(
        params=total,
        macs=macs,
        params_by_part=by_part,
        params_by_stage=by_stage,
        macs_by_part=macs_by_part,
        macs_by_stage=macs_by_stage,
        input_shapes=[list(shape) for shape in input_shapes],
    )


def meta_model(config: ModelConfig, num_classes: int) -> nn.Module:
    """The model `config` describes, on the meta device: shapes only, nothing allocated or initialised; uncompiled and
    in the default memory format, which change no count."""
    with torch.device("meta"):
        return build_model(config.model_copy(update={"compile": False, "channels_last": False}), num_classes)


def summarize_config(config: ModelConfig, num_classes: int, crop_size: int, *, num_boxes: int = 1) -> ModelSummary:
    """Counts for one `crop_size` view (the clip `config` samples) of the model `config` describes (`meta_model`):
    nothing is allocated, initialised or computed."""
    model = meta_model(config, num_classes)
    shapes = pathway_shapes(arch=config.arch, clip_frames=config.clip_frames, alpha=config.alpha, crop_size=crop_size)
    return summarize(model, shapes, num_boxes=num_boxes)
