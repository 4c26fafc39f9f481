"""What broke on the way to ten million prompts (bench/scale.py, issue 22 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

from runner.report import data as report_data


def test_the_report_of_a_run_of_millions_spills_to_disk(tmp_path: Path) -> None:
    """At 1,834,691 results the report's table of them outgrew its 64 MB cap in an in-memory
    database and the run ended without a report; 1,500,000 short lines do the same."""
    run_dir = tmp_path / "exp" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r1", "experiment": "exp"}))
    with (run_dir / "completed.jsonl").open("w") as lines:
        for i in range(1_500_000):
            lines.write(
                f'{{"model_name":"m","status":"ok","attempts":1,"latency_s":0.{i % 997},'
                f'"usage":{{"input_tokens":7,"output_tokens":1}},"rate_group":"all",'
                f'"prompt_key":"p{i}","line":{i + 1}}}\n'
            )
    data = report_data.load_run(run_dir)
    assert data.total == data.count("ok") == 1_500_000
    assert data.latency.records()[0]["n"] == 1_500_000
