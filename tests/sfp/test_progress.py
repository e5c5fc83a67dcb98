"""sfp.progress: rank 0's reports become one step line (redrawn in place) and one line per epoch with its metrics."""

import io
import json

from sfp.console import PROGRESS_PREFIX
from sfp.progress import ProgressDisplay, format_duration, report_epoch, report_step


def step(epoch, step_, loss, at, steps=10, epochs=3, clips=8):
    return json.dumps({"kind": "step", "epoch": epoch, "epochs": epochs, "step": step_, "steps": steps, "loss": loss,
                       "clips": clips, "time": at})


def test_reports_are_one_prefixed_json_line_each(capsys):
    report_step(0, 3, 1, 10, None, 8)
    report_epoch(1, 3, {"train/epoch_loss": 1.5, "val/top1": 0.25, "epoch": 1, "note": "text is left out"})
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(PROGRESS_PREFIX) and second.startswith(PROGRESS_PREFIX)
    assert json.loads(first[len(PROGRESS_PREFIX):])["step"] == 1
    assert json.loads(second[len(PROGRESS_PREFIX):])["metrics"] == {"train/epoch_loss": 1.5, "val/top1": 0.25,
                                                                     "epoch": 1.0}


def test_the_step_line_has_epoch_step_loss_clips_per_second_and_eta():
    stream, lines = io.StringIO(), io.StringIO()
    display = ProgressDisplay(stream=stream, lines=lines, live=True)
    assert display(step(1, 1, None, 100.0))
    assert stream.getvalue().endswith("epoch 1/3  step 1/10")
    display(step(1, 2, 2.5, 102.0))  # 2 s per step of 8 clips
    assert stream.getvalue().endswith("epoch 1/3  step 2/10  loss 2.5000  4.0 clips/s  ETA 0:56")  # 28 steps left
    display(step(1, 4, None, 104.0))  # 1 s per step now: the moving average moves 20% of the way
    assert stream.getvalue().endswith("epoch 1/3  step 4/10  loss 2.5000  4.4 clips/s  ETA 0:47")  # 26 x 1.8 s
    assert lines.getvalue() == ""


def test_one_line_per_epoch_with_train_and_val_metrics():
    stream, lines = io.StringIO(), io.StringIO()
    display = ProgressDisplay(stream=stream, lines=lines, live=True)
    display(step(1, 1, None, 100.0))
    display(step(1, 10, 0.9, 109.0))
    display(json.dumps({"kind": "epoch", "epoch": 1, "epochs": 3, "time": 112.0, "metrics": {
        "train/epoch_loss": 0.91234, "train/top1": 0.5, "train/top5": 1.0, "val/loss": 0.8, "val/top1": 0.625,
        "val/top5": 1.0, "train/clips_per_s": 7.9, "train/world_size": 2, "epoch": 1}}))
    assert lines.getvalue() == ("epoch 1/3  train loss 0.9123 top-1 0.500 top-5 1.000  val loss 0.800 top-1 0.625 "
                                "top-5 1.000  7.9 clips/s  0:13  ETA 0:20\n")  # 12 s since step 1, + its 1 s
    display(step(2, 10, 0.8, 122.0))
    display(json.dumps({"kind": "epoch", "epoch": 2, "epochs": 3, "time": 130.0, "metrics": {"val/top1": 0.7}}))
    # 18 s since epoch 1's line; 10 steps left at 1.06 s
    assert lines.getvalue().splitlines()[1] == "epoch 2/3  val top-1 0.700  0:18  ETA 0:11"
    assert stream.getvalue().endswith("\r\033[K")  # the step line is cleared before the epoch line


def test_without_a_terminal_only_epoch_lines_are_printed_and_a_restart_resets_the_clock():
    stream, lines = io.StringIO(), io.StringIO()
    display = ProgressDisplay(stream=stream, lines=lines, live=False)
    display(step(2, 5, 1.0, 50.0))
    display(step(1, 1, None, 60.0))  # an earlier position: a new run (or a restart from a checkpoint)
    display(json.dumps({"kind": "epoch", "epoch": 1, "epochs": 1, "time": 70.0, "metrics": {"val/mAP": 0.4567}}))
    assert stream.getvalue() == ""
    assert lines.getvalue() == "epoch 1/1  val mAP 0.457\n"  # one step seen: no epoch time to tell
    assert display("not json") is False


def test_durations():
    assert [format_duration(s) for s in (0, 59.6, 61, 3600, 3725)] == ["0:00", "1:00", "1:01", "1:00:00", "1:02:05"]


def test_a_line_forwarded_twice_is_drawn_once():
    stream, lines = io.StringIO(), io.StringIO()
    display = ProgressDisplay(stream=stream, lines=lines, live=False)
    epoch = json.dumps({"kind": "epoch", "epoch": 1, "epochs": 2, "time": 9.0, "metrics": {"val/top1": 0.5}})
    for message in (step(1, 1, None, 5.0), step(1, 1, None, 5.0), epoch, epoch):
        assert display(message)
    assert lines.getvalue() == "epoch 1/2  val top-1 0.500\n"


def test_without_a_terminal_the_step_line_is_printed_once_a_minute():
    stream, lines = io.StringIO(), io.StringIO()
    display = ProgressDisplay(stream=stream, lines=lines, live=False, every_sec=60)
    for index, at in enumerate((0.0, 30.0, 61.0, 90.0, 125.0), start=1):
        display(step(1, index, 1.0, at, steps=100))
    printed = lines.getvalue().splitlines()
    assert [line.split("  ")[1] for line in printed] == ["step 3/100", "step 5/100"]
    assert stream.getvalue() == ""
