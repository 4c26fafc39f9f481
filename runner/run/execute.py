"""The one way to run an experiment from typed settings (the CLI and the Python API)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.config.schema import RunConfig
from runner.limits.clock import Clock
from runner.run.meta import Invocation
from runner.run.result import RunResult
from runner.run.stages import Run


def execute_run(
    settings: RunConfig,
    run_dir: Path,
    *,
    overrides: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[], None] | None = None,
    changed: Mapping[str, Any] | None = None,
    sweep_dir: Path | None = None,
) -> RunResult:
    """Run an experiment into ``run_dir`` (or continue it, with ``settings.resume``).

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing; the resumed run's folder on resume).
        overrides: the command-line overrides, recorded in ``run.json``.
        config: the resolved config (secrets redacted), recorded in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.
        on_start: called once the run is accepted (locked, checked), before anything is sent.
        changed: on resume, the settings that differ from the run's own (recorded).
        sweep_dir: the sweep's folder when this run is a job of one: the jobs share
            ``max_cost_usd`` through a ledger there (runner.cost.ledger).

    Raises:
        BadInputError: nothing was sent because the input is wrong, or another process is
            writing the run, or ``run_id`` names a run that exists (resume it instead).
    """
    invocation = Invocation(overrides, config, changed or {}, settings, sweep_dir)
    run = Run(settings, run_dir, invocation, clock=clock, env=env, on_start=on_start)
    return run.execute()
