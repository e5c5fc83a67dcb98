"""A part of a long movie on S3 is read over its span only: ffmpeg opens a presigned URL and seeks in it with range
requests, whether the mp4's index (moov) is at the front or at the end. The segments come out byte for byte as from
a local copy, and the bytes that cross the network are counted by a TCP relay in front of a real S3 server
(SeaweedFS): it passes data only as fast as ffmpeg reads it, so what it counts is what S3 sent. Network failures
under a signed URL are transient (never error rows) and their reasons carry no signature."""

import shutil
import socket
import threading
from pathlib import Path

import pytest
import s3fs

from sfp.framestore import FrameStore, finalize_store
from sfp_preprocess import sandbox
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig
from sfp_preprocess.probe import probe_video
from sfp_preprocess.sandbox import DecodeError, SignedUrl, TransientReadError, redact, safe_input
from sfp_preprocess.shard import ShardContext, process_shard

pytestmark = pytest.mark.slow

MOVIE_SEC, SEGMENT_SEC = 60.0, 10.0  # six segments; the part reads two of them: a third of the movie


class CountingRelay:
    """127.0.0.1:port -> upstream, byte for byte; `bytes_down` counts what upstream sent back. Each direction is
    copied by one thread that reads only after the previous chunk was written: the reader's pace is upstream's."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream, self.bytes_down, self._lock = upstream, 0, threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
            upstream = socket.create_connection(self.upstream)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            threading.Thread(target=self._copy, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client, True), daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(64 << 10):
                if count:
                    with self._lock:
                        self.bytes_down += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def movies(make_video) -> dict[str, Path]:
    """A 60 s movie (~20 MB: mpeg4 at high quality) with its index at the end, and the same remuxed faststart."""
    end = make_video("remote_moov_end.mp4", "-f", "lavfi", "-i", f"testsrc2=s=480x270:r=30:d={MOVIE_SEC:g}",
                     "-c:v", "mpeg4", "-q:v", "2", "-g", "30")
    front = make_video("remote_moov_front.mp4", "-i", str(end), "-c", "copy", "-movflags", "+faststart")
    return {"end": end, "front": front}


def moov_first(path: Path) -> bool:
    data = path.read_bytes()
    return data.find(b"moov") < data.find(b"mdat")


def part_of(uri: str) -> SourceClip:
    return SourceClip("movie", None, "train", (uri,), 0.0, MOVIE_SEC, segment_sec=SEGMENT_SEC, segment_range=(2, 4))


def context(store: Path, root: str) -> ShardContext:
    return ShardContext(store_uri=str(store), video_root=root, video_extensions=[".mp4"], class_ids={},
                        decode=DecodeConfig(short_side=64))


@pytest.mark.parametrize("moov", ["end", pytest.param("front", marks=pytest.mark.extended)])  # the end bites
def test_a_part_of_a_movie_on_s3_reads_its_span_only(moov, movies, s3_env, tmp_path, monkeypatch):
    video = movies[moov]
    assert moov_first(video) == (moov == "front")
    s3_env.client().upload_file(str(video), "sfp-test", f"remote/{moov}/movie.mp4")
    local_root = tmp_path / "local"
    local_root.mkdir()
    shutil.copy(video, local_root / "movie.mp4")
    local = process_shard(context(tmp_path / "local-store", str(local_root)), [part_of(str(local_root / "movie.mp4"))])

    host, port = s3_env.endpoint_url.removeprefix("http://").split(":")
    relay = CountingRelay((host, int(port)))
    try:
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            monkeypatch.setenv(name, relay.url)
        remote = process_shard(context(tmp_path / "s3-store", f"s3://sfp-test/remote/{moov}"),
                               [part_of(f"s3://sfp-test/remote/{moov}/movie.mp4")])
    finally:
        relay.close()

    assert remote.errors == [] and [record.clip_id for record in remote.records] == [
        "movie_seg0002", "movie_seg0003"]
    assert [(s.segment, s.start_sec, s.first_frame, s.num_frames) for s in remote.segments] == [
        (s.segment, s.start_sec, s.first_frame, s.num_frames) for s in local.segments] == [
        (2, pytest.approx(20.0), 600, 300), (3, pytest.approx(30.0), 900, 300)]
    stores = []  # the frames themselves: byte for byte the local copy's
    for result, store in ((local, tmp_path / "local-store"), (remote, tmp_path / "s3-store")):
        finalize_store(str(store), shards=[result.shard], records=result.records, errors=[], classes=[],
                       source_rows=2, source={}, decode={}, code_version="test", segments=result.segments)
        stores.append(FrameStore.open(str(store)))
    for clip_id in ("movie_seg0002", "movie_seg0003"):
        assert stores[0].read_jpegs(stores[0].record(clip_id)) == stores[1].read_jpegs(stores[1].record(clip_id))
    size = video.stat().st_size
    print(f"moov at the {moov}: {remote.bytes_in / 1e6:.1f} MB file, {relay.bytes_down / 1e6:.1f} MB moved")
    assert relay.bytes_down < size / 2  # a third of the movie, its index and the S3 calls around it


def test_only_a_signed_url_may_use_the_network():
    assert safe_input("http://example.com/a.mp4")[0].startswith("file:")  # a plain name stays a local file
    assert safe_input("http://example.com/a.mp4")[1]["protocol_whitelist"] == "file"
    url, options = safe_input(SignedUrl("http://127.0.0.1:9/b/a.mp4?X-Amz-Signature=abc&X-Amz-Credential=k"))
    assert url.startswith("http://") and options["protocol_whitelist"] == "http,https,tcp,tls"
    assert options["reconnect"] == "1" and "file" not in options["protocol_whitelist"].split(",")
    assert redact("http://h:1/b/a.mp4?X-Amz-Signature=abc&Expires=9: Server returned 403") == (
        "http://h:1/b/a.mp4?<signed>: Server returned 403")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_network_failures_under_a_signed_url_are_transient_and_redacted(movies, s3_env, monkeypatch):
    monkeypatch.setattr(sandbox, "RECONNECT_DELAY_MAX_SEC", 0)  # one reconnect, at once: the test's time
    s3_env.client().upload_file(str(movies["front"]), "sfp-test", "remote/failures/movie.mp4")
    fs = s3fs.S3FileSystem(endpoint_url=s3_env.endpoint_url, key=s3_env.access_key, secret=s3_env.secret_key)
    good = fs.sign("sfp-test/remote/failures/movie.mp4", expiration=600)
    assert probe_video(SignedUrl(good), timeout_sec=60, max_memory_mb=2048).duration_sec == pytest.approx(MOVIE_SEC)
    forged = good.replace("Signature=", "Signature=00")  # the server refuses it: 403
    down = f"http://127.0.0.1:{closed_port()}/sfp-test/remote/failures/movie.mp4?X-Amz-Signature=secret"
    for url, seen in ((forged, "Server returned 403"), (down, "Connection refused")):
        with pytest.raises(TransientReadError) as raised:
            probe_video(SignedUrl(url), timeout_sec=60, max_memory_mb=2048)
        assert seen in str(raised.value) and "Signature" not in str(raised.value) and "?<signed>" in str(raised.value)
    with pytest.raises(DecodeError, match="^probe: "):  # the same data, damaged, is the video's own error
        probe_video(str(movies["front"]) + ".missing", timeout_sec=60, max_memory_mb=2048)
