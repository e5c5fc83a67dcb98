"""Every user mistake is one line: `sfp: error: <what> (<where>)` on stderr and exit 2, never a traceback, and nothing
is left half-written. Every command meets bad input here (the recipe commands a missing or broken recipe).

Real inputs made here: a frame store written with the writer, then damaged; a local MLflow store (SQLite) with a
registered model that has one version; a text file posing as a video. Nothing starts Ray.
"""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfp_app.cli.main import main
from sfp.framestore import EncodedClip, FrameStore, finalize_store, shard_name_for, write_shard

DASH_IDS = ("-LZs5myI0JV_000240_000242", "-oAbCdEfGhI_000010_000020", "-h_ZZZZZZZZ_000000_000010")


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def make_clip(clip_id: str, grey: int, frames: int = 4) -> EncodedClip:
    return EncodedClip(
        clip_id=clip_id, label="cat", label_id=0, split="train", source_path=f"videos/{clip_id}.mp4",
        start_sec=None, end_sec=None, fps=30.0, width=48, height=32,
        frames=[jpeg(grey)] * frames, timestamps=[i / 30 for i in range(frames)],
    )


def build_store(uri: str, clip_ids=DASH_IDS + ("plain",)) -> None:
    clips = [make_clip(clip_id, 40 * (position % 5 + 1)) for position, clip_id in enumerate(clip_ids)]
    shard, records = write_shard(uri, shard_name_for(clip_ids), clips)
    finalize_store(uri, shards=[shard], records=records, errors=[], classes=["cat"], source_rows=len(clips),
                   source={"format": "csv", "sha256": "x"}, decode={"fps": 30}, code_version="test")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(err: str, *parts: str) -> None:
    assert err.startswith("sfp: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, (part, err)


@pytest.fixture
def store(tmp_path) -> str:
    uri = str(tmp_path / "store")
    build_store(uri)
    return uri


# --- clip ids as positionals, whatever their first character -----------------------------------------------------


@pytest.mark.parametrize("clip_id", DASH_IDS)
@pytest.mark.parametrize("placement", ["id first", "id last", "after --"])
def test_preview_takes_clip_ids_that_begin_with_a_dash(store, tmp_path, capsys, clip_id, placement):
    sheet = tmp_path / "sheet.jpg"
    argv = {
        "id first": ["framestore", "preview", store, clip_id, "-o", str(sheet), "--frames", "4"],
        "id last": ["framestore", "preview", store, "-o", str(sheet), "--frames=4", clip_id],
        "after --": ["framestore", "preview", "-o", str(sheet), "--frames", "4", "--", store, clip_id],
    }[placement]

    code, out, err = run(argv, capsys)

    assert (code, err) == (0, "")
    assert f"4 frames of {clip_id} (cat)" in out
    grey = 40 * (DASH_IDS.index(clip_id) + 1)
    assert abs(np.asarray(Image.open(sheet).convert("RGB")).mean() - grey) < 4  # that clip's frames, no other's


def test_a_clip_that_is_not_there_is_one_line(store, tmp_path, capsys):
    code, _, err = run(["framestore", "preview", store, "-nothere_000000_000010", "-o", str(tmp_path / "s.jpg")],
                       capsys)

    assert code == 2
    assert_one_line(err, "no clip '-nothere_000000_000010'", store)


# --- frame store: output folder, damaged files ---------------------------------------------------------------------


def test_preview_into_a_folder_that_does_not_exist_is_one_line(store, tmp_path, capsys):
    missing = tmp_path / "no" / "such"

    code, _, err = run(["framestore", "preview", store, "plain", "-o", str(missing / "sheet.jpg")], capsys)

    assert code == 2
    assert err == f"sfp: error: no such folder for the contact sheet ({missing})\n"


def test_preview_to_a_name_that_is_no_picture_is_one_line(store, tmp_path, capsys):
    code, _, err = run(["framestore", "preview", store, "plain", "-o", str(tmp_path / "sheet.txt")], capsys)

    assert code == 2
    assert_one_line(err, "sheet.txt", "picture")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def the_shard(uri: str) -> Path:
    (shard,) = FrameStore.open(uri).manifest.shards
    return Path(uri) / shard.path


def test_preview_over_a_truncated_shard_is_one_line_naming_the_shard(store, tmp_path, capsys):
    shard = the_shard(store)
    truncate(shard)

    code, _, err = run(["framestore", "preview", store, "plain", "-o", str(tmp_path / "s.jpg")], capsys)

    assert code == 2
    assert_one_line(err, "damaged or truncated", f"({shard})")
    assert not (tmp_path / "s.jpg").exists()


def test_ls_and_preview_over_a_truncated_index_are_one_line_naming_it(store, tmp_path, capsys):
    index = Path(store) / "_index.parquet"
    truncate(index)

    for argv in (["framestore", "ls", store], ["framestore", "preview", store, "plain", "-o", str(tmp_path / "s.jpg")]):
        code, out, err = run(argv, capsys)
        assert (code, out) == (2, "")
        assert_one_line(err, "damaged or truncated", f"({index})")


def test_evaluate_over_a_truncated_shard_stops_before_any_work(store, capsys):
    shard = the_shard(store)
    truncate(shard)

    # the model is never looked up: the store is checked first, before MLflow and before Ray
    code, _, err = run(["evaluate", "models:/anything@any", "--framestore", store, "--split", "train"], capsys)

    assert code == 2
    assert_one_line(err, "damaged or truncated", f"({shard})")


def test_evaluate_on_a_split_without_clips_is_one_line(store, capsys):
    code, _, err = run(["evaluate", "models:/anything@any", "--framestore", store, "--split", "val"], capsys)

    assert code == 2
    assert_one_line(err, "no clips in split 'val'", "'train': 4", store)


# --- model URIs that name nothing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """A local MLflow store with the registered model `tiny` at version 1, alias `good`, and one run without a model."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.create_run(client.create_experiment("e", artifact_location=(root / "artifacts").as_uri()))
    client.create_registered_model("tiny")
    client.create_model_version("tiny", source=(root / "artifacts" / "nothing").as_uri(), run_id=run.info.run_id)
    client.set_registered_model_alias("tiny", "good", "1")
    return uri, run.info.run_id


MISSING = {
    "models:/nope@good": "Registered Model with name=nope not found",
    "models:/tiny@gone": "Registered model alias gone not found",
    "models:/tiny/7": "Model Version (name=tiny, version=7) not found",
    "runs:/0123456789abcdef0123456789abcdef/model": "Run with id=0123456789abcdef0123456789abcdef not found",
    "runs:/{run}/model": "Failed to download artifacts from path 'model'",
}


@pytest.mark.parametrize("pattern", MISSING)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_model_uri_that_names_nothing_is_one_line(registry, store, fixtures_dir, monkeypatch, capsys, pattern,
                                                     command):
    tracking_uri, run_id = registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    uri = pattern.format(run=run_id)
    argv = {
        "predict": ["predict", uri, str(fixtures_dir / "videos" / "h264_340x256_32frames.mp4")],
        "evaluate": ["evaluate", uri, "--framestore", store, "--split", "train"],
    }[command]

    code, out, err = run(argv, capsys)

    assert (code, out) == (2, "")
    assert_one_line(err, MISSING[pattern], f"({uri} in {tracking_uri}; ")


def test_evaluate_of_a_folder_that_is_no_checkpoint_is_one_line(store, tmp_path, capsys):
    code, _, err = run(["evaluate", str(tmp_path / "nothing"), "--framestore", store, "--split", "train"], capsys)

    assert code == 2
    assert_one_line(err, "neither models:/, runs:/ nor a training checkpoint folder", "train_state.json")


def test_predict_on_a_file_that_is_not_a_video_is_one_line(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("these are notes, not a video\n")

    # the file is probed before the model is looked up: no MLflow store is needed to say so
    code, out, err = run(["predict", "models:/anything@any", str(text)], capsys)

    assert (code, out) == (2, "")
    assert err == f"sfp: error: not a video ffmpeg can read: Invalid data found when processing input ({text})\n"


def test_predict_into_a_folder_that_does_not_exist_is_one_line(fixtures_dir, tmp_path, capsys):
    video = fixtures_dir / "videos" / "h264_340x256_32frames.mp4"

    code, _, err = run(["predict", "models:/anything@any", str(video), "-o", str(tmp_path / "no" / "x.csv")], capsys)

    assert code == 2
    assert err == f"sfp: error: no such folder for the output ({tmp_path / 'no'})\n"


# --- a reader that goes away ---------------------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly_as_unix_tools_do(store, repo_root):
    # `sfp framestore ls URI | head`: the reader is gone before sfp writes (it closes its end at once, while sfp
    # is still importing), so every write fails with EPIPE
    process = subprocess.Popen([sys.executable, "-m", "sfp_app.cli.main", "framestore", "ls", store],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=repo_root)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)

    assert stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert process.returncode == 141  # 128 + SIGPIPE: what a shell shows for `yes | head -1`'s `yes`


def test_head_of_a_listing_gets_its_lines_and_no_traceback(tmp_path, repo_root):
    uri = str(tmp_path / "big")
    build_store(uri, clip_ids=[f"clip{number:05d}_{'x' * 40}" for number in range(1500)])  # > 64 KiB listed

    completed = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -m sfp_app.cli.main framestore ls "
                                f"{uri} | head -2"], capture_output=True, text=True, cwd=repo_root, timeout=120)

    lines = completed.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("clip_id\tpath\t") and lines[1].startswith("clip00000_")
    assert completed.stderr == ""
    assert completed.returncode == 141


# --- every other command: a recipe, store or file that is not there or not what it says ------------------------------

RECIPE_COMMANDS = {
    "train": ["train", "{recipe}"],
    "finetune-ava": ["finetune-ava", "{recipe}"],
    "preprocess": ["preprocess", "{recipe}"],
    "config show": ["config", "show", "{recipe}"],
    "model summary": ["model", "summary", "{recipe}"],
    "demo": ["demo", "--config", "{recipe}", "--workdir", "{tmp}/work"],
    "experiment ablation": ["experiment", "ablation", "--config", "{recipe}"],
}


@pytest.mark.parametrize("command", RECIPE_COMMANDS)
def test_a_recipe_that_is_not_there_or_not_yaml_is_one_line(command, tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim: [epochs: 4\n")
    for recipe, expected in ((tmp_path / "missing.yaml", f"sfp: error: config file not found: {tmp_path}/missing.yaml"),
                             (broken, f"sfp: error: {broken}: not valid YAML (")):
        argv = [part.format(recipe=recipe, tmp=tmp_path) for part in RECIPE_COMMANDS[command]]

        code, out, err = run(argv, capsys)

        assert (code, out) == (2, ""), (argv, err)
        assert_one_line(err, expected)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.yaml"]  # nothing made: no work folder


@pytest.mark.parametrize("subcommand", ["inspect", "ls", "errors", "verify"])
def test_a_frame_store_that_is_not_there_is_one_line(subcommand, tmp_path, capsys):
    code, out, err = run(["framestore", subcommand, str(tmp_path / "nothing")], capsys)

    assert (code, out) == (2, "")
    assert err == (f"sfp: error: {tmp_path / 'nothing'}: no frame store here (_manifest.json missing: never written, "
                   "or still being written)\n")
    assert not (tmp_path / "nothing").exists()


def test_model_import_of_a_missing_or_foreign_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    foreign = tmp_path / "notes.pyth"
    foreign.write_text("not a state dict\n")
    output = tmp_path / "imported.pt"
    for source, expected in ((tmp_path / "missing.pyth", f"sfp: error: state dict not found: {tmp_path}/missing.pyth"),
                             (foreign, f"sfp: error: {foreign}: not a torch state dict (torch.load: ")):
        code, out, err = run(["model", "import", str(source), "--from", "pytorchvideo", "--arch", "slowfast_r50",
                              "-o", str(output)], capsys)

        assert (code, out) == (2, "")
        assert_one_line(err, expected)
    assert not output.exists()


def test_datasets_synth_with_an_unknown_key_is_one_line_and_makes_no_folder(tmp_path, capsys):
    code, out, err = run(["datasets", "synth", "--out", str(tmp_path / "synth"), "clip_per_class=3"], capsys)

    assert (code, out) == (2, "")
    assert err == "sfp: error: config: clip_per_class: unknown key\n"
    assert not (tmp_path / "synth").exists()


def test_datasets_synth_ava_with_an_unknown_key_or_a_missing_config_is_one_line_and_makes_no_folder(tmp_path, capsys):
    for argv, expected in ((["--out", str(tmp_path / "movies"), "movie_count=3"],
                            "sfp: error: config: movie_count: unknown key\n"),
                           (["--out", str(tmp_path / "movies"), "--config", str(tmp_path / "nope.yaml")],
                            f"sfp: error: config file not found: {tmp_path / 'nope.yaml'}\n")):
        code, out, err = run(["datasets", "synth-ava", *argv], capsys)

        assert (code, out, err) == (2, "", expected)
    assert not (tmp_path / "movies").exists()


@pytest.mark.parametrize(("option", "expected"), [
    (["--s3-port", "99999"], "sfp stack up: s3_port: Input should be less than or equal to 65535 (got 99999)"),
    (["--timeout", "0"], "sfp stack up: startup_timeout_s: Input should be greater than 0 (got 0.0)"),
])
def test_stack_up_with_a_bad_option_is_one_line_and_starts_nothing(option, expected, tmp_path, capsys):
    code, out, err = run(["stack", "up", "--data-dir", str(tmp_path / "stack"), *option], capsys)

    assert (code, out, err) == (2, "", f"sfp: error: {expected}\n")
    assert not (tmp_path / "stack").exists()


def test_stack_down_where_nothing_runs_says_so(tmp_path, capsys):
    code, out, err = run(["stack", "down", "--data-dir", str(tmp_path / "stack")], capsys)

    assert (code, out.strip(), err) == (0, f"nothing running recorded in {tmp_path / 'stack'}", "")


def test_predict_on_a_video_that_is_not_there_is_one_line(tmp_path, capsys):
    code, out, err = run(["predict", "models:/anything@any", str(tmp_path / "missing.mp4")], capsys)

    assert (code, out) == (2, "")
    assert err == f"sfp: error: {tmp_path / 'missing.mp4'}: no such video file\n"


@pytest.mark.parametrize("action", [["list"], ["logs", "raysubmit_x"], ["stop", "raysubmit_x"]])
def test_jobs_with_an_address_that_is_no_url_is_one_line(action, capsys):
    code, out, err = run(["jobs", *action, "--address", "head-node"], capsys)

    assert (code, out) == (2, "")
    assert err == ("sfp: error: Jobs API address 'head-node': expected http://HOST:PORT (the Ray dashboard, "
                   "port 8265)\n")
