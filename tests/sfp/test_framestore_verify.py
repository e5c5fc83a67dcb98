"""`sfp framestore verify URI`: every shard read back whole, every count against the manifest; damage is one line
that names the bad file, exit 2. The stores are written here with the real writer (both shard layouts, local and
S3), then damaged."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfp_app.cli.main import main
from sfp.framestore import EncodedClip, ErrorRecord, FrameStore, finalize_store, shard_name_for, write_shard

JPEG_END = b"\xff\xd9"


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def clip(clip_id: str, frames: int, split: str = "train", frame: bytes | None = None) -> EncodedClip:
    data = [frame or jpeg(10 * index) for index in range(frames)]
    return EncodedClip(clip_id=clip_id, label="cat", label_id=0, split=split, source_path=f"{clip_id}.mp4",
                       start_sec=None, end_sec=None, fps=30.0, width=48, height=32, frames=data,
                       timestamps=[index / 30 for index in range(frames)])


def build(uri: str, schema_version: int = 2, bad_frame: bytes | None = None) -> None:
    """Two shards: `a` (20 frames: two row groups) and `b` in one, `c` (val) in the other; one error row."""
    first = [clip("a", 20), clip("b", 5, frame=bad_frame)]
    second = [clip("c", 7, split="val")]
    shards, records = [], []
    for clips in (first, second):
        shard, rows = write_shard(uri, shard_name_for([c.clip_id for c in clips]), clips,
                                  schema_version=schema_version)
        shards.append(shard)
        records += rows
    finalize_store(uri, shards=shards, records=records, errors=[ErrorRecord("d", "d.mp4", "decode", "broken")],
                   classes=["cat"], source_rows=4, source={"format": "csv", "sha256": "x"}, decode={"fps": 30},
                   code_version="test")


def verify(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["framestore", "verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    assert err.startswith("sfp: error: ") and err.count("\n") == 1, err
    return err


def shard_file(uri: str, clip_id: str) -> Path:
    return Path(uri) / FrameStore.open(uri).record(clip_id).shard


@pytest.mark.parametrize("schema_version", [1, 2])
def test_an_intact_store_verifies(tmp_path, capsys, schema_version):
    uri = str(tmp_path / "store")
    build(uri, schema_version)

    code, out, err = verify([uri], capsys)

    assert (code, err) == (0, "")
    size = sum(shard.bytes for shard in FrameStore.open(uri).manifest.shards)
    assert out == (f"ok: 2 shards, 3 clips, 32 frames, {size:,} bytes read; 1 error rows; counts match the manifest "
                   f"({uri})\n")
    code, out, _ = verify([uri, "--json", "--decode"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] and (report["clips"], report["errors"], report["frames"]) == (3, 1, 32)
    assert sorted((shard["clips"], shard["frames"], shard["problem"]) for shard in report["shards"]) == \
        [(1, 7, None), (2, 25, None)]


def test_a_truncated_shard_is_named(tmp_path, capsys):
    uri = str(tmp_path / "store")
    build(uri)
    shard = shard_file(uri, "a")
    size = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[: size // 2])

    code, out, err = verify([uri], capsys)

    assert (code, out) == (2, "")
    relative = shard.relative_to(uri)
    assert one_line(err) == f"sfp: error: {relative}: {size // 2} bytes, the manifest says {size} ({uri})\n"


def test_a_shard_of_the_right_size_with_a_cut_frame_is_named(tmp_path, capsys):
    """Same size, readable footer, but one JPEG's end marker overwritten (bytes damaged in place)."""
    uri = str(tmp_path / "store")
    build(uri)
    shard = shard_file(uri, "c")  # c's shard: 7 frames, uncompressed
    data = bytearray(shard.read_bytes())
    last_frame_end = data.rindex(JPEG_END)
    data[last_frame_end : last_frame_end + 2] = b"\x00\x01"
    shard.write_bytes(bytes(data))

    code, _, err = verify([uri], capsys)

    assert code == 2
    assert one_line(err) == f"sfp: error: {shard.relative_to(uri)}: clip 'c', row group 0: frame 6 is not a whole " \
                            f"JPEG ({uri})\n"


def test_a_frame_that_does_not_decode_is_found_with_decode(tmp_path, capsys):
    uri = str(tmp_path / "store")
    build(uri, bad_frame=b"\xff\xd8" + b"not a picture" * 10 + b"\xff\xd9")  # clip b: looks whole, is not

    assert verify([uri], capsys)[0] == 0  # the cheap check sees whole JPEGs
    code, _, err = verify([uri, "--decode"], capsys)

    assert code == 2
    relative = shard_file(uri, "a").relative_to(uri)
    assert one_line(err).startswith(f"sfp: error: {relative}: clip 'b', row group 2: "
                                    "frame 0 does not decode (")


def test_a_missing_shard_and_counts_off_the_manifest_are_each_named(tmp_path, capsys):
    uri = str(tmp_path / "store")
    build(uri)
    shard = shard_file(uri, "c")
    shard.unlink()

    code, _, err = verify([uri], capsys)
    assert code == 2 and one_line(err) == f"sfp: error: {shard.relative_to(uri)}: missing ({uri})\n"

    manifest_path = Path(uri) / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["counts"]["clips"] = 4
    manifest_path.write_text(json.dumps(manifest))
    code, out, err = verify([uri, "--json"], capsys)

    assert code == 2
    assert one_line(err) == ("sfp: error: _index.parquet: 3 clips, the manifest says 4 (and 2 more problems: --json "
                             f"lists them) ({uri})\n")
    report = json.loads(out)
    assert report["ok"] is False and report["problems"] == [
        "_index.parquet: 3 clips, the manifest says 4", "_manifest.json: 4 clips + 1 errors != 4 rows"]
    assert sorted(shard["problem"] or "" for shard in report["shards"]) == ["", "missing"]


def test_a_damaged_index_is_named_and_shards_are_still_read(tmp_path, capsys):
    uri = str(tmp_path / "store")
    build(uri)
    index = Path(uri) / "_index.parquet"
    index.write_bytes(index.read_bytes()[:100])

    code, out, err = verify([uri, "--json"], capsys)

    assert code == 2 and one_line(err).startswith("sfp: error: _index.parquet: cannot read it (")
    assert sorted(shard["frames"] for shard in json.loads(out)["shards"]) == [7, 25]


def test_a_folder_that_is_no_store_is_one_line(tmp_path, capsys):
    code, _, err = verify([str(tmp_path)], capsys)

    assert code == 2 and "no frame store here" in one_line(err)


@pytest.mark.slow
def test_a_store_on_s3_verifies_and_a_replaced_shard_is_named(s3_env, tmp_path, capsys):
    from sfp import storage

    uri = "s3://sfp-test/verify-store"
    build(uri)
    assert verify([uri], capsys)[0] == 0
    shard = storage.join_uri(uri, FrameStore.open(uri).manifest.shards[0].path)
    storage.write_bytes(shard, storage.read_bytes(shard)[:-10])

    code, _, err = verify([uri], capsys)

    assert code == 2 and "bytes, the manifest says" in one_line(err) and err.endswith(f"({uri})\n")


def test_an_appended_store_verifies_its_version_against_its_own_tables(tmp_path, capsys):
    from sfp import storage
    from sfp.framestore.schema import MANIFEST_FILE
    from sfp.framestore.versions import commit_version

    uri = str(tmp_path / "store")
    build(uri)
    base = FrameStore.open(uri)
    shard, records = write_shard(uri, shard_name_for(["e"]), [clip("e", 9)])
    manifest = commit_version(uri, base.manifest, base_text=storage.read_text(storage.join_uri(uri, MANIFEST_FILE)),
                              base_records=base.records, base_errors=base.errors(), base_segments=[],
                              shards=[shard], records=records, errors=[], classes=["cat"],
                              source={"format": "csv", "sha256": "y"}, code_version="test")

    code, out, _ = verify([uri, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and (report["clips"], report["frames"], len(report["shards"])) == (4, 41, 3)

    index = Path(uri) / manifest.tables["index"]  # version 2's own index, not the root's (version 1's)
    index.write_bytes(index.read_bytes()[:50])
    code, _, err = verify([uri], capsys)
    assert code == 2 and one_line(err).startswith(f"sfp: error: {manifest.tables['index']}: cannot read it (")
