"""``python -m runner.evaluate run=RUN_ID evaluation=NAME [overrides]``: score a stored run.

``file=PATH`` instead of ``run=`` scores any completed JSONL (prompto's included): the
evaluations go to ``<stem>-evaluations/evaluations.jsonl`` beside it; the file is untouched.

``run`` is a run id, ``latest`` (the newest run of ``experiment=NAME`` if given, else of all
experiments) or a run folder. Nothing is regenerated: scores are appended to the run's
``evaluations.jsonl`` and indexed. Exit status: 0 when every step scored every response,
1 when some step recorded an error, 2 when the input or the configuration is wrong.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner import cli, logs
from runner.cli import Command
from runner.config.compose import compose_settings
from runner.config.overrides import quoted_override
from runner.config.setup import CONF_DIR
from runner.errors import BadInputError
from runner.evaluation.stored import (
    EvaluationReport,
    completed_file_lines,
    evaluate_stored,
    find_run,
)
from runner.output.run_folder import INPUT_DIR, RUN_META
from runner.visible import visible


def _split(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``run=...`` (or ``file=...``, kept as ``file:PATH``) and the other (Hydra) overrides."""
    run, overrides = "", []
    for arg in argv:
        if arg.startswith("run="):
            run = arg.partition("=")[2]
        elif arg.startswith("file="):
            run = "file:" + arg.partition("=")[2]
        else:
            overrides.append(arg)
    return run, overrides


def _value(overrides: Sequence[str], key: str) -> str | None:
    found = [o.partition("=")[2] for o in overrides if o.lstrip("+~").startswith(f"{key}=")]
    return found[-1] if found else None


def _input_file(run_dir: Path) -> str:
    """The run's copy of its input, so no experiment needs naming to evaluate it."""
    try:
        meta = json.loads((run_dir / RUN_META).read_text(encoding="utf-8"))
        name = Path(str(meta["input_file"])).name
    except (OSError, ValueError, KeyError, TypeError):
        copies = sorted((run_dir / INPUT_DIR).glob("*"))
        name = copies[0].name if copies else "completed.jsonl"
    copy = run_dir / INPUT_DIR / name
    return str(copy if copy.exists() else run_dir / "completed.jsonl")


def check_results_file(file: Path) -> None:
    """Refuse a ``file=`` that is not a regular file (a FIFO would hang, a device scores nothing).

    Raises:
        BadInputError: the file is missing, a folder, a device or a pipe.
    """
    if not file.exists():
        raise BadInputError(f"file={file}: no such file; give a completed JSONL file")
    if not file.is_file():
        raise BadInputError(
            f"file={file}: not a regular file (a folder, a device or a pipe); "
            "give a completed JSONL file"
        )
    scores = file.parent / f"{file.stem}-evaluations"
    if scores.exists() and not scores.is_dir():
        raise BadInputError(f"file={file}: its scores go to {scores}, which is a file; move it")
    if file.parent.is_dir() and not os.access(file.parent, os.W_OK | os.X_OK):
        raise BadInputError(
            f"file={file}: its scores go to {scores}, and {file.parent} cannot be written; "
            "copy the file somewhere writable"
        )


def evaluate(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, conf_dir: Path = CONF_DIR
) -> EvaluationReport:
    """Evaluate a stored run as the command line would; ``argv`` are its arguments.

    Raises:
        RunnerError: bad input or settings (exit status 2), or a failure.
    """
    run, overrides = _split(argv)
    outputs_dir = Path(_value(overrides, "outputs_dir") or "outputs")
    experiment = _value(overrides, "experiment")
    lines = None
    if run.startswith("file:"):
        file = Path(run.removeprefix("file:")).expanduser()
        check_results_file(file)
        lines = completed_file_lines(file)
        run_dir = file.parent / f"{file.stem}-evaluations"
        overrides += [quoted_override("experiment.file", str(file.resolve())), "index=false"]
    else:
        run_dir = find_run(outputs_dir, run, experiment)
    if experiment is None and lines is None:
        # Quoted: the run's folder is named after its experiment, which may hold ' or =.
        overrides.append(quoted_override("experiment.file", _input_file(run_dir)))
    import runner.providers  # noqa: F401 - declares each provider's settings block

    settings = compose_settings(overrides, conf_dir)
    logs.configure(settings.log_level)
    env = os.environ if env is None else env
    if lines is not None:
        run_dir.mkdir(exist_ok=True)
    return evaluate_stored(settings, run_dir, env=env, lines=lines)


def print_scores(report: EvaluationReport) -> None:
    """Each step's mean score, as a run prints it (steps without numeric scores have none)."""
    from runner.run import mean_scores

    scores = mean_scores(report.run_dir / "evaluations.jsonl")
    for step in report.steps:
        if step in scores:
            mean, count = scores[step]
            print(f"  evaluation {step}: mean score {mean:.2f} over {count} result(s)")


COMMAND = Command("runner.evaluate", "run=RUN_ID evaluation=NAME [key=value ...]", __doc__)


def _evaluate(args: list[str]) -> int:
    report = evaluate(args)
    said = (
        f"Scored {report.lines} result(s) of {report.run_dir}: {report.rows} row(s) in "
        f"{report.run_dir / 'evaluations.jsonl'}, {report.errors} step error(s)"
    )
    print(visible(said))  # a folder name holding ESC
    print_scores(report)
    if report.budget:
        print(f"  {report.budget}")
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
