"""Decoding on real files: exact frame counts on a constant grid, rotation, pixel formats, variable frame rates,
start offsets, and the limits that make untrusted files safe to open."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from sfp_preprocess.decode import DecodeError, DecodeParams, decode_clip, decode_rows, split_jpeg_stream
from sfp_preprocess.jpegs import JpegSplitter
from sfp_preprocess.probe import probe_video
from sfp_preprocess.sandbox import limited, run_output

SMALL = DecodeParams(short_side=64)


def sizes(clip):
    return {Image.open(io.BytesIO(frame)).size for frame in clip.frames}


def rgb(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(np.int16)


def test_kinetics_clip_at_30_fps_short_side_256(videos):
    clip = decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), DecodeParams())
    assert len(clip.frames) == 300
    assert (clip.width, clip.height) == (340, 256) and sizes(clip) == {(340, 256)}
    assert clip.timestamps[:3] == pytest.approx([0, 1 / 30, 2 / 30])


def test_32_frame_clip_gives_exactly_32_frames(videos):
    """The fixture's last frame is shown at 32/30 s (a gap before it): ffmpeg's fps filter alone emits 33."""
    clip = decode_clip(str(videos / "h264_340x256_32frames.mp4"), SMALL)
    assert len(clip.frames) == 32 and clip.timestamps[-1] == pytest.approx(31 / 30)


def test_short_side_resize_keeps_aspect_and_even_sizes(videos):
    clip = decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), DecodeParams(short_side=128))
    assert (clip.width, clip.height) == (170, 128)


def test_25_fps_avi_with_audio_is_resampled_to_exactly_30(videos):
    clip = decode_clip(str(videos / "mpeg4_320x240_25fps_audio.avi"), DecodeParams())
    assert len(clip.frames) == round(6.56 * 30)
    assert (clip.width, clip.height) == (342, 256)


def test_window_is_cut_to_the_exact_count(videos):
    clip = decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), SMALL, 2.0, 4.5)
    assert len(clip.frames) == 75
    whole = decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), SMALL)
    assert clip.frames[0] == whole.frames[60]  # the same source frame, encoded the same way


def test_a_clip_shorter_than_its_window_keeps_its_real_count(videos):
    clip = decode_clip(str(videos / "h264_340x256_32frames.mp4"), SMALL, 0.0, 5.0)
    assert len(clip.frames) == 32


def test_rows_of_a_long_window_are_the_same_frames_as_one_decode(videos):
    path = str(videos / "kinetics_clip_340x256_10s.mp4")
    info = probe_video(path, timeout_sec=30, max_memory_mb=2048)
    rows = list(decode_rows(path, SMALL, info, 1.0, 8.0, frames_per_row=60))
    assert [len(row.frames) for row in rows] == [60, 60, 60, 30]
    assert [row.start_sec for row in rows] == pytest.approx([1.0, 3.0, 5.0, 7.0])
    assert [row.first_frame for row in rows] == [0, 60, 120, 180]
    whole = decode_clip(path, SMALL, 1.0, 8.0)
    assert [frame for row in rows for frame in row.frames] == whole.frames


def test_rotation_metadata_is_applied(make_video, videos):
    source = videos / "h264_340x256_32frames.mp4"
    rotated = make_video("rotated.mp4", "-i", str(source), "-c", "copy", "-metadata:s:v", "rotate=90")
    info = probe_video(str(rotated), timeout_sec=30, max_memory_mb=2048)
    assert (info.rotation, info.width, info.height) == (90, 256, 340)
    params = DecodeParams(short_side=64, jpeg_qscale=2)
    upright, turned = decode_clip(str(source), params), decode_clip(str(rotated), params)
    assert (turned.width, turned.height) == (64, 86)  # portrait
    frame, reference = rgb(turned.frames[10]), rgb(upright.frames[10])
    # a display matrix of +90 degrees (counter-clockwise, as ffprobe reports it): the picture is turned that way
    assert np.abs(frame - np.rot90(reference, k=1)).mean() < 6 < np.abs(frame - np.rot90(reference, k=-1)).mean()


def test_10_bit_444_becomes_8_bit_rgb(make_video):
    path = make_video(
        "red_yuv444p10le.mkv", "-f", "lavfi", "-i", "color=c=0xFF2000:s=96x64:r=30:d=1",
        "-pix_fmt", "yuv444p10le", "-c:v", "ffv1",
    )
    assert probe_video(str(path), timeout_sec=30, max_memory_mb=2048).pix_fmt == "yuv444p10le"
    clip = decode_clip(str(path), DecodeParams(short_side=64, jpeg_qscale=2))
    assert len(clip.frames) == 30 and (clip.width, clip.height) == (96, 64)
    assert np.abs(rgb(clip.frames[0])[32, 48] - np.array([255, 32, 0])).max() <= 6


def test_variable_frame_rate_comes_out_constant(make_video):
    """Source frames 10..29 are missing (a 0.7 s gap): the output repeats frame 9 until frame 30 comes."""
    path = make_video(
        "vfr.mp4", "-f", "lavfi", "-i", "testsrc=s=64x48:r=30:d=2", "-vf", "select='not(between(n,10,29))'",
        "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )
    clip = decode_clip(str(path), DecodeParams(short_side=48))
    assert len(clip.frames) == 60
    assert all(clip.frames[index] == clip.frames[9] for index in range(10, 30))
    assert clip.frames[30] != clip.frames[29] and clip.frames[31] != clip.frames[30]


def test_non_zero_start_times(make_video):
    """An MPEG-TS file starts at 1.4 s; a Matroska file whose video starts 0.5 s after its audio."""
    transport = make_video("start.ts", "-f", "lavfi", "-i", "testsrc=s=64x48:r=30:d=1", "-c:v", "mpeg2video")
    clip = decode_clip(str(transport), DecodeParams(short_side=48))
    assert len(clip.frames) == 30 and clip.timestamps[0] == 0.0
    delayed = make_video(
        "delayed.mkv", "-f", "lavfi", "-i", "sine=d=2", "-itsoffset", "0.5", "-f", "lavfi", "-i",
        "testsrc=s=64x48:r=30:d=1.5", "-map", "0:a", "-map", "1:v", "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )
    info = probe_video(str(delayed), timeout_sec=30, max_memory_mb=2048)
    assert info.start_sec == pytest.approx(0.5, abs=0.05)
    assert len(decode_clip(str(delayed), DecodeParams(short_side=48)).frames) == 45
    assert len(decode_clip(str(delayed), DecodeParams(short_side=48), 1.0, 1.5).frames) == 15


def test_audio_only_file_is_a_probe_error(make_video):
    path = make_video("audio_only.mp4", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac")
    with pytest.raises(DecodeError) as error:
        decode_clip(str(path), SMALL)
    assert (error.value.stage, error.value.reason) == ("probe", "no video stream")


def test_not_a_video_is_a_probe_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video")
    with pytest.raises(DecodeError) as error:
        decode_clip(str(path), SMALL)
    assert error.value.stage == "probe"


def test_concat_lists_are_refused(tmp_path, videos):
    """An untrusted file may not make ffmpeg open other files: only container demuxers are allowed."""
    listing = tmp_path / "playlist.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile '{videos / 'h264_340x256_32frames.mp4'}'\n")
    with pytest.raises(DecodeError):
        decode_clip(str(listing), SMALL)


def test_hls_playlists_are_refused(tmp_path, videos):
    playlist = tmp_path / "stream.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nfile:{videos / 'h264_340x256_32frames.mp4'}\n"
                        "#EXT-X-ENDLIST\n")
    with pytest.raises(DecodeError) as error:
        decode_clip(str(playlist), SMALL)
    assert error.value.stage == "probe"


def test_a_file_name_that_looks_like_a_url_stays_a_file(tmp_path, videos):
    odd = tmp_path / "http:clip.mp4"
    os.link(videos / "h264_340x256_32frames.mp4", odd)
    assert len(decode_clip(str(odd), SMALL).frames) == 32


def test_per_clip_time_limit(videos):
    with pytest.raises(DecodeError, match="timed out after 0.05 s") as error:
        decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), DecodeParams(timeout_sec=0.05))
    assert error.value.stage in ("probe", "decode")


def test_memory_limit_stops_the_process_not_the_worker(videos):
    """A local file is probed in this process (test_probe.py); the limit holds the decoding ffmpeg."""
    with pytest.raises(DecodeError) as error:
        decode_clip(str(videos / "kinetics_clip_340x256_10s.mp4"), DecodeParams(max_memory_mb=64))
    assert error.value.stage == "decode" and "error while loading shared libraries" in error.value.reason


def test_the_memory_limit_applies_to_the_child_process():
    allocate = ["python3", "-c", "bytearray(400 * 2**20)"]
    run_output(allocate, stage="decode", timeout_sec=30, max_memory_mb=2048)
    with pytest.raises(DecodeError, match="MemoryError"):
        run_output(allocate, stage="decode", timeout_sec=30, max_memory_mb=300)
    assert limited(["ffmpeg"], 300)[:2] == ["sh", "-c"]


def jpeg(value: int, size=(16, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_split_jpeg_stream_round_trip():
    frames = [jpeg(value) for value in (0, 128, 255)]
    assert split_jpeg_stream(b"".join(frames)) == frames
    with pytest.raises(DecodeError):
        split_jpeg_stream(b"".join(frames)[:-10])


def test_jpeg_splitter_takes_the_stream_in_any_pieces():
    frames = [jpeg(value, size=(64, 48)) for value in (3, 90, 200, 17)]
    stream = b"".join(frames)
    for piece in (1, 7, 333, len(stream)):
        splitter, found = JpegSplitter(), []
        for start in range(0, len(stream), piece):
            found += splitter.feed(stream[start : start + piece])
        splitter.finish()
        assert found == frames
