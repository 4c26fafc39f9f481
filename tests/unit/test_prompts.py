"""Reading experiment files, checking records, and grouping them."""

from __future__ import annotations

from pathlib import Path

import pytest

import runner.providers  # noqa: F401  (registers the providers: the grouping asks them)
from runner.errors import BadInputError
from runner.prompts.grouping import apply_model, group_records
from runner.prompts.reader import fold_csv_row, read_records
from runner.prompts.records import PromptRecord, prompt_form_problem, record_problems

APIS = frozenset({"openai", "local"})


def test_csv_parameters_columns_fold_into_one_dict(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "id,prompt,api,model_name,parameters-temperature,parameters-max_tokens,note\n"
        "1,hello,openai,gpt,0.5,10,x\n"
        '2,"with, comma",openai,gpt,,20,\n'
    )
    records = read_records(path)
    # Typed by column as prompto's pandas reader does: the id column is a number.
    assert records[0].data == {
        "id": 1,
        "prompt": "hello",
        "api": "openai",
        "model_name": "gpt",
        "parameters": {"temperature": 0.5, "max_tokens": 10},
        "note": "x",
    }
    assert records[1].data["parameters"] == {"max_tokens": 20}  # empty cell left out
    assert records[1].data["prompt"] == "with, comma"
    assert (records[0].line, records[1].line) == (2, 3)


def test_fold_csv_row_reads_booleans() -> None:
    assert fold_csv_row({"parameters-stream": "false", "prompt": "p"}) == {
        "prompt": "p",
        "parameters": {"stream": False},
    }


def test_unreadable_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"prompt": "a", "api": "openai"}\n{"prompt": oops}\n')
    with pytest.raises(BadInputError, match=r"e\.jsonl:2: not valid JSON"):
        read_records(path)


def test_non_object_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('["a"]\n')
    with pytest.raises(BadInputError, match=r"e\.jsonl:1: a line must be a JSON object"):
        read_records(path)


@pytest.mark.parametrize("name", ["e.txt", "e.json"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("{}")
    with pytest.raises(BadInputError, match=r"must end in \.jsonl or \.csv"):
        read_records(tmp_path / name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such experiment file"):
        read_records(tmp_path / "gone.jsonl")


def test_record_problems_name_the_line() -> None:
    rec = PromptRecord({"prompt": "x"}, "f.jsonl", 7)
    assert record_problems(rec, APIS) == ["f.jsonl:7: missing field 'api'"]
    rec = PromptRecord({"api": "nope"}, "f.jsonl", 8)
    problems = record_problems(rec, APIS)
    assert "f.jsonl:8: missing field 'prompt'" in problems
    assert any("unknown api 'nope'" in p for p in problems)


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [
        ("hi", True),
        (["a", "b"], True),
        ([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], True),
        ("", False),
        ([], False),
        (3, False),
        ([{"role": "wizard", "content": "u"}], False),
        ([{"role": "user", "content": "u"}, {"role": "system", "content": "s"}], False),
        ([{"role": "user"}], False),
    ],
)
def test_prompt_forms(prompt: object, ok: bool) -> None:
    assert (prompt_form_problem(prompt) is None) == ok


def _recs(*specs: tuple[str, str | None, str | None]) -> list[PromptRecord]:
    out = []
    for api, model, group in specs:
        data: dict[str, object] = {"api": api, "prompt": "p"}
        if model:
            data["model_name"] = model
        if group:
            data["group"] = group
        out.append(PromptRecord(data))
    return out


def test_grouping_follows_prompto() -> None:
    records = _recs(
        ("openai", "gpt-a", None),
        ("openai", "gpt-b", None),
        ("local", "m", None),
        ("openai", "gpt-a", "mine"),
        ("openai", "gpt-c", None),
    )
    groups = group_records(
        records,
        max_queries=10,
        parallel=True,
        max_queries_dict={"openai": {"default": 50, "gpt-b": 5}, "mine": 7},
    )
    assert {n: (g.rate_per_minute, g.total) for n, g in groups.items()} == {
        "openai": (50, 2),
        "openai-gpt-b": (5, 1),
        "local": (10, 1),
        "mine": (7, 1),
    }


def test_without_parallel_everything_is_one_queue() -> None:
    records = _recs(("openai", "a", "g1"), ("local", "m", None))
    groups = group_records(records, max_queries=12, parallel=False, max_queries_dict={"g1": 1})
    assert list(groups) == ["all"] and groups["all"].rate_per_minute == 12


def test_local_prompts_are_sent_model_by_model() -> None:
    records = _recs(("local", "a", None), ("local", "b", None), ("local", "a", None))
    groups = group_records(records, max_queries=10, parallel=True, max_queries_dict={})
    ordered = groups["local"].records
    assert isinstance(ordered, list)
    assert [r.model_name for r in ordered] == ["a", "a", "b"]


def test_apply_model_overrides_and_merges_parameters() -> None:
    records = [
        PromptRecord(
            {"api": "openai", "model_name": "x", "prompt": "p", "parameters": {"temperature": 1}}
        )
    ]
    changed = apply_model(records, "local", "gemma", {"temperature": 0, "max_tokens": 5})
    assert changed == 1
    assert records[0].data["parameters"] == {"temperature": 1, "max_tokens": 5}
    assert records[0].api == "local"
