"""An AVA fine-tuning recipe: the common recipe parts, AVA data, and the model to start from."""

from __future__ import annotations

from pydantic import model_validator

from sfp.config import StrictModel
from sfp_train.ava.data import AvaDataConfig
from sfp_train.recipe import RecipeBase, RegistryConfig


class InitConfig(StrictModel):
    """Where the backbone comes from: `models:/name@alias` (or `models:/name/3`, `runs:/...`) in the recipe's MLflow
    store, a training checkpoint folder, or a `model.pt` file (local or s3://). The head is always new."""

    from_model: str


class AvaRegistryConfig(RegistryConfig):
    model_name: str = "slowfast-ava"
    alias: str = "ava-finetuned"


class AvaRecipe(RecipeBase):
    """`sfp finetune-ava`: a Kinetics-pretrained SlowFast fine-tuned for AVA action detection."""

    data: AvaDataConfig
    init: InitConfig
    baseline: bool = False  # also evaluate the initial model (pretrained backbone, untrained head) before training
    registry: AvaRegistryConfig = AvaRegistryConfig()

    @model_validator(mode="after")
    def _detection_model(self) -> "AvaRecipe":
        if self.model.task != "detection":
            raise ValueError("model.task must be 'detection' for AVA (RoI head over person boxes)")
        return self
