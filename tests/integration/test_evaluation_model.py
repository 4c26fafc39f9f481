"""The real local model (Gemma 3 270M, llama.cpp) as a judge: the plumbing and the parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.evaluate import evaluate
from tests.helpers import read_jsonl, write_jsonl

pytestmark = pytest.mark.model


def test_local_model_judges_a_stored_run(tmp_path: Path, gemma_path: Path) -> None:
    run_dir = tmp_path / "outputs" / "exp" / "r1"
    lines = [
        {"prompt": f"What is {i} + {i}?", "response": str(2 * i), "status": "ok",
         "prompt_key": f"p{i}", "line": i, "run_id": "r1", "expected_response": str(2 * i)}
        for i in range(1, 3)
    ]  # fmt: skip
    write_jsonl(run_dir / "completed.jsonl", lines)
    argv = [
        "run=latest",
        "evaluation=[judge_helpfulness,includes]",
        "evaluation.helpfulness.model=gemma_local",
        # A base model rambles: take the first number it says, whatever surrounds it.
        "evaluation.helpfulness.pattern='(?P<verdict>\\d+)'",
        "evaluation.helpfulness.parameters.max_tokens=12",
        f"apis.local.model_path={gemma_path}",
        f"outputs_dir={tmp_path / 'outputs'}",
        "index=false",
    ]
    report = evaluate(argv, env={})
    assert report.lines == 2
    rows = read_jsonl(run_dir / "evaluations.jsonl")
    judged = {
        key: {r["field"]: r["value"] for r in rows if r["prompt_key"] == key and
              r["step"] == "helpfulness"}
        for key in ("p1", "p2")
    }  # fmt: skip
    for fields in judged.values():
        assert fields["judge"] == "local/gemma-3-270m"
        assert isinstance(fields["raw"], str) and fields["raw"]
        # Either a number was found and parsed, or the failure is recorded with the raw text.
        assert isinstance(fields.get("score"), float) or "no verdict" in fields["error"]
    assert report.errors == sum("error" in f for f in judged.values())
    includes = [r["value"] for r in rows if r["step"] == "includes"]
    assert includes == [True, True]
