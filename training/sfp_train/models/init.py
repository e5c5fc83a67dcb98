"""Weight initialisation as in PySlowFast (`slowfast/models/utils.py::init_weights`).

Convs: Kaiming normal (fan_out, ReLU gain), the "MSRA fill" of Caffe2. BN: weight 1, bias 0, except the last BN
of every residual block, whose weight starts at 0 so that each block starts as the identity (Goyal et al. 2017).
Linear: weight N(0, 0.01), bias 0.
"""

from __future__ import annotations

from torch import nn

from sfp_train.models.resnet import BottleneckBlock


def init_weights(model: nn.Module, *, fc_init_std: float = 0.01, zero_init_final_bn: bool = True) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=fc_init_std)
            nn.init.zeros_(module.bias)
    if zero_init_final_bn:
        for module in model.modules():
            if isinstance(module, BottleneckBlock):
                nn.init.zeros_(module.bn_c.weight)
