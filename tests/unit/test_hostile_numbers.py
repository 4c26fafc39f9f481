"""Numbers and nesting no API takes: one line naming the file, line and field, not a crash.

Python's JSON reader takes ``NaN``, ``Infinity`` and ``1e999``, which were sent (and written)
as ``null``; a line nested deeper than ~1,000 levels or with an integer of over 4,300
digits raised ``RecursionError``/``ValueError`` (exit 1, "please report it", a run folder
left behind). A model's answer nested that deep stopped the whole run when an
``output_schema`` was checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.config.limits_json import merged_limits
from runner.errors import BadInputError, ConfigError
from runner.evaluation.scorers import valid_json
from runner.evaluation.stored import completed_file_lines, read_lines
from runner.prompts.data import iter_rows
from runner.prompts.output_check import check_answer
from runner.prompts.output_schema import SchemaError, load_schema
from runner.prompts.reader import iter_records, read_records
from runner.prompts.records import PromptRecord, record_problems
from runner.providers.answer_parts import tool_call
from runner.report.answers import readable
from runner.run_dirs import run_folders
from runner.view.conversation import as_text, pretty_json
from runner.wire_json import CUT, MAX_LINE_DEPTH, json_line, loads, loads_exact

GOOD = '{"id": "a", "api": "openai", "model_name": "m", "prompt": "hi"}\n'
DEEP = "[" * 5000 + "]" * 5000


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ('"parameters": {"temperature": NaN}', "parameters.temperature"),
        ('"parameters": {"temperature": 1e999}', "parameters.temperature"),
        ('"parameters": {"stop": ["a", -Infinity]}', "parameters.stop[1]"),
        ('"id": 1E+400', "id"),
    ],
)
def test_a_number_json_cannot_hold_names_its_field(tmp_path: Path, value: str, field: str) -> None:
    line = '{"api": "openai", "model_name": "m", "prompt": "hi", ' + value + "}\n"
    path = _file(tmp_path, "e.jsonl", GOOD + line)
    said = rf"e\.jsonl:2: field '{re.escape(field)}' is NaN or infinite"
    with pytest.raises(BadInputError, match=said):
        read_records(path)
    problems: list[str] = []
    assert len(list(iter_records(path, problems.append))) == 1  # the good line still read
    assert len(problems) == 1


def test_words_and_finite_exponents_are_not_numbers_json_cannot_hold(tmp_path: Path) -> None:
    text = '{"api": "openai", "prompt": "NaN and Infinity", "parameters": {"t": 1e-300}}\n'
    records = read_records(_file(tmp_path, "e.jsonl", text))
    assert records[0].data["parameters"] == {"t": 1e-300}


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "1e999"])
def test_a_csv_cell_that_types_as_infinity_is_named(tmp_path: Path, cell: str) -> None:
    text = f"api,prompt,parameters-temperature\nopenai,hi,0.5\nopenai,hi,{cell}\n"
    with pytest.raises(
        BadInputError, match=r"e\.csv:3: field 'parameters\.temperature' is NaN or infinite"
    ):
        read_records(_file(tmp_path, "e.csv", text))


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"api": "openai", "prompt": "hi", "x": ' + DEEP + "}", "nested more than"),
        ('{"api": "openai", "prompt": "hi", "id": 1' + "0" * 5000 + "}", "an integer has more"),
    ],
)
def test_a_line_too_deep_or_too_long_a_number_is_bad_input(
    tmp_path: Path, line: str, said: str
) -> None:
    path = _file(tmp_path, "e.jsonl", GOOD + line + "\n")
    with pytest.raises(BadInputError, match=rf"e\.jsonl:2: not valid JSON \({said}"):
        read_records(path)


def test_json_too_deep_is_a_decode_error_for_every_reader() -> None:
    for read in (loads, loads_exact):
        with pytest.raises(ValueError, match="nested more than"):
            read(DEEP)
        with pytest.raises(ValueError, match="nested more than"):
            read(DEEP.encode())


def test_an_answer_nested_too_deep_is_an_invalid_output_not_a_stopped_run() -> None:
    with pytest.raises(ValueError, match=r"the answer is not JSON \(nested more than"):
        check_answer(DEEP, "stop", {"type": "array"})
    # Parsed (under the parser's depth), but deeper than the validator can walk.
    nested = "[" * 400 + "]" * 400
    with pytest.raises(ValueError, match="nested too deeply to check"):
        check_answer(nested, "stop", {"type": "array", "items": {"$ref": "#"}})


def test_the_json_scorer_scores_an_answer_nested_too_deep_as_not_json() -> None:
    fields = valid_json({"response": DEEP})
    assert fields["score"] is False and "nested more than" in str(fields["reason"])


def test_a_template_data_line_with_nan_names_its_field(tmp_path: Path) -> None:
    text = '{"id": "a", "country": "X"}\n{"id": "b", "country": "Y", "expected": NaN}\n'
    _file(tmp_path, "rows.jsonl", text)
    with pytest.raises(BadInputError, match=r"rows\.jsonl:2: field 'expected' is NaN or infinite"):
        list(iter_rows("rows.jsonl", tmp_path))


def test_a_control_character_in_a_string_is_said_once(tmp_path: Path) -> None:
    path = _file(tmp_path, "e.jsonl", GOOD + '{"api": "openai", "prompt": "a\tb"}\n')
    with pytest.raises(BadInputError, match=r"Invalid control character at column 31\)") as got:
        read_records(path)
    assert "at at" not in str(got.value)


def test_a_record_nested_deeper_than_a_result_line_can_hold_is_bad_input(tmp_path: Path) -> None:
    """300 levels parsed, then crashed the spool: orjson writes 255 at most, the fallback
    ran out of stack ("unexpected RecursionError", exit 1)."""

    def line(depth: int) -> str:
        return '{"api": "openai", "prompt": "hi", "x": ' + "[" * depth + "]" * depth + "}\n"

    with pytest.raises(BadInputError, match=r"e\.jsonl:2: nested deeper than 200 levels"):
        read_records(_file(tmp_path, "e.jsonl", GOOD + line(300)))
    kept = read_records(_file(tmp_path, "k.jsonl", GOOD + line(199)))  # 200 with the record
    assert len(kept) == 2
    _file(tmp_path, "rows.jsonl", '{"id": "a", "x": ' + "[" * 300 + "]" * 300 + "}\n")
    with pytest.raises(BadInputError, match=r"rows\.jsonl:1: nested deeper than 200"):
        list(iter_rows("rows.jsonl", tmp_path))


def test_a_result_line_cuts_an_answer_nested_too_deep_and_still_writes() -> None:
    """A tool call's arguments (or a parsed answer) 900 levels deep stopped the whole run:
    orjson refuses past 255 levels and the fallback ran out of stack."""
    deep: list[object] = []
    for _ in range(900):
        deep = [deep]
    line = {"id": "a", "response": "x", "tool_calls": [{"name": "f", "arguments": deep}]}
    written = json.loads(json_line(line))
    assert written["id"] == "a" and written["response"] == "x"
    assert CUT in json.dumps(written)
    depth, value = 0, written["tool_calls"][0]["arguments"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert value == CUT and depth <= MAX_LINE_DEPTH
    shallow = {"a": [[[1]]], "n": float("nan")}
    assert json.loads(json_line(shallow)) == {"a": [[[1]]], "n": None}  # untouched


def test_a_csv_column_named_twice_is_named_and_unnamed_ones_pass(tmp_path: Path) -> None:
    """The row's last 'prompt' cell was sent; prompto (pandas) reads the first."""
    text = "id,api,prompt,prompt\n1,openai,first,second\n"
    with pytest.raises(BadInputError, match=r"e\.csv:1: column 4 is named 'prompt' again"):
        read_records(_file(tmp_path, "e.csv", text))
    spreadsheet = "id,api,prompt,,\n1,openai,hi,,\n"
    assert read_records(_file(tmp_path, "s.csv", spreadsheet))[0].data["prompt"] == "hi"


def test_a_completed_file_nested_too_deep_is_bad_input_for_evaluate(tmp_path: Path) -> None:
    """runner.evaluate file=... ended 'unexpected RecursionError ... please report it'."""
    text = '{"id": "a", "response": "x"}\n{"id": "b", "response": ' + DEEP + "}\n"
    path = _file(tmp_path, "done.jsonl", text)
    with pytest.raises(BadInputError, match=r"done\.jsonl:2: not valid JSON \(nested more than"):
        completed_file_lines(path)
    run = _file(tmp_path, "completed.jsonl", text)
    assert [line["id"] for line in read_lines(run)] == ["a"]  # a run's: the line is skipped


@pytest.mark.parametrize(
    ("parameters", "said"),
    [
        ({"max_tokens": "lots"}, "parameters.max_tokens is 'lots'"),
        ({"max_tokens": True}, "parameters.max_tokens is True"),
        ({"max_tokens": -5}, "parameters.max_tokens is -5"),
        ({"max_completion_tokens": 1e308}, "parameters.max_completion_tokens is 1e+308"),
        ({"max_tokens": 1.5}, "parameters.max_tokens is 1.5"),
        ({"options": {"num_predict": -3}}, "parameters.options.num_predict is -3"),
    ],
)
def test_a_token_bound_that_is_no_whole_number_is_named(
    parameters: dict[str, object], said: str
) -> None:
    """It was sent as given; the budget and token limits had no bound to hold it to."""
    record = PromptRecord({"api": "openai", "prompt": "hi", "parameters": parameters}, "e", 2)
    (problem,) = record_problems(record, frozenset({"openai"}))
    assert problem.startswith(f"e:2: {said}; it bounds the answer's tokens"), problem


@pytest.mark.parametrize(
    "parameters",
    [{"max_tokens": 100}, {"max_tokens": 100.0}, {"options": {"num_predict": -1}}, {}],
)
def test_a_whole_token_bound_passes(parameters: dict[str, object]) -> None:
    record = PromptRecord({"api": "openai", "prompt": "hi", "parameters": parameters})
    assert record_problems(record, frozenset({"openai"})) == []


def test_records_joined_by_a_lone_carriage_return_say_so(tmp_path: Path) -> None:
    path = _file(tmp_path, "e.jsonl", GOOD.rstrip("\n") + "\r" + GOOD)
    with pytest.raises(BadInputError, match=r"e\.jsonl:1: .*lone \\r: end lines with \\n"):
        read_records(path)


def test_settings_files_nested_too_deep_are_config_errors(tmp_path: Path) -> None:
    """max_queries_json= and output_schema= of such a file ended 'unexpected RecursionError'."""
    deep = _file(tmp_path, "deep.json", '{"openai": ' + DEEP + "}")
    with pytest.raises(ConfigError, match=r"deep\.json: not valid JSON \(nested more than"):
        merged_limits(deep, {})
    with pytest.raises(SchemaError, match=r"deep\.json:1: not valid JSON \(nested more than"):
        load_schema(str(deep), tmp_path)
    walked = '{"type": "array", "items": ' + '{"items": ' * 900 + "{}" + "}" * 900 + "}"
    with pytest.raises(SchemaError, match="nested too deeply to check"):
        load_schema(str(_file(tmp_path, "walked.json", walked)), tmp_path)


def test_an_answer_nested_too_deep_is_shown_as_text_in_the_report_and_viewer() -> None:
    """The viewer's find and compare pages answered 500 (RecursionError) for such an answer."""
    assert as_text(DEEP) == DEEP
    assert pretty_json(DEEP) == DEEP
    assert readable(DEEP) == DEEP


def test_tool_call_arguments_nested_too_deep_are_kept_as_text() -> None:
    """A model's arguments of [[[[... raised RecursionError inside the provider."""
    assert tool_call("f", DEEP) == {"name": "f", "arguments": DEEP}
    assert tool_call("f", '{"a": [1]}') == {"name": "f", "arguments": {"a": [1]}}


def test_a_csv_cell_over_128_kib_is_read_as_prompto_reads_it(tmp_path: Path) -> None:
    """'unreadable CSV (field larger than field limit (131072))': a long document refused."""
    long = "word " * 40_000
    text = f'id,api,prompt\n1,openai,"{long}"\n'
    assert read_records(_file(tmp_path, "e.csv", text))[0].data["prompt"] == long
    _file(tmp_path, "rows.csv", f'id,country\n1,"{long}"\n')
    (row,) = iter_rows("rows.csv", tmp_path)
    assert row.columns["country"] == long


def test_runs_of_an_experiment_named_with_glob_characters_are_found(tmp_path: Path) -> None:
    """'a[1]' read as a character class: resume=latest, runner.report and runner.evaluate
    found no runs; 'st*r' took the runs of every experiment it matched."""
    for name in ("a[1]", "st*r", "start", "a1"):
        run = tmp_path / name / f"run-{name.replace('*', 'x')}"
        run.mkdir(parents=True)
        (run / "run.json").write_text('{"started_at": "2026-01-01"}', encoding="utf-8")
    assert [p.parent.name for p in run_folders(tmp_path, "a[1]")] == ["a[1]"]
    assert [p.parent.name for p in run_folders(tmp_path, "st*r")] == ["st*r"]


def test_a_byte_order_mark_inside_the_file_is_named_in_plain_words(tmp_path: Path) -> None:
    path = _file(tmp_path, "e.jsonl", GOOD + "\ufeff" + GOOD)
    with pytest.raises(BadInputError, match=r"e\.jsonl:2: a byte-order mark \(U\+FEFF\)") as got:
        read_records(path)
    assert "utf-8-sig" not in str(got.value)
