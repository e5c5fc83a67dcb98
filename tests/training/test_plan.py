"""`sfp train --dry-run`: the plan of a recipe, worked out without Ray (`sfp_train.plan`)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image

from sfp.config import load_config
from sfp.errors import SfpError
from sfp_train.plan import FIGURES, ava_data, figure, gpu_clips_per_s, kinetics_data, plan_lines, plan_training
from sfp_train.recipe import TrainRecipe

K400 = Path(__file__).resolve().parents[2] / "configs" / "kinetics" / "slowfast_r50_8x8.yaml"
ELASTIC = ["scaling.min_workers=8", "scaling.num_workers=128", "engine.grad_accumulation=1"]
AVA = K400.parents[1] / "ava" / "slowfast_r50_8x8.yaml"
R50_PARAMETERS = 34_566_488  # SlowFast R50 8x8 with a 400-class head (PySlowFast's model zoo: 34.57M)
R50_MACS_AT_224 = 50_308_583_424  # 65.7 GMACs at 256 (the paper's) x (224 / 256)^2, less the head


def test_kinetics_400_at_8_to_128_gpus():
    recipe = load_config(TrainRecipe, K400, ELASTIC)
    data, classes = kinetics_data(recipe, train_clips=240_000)
    plan = plan_training(recipe, data, classes, clips_per_s=100.0)
    assert plan.throughput.source == "given (--clips-per-s)"

    fewest, most = plan.workers
    assert (fewest.batch.world_size, fewest.batch.micro_batch, fewest.batch.accumulation) == (8, 8, 16)
    assert (most.batch.world_size, most.batch.micro_batch, most.batch.accumulation) == (128, 8, 1)
    assert fewest.steps_per_epoch == most.steps_per_epoch == 234 and most.total_steps == 234 * 196

    peak = 1.6
    assert [(point.what, point.epoch) for point in plan.schedule] == [
        ("start", 0.0), ("warm-up end", 34.0), ("cosine half-way", 98.0), ("last epoch", 195.0)]
    assert [point.lr for point in plan.schedule] == pytest.approx([
        0.01, peak * 0.5 * (1 + math.cos(math.pi * 34 / 196)), peak / 2, peak * 0.5 * (1 + math.cos(math.pi * 195 / 196))])

    assert plan.model.forward_macs == R50_MACS_AT_224

    checkpoint = plan.checkpoint
    assert (checkpoint.parameters, checkpoint.count, checkpoint.keep, checkpoint.optimizer_slots) == (
        R50_PARAMETERS, 196, 3, 1)
    # fp32: the weights in DeepSpeed's file and in model.pt, SGD's momentum, BN statistics twice
    assert checkpoint.bytes_each == 4 * (3 * R50_PARAMETERS + 2 * checkpoint.buffers)
    assert 0 < checkpoint.buffers < 100_000 and checkpoint.bytes_written == 196 * checkpoint.bytes_each

    # a 64-frame window (32 frames at stride 2) at the measured bytes per frame, x the measured read factor
    assert data.window_frames == 64 and data.store_bytes is None
    assert data.s3_bytes_per_clip == pytest.approx(64 * 11_700 * 1.55)
    assert plan.epoch_seconds(most) == pytest.approx(234 * 1024 / (128 * 100.0))
    assert plan.s3_requests_per_s(most) == 128 * 100.0 * 4


def test_a_count_that_does_not_divide_the_batch_plans_its_own_batch_and_steps():
    recipe = load_config(TrainRecipe, K400, ["scaling.min_workers=40", "scaling.num_workers=128",
                                             "engine.grad_accumulation=1"])
    data, classes = kinetics_data(recipe, train_clips=240_000)
    fewest = plan_training(recipe, data, classes, clips_per_s=50.0).workers[0]
    assert (fewest.batch.world_size, fewest.batch.global_batch, fewest.steps_per_epoch) == (40, 960, 249)
    assert fewest.total_steps == 249 * 196 and fewest.clips_per_epoch == 249 * 960 <= 234 * 1024


def test_the_estimate_is_the_smaller_of_the_model_and_the_host_bound():
    recipe = load_config(TrainRecipe, K400)
    data, classes = kinetics_data(recipe, train_clips=240_000)
    assert gpu_clips_per_s(R50_MACS_AT_224) == pytest.approx(989e12 * 0.20 / (6 * R50_MACS_AT_224))  # ~655
    plan = plan_training(recipe, data, classes)  # 8 host CPUs x 406 clips per CPU-s > one H200's estimate
    assert plan.throughput.clips_per_s == pytest.approx(gpu_clips_per_s(R50_MACS_AT_224))
    assert plan.throughput.source.startswith("estimate, model-bound: one H200 at 20% utilisation: 655 clips/s")
    one_cpu = load_config(TrainRecipe, K400, ["scaling.cpus_per_worker=1"])
    one_cpu_plan = plan_training(one_cpu, data, classes)
    assert one_cpu_plan.throughput.clips_per_s == 406 and one_cpu_plan.throughput.source.startswith(
        "estimate, host-bound")
    # which figures are measurements (on CPU here) and which are estimates
    assert {name for name, value in FIGURES.items() if not value.measured} == {
        "training_flops_per_forward", "gpu_peak_tflops", "gpu_utilisation", "s3_get_per_s_per_prefix"}
    assert figure("host_clips_per_cpu_s") == 406


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (value, 0, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


def small_store(tmp_path: Path) -> str:
    from sfp.framestore import EncodedClip, finalize_store, shard_name_for, write_shard

    clips = [EncodedClip(clip_id=f"c{i}", label="cat", label_id=0, split="train" if i < 3 else "val",
                         source_path=f"{i}.mp4", start_sec=None, end_sec=None, fps=30.0, width=32, height=24,
                         frames=[jpeg(i * 10 + f) for f in range(20)], timestamps=[f / 30 for f in range(20)])
             for i in range(4)]
    uri = str(tmp_path / "store")
    shard, records = write_shard(uri, shard_name_for([clip.clip_id for clip in clips]), clips)
    finalize_store(uri, shards=[shard], records=records, errors=[], classes=["cat", "dog"], source_rows=4,
                   source={}, decode={}, code_version="test")
    return uri


def test_the_data_volume_comes_from_the_frame_store_when_it_is_readable(tmp_path):
    from sfp.framestore import FrameStore

    uri = small_store(tmp_path)
    recipe = load_config(TrainRecipe, K400, [f"data.framestore={uri}", "optim.batch_size=2", "scaling.num_workers=1",
                                             "engine.grad_accumulation=1", "optim.epochs=3"])
    data, classes = kinetics_data(recipe)
    size = FrameStore.open(uri).manifest.total_bytes
    assert (data.train_clips, classes, data.store_bytes) == (3, 2, size)
    assert data.bytes_per_frame == pytest.approx(size / 80)  # 4 clips of 20 frames
    plan = plan_training(recipe, data, classes, clips_per_s=1.0)
    assert plan.workers[0].steps_per_epoch == 1 and plan.checkpoint.count == 3
    with pytest.raises(SfpError, match=r"_manifest.json.*; a dry run without the store needs --train-clips N$"):
        kinetics_data(load_config(TrainRecipe, K400, [f"data.framestore={tmp_path / 'nothing'}"]))


def test_sfp_train_dry_run_prints_the_plan_and_starts_nothing(capsys):
    import ray

    from sfp_app.cli.main import main

    ray_before = ray.is_initialized()
    assert main(["train", str(K400), *ELASTIC, "--dry-run", "--train-clips", "240000", "--clips-per-s", "100"]) == 0
    assert ray.is_initialized() == ray_before  # the dry run returns before Ray is joined or started
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dry run: slowfast_r50_8x8-k400 (196 epochs, global batch 1024); nothing was started"
    assert "     8 workers: micro batch 8 x 16 accumulated = global batch 1024; 234 steps per epoch, 45864 in all" in lines
    assert "  epoch     34  step    7956  lr 1.484  warm-up end" in lines
    assert any(line.startswith("checkpoints: every 1 epoch(s), 196 in all, 415 MB each (34.57M parameters")
               for line in lines)
    assert lines[-1] == ("   128 workers: epoch 19 s, all 61 min; 278 GB per epoch from S3 at 51,200 requests/s "
                         "(9.3x S3's 5,500 per prefix); a checkpoint every 19 s")


def test_sfp_finetune_ava_dry_run_plans_the_detection_recipe(capsys):
    from sfp_app.cli.main import main
    from sfp_train.ava.recipe import AvaRecipe

    recipe = load_config(AvaRecipe, AVA)
    data, actions = ava_data(recipe, train_clips=211_000, classes=60)
    plan = plan_training(recipe, data, actions, clips_per_s=100.0)
    (count,) = plan.workers
    assert (count.batch.world_size, count.batch.global_batch, count.steps_per_epoch) == (8, 64, 211_000 // 64)
    assert [(point.what, point.epoch) for point in plan.schedule] == [
        ("start", 0.0), ("warm-up end", 5.0), ("lr x 0.1", 10.0), ("lr x 0.1", 15.0), ("last epoch", 19.0)]
    assert [point.lr for point in plan.schedule] == pytest.approx([0.1 * 0.00125, 0.1, 0.01, 0.001, 0.001])
    assert plan.model.forward_macs > 1.4 * R50_MACS_AT_224  # res5 dilated: stride 16, 4x its positions
    assert main(["finetune-ava", str(AVA), "--dry-run", "--train-clips", "211000", "--classes", "60"]) == 0
    assert capsys.readouterr().out.startswith("dry run: slowfast_r50_8x8-ava (20 epochs, global batch 64)")
    # without the figures, the recipe's annotation files must be readable
    assert main(["finetune-ava", str(AVA), "data.labelmap=/nonexistent.pbtxt", "--dry-run"]) == 2
    assert capsys.readouterr().err == ("sfp: error: label map not found: /nonexistent.pbtxt; a dry run without the "
                                       "annotations and the store needs --train-clips N\n")


def test_docs_scale_quotes_the_figures_table_and_its_rates():
    from sfp_train.plan import host_clips_per_s

    text = (K400.parents[2] / "docs" / "scale.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
            for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == set(FIGURES)
    for name, value in FIGURES.items():
        assert float(rows[name].split()[0].replace(",", "")) == value.value, name
    for rate in (gpu_clips_per_s(R50_MACS_AT_224), host_clips_per_s(8)):
        assert f"**{rate:.0f} clips/s**" in text
