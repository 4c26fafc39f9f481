"""Evaluate a run already on disk: find its folder, read its results, score, index."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from runner.commands import shell_command
from runner.config.schema import RunConfig
from runner.cost.estimate import check_budget_priced
from runner.cost.spending import Spending
from runner.errors import BadInputError, RunnerError
from runner.evaluation.pipeline import EvaluationRun
from runner.output.run_folder import COMPLETED
from runner.providers import ProviderContext
from runner.run_dirs import LATEST, run_folders
from runner.wire_json import std_loads


@dataclass
class EvaluationReport:
    """What evaluating a stored run did."""

    run_dir: Path
    lines: int  # result lines scored (the last line of each prompt)
    rows: int  # rows appended to evaluations.jsonl
    errors: int  # step results that recorded an error
    steps: tuple[str, ...] = ()  # the steps scored, in order
    budget: str = ""  # what the judges spent, against max_cost_usd
    budget_reached: bool = False  # max_cost_usd stopped the judges
    spent_usd: float = 0.0  # what the judges spent (timed-out attempts at their reservation)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or self.budget_reached else 0


def find_run(outputs_dir: Path, run: str, experiment: str | None = None) -> Path:
    """The run folder ``run`` names: a path, a run id, or ``latest``.

    ``latest`` is the newest run (by ``started_at`` in run.json) of ``experiment``, or of all
    experiments when none is given.

    Raises:
        BadInputError: no such run, or a run id found under several experiments.
    """
    if not run:
        raise BadInputError("No run chosen: pass run=RUN_ID, run=latest or run=<run folder>")
    as_path = Path(run).expanduser()
    if (as_path / COMPLETED).is_file():
        return as_path
    parent = outputs_dir / experiment if experiment else outputs_dir
    runs = run_folders(outputs_dir, experiment, marker=COMPLETED)
    where = f"{parent} (experiment {experiment})" if experiment else str(outputs_dir)
    if run == LATEST:
        if not runs:
            raise BadInputError(f"No runs with a {COMPLETED} under {where}")
        return runs[-1]
    found = [r for r in runs if r.name == run]
    if not found:
        raise BadInputError(f"No run {run!r} with a {COMPLETED} under {where}")
    if len(found) > 1:
        names = ", ".join(str(r) for r in found)
        raise BadInputError(f"Run id {run!r} is ambiguous: {names}; pass experiment=NAME")
    return found[0]


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The result lines of a run, the last line of each prompt (a resumed run may repeat one)."""
    latest: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            if not text.endswith("\n"):
                break
            try:
                line = std_loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict):
                key = str(line.get("prompt_key", len(latest)))
                latest.pop(key, None)
                latest[key] = line
    return list(latest.values())


def evaluate_stored(
    settings: RunConfig,
    run_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> EvaluationReport:
    """Score a stored run with ``settings.evaluation``; nothing is regenerated.

    ``lines``: the results to score (default: the run folder's completed.jsonl); the
    evaluations go to ``run_dir``.

    Raises:
        BadInputError: no steps chosen, or a problem with a step or the run's results.
    """
    if not settings.evaluation:
        raise BadInputError("No evaluation chosen: pass evaluation=NAME (conf/evaluation/)")
    if lines is None:
        lines = read_lines(run_dir / COMPLETED)
    evaluation = EvaluationRun.create(settings, run_dir, env=env or {}, records=lines)
    check_budget_priced(settings, [])  # the judges' models need a price under a cap
    spending = Spending.for_run(settings)
    try:
        for line in lines:
            evaluation.on_result(line)
        context = ProviderContext(settings, env=env or {})
        asyncio.run(evaluation.run_judges(context, spending=spending))
    finally:
        evaluation.close()
    report = EvaluationReport(
        run_dir, len(lines), evaluation.writer.count, evaluation.errors, tuple(settings.evaluation)
    )
    report.budget = spending.budget.describe()
    report.budget_reached = spending.budget.exhausted
    report.spent_usd = spending.budget.spent_usd
    if settings.index:
        _index(Path(settings.outputs_dir), run_dir)
    return report


def completed_file_lines(path: Path) -> list[dict[str, Any]]:
    """The lines of any completed JSONL (prompto's too) as result lines to score.

    prompto writes no ``status``, ``prompt_key`` or ``line``: a line with a ``response`` is
    taken as answered, keyed by its ``id`` (else its line number).

    Raises:
        BadInputError: the file cannot be read.
    """
    try:
        texts = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"file={path}: cannot read it ({exc})") from None
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, text in enumerate(texts, start=1):
        try:
            line = std_loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(line, dict):
            continue
        key = str(line.get("prompt_key") or line.get("id", number))
        if key in seen:
            key = f"{key}@line{number}"
        seen.add(key)
        status = "ok" if line.get("response") is not None else "error"
        found.append({"status": status, **line, "prompt_key": key, "line": number})
    return found


def _index(outputs_dir: Path, run_dir: Path) -> None:
    """Index the run and its evaluations; a busy index never fails the evaluation."""
    try:
        from runner.evaluation.index import index_evaluations
        from runner.index import update_index

        if outputs_dir.is_dir():
            update_index(outputs_dir)
        index_evaluations(outputs_dir, [run_dir])
    except RunnerError as exc:
        command = shell_command("runner.index", "--outputs-dir", str(outputs_dir))
        logger.warning("The results index was not updated: {} (run {})", exc, command)
