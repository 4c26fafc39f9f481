"""The batch manifest: written before each step, torn lines tolerated, foreign ones refused.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_batch_manifest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.api import run_experiment
from runner.batch.manifest import MANIFEST
from tests.batch_server import batch_server
from tests.helpers import write_jsonl


def test_each_step_is_on_disk_before_the_request_that_takes_it(tmp_path: Path) -> None:
    records = [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(3)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    seen: list[tuple[str, str]] = []

    def last_event(step: str) -> None:
        (manifest,) = (tmp_path / "outputs").rglob(MANIFEST)
        lines = manifest.read_text().splitlines()
        seen.append((step, json.loads(lines[-1])["event"]))

    with batch_server([]) as server:
        server.hooks.append(last_event)
        run_experiment(
            "exp",
            [
                f"experiments_dir={tmp_path / 'experiments'}",
                f"outputs_dir={tmp_path / 'outputs'}",
                "shared_limits=none",
                "progress=off",
                "index=false",
                "mode=batch",
                "batch_poll_s=0.05",
            ],
            env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1"},
        )
    assert seen == [("upload", "chunk"), ("create", "submitting")]
