"""``python -m runner experiment=NAME [overrides]``: run an experiment (``-m`` for sweeps).

Exit status: 0 when every prompt ended ok, 1 when some ended in error, 2 when the input or
the configuration is wrong (nothing was sent), 130 when stopped. A sweep exits with the
worst status of its jobs, whichever launcher ran them on this machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from loguru import logger
from omegaconf import DictConfig, MissingMandatoryValue

from runner import logs
from runner.config import CONF_DIR, prepare_hydra, redacted_container, to_settings
from runner.errors import RunnerError
from runner.output.run_folder import RunFolder

_exit_codes: list[int] = []
# Jobs may run in other processes (joblib, submitit, Ray): each leaves its status here.
_EXIT_DIR_VAR = "RUNNER_EXIT_DIR"


def _record_exit(code: int) -> None:
    _exit_codes.append(code)
    folder = os.environ.get(_EXIT_DIR_VAR)
    if folder and Path(folder).is_dir():
        (Path(folder) / uuid.uuid4().hex).write_text(str(code))


def _collected_exits(folder: Path) -> list[int]:
    codes = [int(p.read_text() or 0) for p in folder.iterdir()]
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return codes


def _run_job(cfg: DictConfig) -> int:
    """One job (one run, or one job of a sweep); returns its exit status."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        logs.configure(str(cfg.get("log_level", "INFO")))
        try:
            settings = to_settings(cfg)
        except MissingMandatoryValue as exc:
            raise_missing(str(exc))
        from runner.run import execute_run

        if not settings.run_id:
            settings.run_id = run_dir.name
        result = execute_run(
            settings,
            run_dir,
            overrides=list(HydraConfig.get().overrides.task),
            config=redacted_container(cfg),
        )
    except RunnerError as exc:
        RunFolder(run_dir).remove_if_unused()
        logger.error("{}", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        logger.warning("Interrupted: results written so far are in {}", run_dir)
        return 130
    print(result.summary.format())
    for step, (mean, count) in result.extra.get("scores", {}).items():
        print(f"  evaluation {step}: mean score {mean:.2f} over {count} result(s)")
    print(f"Results: {result.folder.completed}")
    if settings.index:
        print(
            'Query:   python -m runner.query "SELECT id, status, response FROM responses '
            f"WHERE run_id = '{result.folder.run_id}'\""
        )
    # Last, so a run (and `make demo`) ends by saying where to look.
    if result.extra.get("report"):
        print(f"Report:  {result.extra['report']}")
        if settings.index:
            print(f"View:    python -m runner.view --outputs-dir {settings.outputs_dir}")
    return result.exit_code


def raise_missing(message: str) -> None:
    """Turn OmegaConf's missing-value error into a message for the user."""
    from runner.errors import ConfigError

    if "experiment.file" in message:
        raise ConfigError(
            "No experiment chosen: pass experiment=NAME (a file experiments/NAME.jsonl or "
            ".csv, or conf/experiment/NAME.yaml)"
        )
    raise ConfigError(f"A required setting has no value: {message}")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    _record_exit(_run_job(cfg))


def main() -> None:
    """The command line."""
    logs.configure()
    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    try:
        prepare_hydra(overrides)
    except RunnerError as exc:
        logger.error("{}", exc)
        sys.exit(exc.exit_code)
    exit_dir = Path(tempfile.mkdtemp(prefix="runner-exit-"))
    os.environ[_EXIT_DIR_VAR] = str(exit_dir)
    try:
        _hydra_main()
    except SystemExit as exc:
        codes = _collected_exits(exit_dir)
        # Hydra exits 1 when it cannot compose the config (a misspelled key, a wrong
        # type) before any job ran: that is bad input, so exit 2 as for any other.
        if exc.code not in (0, None) and not codes:
            sys.exit(2)
        if exc.code not in (0, None):
            raise
        sys.exit(max(codes, default=0))
    sys.exit(max(_collected_exits(exit_dir), default=0))


if __name__ == "__main__":
    main()
