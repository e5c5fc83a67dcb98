"""ffmpeg's MJPEG output (concatenated JPEG images) -> one `bytes` per frame, incrementally."""

from __future__ import annotations

from sfp_preprocess.sandbox import DecodeError

_START_OF_SCAN, _END_OF_IMAGE = 0xDA, 0xD9


class JpegSplitter:
    """Split a stream of concatenated JPEGs into frames as data arrives, by walking the JPEG markers.

    Header segments are skipped by their length; in entropy-coded data 0xFF is always followed by 0x00 or a restart
    marker, so the first other marker after the scan is the end of the image. The walk resumes where the previous
    call stopped, so feeding a frame in many pieces costs no more than feeding it whole."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._cursor = 0
        self._in_scan = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while (end := self._frame_end()) is not None:
            frames.append(bytes(self._buffer[:end]))
            del self._buffer[:end]
            self._cursor, self._in_scan = 0, False
        return frames

    def finish(self) -> None:
        if self._buffer:
            raise DecodeError("decode", "truncated JPEG stream")

    def _frame_end(self) -> int | None:
        data, size = self._buffer, len(self._buffer)
        if self._cursor == 0:
            if size < 2:
                return None
            if data[0:2] != b"\xff\xd8":
                raise DecodeError("decode", "corrupt JPEG stream")
            self._cursor = 2
        while not self._in_scan:
            if self._cursor + 4 > size:
                return None
            marker = data[self._cursor + 1]
            self._cursor += 2 + int.from_bytes(data[self._cursor + 2 : self._cursor + 4], "big")
            self._in_scan = marker == _START_OF_SCAN
        while True:
            cursor = data.find(b"\xff", self._cursor)
            if cursor < 0:
                self._cursor = max(self._cursor, size)  # past the end while a header segment is incomplete
                return None
            if cursor + 1 >= size:
                self._cursor = cursor
                return None
            following = data[cursor + 1]
            if following == _END_OF_IMAGE:
                return cursor + 2
            self._cursor = cursor + (2 if following == 0x00 or 0xD0 <= following <= 0xD7 else 1)


def split_jpeg_stream(data: bytes) -> list[bytes]:
    """All frames of a complete stream; a truncated last frame is an error."""
    splitter = JpegSplitter()
    frames = splitter.feed(data)
    splitter.finish()
    return frames


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """`(width, height)` from the frame header."""
    cursor = 2
    while cursor + 9 < len(jpeg):
        marker = jpeg[cursor + 1]
        length = int.from_bytes(jpeg[cursor + 2 : cursor + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(jpeg[cursor + 5 : cursor + 7], "big")
            width = int.from_bytes(jpeg[cursor + 7 : cursor + 9], "big")
            return width, height
        cursor += 2 + length
    raise DecodeError("decode", "JPEG frame without a size")
