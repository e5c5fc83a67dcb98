"""A source the storage fails to deliver (endpoint down, credentials refused) is retried, then fails its shard task
without a done marker: it is never frozen into an error row, and a rerun, with the storage back, stores it. Real
failures of a real S3 server (SeaweedFS), no mocks; the shard task is run in-process, as a Ray worker runs it."""

import json
import socket
from pathlib import Path

import pytest
import s3fs

from sfp.framestore import ShardInfo, shard_name_for
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig
from sfp_preprocess.job import run_shard_task
from sfp_preprocess.locate import RetryPolicy, SourceUnavailable
from sfp_preprocess.markers import marker_uri
from sfp_preprocess.shard import ShardContext, process_shard
from sfp_preprocess.summary import ShardResult

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def s3_video(s3_env, fixtures_dir):
    s3_env.client().upload_file(str(fixtures_dir / "videos" / "h264_340x256_32frames.mp4"), "sfp-test",
                                "transient/videos/a.mp4")
    return "s3://sfp-test/transient/videos/a.mp4"


def break_storage(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries are test_job_s3's subject
    if how == "endpoint down":
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    else:  # an expired or revoked key: the server answers 403
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    s3fs.S3FileSystem.clear_instance_cache()  # a worker would start with these settings


@pytest.mark.parametrize("how, seen", [("endpoint down", "EndpointConnectionError"),
                                       ("credentials refused", "PermissionError: Forbidden")])
def test_an_unreadable_source_is_retried_then_fails_without_a_marker(how, seen, s3_video, tmp_path, monkeypatch):
    context = ShardContext(store_uri=str(tmp_path / "store"), video_root="s3://sfp-test/transient/videos",
                           video_extensions=[".mp4"], class_ids={"a": 0}, decode=DecodeConfig(short_side=64),
                           source_retry=RetryPolicy(attempts=3, backoff_sec=0.05))
    clips = [SourceClip("a", "a", "train", (s3_video,), None, None)]
    marker = marker_uri(context.store_uri, shard_name_for(["a"]))
    with monkeypatch.context() as broken:
        break_storage(how, broken)
        with pytest.raises(SourceUnavailable, match=rf"^{s3_video}: unreadable after 3 attempts \({seen}"):
            process_shard(context, clips)
        row = run_shard_task(context, json.dumps([clip.to_dict() for clip in clips]))  # what the Ray task returns
        assert row["result"] == "" and row["unavailable"].startswith(f"{s3_video}: unreadable after 3 attempts")
    assert not list(tmp_path.glob("store/shards/*"))  # no shard, no marker: nothing for a rerun to reuse

    s3fs.S3FileSystem.clear_instance_cache()
    row = run_shard_task(context, json.dumps([clip.to_dict() for clip in clips]))  # the rerun, storage back
    result = ShardResult.from_json(row["result"])
    assert row["unavailable"] == "" and result.errors == [] and not result.resumed
    assert [(record.clip_id, record.num_frames, record.height) for record in result.records] == [("a", 32, 64)]
    assert isinstance(result.shard, ShardInfo) and Path(marker).exists()
