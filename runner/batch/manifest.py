"""The batch manifest: ``batches.jsonl`` in the run folder, append-only and fsync'd.

Every step of a chunk is on disk before the step is taken: its prompts before the upload,
``submitting`` before the submit, the batch id as soon as it is known. A kill -9 at any
moment then leaves a manifest from which a resume knows, for each chunk, whether it may
have been submitted (reattach, or :meth:`BatchAdapter.find` by its tag) or surely was not
(its prompts are batched again): no batch is submitted twice, no prompt paid twice.

Lines: ``manifest`` (the run it belongs to), then per chunk ``chunk`` (tag, api, model,
custom ids), ``uploaded`` (input file id), ``submitting``, ``submitted`` (batch id),
``ended`` (its final status) and ``done`` (every result written) or ``abandoned`` (never
submitted: the upload or the submit failed for good).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import BadInputError
from runner.output.disk import write_failed
from runner.redaction import scrub

MANIFEST = "batches.jsonl"


@dataclass
class ChunkState:
    """What the manifest says of one chunk."""

    tag: str
    api: str
    model_name: str
    custom_ids: list[str] = field(default_factory=list)
    input_ref: str | None = None
    submitting: bool = False
    submitting_at: float | None = None  # epoch seconds of the submitting line
    batch_id: str | None = None
    submitted_at: float | None = None  # epoch seconds of the submitted line
    finished: bool = False  # done or abandoned: nothing left to collect

    @property
    def open(self) -> bool:
        """Submitted (or maybe submitted) and not yet collected: a resume reattaches."""
        return not self.finished and (self.submitting or self.batch_id is not None)


class Manifest:
    """The run's ``batches.jsonl``: read once at start, then appended to (durably)."""

    def __init__(self, folder: Path, run_id: str, experiment: str) -> None:
        self.path = folder / MANIFEST
        self.chunks: dict[str, ChunkState] = {}
        existed = self.path.exists()
        if existed:
            self._read(run_id, experiment)
        try:
            self._handle = self.path.open("ab", buffering=0)
        except OSError as exc:
            raise write_failed(exc, self.path, "the batch manifest") from None
        if not existed:
            self.append({"event": "manifest", "run_id": run_id, "experiment": experiment})

    def _read(self, run_id: str, experiment: str) -> None:
        raw = self.path.read_bytes()
        whole = raw[: raw.rfind(b"\n") + 1]
        if len(whole) < len(raw):
            # A line torn by a kill mid-write: its step never happened. Cut it, so the next
            # line starts on a line of its own.
            os.truncate(self.path, len(whole))
        entries: list[dict[str, Any]] = []
        for number, line in enumerate(whole.decode("utf-8", errors="replace").splitlines(), 1):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                raise BadInputError(f"{self.path}:{number}: not a JSON line") from None
        head = entries[0] if entries and isinstance(entries[0], dict) else {}
        if head.get("event") != "manifest" or (head.get("run_id"), head.get("experiment")) != (
            run_id,
            experiment,
        ):
            raise BadInputError(
                f"{self.path}: this batch manifest belongs to run {head.get('run_id')!r} of "
                f"experiment {head.get('experiment')!r}, not run {run_id!r} of {experiment!r}; "
                "it was copied here by mistake: move it away, nothing was sent"
            )
        for number, entry in enumerate(entries[1:], 2):
            try:
                self._apply(entry)
            except (KeyError, TypeError, AttributeError):
                raise BadInputError(
                    f"{self.path}:{number}: not a batch manifest line of the expected shape "
                    "(edited by hand?); restore the file or start a new run, nothing was sent"
                ) from None

    def _apply(self, entry: dict[str, Any]) -> None:
        event, tag = entry.get("event"), str(entry.get("tag"))
        if event == "chunk":
            self.chunks[tag] = ChunkState(
                tag, str(entry["api"]), str(entry["model_name"]), list(entry["custom_ids"])
            )
            return
        chunk = self.chunks.get(tag)
        if chunk is None:
            return
        if event == "uploaded":
            chunk.input_ref = entry.get("input_ref")
        elif event == "submitting":
            chunk.submitting = True
            chunk.submitting_at = entry.get("at")
        elif event == "submitted":
            chunk.batch_id = str(entry["batch_id"])
            chunk.submitted_at = entry.get("at")
        elif event in ("done", "abandoned"):
            chunk.finished = True

    def append(self, entry: dict[str, Any]) -> None:
        """Write ``entry`` as one line and make it durable before returning."""
        entry = {**entry, "at": round(time.time(), 3)}
        # An error a server sent back may echo the key (or a URL's password): masked, as in
        # every file we write.
        data = (scrub(json.dumps(entry, ensure_ascii=False)) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[self._handle.write(view) or 0 :]
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise write_failed(exc, self.path, "the batch manifest") from None
        if entry.get("event") != "manifest":
            self._apply(entry)

    def open_chunks(self) -> list[ChunkState]:
        """Chunks a resume must reattach to (or look up by tag)."""
        return [c for c in self.chunks.values() if c.open]

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
