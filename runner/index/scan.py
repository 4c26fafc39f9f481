"""Find the run folders under an outputs folder and decide what each one needs read.

Layout: ``<outputs_dir>/<experiment>/<run_id>/{completed.jsonl,run.json}``. Folders whose
name starts with a dot (``.sweeps``, ``.hydra``) are not experiments. A ``completed.jsonl``
is append-only, so only the bytes after the stored offset are read, and only up to the last
newline: a line still being written is picked up next time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from runner.index.report import SkippedLine

COMPLETED = "completed.jsonl"
RUN_JSON = "run.json"

# Bytes hashed at the head of a file to notice it was replaced rather than appended to.
HEAD_BYTES = 1024

# Statuses after which a run writes nothing more.
FINAL_STATUSES = frozenset({"completed", "interrupted", "failed"})


@dataclass(frozen=True)
class RunDir:
    """One run folder and the stat of its two files (None where a file is missing)."""

    rel: str
    experiment: str
    run_id: str
    completed: os.stat_result | None
    run_json: os.stat_result | None


@dataclass(frozen=True)
class Stored:
    """What the index remembers about a file from the last update."""

    bytes_indexed: int
    size: int
    mtime_ns: int
    head_len: int
    head_hash: str


@dataclass
class Slice:
    """A byte range of a ``completed.jsonl`` to index now.

    ``end`` is just past the last newline (or the file's end when the run is over and the
    last line lacks its newline). ``reset`` says the file was rewritten, so rows indexed from
    it before must go.
    """

    rel: str
    path: Path
    run: RunDir
    start: int
    end: int
    size: int
    mtime_ns: int
    head_len: int
    head_hash: str
    reset: bool
    # The whole file can be handed to DuckDB as is: from byte 0, complete, and final.
    whole_file: bool
    # Bytes [start, end) when they were read here (None for whole files DuckDB reads itself).
    data: bytes | None = None
    # Lines of the range found bad, filled by the ingest and stored with the offset.
    skipped_lines: list[SkippedLine] = field(default_factory=list)


def _stat(path: str) -> os.stat_result | None:
    """``os.stat`` that answers None for a missing file (a run folder may be half made)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def scan_runs(outputs_dir: Path) -> list[RunDir]:
    """Every run folder under ``outputs_dir`` that holds a ``completed.jsonl`` or ``run.json``.

    Every run's end scans every run folder (60,000 files at 30,000 runs), so paths are plain
    strings here: pathlib's joins took half the time of the scan.
    """
    runs: list[RunDir] = []
    with os.scandir(outputs_dir) as experiments:
        exp_dirs = sorted(e.name for e in experiments if e.is_dir() and not e.name.startswith("."))
    for experiment in exp_dirs:
        base = os.path.join(outputs_dir, experiment)
        try:
            with os.scandir(base) as entries:
                run_ids = sorted(
                    e.name for e in entries if e.is_dir() and not e.name.startswith(".")
                )
        except OSError:
            continue  # removed or unreadable since we listed it
        for run_id in run_ids:
            folder = f"{base}{os.sep}{run_id}{os.sep}"
            completed = _stat(folder + COMPLETED)
            run_json = _stat(folder + RUN_JSON)
            if completed is None and run_json is None:
                continue
            runs.append(RunDir(f"{experiment}/{run_id}", experiment, run_id, completed, run_json))
    return runs


def _head(data: bytes) -> tuple[int, str]:
    """Length and hash of the head of a file, from its first bytes."""
    head = data[:HEAD_BYTES]
    return len(head), hashlib.blake2b(head, digest_size=16).hexdigest()


def plan_slice(
    outputs_dir: Path, run: RunDir, stored: Stored | None, run_final: bool
) -> Slice | None:
    """What to read of a run's ``completed.jsonl`` now; None when nothing changed."""
    st = run.completed
    if st is None:
        return None
    rel = f"{run.rel}/{COMPLETED}"
    pending_tail = stored is not None and stored.size > stored.bytes_indexed
    if (
        stored is not None
        and st.st_size == stored.size
        and st.st_mtime_ns == stored.mtime_ns
        and not (pending_tail and run_final)
    ):
        return None
    path = outputs_dir / rel
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            reset = stored is not None and (
                st.st_size < stored.bytes_indexed
                or _head(head[: stored.head_len]) != (stored.head_len, stored.head_hash)
            )
            start = 0 if stored is None or reset else stored.bytes_indexed
            if start == 0 and run_final and st.st_size > 0:
                f.seek(st.st_size - 1)
                if f.read(1) == b"\n":
                    # A finished, complete file: DuckDB reads it directly, no copy.
                    head_len, head_hash = _head(head)
                    return Slice(
                        rel=rel, path=path, run=run, start=0, end=st.st_size,
                        size=st.st_size, mtime_ns=st.st_mtime_ns, head_len=head_len,
                        head_hash=head_hash, reset=reset, whole_file=True,
                    )  # fmt: skip
            f.seek(start)
            data = f.read()
    except OSError:
        return None  # vanished between the scan and now; the next update sees it
    cut = data.rfind(b"\n") + 1
    if run_final:
        # The run is over, so a last line without newline will never be finished: index it
        # if it parses, report it as torn if not.
        cut = len(data)
    data = data[:cut]
    end = start + len(data)
    # The bytes before ``end`` never change in an append-only file, so hashing the head up to
    # ``end`` gives the same answer on every later update.
    head_len, head_hash = _head(head[: min(len(head), end)])
    size = max(st.st_size, end)
    return Slice(
        rel=rel, path=path, run=run, start=start, end=end, size=size, mtime_ns=st.st_mtime_ns,
        head_len=head_len, head_hash=head_hash, reset=reset, whole_file=False, data=data,
    )  # fmt: skip
