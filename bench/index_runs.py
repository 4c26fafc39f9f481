"""The index over many small runs: a full index of N run folders, and one run's end among them.

A user who runs often has thousands of run folders, each with a ``run.json`` of ~4.6 kB (the
resolved config, groups, models, provenance; 4,642 bytes for a one-prompt run of runner
0.1.0). Every run's end brings the index up to date, so it scans every folder; a rebuild (a
new schema) reads every ``run.json`` again. Part of ``bench/bench_index.py``; on its own:
``.venv/bin/python bench/index_runs.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PYTHON, ROOT, run_measured
from runner.index import update_index

RUNS = 10_000
# Targets (ours): a rebuild of 10,000 runs as fast as issue 12's full index of 1,000,000 lines,
# and the scan a run's end does among them well under a second.
MAX_FULL_S = 30.0
MAX_UPDATE_S = 0.5


@dataclass(frozen=True)
class ManyRuns:
    """What :func:`measure` found."""

    runs: int
    run_json_bytes: int
    full_s: float
    update_s: float

    def rows(self) -> list[str]:
        """Markdown table rows in ``bench/bench_index.py``'s shape."""
        return [
            f"| full index of {self.runs:,} one-prompt runs (run.json {self.run_json_bytes:,} "
            f"bytes each; `python -m runner.index`) | ≤ {MAX_FULL_S:g} s | {self.full_s:.2f} s |",
            f"| a run's end-of-run update among {self.runs:,} runs (one new run) | "
            f"≤ {MAX_UPDATE_S:g} s | {self.update_s:.3f} s |",
        ]


def _meta(experiment: str, run_id: str) -> dict[str, object]:
    """A ``run.json`` the size of a real one: most of it is the resolved config."""
    config = {f"setting_{i:03d}": f"value {i} " + "x" * 24 for i in range(110)}
    return {
        "run_id": run_id,
        "experiment": experiment,
        "status": "completed",
        "started_at": "2026-12-01T10:00:00+00:00",
        "finished_at": "2026-12-01T10:00:01+00:00",
        "total": 1,
        "counts": {"ok": 1, "error": 0},
        "models": [{"api": "openai", "model_name": "gpt-4o-mini"}],
        "config": config,
        "version": "0.1.0",
    }


def write_runs(outputs: Path, runs: int, start: int = 0) -> int:
    """Write ``runs`` finished one-prompt run folders; returns a run.json's size in bytes."""
    size = 0
    for n in range(start, start + runs):
        experiment, run_id = f"exp{n % 20}", f"20261201-100000-{n:06d}"
        folder = outputs / experiment / run_id
        folder.mkdir(parents=True)
        line = {"id": "a", "prompt": "q", "response": "ok", "status": "ok", "run_id": run_id}
        (folder / "completed.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
        text = json.dumps(_meta(experiment, run_id), indent=2)
        (folder / "run.json").write_text(text, encoding="utf-8")
        size = len(text.encode())
    return size


def measure(root: Path, runs: int = RUNS) -> ManyRuns:
    """Index ``runs`` run folders from nothing, then time the update one more run makes."""
    outputs = root / "many-runs"
    size = write_runs(outputs, runs)
    argv = [PYTHON, "-m", "runner.index", "--outputs-dir", str(outputs)]
    full = run_measured(argv, log=root / "many-runs.log", cwd=ROOT)
    if full.returncode != 0:
        raise RuntimeError((root / "many-runs.log").read_text()[-2000:])
    write_runs(outputs, 1, start=runs)
    began = time.perf_counter()
    report = update_index(outputs)
    update_s = time.perf_counter() - began
    if report.rows_added != 1 or report.runs_seen != runs + 1:
        raise RuntimeError(f"unexpected update: {report.summary()}")
    return ManyRuns(runs, size, full.wall_s, update_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runner-bench-runs-") as tmp:
        print("\n".join(measure(Path(tmp), args.runs).rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
