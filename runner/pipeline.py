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
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from runner import cli
from runner.commands import python_command
from runner.config.setup import EXPERIMENT_SUFFIXES
from runner.hashing import file_sha256

STATE = Path(".pipeline") / "state.json"
INTERRUPTED = 130


def _value(overrides: Sequence[str], key: str, default: str) -> str:
    found = [o.partition("=")[2] for o in overrides if o.lstrip("+~").partition("=")[0] == key]
    return found[-1] if found else default


@dataclass
class Pipeline:
    """The watched folder, the overrides every run gets, and what has run."""

    experiments_dir: Path
    outputs_dir: Path
    overrides: list[str]

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

    def pending(self, state: dict[str, Any]) -> list[tuple[Path, str]]:
        """New or changed experiment files, oldest first, with their digests."""
        files = [
            p
            for p in self.experiments_dir.glob("*")
            if p.is_file() and p.suffix in EXPERIMENT_SUFFIXES and not p.name.startswith(".")
        ]
        found: list[tuple[float, Path, str]] = []
        for path in files:
            digest = file_sha256(path)
            seen = state.get(path.name) or {}
            if seen.get("sha256") != digest or seen.get("exit") == INTERRUPTED:
                found.append((path.stat().st_mtime, path, digest))
        return [(p, d) for _, p, d in sorted(found)]

    def run_one(self, path: Path, digest: str, state: dict[str, Any]) -> int:
        """Run one experiment as the command line would; its exit status."""
        previous = state.get(path.name) or {}
        resume = previous.get("exit") == INTERRUPTED and previous.get("sha256") == digest
        argv = [sys.executable, "-m", "runner", f"experiment={path.stem}", *self.overrides]
        if resume:
            argv.append("resume=latest")
        logger.info("Running {}{}", path.name, " (resuming)" if resume else "")
        process = subprocess.Popen(argv)
        try:
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

    def _record(self, state: dict[str, Any], path: Path, digest: str, code: int) -> None:
        state[path.name] = {
            "sha256": digest,
            "exit": code,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.save_state(state)

    def run_pending(self) -> int:
        """Run everything new; how many ran."""
        state = self.load_state()
        todo = self.pending(state)
        for path, digest in todo:
            if path.exists():
                self.run_one(path, digest, state)
        return len(todo)

    def watch(self, stop: threading.Event | None = None) -> None:
        """Run what is pending, then again after every change, until Ctrl-C or ``stop``."""
        from watchfiles import watch

        self.experiments_dir.mkdir(parents=True, exist_ok=True)
        self.run_pending()
        logger.info("Watching {} (Ctrl-C to stop)", self.experiments_dir)
        for _changes in watch(self.experiments_dir, stop_event=stop, raise_interrupt=True):
            self.run_pending()


def pipeline_from(overrides: Sequence[str]) -> Pipeline:
    experiments = Path(_value(overrides, "experiments_dir", "experiments")).expanduser()
    outputs = Path(_value(overrides, "outputs_dir", "outputs")).expanduser()
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("experiment=", "resume="))]
    return Pipeline(experiments.resolve(), outputs.resolve(), kept)


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
