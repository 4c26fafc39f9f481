"""``python -m runner.check experiment=NAME [overrides]``: the pre-flight check.

It reads the experiment with the same overrides as a run and checks every record against
its API's rules, the keys and endpoints it needs and the media files it names, then lists
every problem with its file and line. When the experiment can be sent, it prints the
estimate per model (runner.cost.estimate): prompts, input and output tokens, the cost online
and in batch mode, the prompts the cache would answer, and the time the limits imply.
Nothing is sent and no run folder is made. ``show=N`` also prints the first N prompts as
they would be sent, and a template experiment's counts per model and prompt variant
(docs/experiments.md); ``limit=N`` and ``sample=N seed=S`` check only N prompts.

Exit status: 0 when the experiment can be sent as it is, 2 when it cannot (or the
configuration is wrong).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runner import cli
from runner.cli import Command
from runner.commands import python_command
from runner.config import resolve_path
from runner.config.compose import compose_settings
from runner.errors import SHOWN_PROBLEMS, BadInputError, ConfigError

if TYPE_CHECKING:
    from runner.config.schema import RunConfig
    from runner.prompts.records import PromptRecord


@dataclass
class CheckReport:
    """What the check found: the file, its prompts by api/model, and every problem."""

    input_file: str
    prompts: int
    models: dict[str, int]
    groups: int
    problems: list[str]
    # Every problem found; only the first SHOWN_PROBLEMS are kept in ``problems``.
    problem_count: int = 0
    # Per model: tokens, cost online and in batch, cache hits, time (runner.cost.estimate).
    estimate: list[str] = field(default_factory=list)
    # show=N: the first prompts as they would be sent; and a template's counts by variant.
    shown: list[str] = field(default_factory=list)
    variants: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 2 if self.problems else 0

    def format(self) -> str:
        """The report for the terminal."""
        if self.problems:
            total = max(self.problem_count, len(self.problems))
            shown = self.problems[:SHOWN_PROBLEMS]
            lines = [f"{self.input_file}: {total} problem(s); fix these and re-run:"]
            lines += [f"  - {p}" for p in shown]
            if total > len(shown):
                lines.append(f"  ... and {total - len(shown)} more problem(s)")
            return "\n".join(lines)
        models = ", ".join(f"{name} ({n})" for name, n in sorted(self.models.items()))
        ok = (
            f"OK: {self.input_file}: {self.prompts} prompt(s) in {self.groups} group(s) "
            f"can be sent: {models}. Nothing was sent."
        )
        lines = [ok]
        if self.variants:
            lines.append("Prompts per model and variant:")
            lines += [f"  {m}  {v}: {n}" for (m, v), n in sorted(self.variants.items())]
        lines += self.shown
        return "\n".join([*lines, *self.estimate])


def _label(settings: RunConfig) -> str:
    """The experiment as the report names it: its file, or a template experiment's name."""
    if settings.experiment.file:
        return str(resolve_path(Path(settings.experiments_dir), settings.experiment.file))
    return f"experiment {settings.experiment.name}"


def _shown(records: Iterator[PromptRecord], n: int) -> list[str]:
    """The first ``n`` prompts as they would be sent, one JSON line each."""
    lines = [f"The first {n} prompt(s):"] if n else []
    for record in itertools.islice(records, n):
        shown = {k: record.data.get(k) for k in ("api", "model_name", "parameters", "prompt")}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        lines.append(f"  [{record.key}] {text}")
    return lines


def check_experiment(
    overrides: Sequence[str], env: Mapping[str, str], show: int = 0
) -> CheckReport:
    """Check an experiment as ``python -m runner`` with these overrides would, sending nothing.

    Raises:
        ConfigError: the configuration cannot be composed or has a wrong value.
        BadInputError: the experiment file cannot be read at all.
    """
    import runner.providers  # noqa: F401 - declares each provider's settings block
    from runner.prepare import prepare_run  # the run machinery, loaded only once config is fine

    settings = compose_settings(overrides)
    settings.on_invalid = "stop"  # the check lists every invalid line whatever a run does
    try:
        prepared = prepare_run(settings, env)
    except BadInputError as exc:
        if not exc.problems:
            raise
        return CheckReport(_label(settings), 0, {}, 0, exc.problems, exc.total)
    from runner.cost.estimate import estimate_run, format_estimate

    plan = prepared.plan
    models = {f"{api}/{name or '-'}": n for (api, name), n in plan.model_counts.items()}
    try:
        estimate = format_estimate(estimate_run(prepared, settings), settings.max_cost_usd)
        shown = _shown(prepared.records, show)
    finally:
        plan.close()
    return CheckReport(
        _label(settings),
        plan.total,
        models,
        len(plan.groups),
        [],
        estimate=estimate,
        shown=shown,
        variants=dict(plan.variant_counts),
    )


COMMAND = Command("runner.check", "experiment=NAME [show=N] [key=value ...]", __doc__, "WARNING")


def _show(args: list[str]) -> tuple[list[str], int]:
    """The arguments without ``show=N``, and N (0 when not given)."""
    shows = [a for a in args if a.startswith("show=")]
    if not shows:
        return args, 0
    value = shows[-1].removeprefix("show=")
    if not value.isdigit():
        raise ConfigError(f"show={value}: give a number of prompts to show, e.g. show=3")
    return [a for a in args if not a.startswith("show=")], int(value)


def _check(args: list[str]) -> int:
    args, show = _show(args)
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    if len(overrides) != len(args) or not any(a.startswith("experiment=") for a in args):
        print(
            f"usage: {python_command()} -m runner.check experiment=NAME [key=value ...]",
            file=sys.stderr,
        )
        return 2
    from runner.config.env_file import load_env_file

    load_env_file(overrides)
    report = check_experiment(overrides, os.environ, show)
    from runner.visible import visible

    print(visible(report.format()))  # model and group names are data: no bidi control acts
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _check, argv)


if __name__ == "__main__":
    sys.exit(main())
