"""Find a clip's video and bring it to the worker: the one stage that reads the source storage.

What it cannot do has two kinds of cause. The video's own (not there, empty, outside the video root) is a
`DecodeError` at stage `locate`: an error row of the frame store. The storage's (network errors, S3 5xx and
throttling that botocore's own retries did not absorb, timeouts, connection resets, denied access, expired
credentials) says nothing about the video: the read is retried with backoff, and if it still fails the task fails
with `SourceUnavailable`, so that no done marker freezes it and a rerun reads the video again.

A remote video is downloaded whole, or, when only a window of it is needed (`stream=True`: a part of an AVA
movie, a window of an untrimmed video), handed to ffmpeg as a presigned URL (`sandbox.SignedUrl`) that it reads
with range requests over the span it decodes: an mp4 whose index is at the end is read there and at the span.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from sfp import storage
from sfp.errors import SfpError
from sfp_preprocess.clips import SourceClip, expand_candidates
from sfp_preprocess.sandbox import DecodeError, SignedUrl

T = TypeVar("T")


class SourceUnavailable(SfpError):
    """A source that could not be read for a reason that is not the video's; fails its task (and the job)."""


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` reads of a source, `backoff_sec * 2**k` seconds after the k-th failure (1, 2, 4 s by default)."""

    attempts: int = 4
    backoff_sec: float = 1.0


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def with_retries(read: Callable[[], T], what: str, policy: RetryPolicy,
                 final: tuple[type[BaseException], ...] = (FileNotFoundError,)) -> T:
    """`read()`, retried on any exception but those in `final` (the video's own answers, not the storage's)."""
    for attempt in range(policy.attempts):
        try:
            return read()
        except final:
            raise
        except Exception as error:
            if attempt + 1 == policy.attempts:
                raise SourceUnavailable(
                    f"{what}: unreadable after {policy.attempts} attempts ({_describe(error)})"
                ) from None
            time.sleep(policy.backoff_sec * 2**attempt)
    raise AssertionError("unreachable")


def _inside(path: str, root: str) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def _read_first_byte(path: str) -> None:
    with open(path, "rb") as handle:
        handle.read(1)


def locate(clip: SourceClip, video_root: str, extensions: list[str], workdir: str,
           policy: RetryPolicy = RetryPolicy(), stream: bool = False,
           expires_sec: int = 6 * 3600) -> tuple[str, str, int]:
    """Find the clip's video; return (source URI, what ffmpeg opens, size). An S3 video is downloaded first, or
    with `stream` signed for `expires_sec` seconds (`SignedUrl`: ffmpeg seeks in it by range requests; an mp4
    whose index sits at the end cannot be decoded from a pipe). A local file reached through a symbolic link that
    leaves the video root is refused; a local file that cannot be opened is a storage failure."""
    candidates = expand_candidates(clip.candidates, extensions)
    for candidate in candidates:
        fs, location = storage.open_location(candidate)
        try:
            info = with_retries(lambda: fs.info(location.path), candidate, policy)
        except FileNotFoundError:
            continue
        if info.get("type") != "file":
            continue
        if not info.get("size"):
            raise DecodeError("locate", f"{candidate} is empty")
        if location.is_local:
            if not _inside(location.path, storage.parse_uri(video_root).path):
                raise DecodeError("locate", f"{candidate} leads outside the video root")
            with_retries(lambda: _read_first_byte(location.path), candidate, policy)
            return candidate, location.path, int(info["size"])
        if stream:
            return candidate, SignedUrl(fs.sign(location.path, expiration=expires_sec)), int(info["size"])
        local = os.path.join(workdir, os.path.basename(location.path))

        def download() -> None:
            try:
                fs.get_file(location.path, local)
            except FileNotFoundError as error:  # gone since `info` saw it: the storage's doing, not the video's
                raise OSError(f"vanished while downloading ({error})") from None

        with_retries(download, candidate, policy)
        return candidate, local, int(info["size"])
    tried = candidates[0] if len(candidates) == 1 else f"{candidates[0]} (+{len(candidates) - 1} more)"
    raise DecodeError("locate", f"video not found: {tried}")
