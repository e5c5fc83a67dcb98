"""The training progress display: epoch, step, loss, clips/s and time left, and one line per epoch with its metrics.

Rank 0 of a training job reports (`report_step`, `report_epoch`): one `sfp-progress: {json}` line on its stdout per
optimiser step, which Ray forwards to the driver; the driver's `ProgressDisplay` (installed by
`sfp.raycluster.init_ray`, fed by `sfp.console`) draws it. On a terminal the step line is redrawn in place on stderr
(`epoch 3/20  step 12/45  loss 1.234  8.5 clips/s  ETA 3:12`); elsewhere (a log, a pipe) it is printed as a line
of its own once a minute; every epoch prints one line on stdout:
`epoch 3/20  train loss 1.234 top-1 0.412  val top-1 0.389 top-5 0.880  8.5 clips/s  42 s  ETA 3:12`.
Reporting costs no device synchronisation: the loss is the training loop's, read at its logging interval.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any, Mapping

from sfp.console import PROGRESS_PREFIX

TRAIN_KEYS = (("train/epoch_loss", "loss"), ("train/top1", "top-1"), ("train/top5", "top-5"))
VAL_PREFIX = "val/"


def report_step(epoch: int, epochs: int, step: int, steps: int, loss: float | None, clips_per_step: int) -> None:
    """Rank 0, after optimiser step `step` (1-based) of epoch `epoch` (0-based) of `epochs`, `steps` per epoch."""
    _emit({"kind": "step", "epoch": epoch + 1, "epochs": epochs, "step": step, "steps": steps, "loss": loss,
           "clips": clips_per_step, "time": time.time()})


def report_epoch(epoch: int, epochs: int, metrics: Mapping[str, Any]) -> None:
    """Rank 0, after epoch `epoch` (1-based) with its train and val metrics."""
    plain = {key: float(value) for key, value in metrics.items() if isinstance(value, (int, float))}
    _emit({"kind": "epoch", "epoch": epoch, "epochs": epochs, "metrics": plain, "time": time.time()})


def _emit(message: dict) -> None:
    print(PROGRESS_PREFIX + json.dumps(message), flush=True)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressDisplay:
    """Draws the reports of one or more training runs in this driver (a run's first step starts its clock)."""

    def __init__(self, stream: IO[str] | None = None, lines: IO[str] | None = None,
                 live: bool | None = None, every_sec: float = 60.0) -> None:
        self.stream = stream or sys.stderr  # the redrawn step line
        self.lines = lines or sys.stdout  # one line per epoch
        self.live = self.stream.isatty() if live is None else live
        self.every_sec = every_sec  # not live (a log, a pipe): the step line as a line of its own this often
        self._lock = threading.Lock()
        self._seen: list[tuple] = []
        self._reset()

    def _reset(self) -> None:
        self._last: dict | None = None  # the previous step report
        self._step_seconds: float | None = None  # moving average of seconds per optimiser step
        self._epoch_started: float | None = None
        self._loss: float | None = None
        self._drawn = False
        self._printed_at: float | None = None  # not live: when the last step line was printed
        self._since_epoch = False  # the clock runs from the last epoch line (else from the run's first step)

    def __call__(self, payload: str) -> bool:
        try:
            message = json.loads(payload)
        except json.JSONDecodeError:
            return False
        key = (message.get("kind"), message.get("epoch"), message.get("step"), message.get("time"))
        with self._lock:
            if key in self._seen:  # Ray forwards a line once per stream it reached (Ray Train tees stdout)
                return True
            self._seen = (self._seen + [key])[-16:]
            if message.get("kind") == "step":
                self._step(message)
            elif message.get("kind") == "epoch":
                self._epoch(message)
        return True

    def _step(self, message: dict) -> None:
        last = self._last
        if last is not None and (message["epoch"], message["step"]) < (last["epoch"], last["step"]):
            self._reset()  # a new run, or a restart from a checkpoint
            last = None
        if last is None or self._epoch_started is None:
            self._epoch_started = message["time"]
        if last is not None:
            steps = (message["epoch"] - last["epoch"]) * message["steps"] + message["step"] - last["step"]
            seconds = (message["time"] - last["time"]) / max(1, steps)
            self._step_seconds = seconds if self._step_seconds is None else 0.8 * self._step_seconds + 0.2 * seconds
        if message.get("loss") is not None:
            self._loss = message["loss"]
        self._last = message
        if self.live:
            self._draw(self.status_line(message))
        elif self._printed_at is None or message["time"] - self._printed_at >= self.every_sec:
            if self._printed_at is not None:  # the run's first step says nothing a log needs
                print(self.status_line(message), file=self.lines, flush=True)
            self._printed_at = message["time"]

    def status_line(self, message: dict) -> str:
        parts = [f"epoch {message['epoch']}/{message['epochs']}", f"step {message['step']}/{message['steps']}"]
        if self._loss is not None:
            parts.append(f"loss {self._loss:.4f}")
        if self._step_seconds:
            parts.append(f"{message['clips'] / self._step_seconds:.1f} clips/s")
            parts.append(f"ETA {format_duration(self._remaining_steps(message) * self._step_seconds)}")
        return "  ".join(parts)

    @staticmethod
    def _remaining_steps(message: dict) -> int:
        return (message["epochs"] - message["epoch"]) * message["steps"] + message["steps"] - message["step"]

    def _epoch(self, message: dict) -> None:
        now = message["time"]
        seconds = None
        if self._epoch_started is not None and self._since_epoch:  # since the last epoch line
            seconds = now - self._epoch_started
        elif self._epoch_started is not None and self._step_seconds:  # the run's first: its first step took one step
            seconds = now - self._epoch_started + self._step_seconds
        line = self.epoch_line(message, seconds)
        self._epoch_started, self._since_epoch = now, True
        if self._drawn:
            self.stream.write("\r\033[K")
            self._drawn = False
        print(line, file=self.lines, flush=True)

    def epoch_line(self, message: dict, seconds: float | None) -> str:
        metrics = message["metrics"]
        parts = [f"epoch {message['epoch']}/{message['epochs']}"]
        train = [f"{label} {metrics[key]:.4f}" if key == "train/epoch_loss" else f"{label} {metrics[key]:.3f}"
                 for key, label in TRAIN_KEYS if key in metrics]
        if train:
            parts.append("train " + " ".join(train))
        val = [f"{key[len(VAL_PREFIX):].replace('top', 'top-')} {value:.3f}" for key, value in metrics.items()
               if key.startswith(VAL_PREFIX)]
        if val:
            parts.append("val " + " ".join(val))
        if "train/clips_per_s" in metrics:
            parts.append(f"{metrics['train/clips_per_s']:.1f} clips/s")
        if seconds is not None:
            parts.append(format_duration(seconds))
        last = self._last
        if self._step_seconds and last is not None and message["epoch"] < message["epochs"]:
            remaining = (message["epochs"] - message["epoch"]) * last["steps"]
            parts.append(f"ETA {format_duration(remaining * self._step_seconds)}")
        return "  ".join(parts)

    def _draw(self, text: str) -> None:
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._drawn = True
