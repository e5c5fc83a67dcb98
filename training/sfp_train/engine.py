"""DeepSpeed: the only module that imports it. Builds the engine that runs backward and the optimiser step, and
owns the numeric policy of a training step: precision, and the backend switches that make a GPU fast.

Precision policy (README: "Precision"): the weights, the gradients, their all-reduce, the optimiser state and the
BatchNorm statistics stay fp32; `bf16` runs the forward pass under `torch.autocast(bfloat16)`, so convolutions and
matrix products take bf16 inputs (the GPU's tensor cores) while BatchNorm and the loss stay fp32. DeepSpeed's own
bf16 mode (`deepspeed_bf16=True`) casts the whole module, BatchNorm statistics included, to bf16; it is kept only
for `benchmarks/bench_precision.py`, which measures both.

On GPUs the engine runs over NCCL; on CPU over gloo (the process group that Ray Train set up). The optimiser is the
recipe's SGD, handed to DeepSpeed as a client optimiser; ZeRO shards its state from stage 1.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from sfp_train.models.param_groups import param_groups
from sfp_train.recipe import EngineConfig, OptimConfig


def resolve_precision(engine: EngineConfig, device: torch.device) -> str:
    if engine.precision != "auto":
        return engine.precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward pass's context: bf16 autocast for `bf16`, nothing for `fp32` (backward runs outside it)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def configure_backends(engine: EngineConfig) -> None:
    """Process-wide switches: cuDNN's autotuner picks the fastest convolution algorithm for each input shape (the
    shapes of a training run are fixed, so it tunes once); TF32 for what runs in fp32 on Ampere and later. Both only
    affect CUDA kernels: on CPU they are set and change nothing."""
    torch.backends.cudnn.benchmark = engine.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def deepspeed_config(
    engine: EngineConfig, micro_batch_size: int, grad_accumulation: int, deepspeed_bf16: bool = False,
) -> dict[str, Any]:
    """`grad_accumulation` is the one for the run's actual number of workers (elastic runs: not always the recipe's).
    DeepSpeed derives the global batch, micro batch x accumulation x workers: at a number of workers that does not
    divide the recipe's batch it is the nearest one (`sfp_train.recipe.ElasticBatch`). The engine is fp32 (gradients
    accumulate and all-reduce in fp32) unless `deepspeed_bf16` (the measured alternative, not the policy)."""
    return {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": grad_accumulation,
        "gradient_clipping": engine.grad_clip,
        "zero_optimization": {"stage": engine.zero_stage},
        "zero_allow_untested_optimizer": True,  # the recipe's SGD with Nesterov momentum, or torch's AdamW
        "bf16": {"enabled": deepspeed_bf16},
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
    deepspeed_bf16: bool = False,
):
    """Wrap `model` (already on `device`) with a DeepSpeed engine and the recipe's SGD.

    `grad_accumulation`: micro batches per optimiser step at the run's actual number of workers (default: the
    recipe's, right at `num_workers`). `deepspeed_bf16`: DeepSpeed's bf16 mode instead of the autocast policy
    (inputs must then be cast to bf16 by the caller; see the module docstring)."""
    import deepspeed

    if device.type == "cpu":
        skip_shared_memory_allreduce(deepspeed)
    configure_backends(engine)
    # DeepSpeed broadcasts rank 0's weights through a byte view of each parameter, which a channels_last_3d weight
    # refuses ("self.stride(-1) must be 1 to view Float as Byte"): wrap the model in the default layout, then restore
    # the fast one (the optimiser holds the same Parameter objects)
    channels_last = any(is_channels_last_3d(p) for p in model.parameters())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    optimizer = build_optimizer(model, optim)
    config = deepspeed_config(engine, micro_batch_size, grad_accumulation or engine.grad_accumulation, deepspeed_bf16)
    model_engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=config, dist_init_required=False
    )
    if channels_last:
        model_engine.module.to(memory_format=torch.channels_last_3d)
    return model_engine


def is_channels_last_3d(tensor: torch.Tensor) -> bool:
    return tensor.dim() == 5 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last_3d)


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
