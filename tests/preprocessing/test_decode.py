import io

import pytest
from PIL import Image

from sfp_preprocess.decode import DecodeError, DecodeParams, decode_clip, split_jpeg_stream


def sizes(clip):
    return {Image.open(io.BytesIO(frame)).size for frame in clip.frames}


def test_kinetics_clip_at_30_fps_short_side_256(fixtures_dir):
    clip = decode_clip(str(fixtures_dir / "videos" / "kinetics_clip_340x256_10s.mp4"), DecodeParams())
    assert len(clip.frames) == 300
    assert (clip.width, clip.height) == (340, 256) and sizes(clip) == {(340, 256)}
    assert clip.timestamps[:3] == pytest.approx([0, 1 / 30, 2 / 30])


def test_short_side_resize_keeps_aspect_and_even_sizes(fixtures_dir):
    clip = decode_clip(str(fixtures_dir / "videos" / "kinetics_clip_340x256_10s.mp4"), DecodeParams(short_side=128))
    assert (clip.width, clip.height) == (170, 128)


def test_25_fps_avi_with_audio_is_resampled_to_30(fixtures_dir):
    clip = decode_clip(str(fixtures_dir / "videos" / "mpeg4_320x240_25fps_audio.avi"), DecodeParams())
    assert abs(len(clip.frames) - 6.56 * 30) <= 2
    assert clip.height == 256 and clip.width % 2 == 0


def test_window_is_cut(fixtures_dir):
    clip = decode_clip(str(fixtures_dir / "videos" / "kinetics_clip_340x256_10s.mp4"), DecodeParams(), 2.0, 4.5)
    assert abs(len(clip.frames) - 75) <= 1


def test_not_a_video_is_a_decode_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video")
    with pytest.raises(DecodeError) as error:
        decode_clip(str(path), DecodeParams())
    assert error.value.stage == "decode"


def test_concat_lists_are_refused(tmp_path, fixtures_dir):
    """An untrusted file may not make ffmpeg open other files: only container demuxers are allowed."""
    listing = tmp_path / "playlist.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile '{fixtures_dir / 'videos' / 'h264_340x256_32frames.mp4'}'\n")
    with pytest.raises(DecodeError):
        decode_clip(str(listing), DecodeParams())


def test_split_jpeg_stream_round_trip():
    frames = []
    for value in (0, 128, 255):
        buffer = io.BytesIO()
        Image.new("RGB", (16, 8), (value, value, value)).save(buffer, format="JPEG")
        frames.append(buffer.getvalue())
    assert split_jpeg_stream(b"".join(frames)) == frames
    with pytest.raises(DecodeError):
        split_jpeg_stream(b"".join(frames)[:-10])
