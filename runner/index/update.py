"""Bring ``<outputs_dir>/index.duckdb`` up to date with the run folders: :func:`update_index`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import duckdb
from loguru import logger

from runner.index import schema
from runner.index.db import DEFAULT_WAIT_S, db_path, write_connection
from runner.index.errors import IndexMissingError
from runner.index.ingest import ingest
from runner.index.labels import load_labels
from runner.index.rebuild import rebuild_index
from runner.index.report import IndexReport
from runner.index.runs import update_runs
from runner.index.scan import COMPLETED, FINAL_STATUSES, RUN_JSON, Slice, plan_slice, scan_runs
from runner.index.scores import score_new_rows
from runner.index.state import drop_missing, load_stored


def update_index(
    outputs_dir: Path, *, rebuild: bool = False, wait: float = DEFAULT_WAIT_S
) -> IndexReport:
    """Index every new or grown ``completed.jsonl`` and changed ``run.json`` under a folder.

    Only bytes not read before are read, up to the last complete line, so this is cheap when
    little changed and safe while a run is still writing. Bad lines are skipped and listed in
    the report, never raised.

    Args:
        outputs_dir: the folder holding ``<experiment>/<run_id>/`` run folders.
        rebuild: read everything again into a new index, swapped in when complete (queries
            see the old one until then; ``evaluations`` is kept).
        wait: seconds to wait for another process using the index.

    Raises:
        IndexBusyError: another process kept the index for more than ``wait`` seconds.
        IndexMissingError: ``outputs_dir`` is not a folder.
    """
    began = time.perf_counter()
    outputs_dir = Path(outputs_dir)
    if not outputs_dir.is_dir():
        raise IndexMissingError(
            f"no outputs folder at {outputs_dir}; pass the folder your runs write to "
            "(--outputs-dir)."
        )
    report = IndexReport(db_path(outputs_dir))

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        _fill(con, outputs_dir, report)

    current = True
    if not rebuild:
        with write_connection(outputs_dir, wait=wait) as con:
            version = schema.stored_version(con)
            current = version in (None, schema.SCHEMA_VERSION) or schema.migrate(con, version)
            if current:
                if version is None:
                    schema.ensure_schema(con)
                fill(con)
        if not current:
            logger.info(
                "results index: schema changed ({} -> {}), rebuilding",
                version,
                schema.SCHEMA_VERSION,
            )
    if rebuild or not current:
        rebuild_index(outputs_dir, fill, wait=wait)
        report.rebuilt = True
    report.seconds = time.perf_counter() - began
    if report.changed or report.skipped:
        logger.info("results {}", report.summary())
    return report


def _fill(con: duckdb.DuckDBPyConnection, outputs_dir: Path, report: IndexReport) -> None:
    """Index what is new under ``outputs_dir`` into ``con``'s database; fills ``report``."""
    runs = scan_runs(outputs_dir)
    report.runs_seen = len(runs)

    statuses, bad_runs = update_runs(con, outputs_dir, runs, load_stored(con, "run"))
    report.runs_updated = len(statuses)
    report.skipped.extend(bad_runs)
    known = dict(con.execute("SELECT run_dir, status FROM runs").fetchall())
    known.update(statuses)

    stored = load_stored(con, "completed")
    slices: list[Slice] = []
    for run in runs:
        rel = f"{run.rel}/{COMPLETED}"
        final = known.get(run.rel) in FINAL_STATUSES
        sl = plan_slice(outputs_dir, run, stored.get(rel), final)
        if sl is not None:
            slices.append(sl)
    report.files_read = len(slices)
    if slices:
        with tempfile.TemporaryDirectory(prefix="runner-index-") as tmp:
            result = ingest(con, slices, Path(tmp))
        report.rows_added = result.rows_added
        if result.rows_added:
            score_new_rows(con)
        report.skipped.extend(result.skipped)

    present = {f"{r.rel}/{COMPLETED}" for r in runs if r.completed is not None}
    present |= {f"{r.rel}/{RUN_JSON}" for r in runs if r.run_json is not None}
    report.files_removed = drop_missing(con, present)
    load_labels(con, outputs_dir)
