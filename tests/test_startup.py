"""What a run does not pay for at its start and its end (issue 13, item 9: speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.config.run_mode import mode_may_be_set, skip_mode_composition
from tests.conftest import ROOT


def test_the_report_imports_neither_pandas_nor_altair() -> None:
    # Both cost about a second at the end of every run; the report's tables are small.
    code = (
        "import sys, runner.run, runner.report.render, runner.report.scores\n"
        "heavy = [m for m in ('pandas', 'altair', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_a_plain_run_composes_its_config_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from hydra._internal.hydra import Hydra

    monkeypatch.setattr(Hydra, "get_mode", Hydra.get_mode)  # restored after the test
    skip_mode_composition(["experiment=demo_file", "max_queries=5", "-m"])
    assert Hydra.get_mode(object(), "config", []) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "may"),
    [
        (["experiment=x", "max_queries=5"], False),
        (["-m", "experiment=x", "max_queries=5,10"], False),
        (["experiment=x", "hydra.mode=MULTIRUN"], True),
        (["experiment=x", "hydra/launcher=joblib"], True),
        (["--config-dir", "elsewhere", "experiment=x"], True),
        (["experiment=sweep"], True),  # its YAML writes global keys
        (["model=plain"], False),
        (["model=[plain,sweep]"], True),
    ],
)
def test_the_mode_is_read_when_the_command_line_may_set_it(
    tmp_path: Path, argv: list[str], may: bool
) -> None:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "config.yaml").write_text("max_queries: 10\n")
    (tmp_path / "experiment" / "sweep.yaml").write_text(
        "# @package _global_\nhydra:\n  mode: MULTIRUN\n"
    )
    (tmp_path / "model" / "sweep.yaml").write_text("# @package _global_\nmax_queries: 1\n")
    (tmp_path / "model" / "plain.yaml").write_text("api: openai\n")
    assert mode_may_be_set(argv, tmp_path) is may


def test_the_report_reads_results_under_a_memory_cap(tmp_path: Path) -> None:
    # Before: DuckDB's default (80% of RAM) and every prompt's text in memory; a
    # 1,000,000-prompt run's report peaked at 504 MB RSS, now about 200 MB.
    from runner.report.data import _open

    completed = tmp_path / "completed.jsonl"
    lines = [
        '{"prompt_key": "a", "line": 1, "status": "ok", "prompt": "long text", "api": "x"}',
        '{"prompt_key": "b", "line": 2, "status": "error", "prompt": "failed", "error": "e"}',
    ]
    completed.write_text("\n".join(lines) + "\n")
    with _open(completed, tmp_path) as con:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row == ("61.0 MiB",)  # 64MB, as DuckDB shows it
        kept = con.execute("SELECT prompt_key, prompt FROM r ORDER BY 1").fetchall()
    assert kept == [("a", None), ("b", '"failed"')]  # only failed prompts keep their text
