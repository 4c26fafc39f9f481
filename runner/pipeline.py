"""``python -m runner.pipeline [overrides]``: prompto's pipeline mode (``prompto_run_pipeline``).

It watches ``experiments_dir`` and runs each new or changed experiment file (``.jsonl`` or
``.csv``) once, oldest first, as ``python -m runner experiment=NAME [overrides]`` would: the
same settings and the same run folders under ``outputs_dir``. The user's files are never
moved. What ran (each file's SHA-256 and exit status) is kept in
``<outputs_dir>/.pipeline/state.json``, so a restart runs only what is new; a run stopped
by Ctrl-C is resumed (``resume=latest``) next time. One experiment failing is logged with
its exit status and the pipeline goes on. Waiting uses ``watchfiles`` (OS file events, no
polling loop). Ctrl-C stops it: the run in progress finishes its requests in flight and is
left resumable.

A file runs only once it is stable: its size and mtime unchanged for ``settle_s`` seconds
(2 by default; a pipeline setting, not passed to the runs), so a copy in progress is not
sent half. A file runs once per path: one whose run is alive (here or in another pipeline
process, by its recorded pid) is never started again, and one changed after its run ended
is not run again (a warning says so: its prompts were sent; drop the new version under a
new name) unless that run sent nothing (exit 2, bad input) or was stopped (then it resumes
if the file is unchanged).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from runner import cli
from runner.commands import python_command
from runner.config.setup import EXPERIMENT_SUFFIXES
from runner.errors import ConfigError
from runner.hashing import file_sha256
from runner.processes import process_alive
from runner.stop_signals import handled

STATE = Path(".pipeline") / "state.json"
INTERRUPTED = 130
BAD_INPUT = 2  # nothing was sent: a corrected file may run again
DEFAULT_SETTLE_S = 2.0


def _value(overrides: Sequence[str], key: str, default: str) -> str:
    found = [o.partition("=")[2] for o in overrides if o.lstrip("+~").partition("=")[0] == key]
    return found[-1] if found else default


def _alive(pid: object) -> bool:
    """Whether process ``pid`` is running (a run another pipeline process started)."""
    return isinstance(pid, int) and process_alive(pid)


@contextlib.contextmanager
def _terminate_forwarded(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """A SIGTERM to the pipeline stops its run too, gracefully (Ctrl-C reaches both already)."""

    def forward(_signum: int, _frame: object) -> None:
        process.send_signal(signal.SIGTERM)
        raise KeyboardInterrupt

    with handled([signal.SIGTERM], forward):
        yield


@dataclass
class Pipeline:
    """The watched folder, the overrides every run gets, and what has run."""

    experiments_dir: Path
    outputs_dir: Path
    overrides: list[str]
    settle_s: float = DEFAULT_SETTLE_S
    # Each file's (size, mtime_ns) when first seen so, and when (monotonic seconds).
    _observed: dict[Path, tuple[tuple[int, int], float]] = field(default_factory=dict)
    # Changed files already warned about (path, digest): warned once, not at every event.
    _warned: set[tuple[str, str]] = field(default_factory=set)

    @property
    def state_path(self) -> Path:
        return self.outputs_dir / STATE

    def load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_state(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(self.state_path)

    def stable(self, path: Path) -> bool:
        """Whether ``path``'s size and mtime have not changed for ``settle_s`` seconds.

        Judged by what this process saw (not the mtime's own age): a copy that pauses, or
        one that sets the mtime back when done, is still seen changing.
        """
        try:
            info = path.stat()
        except OSError:
            self._observed.pop(path, None)
            return False
        key = (info.st_size, info.st_mtime_ns)
        now = time.monotonic()
        seen = self._observed.get(path)
        if seen is None or seen[0] != key:
            self._observed[path] = (key, now)
            return self.settle_s <= 0
        return now - seen[1] >= self.settle_s

    def pending(self, state: dict[str, Any]) -> tuple[list[tuple[Path, str]], int]:
        """Stable files to run, oldest first, with their digests; and how many are unsettled."""
        files = [
            p
            for p in self.experiments_dir.glob("*")
            if p.is_file() and p.suffix in EXPERIMENT_SUFFIXES and not p.name.startswith(".")
        ]
        found: list[tuple[float, Path, str]] = []
        unsettled = 0
        for path in files:
            seen = state.get(path.name) or {}
            if "exit" not in seen and _alive(seen.get("pid")):
                continue  # its run is alive (another pipeline process): never a second one
            if not self.stable(path):
                unsettled += 1
                continue
            digest = file_sha256(path)
            if self._should_run(path, digest, seen):
                found.append((path.stat().st_mtime, path, digest))
        return [(p, d) for _, p, d in sorted(found)], unsettled

    def _should_run(self, path: Path, digest: str, seen: dict[str, Any]) -> bool:
        """New, stopped (resumed), or changed after a run that sent nothing (exit 2)."""
        if not seen:
            return True
        stopped = seen.get("exit", INTERRUPTED) == INTERRUPTED  # or its process died
        if seen.get("sha256") == digest:
            return bool(stopped)
        if seen.get("exit") == BAD_INPUT:
            return True
        if (path.name, digest) not in self._warned:
            self._warned.add((path.name, digest))
            logger.warning(
                "{} changed after its run (exit status {}); not run again, its prompts were "
                "sent: to run the new version, drop it under a new name",
                path.name,
                seen.get("exit", "unknown"),
            )
        return False

    def run_one(self, path: Path, digest: str, state: dict[str, Any]) -> int:
        """Run one experiment as the command line would; its exit status."""
        previous = state.get(path.name) or {}
        stopped = previous.get("exit", INTERRUPTED) == INTERRUPTED
        resume = bool(previous) and stopped and previous.get("sha256") == digest
        # A run that died before its folder existed has nothing to resume: it starts anew.
        resume = resume and any((self.outputs_dir / path.stem).glob("*/run.json"))
        argv = [sys.executable, "-m", "runner", f"experiment={path.stem}", *self.overrides]
        if resume:
            argv.append("resume=latest")
        logger.info("Running {}{}", path.name, " (resuming)" if resume else "")
        process = subprocess.Popen(argv)
        state[path.name] = {**self._entry(digest), "pid": process.pid}
        self.save_state(state)  # a restart (or a second pipeline) sees the run alive
        try:
            with _terminate_forwarded(process):
                code = process.wait()
        except KeyboardInterrupt:
            # The run got the same Ctrl-C: let it finish its requests in flight (130: it
            # stopped early and is resumed next time; 0: it finished).
            self._record(state, path, digest, process.wait())
            raise
        self._record(state, path, digest, code)
        level = "INFO" if code == 0 else "WARNING"
        logger.log(level, "{} finished with exit status {}", path.name, code)
        return code

    @staticmethod
    def _entry(digest: str) -> dict[str, Any]:
        return {"sha256": digest, "at": datetime.now(UTC).isoformat(timespec="seconds")}

    def _record(self, state: dict[str, Any], path: Path, digest: str, code: int) -> None:
        state[path.name] = {**self._entry(digest), "exit": code}
        self.save_state(state)

    def run_pending(self) -> int:
        """Run every stable new file; how many files are still settling."""
        state = self.load_state()
        todo, unsettled = self.pending(state)
        for path, digest in todo:
            if path.exists():
                self.run_one(path, digest, state)
        return unsettled

    def watch(self, stop: threading.Event | None = None) -> None:
        """Run what is pending, then again after every change, until Ctrl-C or ``stop``."""
        from watchfiles import watch

        self.experiments_dir.mkdir(parents=True, exist_ok=True)
        settling = self.run_pending()
        logger.info("Watching {} (Ctrl-C to stop)", self.experiments_dir)
        # Woken now and then without events too, to see settling files become stable.
        tick_ms = max(50, int(self.settle_s * 250))
        for changes in watch(
            self.experiments_dir,
            stop_event=stop,
            raise_interrupt=True,
            rust_timeout=tick_ms,
            yield_on_timeout=True,
        ):
            if changes or settling:
                settling = self.run_pending()


def pipeline_from(overrides: Sequence[str]) -> Pipeline:
    """The pipeline these overrides ask for (``settle_s`` is its own, not the runs')."""
    experiments = Path(_value(overrides, "experiments_dir", "experiments")).expanduser()
    outputs = Path(_value(overrides, "outputs_dir", "outputs")).expanduser()
    settle = _value(overrides, "settle_s", str(DEFAULT_SETTLE_S))
    try:
        settle_s = float(settle)
    except ValueError:
        raise ConfigError(f"settle_s={settle}: give a number of seconds, e.g. settle_s=2") from None
    if not settle_s >= 0:
        raise ConfigError(f"settle_s={settle}: give seconds, 0 or more, e.g. settle_s=2")
    own = ("experiment=", "resume=", "settle_s=")
    kept = [o for o in overrides if not o.lstrip("+~").startswith(own)]
    return Pipeline(experiments.resolve(), outputs.resolve(), kept, settle_s)


COMMAND = cli.Command("runner.pipeline", "[key=value ...]", __doc__)


def _pipeline(args: list[str]) -> int:
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    if len(overrides) != len(args):
        print(f"usage: {python_command()} -m runner.pipeline [key=value ...]", file=sys.stderr)
        return 2
    pipeline = pipeline_from(overrides)
    try:
        pipeline.watch()
    except KeyboardInterrupt:
        logger.warning("Pipeline stopped; what ran is in {}", pipeline.state_path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
