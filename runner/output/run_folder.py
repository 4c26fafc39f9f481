"""The run folder: ``<outputs_dir>/<experiment>/<run_id>/`` and what goes in it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.output.disk import atomic_write_text, copy_file
from runner.redaction import scrub
from runner.run_dirs import RUN_META as RUN_META
from runner.run_dirs import made_here

COMPLETED = "completed.jsonl"
LOG_FILE = "run.log"
INPUT_DIR = "input"
CSV_FILE = "results.csv"
LOCK_FILE = ".lock"
HYDRA_DIR = ".hydra"
# What runner keeps of each invocation's Hydra config (Hydra itself writes none:
# hydra.output_subdir is null), in .hydra (a new run) or .hydra/resumes/<when> (a resume).
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def completed(self) -> Path:
        return self.path / COMPLETED

    @property
    def meta(self) -> Path:
        return self.path / RUN_META

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE

    @property
    def csv(self) -> Path:
        return self.path / CSV_FILE

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE

    def create(self, input_file: Path) -> None:
        """Make the folder and keep a copy of the input (the user's file is left alone)."""
        (self.path / INPUT_DIR).mkdir(parents=True, exist_ok=True)
        copy_file(input_file, self.path / INPUT_DIR / input_file.name, "the copy of the input")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``run.json`` atomically, so a reader never sees half of it (or an empty one)."""
        text = scrub(json.dumps(meta, indent=2, default=str)) + "\n"
        atomic_write_text(self.meta, text, "the run's state")

    def read_meta(self) -> dict[str, Any]:
        """``run.json`` as a dict (empty when there is none)."""
        if not self.meta.exists():
            return {}
        data = json.loads(self.meta.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def remove_if_unused(self) -> None:
        """Undo a run that never started: only what this process made, file by file.

        The folder goes only if this process created it and it holds nothing but files a run
        writes before sending (never results); anything else keeps it, and every folder
        above it is left unless this process made it and it is now empty. Nothing is removed
        recursively, so a wrong path can never take a user's files with it.
        """
        path = Path(os.path.abspath(self.path))
        if path not in made_here or not path.is_dir() or not self._only_own_files():
            return
        for file in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                file.rmdir() if file.is_dir() and not file.is_symlink() else file.unlink()
        for folder in (path, *path.parents):
            if folder not in made_here:
                break
            try:
                folder.rmdir()  # only if empty: another run may be in it
            except OSError:
                break
            made_here.discard(folder)

    def _only_own_files(self) -> bool:
        for item in self.path.rglob("*"):
            rel = item.relative_to(self.path).parts
            if item.is_symlink():
                return False
            if item.is_dir():
                ok = rel in ((INPUT_DIR,), (HYDRA_DIR,))
            elif len(rel) == 1:
                ok = rel[0] in (RUN_META, LOG_FILE, LOCK_FILE, RUN_META + ".tmp")
            else:
                hydra = rel[0] == HYDRA_DIR and rel[1].removesuffix(".tmp") in HYDRA_FILES
                ok = len(rel) == 2 and (rel[0] == INPUT_DIR or hydra)
            if not ok:
                return False
        return True

    def save_hydra(self, files: Mapping[str, str], resumed_at: str | None) -> None:
        """Keep this invocation's config: in ``.hydra`` (a new run) or ``.hydra/resumes/<when>``.

        Called only once the run is accepted, so a refused resume never touches ``.hydra``.

        Raises:
            DiskFullError: a file could not be written (the disk is full).
        """
        target = self.path / HYDRA_DIR
        if resumed_at is not None or target.exists():
            target = target / "resumes" / (resumed_at or "now").replace(":", "-")
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            atomic_write_text(target / name, scrub(text), "the run's Hydra config")


def scrub_file(path: Path) -> None:
    """Rewrite a file runner did not write (Hydra's ``multirun.yaml``) without secrets in it.

    Hydra keeps a sweep's overrides as typed: a URL's ``user:password@`` would stay on disk.
    A file that is missing or cannot be read is left alone.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    clean = scrub(text)
    if clean != text:
        atomic_write_text(path, clean, "the sweep's record")
