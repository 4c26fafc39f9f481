"""``python -m runner experiment=NAME [overrides]``: run an experiment (``-m`` for sweeps).

Exit status: 0 when every prompt ended ok, 1 when some ended in error, 2 when the input or
the configuration is wrong (nothing was sent), 130 when stopped. A sweep exits with the
worst status of its jobs, whichever launcher ran them on this machine.
"""

from __future__ import annotations

import signal

# Importing what follows takes a few tenths of a second: a SIGTERM meanwhile is a stop too
# (exit 130, one line), noted here and acted on once the command's own handler is in place.
_TERMINATED_EARLY: list[int] = []
if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda signum, frame: _TERMINATED_EARLY.append(signum))

import contextlib
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from loguru import logger
from omegaconf import DictConfig, MissingMandatoryValue, OmegaConf

from runner import cli, logs, redaction
from runner.commands import shell_command
from runner.config import CONF_DIR, redacted_container, run_mode, to_settings
from runner.config.compose import raise_missing
from runner.config.env_file import load_env_file
from runner.config.models import name_models
from runner.config.overrides import refuse_literal_keys, spelled_for_hydra
from runner.config.resumed import original_config, resumed_config
from runner.config.setup import check_command, register_for_compose
from runner.errors import ConfigError, RunnerError
from runner.output.run_folder import RunFolder, scrub_file
from runner.std_streams import reader_may_leave, streams_in_place
from runner.visible import visible

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn


# The jobs hydra.main ran in this process: (exit status, run folder).
_IN_PROCESS: list[tuple[int, Path]] = []
_MAIN_PID = os.getpid()
# Set by a plain run: once it returns, everything it made is written and closed.
_PLAIN_RUN: list[bool] = []


class JobExit(RunnerError):
    """A job hydra.main ran in another process exited non-zero (Hydra raises it here)."""

    def __init__(self, code: int, run_dir: str) -> None:
        super().__init__(f"{run_dir} exited {code}")
        self.exit_code, self.run_dir = code, run_dir


def _print_sweep(jobs: list[tuple[int, Path]]) -> None:
    """The end of a sweep: how each job ended, and the command that compares them."""
    ended = Counter(code for code, _ in jobs)
    said = ", ".join(f"{n} exited {code}" for code, n in sorted(ended.items()))
    runs = ", ".join(str(d) for _, d in sorted(jobs))
    print(visible(f"Sweep:   {len(jobs)} runs ({said}): {runs}"))  # folder names are data
    experiments = {run_dir.parent for _, run_dir in jobs}
    if len(experiments) == 1:
        (folder,) = experiments
        outputs = f"outputs_dir={folder.parent}"
        compare = shell_command("runner.report", f"experiment={folder.name}", outputs)
        print(visible(f"Compare: {compare}"))


def _worst(jobs: list[tuple[int, Path]]) -> int:
    """A sweep's exit status: its worst job's (the summary line first, for two or more)."""
    if len(jobs) > 1:
        with reader_may_leave():
            _print_sweep(jobs)
    return max((code for code, _ in jobs), default=0)


def _run_job(cfg: DictConfig) -> int:
    """One job (one run, or one job of a sweep); returns its exit status."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    folder = RunFolder(run_dir)
    hydra_files: dict[str, str] = {}

    def accept(when: str | None) -> None:
        folder.save_hydra(hydra_files, when)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            scrub_file(Path(HydraConfig.get().sweep.dir) / "multirun.yaml")

    def job() -> int:
        try:
            hydra_files.update(_hydra_files(cfg))  # inside: a bad interpolation is one line
            return _execute(cfg, run_dir, accept)
        except RunnerError:
            folder.remove_if_unused()
            raise
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM
            folder.remove_if_unused()
            if run_dir.exists():
                raise
            logger.warning("Interrupted before the run started: nothing was sent")
            return cli.INTERRUPTED

    interrupted = f"Interrupted: results written so far are in {run_dir}"
    return cli.guarded(job, COMMAND.name, interrupted=interrupted)


def _execute(cfg: DictConfig, run_dir: Path, accept: Callable[[str | None], None]) -> int:
    overrides = list(HydraConfig.get().overrides.task)
    logs.configure(str(cfg.get("log_level", "INFO")))
    try:
        settings = to_settings(name_models(cfg, HydraConfig.get().runtime.choices))
        changed: dict[str, list[object]] = {}
        original = original_config(run_dir) if settings.resume else None
        if original is not None:  # the run's own models too, unless chosen anew now
            cfg, changed = resumed_config(cfg, overrides, original)
            settings = to_settings(cfg)
            _log_changes(changed)
    except MissingMandatoryValue as exc:
        raise_missing(str(exc))
    from runner.run import execute_run
    from runner.run.printed import print_result

    if not settings.run_id:
        settings.run_id = run_dir.name
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") if settings.resume else None
    cli.started_up()
    result = execute_run(
        settings,
        run_dir,
        overrides=overrides,
        config=redacted_container(cfg),
        on_start=lambda: accept(when),
        changed=changed,
        sweep_dir=_sweep_dir(),
    )
    print_result(result, settings)  # its status stands if no one reads it (| head)
    return result.exit_code


def _sweep_dir() -> Path | None:
    """The sweep's own folder when this job is one of a sweep (its jobs share the budget)."""
    hydra_cfg = HydraConfig.get()
    return Path(str(hydra_cfg.sweep.dir)) if hydra_cfg.mode == RunMode.MULTIRUN else None


def _hydra_files(cfg: DictConfig) -> dict[str, str]:
    """What Hydra would keep in ``.hydra/``: the job's config, Hydra's own, the overrides."""
    hydra_cfg = HydraConfig.get()
    return {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})),
        "overrides.yaml": OmegaConf.to_yaml(list(hydra_cfg.overrides.task)),
    }


def _log_changes(changed: dict[str, list[object]]) -> None:
    if not changed:
        logger.info("Resuming with the run's own settings (none changed)")
        return
    logger.info(
        "Resuming with the run's own settings, except: {}",
        "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()),
    )


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    code, run_dir = _run_job(cfg), Path(HydraConfig.get().runtime.output_dir)
    if os.getpid() == _MAIN_PID:
        _IN_PROCESS.append((code, run_dir))
    elif code:
        raise JobExit(code, str(run_dir))


COMMAND = cli.Command("runner")  # Hydra prints its --help (hydra/help=runner)


def _main(args: list[str]) -> int:
    refuse_literal_keys(args)
    args = spelled_for_hydra(args)  # the one rewrite of the command line
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    load_env_file(overrides)  # before composing: ${oc.env:...} may name its variables
    import runner.providers  # noqa: F401 - declares each provider's settings block

    dirs = check_command(overrides)
    try:
        if run_mode.is_plain_run(args):
            _PLAIN_RUN.append(True)
            remember = run_mode.Remembered.of(overrides, dirs)
            return run_mode.run_once(args, _run_job, remember=remember, on_sweep=_swept)
        register_for_compose(overrides, dirs)  # what composing needs, the plugin scan too
        if run_mode.is_sweep(args):
            return _swept(run_mode.run_sweep([a for a in args if not a.startswith("-")], _run_job))
        return _through_hydra_main(args)
    except OSError as exc:
        # Hydra's own errors are said by cli.config_problem; an OSError of its own is the
        # run's folder (or .hydra/) it could not make, or its --help page found no reader.
        if isinstance(exc, BrokenPipeError):
            raise
        if cli.config_problem(exc) is None:
            raise ConfigError(
                f"cannot make the run's folder {exc.filename or ''}: {exc.strerror or exc}; "
                "choose another outputs_dir (or hydra.run.dir)"
            ) from None
        raise


def _swept(returns: list[JobReturn]) -> int:
    """A sweep's status: each job's comes back in its ``JobReturn``; the worst wins."""
    _PLAIN_RUN.clear()  # a sweep's launchers clean up at exit
    return _worst(run_mode.job_statuses(returns))


def _through_hydra_main(args: list[str]) -> int:
    """A command line Hydra reads itself (``--help``, ``--cfg``, ``--config-dir``, ``hydra.*``).

    A job that runs here leaves its status in this process; one in another process (a
    launcher's worker) raises :class:`JobExit` when it fails, which Hydra hands back here.
    """
    if any(a in ("--cfg", "-c") or a.startswith("--cfg=") for a in args):
        # Hydra prints the config itself: a key (--resolve) or a URL's password went out.
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                return _hydra_status(args)
        finally:
            sys.stdout.write(redaction.scrub(printed.getvalue()))
    return _hydra_status(args)


def _hydra_status(args: list[str]) -> int:
    """Hydra's own run of the command line; the worst exit status of what it ran."""
    sys.argv[1:] = args  # what hydra.main reads
    # Hydra raises what it cannot compose instead of printing it in a dozen lines: said in
    # one (cli.config_problem), exit 2. A job's own failures never reach Hydra (guarded).
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    _IN_PROCESS.clear()
    try:
        _hydra_main()
    except SystemExit as exc:
        # Hydra exits 1 when it cannot compose the config (a misspelled key, a wrong
        # type) before any job ran: that is bad input, so exit 2 as for any other.
        if exc.code not in (0, None) and not _IN_PROCESS:
            return 2
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        return max(_worst(_IN_PROCESS), code)
    except JobExit as exc:
        return max(_worst(_IN_PROCESS), exc.exit_code)
    return _worst(_IN_PROCESS)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (the ``runner`` script exits with it)."""
    if _TERMINATED_EARLY:
        streams_in_place()
        logs.configure(COMMAND.log_level)
        return cli.guarded(cli.raise_interrupt, COMMAND.name)
    return cli.main(COMMAND, _main, argv)


def _exit(code: int) -> None:
    """Exit with ``code``; after a plain run, without the interpreter's teardown.

    The run's files are closed and its threads joined when it returns; tearing down the
    modules it imported (Hydra, aiohttp, DuckDB) and collecting their objects only delays
    the prompt's return to the shell. A sweep's launchers (joblib, Ray) clean up at exit.
    """
    if not _PLAIN_RUN or sys.gettrace() or sys.getprofile():  # coverage, cProfile: they save
        sys.exit(code)
    import logging

    logging.shutdown()  # Hydra's file handlers, flushed and closed
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
