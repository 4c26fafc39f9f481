"""What a run does not pay for at its start and its end (issue 13, item 9: speed)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from runner.config.run_mode import is_plain_run
from runner.errors import RunnerError
from tests.helpers import write_jsonl


class _Stopped(RunnerError):
    exit_code = 7


class _Ended(RunnerError):
    exit_code = 1


def _stop(*_args: Any, **_kwargs: Any) -> Any:
    raise _Stopped("stopped on purpose")


def _no_exit_folder(*_args: Any, **_kwargs: Any) -> str:
    raise AssertionError("a plain run passes its exit status through no folder")


def test_a_plain_run_composes_its_config_once_and_returns_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One composition, Hydra left as it is (nothing patched), the status returned."""
    from hydra._internal.hydra import Hydra

    import runner.__main__ as entry
    import runner.run

    get_mode, compose_config = Hydra.get_mode, Hydra.compose_config
    composed: list[str] = []

    def counted(self: Hydra, *args: Any, **kwargs: Any) -> Any:
        composed.append(str(kwargs.get("run_mode")))
        return compose_config(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", counted)
    monkeypatch.setattr(runner.run, "execute_run", _stop)
    monkeypatch.setattr(tempfile, "mkdtemp", _no_exit_folder)
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    args = [f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'out'}"]
    assert entry.main(["experiment=exp", *args]) == 7
    assert composed == ["RunMode.RUN"]
    assert Hydra.get_mode is get_mode


def test_a_sweep_or_a_flag_goes_through_hydra() -> None:
    assert is_plain_run(["experiment=demo_file", "max_queries=5"])
    assert not is_plain_run(["experiment=demo_file", "max_queries=5,10", "-m"])
    assert not is_plain_run(["experiment=demo_file", "--cfg", "job"])
    assert not is_plain_run(["experiment=demo_file", "hydra.mode=MULTIRUN"])


@pytest.mark.parametrize(
    ("argv", "plain"),
    [
        (["experiment=x", "max_queries=5"], True),
        (["experiment=sweep"], True),  # its YAML sets hydra.mode: the composed config says
        (["model=[plain,sweep]"], True),  # a list value, not a sweep
        (["-m", "experiment=x", "max_queries=5,10"], False),
        (["experiment=x", "max_queries=5,10"], False),  # Hydra says sweep or refuses
        (["experiment=x", "max_queries=range(1,3)"], False),
        (["experiment=x", "run_id='a,b'"], True),  # a quoted string
        (["experiment=x", "hydra.mode=MULTIRUN"], False),
        (["experiment=x", "hydra/launcher=joblib"], False),
        (["experiment=x", "+hydra.job.chdir=true"], False),
        (["--config-dir", "elsewhere", "experiment=x"], False),
    ],
)
def test_only_flags_hydra_overrides_and_sweeps_skip_the_plain_path(
    argv: list[str], plain: bool
) -> None:
    # Before: the YAML of each group named was searched for "_global_" or "hydra", so every
    # experiment YAML (all carry `# @package _global_`) took hydra.main's two compositions.
    assert is_plain_run(argv) is plain


def _counted_composes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from hydra._internal.hydra import Hydra

    compose_config = Hydra.compose_config
    composed: list[str] = []

    def counted(self: Hydra, *args: Any, **kwargs: Any) -> Any:
        composed.append(str(kwargs.get("run_mode")))
        return compose_config(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", counted)
    return composed


def test_a_yaml_experiment_is_a_plain_run_composed_once_then_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`# @package _global_` and a defaults list of its own: one composition, then none."""
    import runner.__main__ as entry
    import runner.run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    composed = _counted_composes(monkeypatch)
    seen: list[tuple[int, str]] = []

    def stop(settings: Any, *_args: Any, **_kwargs: Any) -> Any:
        seen.append((settings.max_queries, settings.experiment.file))
        raise _Ended("ended on purpose")  # exit 1: a config the run accepted, remembered

    monkeypatch.setattr(runner.run, "execute_run", stop)
    experiments = tmp_path / "experiments"
    write_jsonl(experiments / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    (experiments / "conf" / "experiment").mkdir(parents=True)
    (experiments / "conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /evaluation: includes\n"
        "experiment: {file: exp.jsonl, name: mine}\nmax_queries: 77\n"
    )
    args = [f"experiments_dir={experiments}", f"outputs_dir={tmp_path / 'out'}"]
    assert entry.main(["experiment=mine", *args]) == 1
    assert composed == ["RunMode.RUN"]  # before: MULTIRUN (hydra.main's mode), then RUN
    assert entry.main(["experiment=mine", *args]) == 1
    assert composed == ["RunMode.RUN"]  # the remembered config, loaded
    assert seen == [(77, "exp.jsonl"), (77, "exp.jsonl")]


def test_the_report_reads_results_under_a_memory_cap(tmp_path: Path) -> None:
    # Before: DuckDB's default (80% of RAM) and every prompt's text in memory; a
    # 1,000,000-prompt run's report peaked at 504 MB RSS, now about 200 MB.
    from runner.report.results_db import open_results

    completed = tmp_path / "completed.jsonl"
    lines = [
        '{"prompt_key": "a", "line": 1, "status": "ok", "prompt": "long text", "api": "x"}',
        '{"prompt_key": "b", "line": 2, "status": "error", "prompt": "failed", "error": "e"}',
    ]
    completed.write_text("\n".join(lines) + "\n")
    with open_results(completed, tmp_path) as con:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row == ("61.0 MiB",)  # 64MB, as DuckDB shows it
        kept = con.execute("SELECT prompt_key, prompt FROM r ORDER BY 1").fetchall()
    assert kept == [("a", None), ("b", '"failed"')]  # only failed prompts keep their text
