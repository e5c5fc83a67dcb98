"""The GPU's numeric path, run on CPU: bf16 autocast through the real DeepSpeed engine tracks fp32, keeps fp32
weights, gradients and BatchNorm statistics, and composes with channels_last_3d; the backend switches are set."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sfp_train import engine as engines
from sfp_train.models import ModelConfig, build_model, pathway_inputs
from sfp_train.recipe import EngineConfig, OptimConfig

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def bench_precision(load_benchmark):
    with load_benchmark("bench_precision") as module:
        yield module
    # the one-process gloo group stays for the session: DeepSpeed caches its groups, so one destroyed and made
    # again breaks the next module's engine ("Group ... is not registered")


@pytest.fixture(scope="module")
def runs(bench_precision):
    torch.set_num_threads(2)
    return bench_precision.compare_policies("tiny", batch=4, steps=6, device=CPU)


def tiny_bf16_engine(bench_precision, channels_last: bool = False):
    """The tiny preset in a bf16 DeepSpeed engine (SGD, micro batch 2, one gloo process), seeded."""
    bench_precision.ensure_process_group()
    config = ModelConfig(**bench_precision.PRESETS["tiny"], dropout=0.0, channels_last=channels_last)
    torch.manual_seed(0)
    model_engine = engines.build_engine(
        build_model(config, num_classes=4),
        engine=EngineConfig(zero_stage=0, precision="bf16"),
        optim=OptimConfig(optimizer="sgd", batch_size=2, weight_decay=0.0),
        micro_batch_size=2,
        device=CPU,
    )
    return config, model_engine


def test_bf16_autocast_steps_track_fp32(runs, bench_precision):
    fp32, bf16 = runs["fp32"].losses, runs["autocast"].losses
    # measured: 0.05% on the first step, 1.5% of the first loss at most over 20 steps
    assert abs(bf16[0] - fp32[0]) / fp32[0] < 0.01
    assert bench_precision.max_deviation(bf16, fp32) < 0.05
    assert fp32[-1] < 0.8 * fp32[0] and bf16[-1] < 0.8 * bf16[0]  # both learn the fixed batches
    assert runs["autocast"].bn_stats_dtype == torch.float32
    assert runs["deepspeed-bf16"].bn_stats_dtype == torch.bfloat16  # why it is not the policy


def test_one_bf16_step_keeps_fp32_weights_gradients_and_statistics(bench_precision):
    config, model_engine = tiny_bf16_engine(bench_precision)
    inputs = pathway_inputs(torch.randn(2, 3, config.clip_frames, 32, 32), "slowfast", config.alpha)
    with engines.autocast("bf16", CPU):
        logits = model_engine(inputs)
    assert logits.dtype == torch.bfloat16  # the head's matmul ran in bf16
    loss = F.cross_entropy(logits.float(), torch.tensor([0, 3]))
    model_engine.backward(loss)
    parameters = list(model_engine.module.parameters())
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in parameters)
    assert all(torch.isfinite(p.grad).all() for p in parameters)
    model_engine.step()
    assert all(b.dtype == torch.float32 for name, b in model_engine.module.named_buffers() if "running" in name)


def test_autocast_is_off_for_fp32():
    with engines.autocast("fp32", CPU):
        assert not torch.is_autocast_enabled("cpu")
    with engines.autocast("bf16", CPU):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_channels_last_3d_under_bf16_gives_the_same_logits_and_gradients():
    config = ModelConfig(depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=32, dropout=0.0)
    torch.manual_seed(0)
    plain = build_model(config, num_classes=4)
    fast = build_model(config.model_copy(update={"channels_last": True}), num_classes=4)
    fast.load_state_dict(plain.state_dict())
    inputs = pathway_inputs(torch.randn(2, 3, 16, 32, 32, generator=torch.Generator().manual_seed(2)), "slowfast", 4)
    outputs = []
    for model in (plain, fast):
        with engines.autocast("bf16", CPU):
            logits = model(inputs)
        F.cross_entropy(logits.float(), torch.tensor([1, 2])).backward()
        outputs.append((logits.float(), model.pathways.slow.stem.conv.weight.grad))
    (logits_plain, grad_plain), (logits_fast, grad_fast) = outputs
    torch.testing.assert_close(logits_fast, logits_plain, rtol=0.02, atol=0.02)  # bf16: ~3 significant digits
    torch.testing.assert_close(grad_fast, grad_plain, rtol=0.05, atol=1e-3)


def test_backend_switches_are_set_from_the_engine_config():
    before = torch.backends.cudnn.benchmark
    try:
        engines.configure_backends(EngineConfig(cudnn_benchmark=True))
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        engines.configure_backends(EngineConfig(cudnn_benchmark=False))
        assert not torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before


def test_precision_auto_is_fp32_on_cpu():
    assert engines.resolve_precision(EngineConfig(precision="auto"), CPU) == "fp32"
    assert engines.resolve_precision(EngineConfig(precision="bf16"), CPU) == "bf16"


@pytest.mark.extended  # inductor compiles the forward and the backward graph: about 3 minutes on 2 cores
def test_torch_compile_gives_the_same_logits_and_gradients():
    config = ModelConfig(depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=32, dropout=0.0)
    torch.manual_seed(0)
    eager = build_model(config, num_classes=4)
    compiled = build_model(config.model_copy(update={"compile": True}), num_classes=4)
    compiled.load_state_dict(eager.state_dict())  # compiled in place: the same state-dict keys
    inputs = pathway_inputs(torch.randn(2, 3, 16, 32, 32, generator=torch.Generator().manual_seed(3)), "slowfast", 4)
    results = []
    for model in (eager, compiled):
        logits = model(inputs)
        F.cross_entropy(logits, torch.tensor([0, 2])).backward()
        results.append((logits.detach(), model.head.proj.weight.grad, model.pathways.fast.stem.conv.weight.grad))
    for compiled_value, eager_value in zip(results[1], results[0]):
        torch.testing.assert_close(compiled_value, eager_value, rtol=1e-4, atol=1e-5)


def test_a_channels_last_model_goes_through_the_deepspeed_engine_and_stays_channels_last(bench_precision):
    """DeepSpeed's initial broadcast views each parameter as bytes, which channels_last_3d weights refuse."""
    config, model_engine = tiny_bf16_engine(bench_precision, channels_last=True)
    weight = model_engine.module.pathways.slow.stem.conv.weight  # 1x7x7: not both layouts at once; blocks start
    # with a zero-initialised last BatchNorm, so their convolutions get no gradient at the first step
    assert engines.is_channels_last_3d(weight)
    inputs = pathway_inputs(torch.randn(2, 3, config.clip_frames, 32, 32), "slowfast", config.alpha)
    before = weight.detach().clone()
    with engines.autocast("bf16", CPU):
        loss = F.cross_entropy(model_engine(inputs).float(), torch.tensor([0, 3]))
    model_engine.backward(loss)
    model_engine.step()
    assert not torch.equal(weight.detach(), before) and engines.is_channels_last_3d(weight)
