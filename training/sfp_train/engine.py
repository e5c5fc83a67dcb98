"""DeepSpeed: the only module that imports it. Builds the engine that runs backward and the optimiser step.

On GPUs the engine runs bf16 with NCCL; on CPU it runs fp32 over gloo (the process group that Ray Train set up).
The optimiser is the recipe's SGD, handed to DeepSpeed as a client optimiser; ZeRO shards its state from stage 1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sfp_train.models.param_groups import param_groups
from sfp_train.recipe import EngineConfig, OptimConfig


def resolve_precision(engine: EngineConfig, device: torch.device) -> str:
    if engine.precision != "auto":
        return engine.precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def deepspeed_config(
    engine: EngineConfig, optim: OptimConfig, micro_batch_size: int, precision: str, grad_accumulation: int
) -> dict[str, Any]:
    """`grad_accumulation` is the one for the run's actual number of workers (elastic runs: not always the recipe's)."""
    return {
        "train_batch_size": optim.batch_size,
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": grad_accumulation,
        "gradient_clipping": engine.grad_clip,
        "zero_optimization": {"stage": engine.zero_stage},
        "zero_allow_untested_optimizer": True,  # the recipe's SGD with Nesterov momentum, or torch's AdamW
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": False},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """The paper's SGD (Nesterov momentum, no weight decay on BN and biases), or AdamW for small runs."""
    groups = param_groups(model, optim.weight_decay)
    if optim.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=optim.peak_lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(groups, lr=optim.peak_lr, momentum=optim.momentum, nesterov=optim.nesterov,
                           weight_decay=optim.weight_decay)


def build_engine(
    model: nn.Module,
    *,
    engine: EngineConfig,
    optim: OptimConfig,
    micro_batch_size: int,
    device: torch.device,
    grad_accumulation: int | None = None,
):
    """Wrap `model` (already on `device`) with a DeepSpeed engine and the recipe's SGD.

    `grad_accumulation`: micro batches per optimiser step at the run's actual number of workers (default: the
    recipe's, right at `num_workers`)."""
    import deepspeed

    if device.type == "cpu":
        skip_shared_memory_allreduce(deepspeed)
    optimizer = build_optimizer(model, optim)
    precision = resolve_precision(engine, device)
    config = deepspeed_config(engine, optim, micro_batch_size, precision, grad_accumulation or engine.grad_accumulation)
    model_engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=config, dist_init_required=False
    )
    return model_engine


def skip_shared_memory_allreduce(deepspeed) -> None:
    """On CPU, DeepSpeed JIT-compiles a shared-memory all-reduce op when it sets up its communication backend (a
    minute of C++ on 2 cores, again whenever the virtualenv moves). Only its inference all-reduce uses it; training
    communicates over the gloo process group, so the op is marked unavailable instead."""
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def set_learning_rate(model_engine, lr: float) -> None:
    for group in model_engine.optimizer.param_groups:
        group["lr"] = lr


def save_engine_state(model_engine, directory: str) -> None:
    """Every rank writes its part (ZeRO shards the optimiser state) under `directory/deepspeed`.

    With ZeRO stage 0 the model and the whole optimiser state (momentum) are in rank 0's file, which any number of
    workers reloads; from stage 1 each rank's shard reloads only at the world size that wrote it."""
    model_engine.save_checkpoint(directory, tag="deepspeed")


def load_engine_state(model_engine, directory: str) -> None:
    path, _ = model_engine.load_checkpoint(directory, tag="deepspeed")
    if path is None:
        raise RuntimeError(f"no DeepSpeed state in checkpoint {directory}")
