"""The `data:` section of a recipe: which frame store, which splits, and how clips are sampled."""

from __future__ import annotations

from pydantic import Field, model_validator

from sfp.config import StorageUri, StrictModel


class ClipSamplingConfig(StrictModel):
    """How training clips are sampled and augmented, and how Ray Data decodes them: what every `data:` section has
    (Kinetics' `DataConfig`, AVA's `AvaDataConfig`), checked once here."""

    sampling_rate: int = Field(2, ge=1)  # stride between sampled frames (8x8: 32 frames at stride 2 = 64 frames)
    train_short_side: tuple[int, int] = (256, 320)  # short side jitter range
    crop_size: int = Field(224, ge=16)
    flip: bool = True
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    loader_cpus: float = Field(1.0, gt=0)  # CPUs per Ray Data decode task
    loader_batch_size: int = Field(4, ge=1)  # clips per Ray Data decode task

    @model_validator(mode="after")
    def _check_sampling(self) -> "ClipSamplingConfig":
        low, high = self.train_short_side
        if not 0 < low <= high:
            raise ValueError(f"train_short_side must be [low, high] with 0 < low <= high, got {list(self.train_short_side)}")
        if self.crop_size > low:
            raise ValueError(f"crop_size {self.crop_size} is larger than the smallest short side {low}")
        return self


class DataConfig(ClipSamplingConfig):
    framestore: StorageUri  # URI of a committed frame store
    train_split: str = "train"
    val_split: str = "val"
    test_short_side: int = Field(256, ge=16)
    test_crop_size: int = Field(256, ge=16)
    test_temporal_views: int = Field(10, ge=1)
    test_spatial_crops: int = Field(3, ge=1)
