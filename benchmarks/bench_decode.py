"""JPEG decode throughput of `torchvision.io.decode_jpeg` on a batch of frames: nvJPEG on a GPU (`--device cuda`,
the H200's hardware JPEG engines), libjpeg-turbo on CPU, frames per second of wall time.

The frames are 340x256 (a Kinetics clip at short side 256) rendered here: moving gradients with a checker texture
and noise, encoded at libjpeg quality 90 (about ffmpeg's `-q:v 4`, the preprocessing default). The noise makes them
about 37 kB, twice a real clip's frame-store JPEGs, so the rates are on the conservative side.

    .venv/bin/python benchmarks/bench_decode.py --frames 256 --batch 64
    python benchmarks/bench_decode.py --device cuda --frames 4096 --batch 512
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.io import decode_jpeg, encode_jpeg

WIDTH, HEIGHT, QUALITY = 340, 256, 90


def render_jpegs(count: int, width: int = WIDTH, height: int = HEIGHT, quality: int = QUALITY) -> list[bytes]:
    """`count` distinct frames: a gradient that moves frame to frame, a checker texture and noise."""
    generator = torch.Generator().manual_seed(0)
    ys = torch.linspace(0, 1, height).view(-1, 1)
    xs = torch.linspace(0, 1, width).view(1, -1)
    jpegs = []
    for index in range(count):
        phase = index / max(count, 1)
        channels = [((xs + ys * (c + 1) + phase) % 1.0) for c in range(3)]
        frame = torch.stack(channels) * 200
        frame += 30 * (((xs * 40).floor() + (ys * 30).floor()) % 2)
        frame += 10 * torch.rand(3, height, width, generator=generator)
        jpegs.append(encode_jpeg(frame.clamp(0, 255).to(torch.uint8), quality=quality).numpy().tobytes())
    return jpegs


def decode_batch(jpegs: list[bytes], device: torch.device) -> list[torch.Tensor]:
    data = [torch.frombuffer(bytearray(jpeg), dtype=torch.uint8) for jpeg in jpegs]
    return decode_jpeg(data, device=device)


def frames_per_second(jpegs: list[bytes], batch: int, device: torch.device, rounds: int = 3) -> float:
    """Median over rounds of decoding all `jpegs` in batches of `batch` (one warm-up batch first)."""
    decode_batch(jpegs[:batch], device)
    rates = []
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for start in range(0, len(jpegs), batch):
            decode_batch(jpegs[start : start + batch], device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(len(jpegs) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the CPU decoder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    jpegs = render_jpegs(args.frames)
    mean_kb = sum(map(len, jpegs)) / len(jpegs) / 1000
    rate = frames_per_second(jpegs, args.batch, torch.device(args.device))
    print(f"decode_jpeg on {args.device}: {rate:,.0f} frames/s ({WIDTH}x{HEIGHT}, {mean_kb:.1f} kB each, batches of "
          f"{args.batch}); {rate / 32:,.0f} training clips/s at 32 frames per clip")


if __name__ == "__main__":
    main()
