"""CLI habits: --version, -q/-v, --json last line, help on every option, exit codes, info."""
from __future__ import annotations

import json

import pytest

from graphemb.cli.main import build_parser, main
from graphemb.cli.output import RESULT_COMMANDS, subcommands

TINY = ["--set", "train.epochs=2", "--set", "model.encoder.hidden_channels=8",
        "--set", "data.options={num_nodes: 40, feature_dim: 5}"]
MUST_HAVE_JSON = {"train", "evaluate", "embed", "mag encode", "mag train", "match build", "match embed", "match run"}


def _leaves():
    return [(path, p) for path, p in subcommands(build_parser())
            if not any(a.__class__.__name__ == "_SubParsersAction" for a in p._actions)]


def test_version(capsys):
    from graphemb import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"graphemb {__version__}"


def test_every_command_has_quiet_verbose_and_result_commands_have_json():
    leaves = dict(_leaves())
    assert MUST_HAVE_JSON <= set(leaves) and MUST_HAVE_JSON <= RESULT_COMMANDS
    for path, p in leaves.items():
        opts = {o for a in p._actions for o in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= opts, path
        if path in RESULT_COMMANDS:
            assert "--json" in opts, path


def test_every_option_has_help_and_no_docstring_markup():
    parser = build_parser()
    for path, p in [("", parser), *subcommands(parser)]:
        for a in p._actions:
            if a.help == "==SUPPRESS==":
                continue
            assert a.help, f"`graphemb {path}` option {a.option_strings or a.dest} has no help text"
        text = p.format_help()
        for markup in ("``", ":func:", ":class:", ":mod:"):
            assert markup not in text, f"`graphemb {path} --help` shows raw markup {markup!r}"


def test_train_json_is_last_line_and_quiet_prints_only_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRAPHEMB_PROGRESS", raising=False)
    run = tmp_path / "run"
    assert main(["train", "gae", "--dataset", "synthetic", "--out", str(run), "--json", *TINY]) == 0
    out, err = capsys.readouterr()
    rec = json.loads(out.strip().splitlines()[-1])
    assert rec["model"] == "gae" and rec["epochs_run"] == 2 and rec["run_dir"] == str(run)
    assert "trained gae" in err  # the human line moves to stderr under --json
    assert main(["info", str(run), "-q", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 and err == ""
    info = json.loads(out)
    assert (info["model"], info["dataset"], info["task"]) == ("gae", "synthetic", "node")
    assert info["train"]["epochs_run"] == 2 and info["embeddings"][0] == 40
    import os

    assert os.environ["GRAPHEMB_PROGRESS"] == "0"  # --quiet switches progress bars off


def test_info_table(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "gae", "--dataset", "synthetic", "--out", str(run), "-q", *TINY]) == 0
    assert capsys.readouterr().out == ""
    assert main(["evaluate", str(run), "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    for needle in ("model", "gae", "dataset", "synthetic", "eval node/linear", "accuracy", "graphemb (run)",
                   "train.epochs", "40 x 16"):
        assert needle in out, needle


@pytest.mark.parametrize("argv", [
    ["train", "gae", "--dataset", "synthetic", "--out", "x", "--no-such-option"],
    ["train", "gae", "--out", "x", "--task", "nonsense"],
])
def test_argparse_usage_errors_exit_2(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


@pytest.mark.parametrize("argv", [
    ["train", "no-model", "--dataset", "synthetic", "--out", "x"],               # unknown name
    ["train", "gae", "--dataset", "synthetic", "--set", "train.nope=1", "--out", "x"],  # unknown key
    ["info", "not-a-run"],                                                       # RUN_DIR is not a run
    ["evaluate", "not-a-run"],
])
def test_config_errors_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("graphemb: error:")


def test_runtime_failures_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.txt").write_text("a claim\n")
    # a corpus file that does not exist: the data are missing, the command line was fine
    assert main(["match", "build", "missing.csv", "b.txt", "--out", "g"]) == 1
    assert "missing.csv" in capsys.readouterr().err
    from graphemb import api

    def diverge(*a, **k):
        raise FloatingPointError("training loss became nan at epoch 3")

    monkeypatch.setattr(api, "train", diverge)
    assert main(["train", "gae", "--dataset", "synthetic", "--out", "x"]) == 1


def test_ctrl_c_exits_130(monkeypatch, capsys):
    from graphemb import api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "train", interrupted)
    assert main(["train", "gae", "--dataset", "synthetic", "--out", "x"]) == 130
    assert "interrupted" in capsys.readouterr().err
