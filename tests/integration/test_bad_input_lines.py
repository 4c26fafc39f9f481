"""Issue 23 item 9: every bad input is exit 2 with one line naming the file or the setting.

Each case runs the command line as a user would (``python -m runner...``), except a cache
that cannot be written: the tests run as root, who may write any file, so that failure is
made in-process (sqlite's own "readonly database" error raised by the store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.unit.test_bad_input_lines import RECORD as RECORD
from tests.unit.test_bad_input_lines import _cache_with_an_entry as _cache_with_an_entry
from tests.unit.test_bad_input_lines import _one_line as _one_line
from tests.unit.test_bad_input_lines import project as project


def _run(
    tmp_path: Path,
    module: str,
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env.update(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        PYTHONPATH=str(ROOT),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
    )
    full_env.update(env or {})
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return out.returncode, out.stdout, out.stderr


def _runner(project: Path, *args: str) -> tuple[int, str, str]:
    return _run(project, "runner", "experiment=e", "progress=off", "index=false", *args)


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("outputs_dir=afile", "is a file"),
        ("outputs_dir=afile/out", "lies under afile"),
        ("limits_dir=afile", "is a file"),
        ("limits_dir=afile/limits", "lies under afile"),
    ],
)
def test_a_folder_setting_that_is_a_file_is_one_line(
    project: Path, setting: str, where: str
) -> None:
    code, _, err = _runner(project, setting)
    assert code == 2
    _one_line(err, setting, where)
    assert (project / "afile").read_text(encoding="utf-8") == "not a folder\n"
    assert not (project / "outputs").exists()  # nothing was made


def test_a_default_limits_folder_that_cannot_be_made_is_one_line(project: Path) -> None:
    """``XDG_CACHE_HOME`` under a file: the run stopped as it paced its first prompt."""
    code, _, err = _run(
        project,
        "runner",
        "experiment=e",
        "progress=off",
        "index=false",
        env={"XDG_CACHE_HOME": str(project / "afile" / "cache")},
    )
    assert code == 2
    _one_line(err, "limits_dir:", "afile/cache/runner/limits", "shared_limits=none")
    assert not (project / "outputs").exists()  # no run folder: it never started


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_outputs_folder_is_one_line(project: Path) -> None:
    denied = project / "ro"
    denied.mkdir()
    denied.chmod(0o555)
    try:
        code, _, err = _runner(project, f"outputs_dir={denied}")
    finally:
        denied.chmod(0o755)
    assert code == 2
    _one_line(err, "outputs_dir=", "cannot write")


@pytest.mark.parametrize("module", ["runner", "runner.check"])
def test_a_misspelled_group_choice_names_the_choices(project: Path, module: str) -> None:
    code, _, err = _run(project, module, "experiment=e", "evaluation=include", "index=false")
    assert code == 2
    _one_line(err, "evaluation=include", "did you mean includes?", "length", "match")


def test_a_misspelled_choice_in_a_list_or_sweep_is_found(project: Path) -> None:
    code, _, err = _runner(project, "-m", "evaluation=[length,mtach]")
    assert code == 2
    _one_line(err, "evaluation=mtach", "did you mean match?")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("max_queries=abc", ("max_queries=abc", "takes a number")),
        ("max_queries=5,abc", ("max_queries=abc", "takes a number")),
        ("max_attempts=two", ("max_attempts=two", "takes a whole number")),
        ("index=maybe", ("index=maybe", "true or false")),
        # Every request failed with "OverflowError: cannot convert float infinity to integer".
        ("timeout_s=inf", ("timeout_s must be a finite number of seconds", "3600")),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line(
    project: Path, override: str, words: tuple[str, ...]
) -> None:
    code, _, err = _runner(project, override)
    assert code == 2
    _one_line(err, *words)


def test_evaluate_refuses_a_device(project: Path) -> None:
    made = Path("/dev/null-evaluations")
    existed = made.exists()
    code, _, err = _run(project, "runner.evaluate", "file=/dev/null", "evaluation=length")
    try:
        assert code == 2
        _one_line(err, "file=/dev/null", "not a regular file")
        assert made.exists() == existed
    finally:
        if made.is_dir() and not existed:
            for child in made.iterdir():
                child.unlink()
            made.rmdir()


def test_evaluate_refuses_a_fifo_instead_of_waiting_on_it(project: Path) -> None:
    fifo = project / "answers.jsonl"
    os.mkfifo(fifo)
    code, _, err = _run(project, "runner.evaluate", f"file={fifo}", "evaluation=length", timeout=30)
    assert code == 2
    _one_line(err, f"file={fifo}", "not a regular file")
    assert not (project / "answers-evaluations").exists()


def test_a_fifo_experiment_is_one_line(project: Path) -> None:
    os.mkfifo(project / "experiments" / "pipe.jsonl")
    code, _, err = _run(project, "runner", "experiment=pipe", "progress=off", timeout=30)
    assert code == 2
    _one_line(err, "pipe.jsonl", "not a regular file")


def test_report_out_an_existing_folder_is_one_line(project: Path) -> None:
    run = project / "outputs" / "e" / "r1"
    run.mkdir(parents=True)
    (run / "completed.jsonl").write_text(
        json.dumps({**RECORD, "response": "yes", "status": "ok", "prompt_key": "a"}) + "\n"
    )
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "experiment": "e"}))
    folder = project / "already"
    folder.mkdir()
    code, _, err = _run(project, "runner.report", "run=r1", f"out={folder}")
    assert code == 2
    _one_line(err, f"out={folder}", "is a folder")
    assert list(folder.iterdir()) == []
    code, _, err = _run(project, "runner.report", "run=r1", "out=afile/report.html")
    assert code == 2
    _one_line(err, "out=afile/report.html", "is a file")


@pytest.mark.parametrize("name", ["it's", "a=b", "two\nlines", "sp ace,comma"])
def test_evaluate_a_run_of_any_experiment_name(project: Path, name: str) -> None:
    """The run's folder names its input file in an override: quoted, whatever it holds."""
    run = project / "outputs" / name / "r1"
    run.mkdir(parents=True)
    line = {**RECORD, "response": "yes", "status": "ok", "prompt_key": "a", "line": 1}
    (run / "completed.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "input_file": "in.jsonl"}))
    code, out, err = _run(project, "runner.evaluate", "run=r1", "evaluation=length")
    assert code == 0, err
    assert "Scored 1 result(s)" in out
    assert (run / "evaluations.jsonl").is_file()


def test_cache_clear_of_no_cache_creates_none(project: Path) -> None:
    folder = project / "no-cache"
    code, out, err = _run(project, "runner.cache", "--cache-dir", str(folder), "clear")
    assert code == 0, err
    assert "no response cache" in out and "nothing to clear" in out
    assert not folder.exists()


def test_cache_dir_after_the_subcommand(project: Path) -> None:
    folder = project / "c"
    _cache_with_an_entry(folder)
    for command in ("stats", "clear"):
        code, out, err = _run(project, "runner.cache", command, "--cache-dir", str(folder))
        assert code == 0, err
        assert str(folder) in out
    code, _, err = _run(project, "runner.cache", "explain", "run1", "p1", "--cache-dir", "nope")
    assert code == 2
    _one_line(err, "no response cache at nope")


def test_query_out_a_folder_is_one_line(project: Path) -> None:
    (project / "qdir").mkdir()
    for out, words in (("qdir", "is a folder"), ("afile/rows.csv", "afile is a file")):
        code, _, err = _run(project, "runner.query", "--out", out, "--format", "csv", "SELECT 1")
        assert code == 2
        _one_line(err, f"--out {out}", words)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("model=", ("Could not find 'model/'", "gpt_4o_mini")),
        ("hydra/launcher=nope", ("Could not find 'hydra/launcher/nope'", "joblib")),
        ("hydra.run.dir=/proc/runner-x", ("cannot make the run's folder /proc/runner-x",)),
        ("max_queries=${oc.env:RUNNER_TEST_NOPE}", ("RUNNER_TEST_NOPE", "not found")),
    ],
)
def test_what_hydra_refuses_is_one_line(
    project: Path, override: str, words: tuple[str, ...]
) -> None:
    """Whatever no check of runner's caught first: Hydra's message, in one line."""
    code, _, err = _runner(project, override)
    assert code == 2
    _one_line(err, *words)
    assert "Config search path" not in err


def test_upload_media_refuses_a_fifo_instead_of_waiting_on_it(project: Path) -> None:
    fifo = project / "pipe.jsonl"
    os.mkfifo(fifo)
    code, _, err = _run(
        project,
        "runner.upload_media",
        "upload",
        "--file",
        str(fifo),
        "--media-folder",
        str(project),
        timeout=30,
    )
    assert code == 2
    _one_line(err, f"--file {fifo}", "not a regular file")
