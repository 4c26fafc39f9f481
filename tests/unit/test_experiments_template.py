"""Template experiments (conf/experiment/NAME.yaml with data and prompt): expansion, bad input,
``limit``/``sample``, ``runner.check show=N``, ``runner.expand`` and pass@k. No server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.config.compose import compose_settings
from runner.errors import BadInputError
from runner.evaluation.repeats import majority, pass_at_k, reductions
from runner.prompts.expand import Expansion
from runner.prompts.records import PromptRecord
from tests.helpers import write_jsonl

QUESTIONS = [
    {"id": "q1", "question": "2+2?", "answer": "4"},
    {"id": "q2", "question": "3+3?", "answer": "6"},
    {"question": "no id here", "answer": "x"},
]


TEMPLATE = """\
# @package _global_
experiment:
  name: {name}
  data: {data}
  prompt: {prompt}
  models: [gpt_4o_mini, gpt_4_1_nano]
  repeats: {repeats}
  parameters: {{temperature: 0.5}}
"""


VARIANTS = """
    plain: "Q: {{ question }}"
    chat:
      - {role: system, content: "Answer briefly."}
      - {role: user, content: "{{ question }} ({{ answer }})"}"""


def _experiment(
    tmp_path: Path,
    *,
    name: str = "t",
    data: str = "qs.jsonl",
    prompt: str = VARIANTS,
    repeats: int = 2,
    rows: list[dict[str, Any]] | None = None,
) -> Path:
    experiments = tmp_path / "experiments"
    if data.endswith(".jsonl"):
        write_jsonl(experiments / data, QUESTIONS if rows is None else rows)
    yaml = experiments / "conf" / "experiment" / f"{name}.yaml"
    yaml.parent.mkdir(parents=True, exist_ok=True)
    yaml.write_text(
        TEMPLATE.format(name=name, data=data, prompt=prompt, repeats=repeats), encoding="utf-8"
    )
    return yaml


def _records(tmp_path: Path, *more: str, name: str = "t") -> list[PromptRecord]:
    settings = compose_settings(
        [f"experiment={name}", f"experiments_dir={tmp_path / 'experiments'}", *more]
    )
    return list(Expansion.of(settings).records())


def test_columns_chat_templates_variants_models_and_repeats_expand(tmp_path: Path) -> None:
    _experiment(tmp_path)
    records = _records(tmp_path)
    assert len(records) == 3 * 2 * 2 * 2  # rows x variants x models x repeats
    first = records[0].data
    assert first["prompt"] == "Q: 2+2?"
    assert first["row_id"] == "q1" and first["answer"] == "4"
    assert (first["prompt_variant"], first["repeat"]) == ("plain", 0)
    assert first["api"] == "openai" and first["model_name"] == "gpt-4o-mini"
    # The model's own parameters, under the experiment's.
    assert first["parameters"] == {"max_tokens": 512, "temperature": 0.5}
    chat = next(r.data for r in records if r.data.get("prompt_variant") == "chat")
    assert chat["prompt"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "2+2? (4)"},
    ]
    keys = [r.key for r in records]
    assert len(set(keys)) == len(keys)
    assert keys[:3] == [
        "q1@plain@gpt-4o-mini#0",
        "q1@plain@gpt-4o-mini#1",
        "q1@plain@gpt-4.1-nano#0",
    ]
    # A row without an id is keyed by its line; lines number the expansion from 1.
    assert records[-1].key == "3@chat@gpt-4.1-nano#1"
    assert [r.line for r in records] == list(range(1, len(records) + 1))


def test_keys_and_lines_are_the_same_on_every_read_and_prompt_variant_selects(
    tmp_path: Path,
) -> None:
    _experiment(tmp_path)
    again = [(r.key, r.line) for r in _records(tmp_path)]
    assert again == [(r.key, r.line) for r in _records(tmp_path)]
    chat = _records(tmp_path, "prompt_variant=chat")
    assert {r.data["prompt_variant"] for r in chat} == {"chat"}
    assert {r.key for r in chat} <= {k for k, _ in again}  # the same keys as in the full run
    one = _records(tmp_path, "model=gpt_4o_mini")
    assert {r.data["model_name"] for r in one} == {"gpt-4o-mini"}


def test_csv_parquet_and_inline_data(tmp_path: Path) -> None:
    import duckdb

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "qs.csv").write_text("id,question,answer\nq1,2+2?,4\n", encoding="utf-8")
    _experiment(tmp_path, data="qs.csv", prompt='"{{ question }}"', repeats=1)
    assert [r.data["prompt"] for r in _records(tmp_path)] == ["2+2?", "2+2?"]
    target = str(experiments / "qs.parquet").replace("'", "''")
    duckdb.execute(f"COPY (SELECT 'p1' AS id, 'why?' AS question) TO '{target}' (FORMAT parquet)")
    _experiment(tmp_path, data="qs.parquet", prompt='"{{ question }}"', repeats=1)
    assert [r.key for r in _records(tmp_path)] == ["p1@gpt-4o-mini", "p1@gpt-4.1-nano"]
    inline = '[{question: "a?"}, {question: "b?"}]'
    _experiment(tmp_path, data=inline, prompt='"{{ question }}"', repeats=1)
    assert [r.data["prompt"] for r in _records(tmp_path)][::2] == ["a?", "b?"]


def test_pass_at_k_against_hand_computed_values() -> None:
    # n=5, c=2, k=1: 1 - C(3,1)/C(5,1) = 1 - 3/5 = 0.4
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # n=5, c=2, k=3: 1 - C(3,3)/C(5,3) = 1 - 1/10 = 0.9
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    # n - c < k: every draw holds a pass
    assert pass_at_k(5, 2, 4) == 1.0
    assert pass_at_k(10, 0, 5) == 0.0
    # n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252 = 0.916666...
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    assert majority([1.0, 0.0, 1.0]) == 1.0
    assert majority([1.0, 0.0]) == 0.0  # a tie never passes
    found = reductions([1.0, 0.0, 0.0, 1.0, 0.0], [1, 5])
    assert found == {
        "mean": pytest.approx(0.4),
        "majority": 0.0,
        "pass@1": pytest.approx(0.4),
        "pass@5": 1.0,
    }
    assert "pass@1" not in reductions([3.0, 4.0], [1])  # a 1-5 scale is not pass/fail


def test_a_template_experiment_without_a_model_says_how_to_choose_one(tmp_path: Path) -> None:
    _experiment(tmp_path)
    yaml = tmp_path / "experiments" / "conf" / "experiment" / "t.yaml"
    yaml.write_text(yaml.read_text().replace("  models: [gpt_4o_mini, gpt_4_1_nano]\n", ""))
    with pytest.raises(Exception, match="models"):
        _records(tmp_path)
    with pytest.raises(BadInputError, match="no such variant"):
        _experiment(tmp_path)
        _records(tmp_path, "prompt_variant=nope")


def test_the_report_reduces_repeats_per_prompt(tmp_path: Path) -> None:
    from runner.report.data import load_run

    run = tmp_path / "run"
    results: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for row, passed in (("a", [1, 0, 0]), ("b", [1, 1, 0])):
        for repeat, score in enumerate(passed):
            key = f"{row}#{repeat}"
            results.append(
                {"prompt_key": key, "row_id": row, "repeat": repeat, "line": len(results) + 1,
                 "api": "openai", "model_name": "m", "status": "ok", "prompt_variant": "v"}
            )  # fmt: skip
            scores.append({"run_id": "r", "prompt_key": key, "step": "s", "field": "score",
                           "value": bool(score)})  # fmt: skip
    write_jsonl(run / "completed.jsonl", results)
    write_jsonl(run / "evaluations.jsonl", scores)
    (run / "run.json").write_text('{"run_id": "r"}', encoding="utf-8")
    table = load_run(run).repeat_scores
    got = {r["reduction"]: r for r in table.records()}
    assert list(got) == ["mean", "majority", "pass@1", "pass@3"]
    assert {r["model"] for r in table.records()} == {"m · v"}
    assert got["mean"]["mean"] == pytest.approx(0.5)  # (1/3 + 2/3) / 2
    assert got["majority"]["mean"] == pytest.approx(0.5)  # 0 and 1
    assert got["pass@1"]["mean"] == pytest.approx(0.5)
    assert got["pass@3"]["mean"] == 1.0 and got["pass@3"]["lo"] == 1.0
    assert got["mean"]["n"] == 2 and got["mean"]["repeats"] == 3
