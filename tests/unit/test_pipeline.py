"""``python -m runner.pipeline``: a watched folder, each new file run once, across restarts.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_pipeline.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def _records(model: str, n: int) -> list[str]:
    return [
        json.dumps({"id": i, "api": "openai", "model_name": model, "prompt": f"p{i}"}) + "\n"
        for i in range(n)
    ]


def test_settling_waits_for_size_and_mtime_to_hold(tmp_path: Path) -> None:
    """A file is run only once unchanged for settle_s; each write starts the wait anew."""
    from runner.pipeline import Pipeline

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    path = experiments / "slow.jsonl"
    path.write_text(_records("m", 1)[0])
    pipeline = Pipeline(experiments, tmp_path / "outputs", [], settle_s=0.5)
    assert pipeline.pending({}) == ([], 1)
    time.sleep(0.3)
    with path.open("a") as f:
        f.write(_records("m", 2)[1])
    time.sleep(0.3)
    assert pipeline.pending({}) == ([], 1)  # written 0.3 s ago: still settling
    time.sleep(0.6)
    assert [p.name for p, _ in pipeline.pending({})[0]] == ["slow.jsonl"]
