"""The in-process probe (PyAV) says what ffprobe says, on every kind of source the tests decode; what it cannot read
cleanly is left to ffprobe, whose verdict stands."""

from pathlib import Path

import pytest

from sfp_preprocess.probe import parse_probe, probe_in_process, probe_video, probe_with_ffprobe
from sfp_preprocess.sandbox import DecodeError

# (name, ffmpeg arguments before the output); the names and arguments of test_decode.py's files, so that they are
# made once per session
SOURCES = {
    "rotated.mp4": ("-i", "{videos}/h264_340x256_32frames.mp4", "-c", "copy", "-metadata:s:v", "rotate=90"),
    "red_yuv444p10le.mkv": ("-f", "lavfi", "-i", "color=c=0xFF2000:s=96x64:r=30:d=1", "-pix_fmt", "yuv444p10le",
                            "-c:v", "ffv1"),
    "vfr.mp4": ("-f", "lavfi", "-i", "testsrc=s=64x48:r=30:d=2", "-vf", "select='not(between(n,10,29))'",
                "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p"),
    "start.ts": ("-f", "lavfi", "-i", "testsrc=s=64x48:r=30:d=1", "-c:v", "mpeg2video"),
    "delayed.mkv": ("-f", "lavfi", "-i", "sine=d=2", "-itsoffset", "0.5", "-f", "lavfi", "-i",
                    "testsrc=s=64x48:r=30:d=1.5", "-map", "0:a", "-map", "1:v", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p"),
    "cover_art.mp4": ("-i", "{videos}/h264_340x256_32frames.mp4", "-f", "lavfi", "-i", "color=red:s=64x64:d=1",
                      "-map", "0", "-map", "1", "-c:v:0", "copy", "-c:v:1", "png", "-disposition:v:1", "attached_pic"),
    "portrait_vp9.webm": ("-f", "lavfi", "-i", "testsrc2=s=90x160:r=24:d=1", "-c:v", "libvpx-vp9", "-b:v", "200k"),
}
FIXTURES = ["kinetics_clip_340x256_10s.mp4", "h264_340x256_32frames.mp4", "mpeg4_320x240_25fps_audio.avi"]


def source(name: str, make_video, videos: Path) -> Path:
    if name in FIXTURES:
        return videos / name
    return make_video(name, *(argument.format(videos=videos) for argument in SOURCES[name]))


@pytest.mark.parametrize("name", FIXTURES + list(SOURCES))
def test_the_in_process_probe_equals_ffprobe(name, make_video, videos):
    path = str(source(name, make_video, videos))
    data = probe_in_process(path)
    assert data is not None
    assert parse_probe(data) == probe_with_ffprobe(path, timeout_sec=30, max_memory_mb=2048)


def test_cover_art_is_not_the_video(make_video, videos):
    info = probe_video(str(source("cover_art.mp4", make_video, videos)), timeout_sec=30, max_memory_mb=2048)
    assert (info.stream_index, info.width, info.height) == (0, 340, 256)


def unreadable(folder: Path, videos: Path) -> dict[str, Path]:
    whole = (videos / "kinetics_clip_340x256_10s.mp4").read_bytes()
    files = {
        "text": "this is not a video",
        "concat list": f"ffconcat version 1.0\nfile '{videos / 'h264_340x256_32frames.mp4'}'\n",
        "hls playlist": f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nfile:{videos / 'h264_340x256_32frames.mp4'}"
                        "\n#EXT-X-ENDLIST\n",
    }
    paths = {}
    for what, text in files.items():
        paths[what] = folder / f"{what.replace(' ', '_')}.mp4"
        paths[what].write_text(text)
    paths["cut before its index"] = folder / "cut.mp4"  # this file's moov atom is at its end
    paths["cut before its index"].write_bytes(whole[: len(whole) // 2])
    return paths


def test_what_pyav_cannot_read_gets_ffprobes_verdict(tmp_path, videos):
    for what, path in unreadable(tmp_path, videos).items():
        assert probe_in_process(str(path)) is None, what
        with pytest.raises(DecodeError) as error:
            probe_video(str(path), timeout_sec=30, max_memory_mb=2048)
        assert error.value.stage == "probe", what
        with pytest.raises(DecodeError) as direct:
            probe_with_ffprobe(str(path), timeout_sec=30, max_memory_mb=2048)
        assert error.value.reason == direct.value.reason, what
