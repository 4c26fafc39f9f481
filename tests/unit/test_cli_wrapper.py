"""Entry points share runner/cli.py (issue 13.6, part): none imports another's __main__,
and none tells errors apart by the module they come from."""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from runner import cli
from tests.helpers import write_jsonl

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_imports_an_entry_points_main() -> None:
    offenders = {
        str(path.relative_to(RUNNER)): sorted(n for n in _imports(path) if n.endswith("__main__"))
        for path in RUNNER.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_classifies_errors_by_their_module_name() -> None:
    # Reads only: naming a class made at run time (config/apis.py's Apis) sets one.
    found = [
        str(path.relative_to(RUNNER))
        for path in RUNNER.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr == "__module__"
        and isinstance(node.ctx, ast.Load)
    ]
    assert found == []


# -- every entry point maps failures the same way (issue 13.6) ----------------------------

SECRET = "sk-cliwrapper-0123456789abcdef"


def _exit_status(main: Callable[[list[str]], int], args: list[str]) -> int:
    """What the command exits with (argparse exits by itself on a bad flag)."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _boom(*_args: object, **_kwargs: object) -> NoReturn:
    raise RuntimeError(f"boom with {SECRET} in it\nsecond line")


def _entry_points(tmp: Path) -> list[tuple[str, list[str], list[str], str]]:
    """(module, bad arguments, arguments that reach the patched call, the call to patch)."""
    exp = [f"experiments_dir={tmp / 'experiments'}", f"outputs_dir={tmp / 'outputs'}"]
    missing = str(tmp / "missing")
    return [
        ("runner.__main__", ["experiment=nope", *exp], ["experiment=exp", *exp], "check_command"),
        ("runner.check", ["experiment=nope", *exp], ["experiment=exp", *exp], "check_experiment"),
        ("runner.evaluate", ["run=nope", *exp], ["run=latest", *exp], "evaluate"),
        (
            "runner.rephrase",
            ["experiment=nope", "rephrase=paraphrase", *exp],
            ["experiment=exp", "rephrase=paraphrase", *exp],
            "compose_settings",
        ),
        ("runner.index.__main__", ["--wait", "soon"], ["--outputs-dir", str(tmp)], "update_index"),
        ("runner.query.__main__", ["SELECT 1", "--outputs-dir", missing], ["SELECT 1"], "run_sql"),
        ("runner.report.__main__", ["colour=red"], [f"outputs_dir={tmp}"], "make_report"),
        ("runner.view.__main__", ["--outputs-dir", missing], ["--outputs-dir", str(tmp)], "_serve"),
        (
            "runner.cache.__main__",
            ["--cache-dir", missing, "explain", "run", "p1"],
            ["clear"],  # a missing cache is no error: the failure is in finding it
            "cache_folder",
        ),
        (
            "runner.upload_media",
            ["upload", "--file", missing, "--media-folder", str(tmp)],
            ["upload", "--file", str(tmp / "experiments" / "exp.jsonl"), "--media-folder", missing],
            "_plan_upload",
        ),
        ("runner.pipeline", ["not-a-setting"], [f"outputs_dir={tmp}"], "pipeline_from"),
    ]


MODULES = [m for m, *_ in _entry_points(Path("."))]


@pytest.mark.parametrize("module", MODULES)
def test_bad_input_exits_2_in_one_line_without_a_traceback(
    module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (entry,) = [e for e in _entry_points(tmp_path) if e[0] == module]
    main = importlib.import_module(module).main
    assert _exit_status(main, entry[1]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert out.err.strip(), "says what is wrong"


@pytest.mark.parametrize("module", MODULES)
def test_an_unexpected_error_exits_1_with_its_traceback_only_in_the_log(
    module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CLIWRAPPER_API_KEY", SECRET)  # a key this process knows: masked
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    (entry,) = [e for e in _entry_points(tmp_path) if e[0] == module]
    loaded = importlib.import_module(module)
    monkeypatch.setattr(loaded, entry[3], _boom)
    assert _exit_status(loaded.main, entry[2]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and SECRET not in err
    (line,) = [x for x in err.splitlines() if "boom" in x]
    assert line.startswith("error: unexpected RuntimeError: boom with")
    assert "second line" not in err  # one line
    (log,) = (tmp_path / "cache" / "runner" / "errors").glob("*.log")
    assert log.name.startswith(module.removesuffix(".__main__"))
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "_boom" in text and SECRET not in text


def test_a_job_that_fails_unexpectedly_exits_1_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a Hydra job (the run itself), as before it: no traceback on the terminal."""
    import runner.__main__ as entry
    import runner.run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(runner.run, "execute_run", _boom)
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    args = [f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'out'}"]
    assert entry.main(["experiment=exp", *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: unexpected RuntimeError: boom" in err
    assert list((tmp_path / "cache" / "runner" / "errors").glob("runner-*.log"))


def test_ctrl_c_exits_130_and_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(_args: list[str]) -> int:
        raise KeyboardInterrupt

    command = cli.Command("runner.demo", "key=value", "``python -m runner.demo``: a demo.")
    assert cli.main(command, interrupted, []) == 130
    assert cli.main(command, interrupted, ["--help"]) == 0
    assert "usage: " in capsys.readouterr().out


# -- "the latest run" means one run everywhere (issue 13.6) -------------------------------


def _run(outputs: Path, experiment: str, run_id: str, started: str) -> Path:
    folder = outputs / experiment / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"started_at": started}), encoding="utf-8")
    (folder / "completed.jsonl").write_text("", encoding="utf-8")
    return folder


def test_every_command_means_the_same_run_by_latest(tmp_path: Path) -> None:
    from runner.config.setup import _run_path
    from runner.evaluation.stored import find_run as evaluated
    from runner.output.resume import find_run as resumed
    from runner.report.runs import find_runs as reported

    outputs = tmp_path / "outputs"
    # Named by hand (run_id=): the name sorts last, but it started first.
    _run(outputs, "exp", "zz-mine", "2026-01-01T00:00:00+00:00")
    newest = _run(outputs, "exp", "20260102-000000-abcdef", "2026-01-02T00:00:00+00:00")
    _run(outputs, ".pipeline", "zzz", "2027-01-01T00:00:00+00:00")  # hidden: never a run
    assert resumed(outputs, "exp", "latest") == newest
    assert evaluated(outputs, "latest", "exp") == newest
    assert evaluated(outputs, "latest") == newest
    assert reported(outputs, "latest", "exp") == [newest]
    assert reported(outputs, "latest", None) == [newest]
    assert _run_path(str(outputs), "exp", "", "", "latest") == "exp/20260102-000000-abcdef"


def test_latest_is_compared_in_one_module_only() -> None:
    found = []
    for path in RUNNER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value == "latest"
                for c in [node.left, *node.comparators]
            ):
                found.append(str(path.relative_to(RUNNER)))
    assert found == []  # they compare with runner.run_dirs.LATEST


@pytest.mark.parametrize(
    ("module", "argv", "hint"),
    [
        # Issue 23.12: key=value is taken by every command; a misspelled one is named.
        ("runner.cache.__main__", ["stats", "cache_drr=/tmp/c"], "did you mean cache_dir=?"),
        ("runner.index.__main__", ["outputs_dri=out"], "did you mean outputs_dir=?"),
        ("runner.query.__main__", ["SELECT 1", "formt=json"], "did you mean format=?"),
    ],
)
def test_a_run_style_setting_given_to_a_flag_command_names_the_flag(
    module: str, argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main: Callable[[list[str]], int] = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert f"({hint})" in capsys.readouterr().err


def test_an_unknown_word_gets_no_made_up_flag(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.ArgumentParser(prog="p")
    parser.add_argument("--outputs-dir")
    with pytest.raises(SystemExit):
        parser.parse_args(["colour=red", "outputs-dir"])
    err = capsys.readouterr().err.rstrip()
    assert err.endswith("unrecognized arguments: colour=red outputs-dir")
