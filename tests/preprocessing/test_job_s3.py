"""The job against a real S3 server (SeaweedFS) behind an endpoint that fails one request in four with
`503 SlowDown`: transient errors are retried (botocore retry config in `sfp.storage`), the store comes out whole.

The module's Ray cluster starts after the S3 variables are set, as a cluster's nodes have their credentials."""

from __future__ import annotations

import http.client
import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest

from sfp import storage
from sfp.config import validate
from sfp.framestore import FrameStore
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess

pytestmark = pytest.mark.slow

SLOW_DOWN = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "expect"}


class FlakyProxy:
    """An HTTP proxy in front of the S3 server that answers every `fail_every`-th request with 503 SlowDown."""

    def __init__(self, upstream: str, fail_every: int) -> None:
        self.upstream = urlparse(upstream)
        self.fail_every = fail_every
        self.requests = 0
        self.failed: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers `Expect: 100-continue`, as S3 does

            def log_message(self, *args) -> None:
                pass

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b""
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body

            def relay(self) -> None:
                body = self.read_body()
                with proxy.lock:
                    proxy.requests += 1
                    fail = proxy.requests % proxy.fail_every == 0
                    if fail:
                        proxy.failed[self.command] += 1
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN) if self.command != "HEAD" else 0))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(SLOW_DOWN)
                    return
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)  # Host kept: signatures hold
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def flaky_s3(s3_server) -> Iterator[FlakyProxy]:
    import ray

    from sfp.raycluster import init_ray

    proxy = FlakyProxy(s3_server.endpoint_url, fail_every=4)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_server.env().items():
            patch.setenv(name, proxy.url if "ENDPOINT" in name else value)
        patch.delenv("AWS_MAX_ATTEMPTS", raising=False)
        ray.shutdown()  # a Ray of its own: its workers must start with the proxy's endpoint (runs last: conftest.py)
        init_ray()
        try:
            yield proxy
        finally:
            ray.shutdown()
            proxy.stop()


def test_storage_calls_survive_transient_errors(flaky_s3):
    before = sum(flaky_s3.failed.values())
    for index in range(6):
        storage.write_text(f"s3://sfp-test/flaky/object-{index}.txt", f"payload {index}")
    assert [storage.read_text(f"s3://sfp-test/flaky/object-{index}.txt") for index in range(6)] == [
        f"payload {index}" for index in range(6)]
    assert storage.exists("s3://sfp-test/flaky/object-0.txt")
    assert sum(flaky_s3.failed.values()) - before >= 3  # a quarter of the ~18 requests failed, and were retried


def upload_dataset(client, root: Path, fixtures_dir: Path) -> None:
    names = {"aaaaaaaaaaa": "kinetics_clip_340x256_10s.mp4", "bbbbbbbbbbb": "h264_340x256_32frames.mp4",
             "ccccccccccc": "mpeg4_320x240_25fps_audio.avi"}
    lines = ["label,youtube_id,time_start,time_end,split"]
    for index, (youtube_id, name) in enumerate(sorted(names.items())):
        label = "abseiling" if index < 2 else "bowling"
        lines.append(f"{label},{youtube_id},0,10,{'val' if index == 1 else 'train'}")
        key = f"datasets/k/videos/{label}/{youtube_id}_000000_000010{Path(name).suffix}"
        client.upload_file(str(fixtures_dir / "videos" / name), "sfp-test", key)
    lines.append("bowling,ddddddddddd,0,10,train")  # no such video
    client.put_object(Bucket="sfp-test", Key="datasets/k/train.csv", Body=("\n".join(lines) + "\n").encode())


def test_preprocess_reads_and_writes_s3_through_transient_errors(flaky_s3, s3_server, fixtures_dir, tmp_path):
    upload_dataset(s3_server.client(), tmp_path, fixtures_dir)
    before = Counter(flaky_s3.failed)
    config = validate(PreprocessConfig, {
        "dataset": {"manifest": "s3://sfp-test/datasets/k/train.csv", "video_root": "s3://sfp-test/datasets/k/videos"},
        "decode": {"short_side": 128},
        "output": {"uri": "s3://sfp-test/framestores/k", "clips_per_shard": 2},
        "error_budget": 0.5,
        "tracking": {"enabled": False},
    })
    summary = run_preprocess(config)
    store = FrameStore.open("s3://sfp-test/framestores/k")
    assert (store.manifest.clips, store.manifest.errors) == (3, 1)
    assert store.errors()[0].stage == "locate" and summary.errors_by_stage == {"locate": 1}
    assert store.read_frames(store.record("ccccccccccc_000000_000010"), [0]).shape == (1, 128, 170, 3)
    assert store.record("bbbbbbbbbbb_000000_000010").num_frames == 32
    assert storage.exists("s3://sfp-test/framestores/k/_errors.parquet")
    failed = flaky_s3.failed - before
    assert failed["GET"] > 0 and failed["PUT"] > 0, failed  # downloads and uploads were retried
    assert "AWS_MAX_ATTEMPTS" not in os.environ
