"""A training recipe: one YAML file validated once into these objects. Each part goes to the code that uses it."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sfp.config import StorageUri, StrictModel
from sfp.tracking import TrackingConfig
from sfp_train.data.config import DataConfig
from sfp_train.models.config import ModelConfig


class OptimConfig(StrictModel):
    """SGD as the paper: lr 0.1 per 64 clips scaled linearly with the global batch, warm-up, half-period cosine."""

    optimizer: Literal["sgd", "adamw"] = "sgd"  # sgd: the paper's; adamw: for small from-scratch runs (the demo)
    epochs: int = Field(196, ge=1)
    batch_size: int = Field(64, ge=1)  # global clips per optimiser step, whatever the number of workers
    lr_per_64: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only
    nesterov: bool = True
    weight_decay: float = Field(1e-4, ge=0)  # none on BN parameters and biases
    warmup_epochs: float = Field(34.0, ge=0)
    warmup_start_factor: float = Field(0.01 / 1.6, gt=0, le=1)  # start lr as a share of the peak (0.01 at 1.6)
    schedule: Literal["cosine", "steps"] = "cosine"
    step_epochs: list[int] = Field(default_factory=list)  # `steps` schedule: epochs where the lr drops
    step_gamma: float = Field(0.1, gt=0)
    min_lr_factor: float = Field(0.0, ge=0)  # cosine floor as a share of the peak

    @property
    def peak_lr(self) -> float:
        return self.lr_per_64 * self.batch_size / 64


class EngineConfig(StrictModel):
    """The DeepSpeed engine that runs the optimiser step, and the numeric policy of a step (see `engine.py`)."""

    zero_stage: Literal[0, 1, 2] = 0  # measured (README "Speed options"): nothing to shard at 35M parameters
    # bf16: forward under torch.autocast(bfloat16), fp32 weights, gradients, BatchNorm statistics and loss;
    # auto: bf16 on a GPU that has it, fp32 on CPU
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    grad_accumulation: int = Field(1, ge=1)
    grad_clip: float = Field(0.0, ge=0)  # 0: no clipping
    cudnn_benchmark: bool = True  # cuDNN autotunes each convolution once for the run's fixed shapes


class ScalingConfig(StrictModel):
    """Ray Train workers: a fixed `num_workers`, or elastic between `min_workers` and `num_workers`."""

    num_workers: int = Field(2, ge=1)  # the most workers (the micro batch is sized for it); the count when fixed
    min_workers: int | None = Field(None, ge=1)  # elastic: start with as many as fit, at least this many
    use_gpu: bool | Literal["auto"] = "auto"  # auto: when the cluster has GPUs
    cpus_per_worker: float = Field(1.0, gt=0)
    max_failures: int = Field(3, ge=0)  # worker or node failures to recover from

    @model_validator(mode="after")
    def _check(self) -> "ScalingConfig":
        if self.min_workers is not None and self.min_workers > self.num_workers:
            raise ValueError(f"min_workers {self.min_workers} is larger than num_workers {self.num_workers}")
        return self

    @property
    def elastic(self) -> bool:
        return self.min_workers is not None and self.min_workers < self.num_workers

    @property
    def world_sizes(self) -> range:
        """Every number of workers the run may train with."""
        return range(self.min_workers or self.num_workers, self.num_workers + 1)


@dataclass(frozen=True)
class ElasticBatch:
    """The global batch at one number of workers (README "Elastic workers").

    The rule: the micro batch is the recipe's (memory is sized for it); each worker accumulates the whole number of
    micro batches that brings the global batch nearest the recipe's (`round(batch / (workers x micro))`, halves up,
    at least 1); the learning rate scales linearly with the global batch this gives (the paper's rule: lr_per_64 x
    batch / 64). An epoch stays a pass over the recipe's clips: it takes `recipe steps x batch // global batch`
    optimiser steps (at least 1), so the schedule's epoch positions (warm-up end, cosine, step drops) are the
    recipe's. At a count that divides the batch, all of it is the recipe's."""

    world_size: int
    micro_batch: int
    accumulation: int
    recipe_batch: int

    @property
    def global_batch(self) -> int:
        """Clips per optimiser step at this number of workers."""
        return self.world_size * self.micro_batch * self.accumulation

    @property
    def lr_scale(self) -> float:
        return self.global_batch / self.recipe_batch

    @property
    def exact(self) -> bool:
        return self.global_batch == self.recipe_batch

    def steps_per_epoch(self, recipe_steps: int) -> int:
        """Optimiser steps per epoch here, for `recipe_steps` per epoch at the recipe's batch: as many global batches
        as fit in the recipe's epoch of `recipe_steps x batch` clips, so an epoch never reads more clips."""
        return max(1, recipe_steps * self.recipe_batch // self.global_batch)

    def describe(self) -> str:
        """One line for a run at a count that does not divide the recipe's batch."""
        return (f"{self.world_size} workers x micro batch {self.micro_batch} x {self.accumulation} accumulated = "
                f"global batch {self.global_batch} (recipe: {self.recipe_batch}); learning rate x "
                f"{self.lr_scale:.4g}")


def elastic_batch(batch_size: int, micro_batch_size: int, world_size: int) -> ElasticBatch:
    """The global batch of `world_size` workers at `micro_batch_size` nearest `batch_size` (see `ElasticBatch`)."""
    per_pass = world_size * micro_batch_size
    accumulation = max(1, (2 * batch_size + per_pass) // (2 * per_pass))  # round(batch / per_pass), halves up
    return ElasticBatch(world_size, micro_batch_size, accumulation, batch_size)


class CheckpointConfig(StrictModel):
    storage_uri: StorageUri = ".sfp/runs"  # Ray Train storage: local path or s3://
    every_n_epochs: int = Field(1, ge=1)
    every_n_steps: int | None = Field(None, ge=1)  # also within epochs, every this many optimiser steps
    keep: int = Field(2, ge=1)


class RegistryConfig(StrictModel):
    """Where the trained model is registered: `models:/<model_name>@<alias>`. Both are checked against MLflow's rules
    when the recipe is validated, so that a bad name fails before training, not at registration after it."""

    model_name: str = "slowfast-kinetics"
    alias: str = "kinetics-pretrained"

    @field_validator("model_name")
    @classmethod
    def _mlflow_model_name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a registered model needs a name")
        if any(character in name for character in "/:@"):
            raise ValueError("MLflow model names cannot contain '/' or ':', and '@' would end the name in "
                             "models:/<name>@<alias>")
        normalised = posixpath.normpath(name)
        if normalised != name or normalised == "." or normalised.startswith(".."):
            raise ValueError(f"MLflow refuses a name that reads as another path ({normalised!r})")
        return name

    @field_validator("alias")
    @classmethod
    def _mlflow_alias(cls, alias: str) -> str:
        if not re.fullmatch(r"[\w-]{1,255}", alias):
            raise ValueError("MLflow aliases are 1 to 255 letters, digits, '_' or '-'")
        if alias.lower() == "latest":
            raise ValueError("'latest' is reserved by MLflow (models:/<name>@latest is the newest version)")
        if re.fullmatch(r"[vV]\d+", alias):
            raise ValueError(f"{alias!r} is reserved by MLflow (it names version {alias[1:]})")
        return alias


class RecipeBase(StrictModel):
    """What every training recipe has, whatever the task: the run, model, optimiser, engine, workers, storage."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # the run name: rerun with it to resume
    seed: int = 0
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    engine: EngineConfig = EngineConfig()
    scaling: ScalingConfig = ScalingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    tracking: TrackingConfig = TrackingConfig()
    registry: RegistryConfig = RegistryConfig()
    val_every_n_epochs: int = Field(1, ge=1)
    log_every_n_steps: int = Field(10, ge=1)  # optimiser steps between train/loss logs (the one host sync)
    max_steps_per_epoch: int | None = Field(None, ge=1)  # cap for smoke tests

    @model_validator(mode="after")
    def _check(self) -> "RecipeBase":
        per_step = self.scaling.num_workers * self.engine.grad_accumulation
        if self.optim.batch_size % per_step:
            raise ValueError(
                f"optim.batch_size {self.optim.batch_size} is not divisible by num_workers x grad_accumulation "
                f"= {per_step}"
            )
        if self.scaling.elastic and self.engine.zero_stage != 0:
            raise ValueError(
                f"engine.zero_stage {self.engine.zero_stage} with scaling.min_workers: elastic runs need zero_stage 0, "
                "since DeepSpeed cannot reload ZeRO-partitioned optimiser state at another number of workers"
            )
        data = getattr(self, "data", None)
        if data is not None and self.model.crop_size != data.crop_size:
            raise ValueError(f"model.crop_size {self.model.crop_size} != data.crop_size {data.crop_size}")
        return self

    @property
    def micro_batch_size(self) -> int:
        """Clips per worker per forward pass."""
        return self.optim.batch_size // (self.scaling.num_workers * self.engine.grad_accumulation)

    def batch_at(self, world_size: int) -> ElasticBatch:
        """The micro batch, accumulation, global batch and learning-rate scale at `world_size` workers."""
        return elastic_batch(self.optim.batch_size, self.micro_batch_size, world_size)

    def grad_accumulation_at(self, world_size: int) -> int:
        """Micro batches per optimiser step when the run has `world_size` workers (the recipe's at `num_workers`)."""
        return self.batch_at(world_size).accumulation


class TrainRecipe(RecipeBase):
    """Kinetics-style classification training (`sfp train`)."""

    data: DataConfig
