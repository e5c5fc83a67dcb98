"""Published models as a few pinned arguments (PyTorchVideo hub style). Keyword arguments override the rest.

| preset               | frames x stride | alpha | fusion kernel | params (K400 / AVA head) | GMACs @256 |
|----------------------|-----------------|-------|---------------|--------------------------|------------|
| slowfast_r50_8x8     | 8 x 8 (32 Fast) | 4     | 7             | 34.57M                   | 65.7       |
| slowfast_r50_4x16    | 4 x 16          | 8     | 5             | 34.48M                   | 36.1       |
| slowfast_r101_8x8    | 8 x 8           | 4     | 5             | 62.83M                   |            |
| slowfast_r50_ava     | 8 x 8, detection| 4     | 7             | 33.82M (80 classes)      |            |
| slow_only_r50        | 8 x 8           | -     | -             | 32.45M                   |            |

The R101 fusion kernel (5) follows PySlowFast's R101 recipes and PyTorchVideo's `slowfast_r101` checkpoint.
"""

from __future__ import annotations

from typing import Any

from sfp_train.models.slowfast import SlowFast, create_fast_only, create_slow_only, create_slowfast


def slowfast_r50_8x8(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    pinned = {"depth": 50, "alpha": 4, "fusion_kernel_size": 7}
    return create_slowfast(num_classes=num_classes, **{**pinned, **overrides})


def slowfast_r50_4x16(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    pinned = {"depth": 50, "alpha": 8, "fusion_kernel_size": 5}
    return create_slowfast(num_classes=num_classes, **{**pinned, **overrides})


def slowfast_r101_8x8(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    pinned = {"depth": 101, "alpha": 4, "fusion_kernel_size": 5}
    return create_slowfast(num_classes=num_classes, **{**pinned, **overrides})


def slowfast_r50_ava(*, num_classes: int = 80, **overrides: Any) -> SlowFast:
    pinned = {"depth": 50, "alpha": 4, "fusion_kernel_size": 7, "task": "detection"}
    return create_slowfast(num_classes=num_classes, **{**pinned, **overrides})


def slow_only_r50(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return create_slow_only(num_classes=num_classes, **{"depth": 50, **overrides})


def fast_only_r50(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return create_fast_only(num_classes=num_classes, **{"depth": 50, **overrides})
