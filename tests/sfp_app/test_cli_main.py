"""sfp_app.cli.main: every command module is imported by name (none is skipped), and a command's options may come
before, between or after its positionals (`sfp train RECIPE --dry-run a=b`)."""

import pytest
import yaml

from sfp_app.cli import main as cli_main
from sfp_app.cli.main import build_parser, main

COMMANDS = ["config", "datasets", "preprocess", "framestore", "train", "finetune-ava", "predict", "evaluate", "model",
            "ava-eval", "demo", "experiment", "stack", "jobs"]


def subcommands(parser) -> list[str]:
    (action,) = [action for action in parser._actions if action.dest == "command"]
    return list(action.choices)


def test_every_command_module_is_imported_explicitly_in_help_order():
    assert subcommands(build_parser()) == COMMANDS
    assert not hasattr(cli_main, "COMMAND_MODULES")  # no list of names that a missing module drops out of
    assert [module.__name__ for module in cli_main.COMMANDS][:2] == ["sfp_app.cli.config", "sfp_app.cli.datasets"]


@pytest.mark.parametrize("argv", [
    ["train", "r.yaml", "--dry-run", "a=b", "c.d=1"],
    ["train", "r.yaml", "a=b", "--dry-run", "c.d=1"],
    ["train", "--dry-run", "r.yaml", "a=b", "c.d=1"],
    ["--verbose", "train", "r.yaml", "a=b", "--dry-run", "c.d=1"],
])
def test_overrides_may_follow_options(argv):
    args = build_parser().parse_args(argv)
    assert (args.recipe, args.dry_run, args.overrides) == ("r.yaml", True, ["a=b", "c.d=1"])


def test_an_override_after_an_option_takes_effect(repo_root, capsys):
    recipe = str(repo_root / "configs" / "kinetics" / "slowfast_r50_8x8.yaml")
    assert main(["config", "show", recipe, "--kind", "train", "optim.epochs=3", "--workdir", "w", "seed=7"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert (resolved["optim"]["epochs"], resolved["seed"]) == (3, 7)


def test_a_job_gets_its_command_line_verbatim():
    args = build_parser().parse_args(["jobs", "submit", "--no-wait", "--", "train", "r.yaml", "--dry-run", "a=b"])
    assert (args.no_wait, args.arguments) == (True, ["--", "train", "r.yaml", "--dry-run", "a=b"])


def test_a_clip_id_that_begins_with_a_dash_is_still_a_positional():
    args = build_parser().parse_args(["framestore", "preview", "s3://b/s", "-LZs5myI0JV_000240_000242", "-o", "x.jpg"])
    assert (args.uri, args.clip_id, args.output) == ("s3://b/s", "-LZs5myI0JV_000240_000242", "x.jpg")


@pytest.mark.parametrize(("argv", "message"), [
    (["framestore", "preview", "s3://b/s"],
     "sfp: error: the following arguments are required: clip_id, -o/--output (usage: sfp framestore preview --help)"),
    (["train", "r.yaml", "--bogus", "a=b"], "sfp: error: unrecognized arguments: --bogus a=b (usage: sfp --help)"),
    (["predict", "--top-k", "x", "models:/m@a", "v.mp4"],
     "sfp: error: argument --top-k: invalid int value: 'x' (usage: sfp predict --help)"),
    (["ava-eval", "--groundtruth", "gt.csv", "--detections", "det.csv"],
     "sfp: error: the following arguments are required: --labelmap (usage: sfp ava-eval --help)"),
    (["nonsense"], "sfp: error: argument COMMAND: invalid choice: 'nonsense'"),
])
def test_argparse_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err
