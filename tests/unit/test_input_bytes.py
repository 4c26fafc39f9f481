"""Issue 10.6: every input byte is checked.

Invalid UTF-8 is exit 2 naming the file, line and byte offset (run and check alike, no
traceback); a UTF-8 BOM is accepted in JSONL and CSV; a CSV quote left open or standing
after a closing quote is exit 2 naming the line, not rows merged and sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.errors import BadInputError
from runner.prompts.reader import read_records

GOOD = b'{"id": "a", "api": "openai", "model_name": "m", "prompt": "hi"}\n'


# Line 2 holds a Latin-1 "é" (0xe9), not UTF-8; its offset in the file is len(GOOD) + 42.
BAD_LINE = b'{"id": "b", "api": "openai", "prompt": "caf\xe9"}\n'


BAD_OFFSET = len(GOOD) + BAD_LINE.index(b"\xe9")


def _experiment(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "experiments" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_invalid_utf8_names_file_line_and_byte_offset(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "e.jsonl", GOOD + BAD_LINE)
    with pytest.raises(BadInputError) as caught:
        read_records(path)
    message = str(caught.value)
    assert f"{path}:2:" in message
    assert f"byte offset {BAD_OFFSET}" in message and "0xe9" in message


def test_invalid_utf8_in_csv_names_its_line(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "e.csv", b"prompt,api\nhi,openai\ncaf\xe9,openai\n")
    with pytest.raises(BadInputError, match=r"e\.csv:3: not valid UTF-8"):
        read_records(path)


def test_a_lone_surrogate_escape_is_refused_and_a_pair_accepted(tmp_path: Path) -> None:
    # Valid UTF-8 and valid JSON, but half a character: no result line could hold it.
    lone = b'{"api": "openai", "prompt": "a\\ud800b"}\n'
    with pytest.raises(BadInputError, match=r"e\.jsonl:2: a \\u escape stands for half"):
        read_records(_experiment(tmp_path, "e.jsonl", GOOD + lone))
    upper = b'{"api": "openai", "prompt": "a\\uDC00b"}\n'  # hex digits in capitals too
    with pytest.raises(BadInputError, match=r"u\.jsonl:2: a \\u escape stands for half"):
        read_records(_experiment(tmp_path, "u.jsonl", GOOD + upper))
    pair = b'{"api": "openai", "prompt": "\\ud83d\\ude00"}\n'
    assert read_records(_experiment(tmp_path, "p.jsonl", pair))[0].data["prompt"] == "\U0001f600"


def test_a_bom_is_accepted_in_jsonl_and_csv(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    jsonl = read_records(_experiment(tmp_path, "j.jsonl", bom + GOOD))
    assert jsonl[0].data["prompt"] == "hi" and jsonl[0].line == 1
    csv = read_records(_experiment(tmp_path, "c.csv", bom + b"prompt,api\nhi,openai\n"))
    assert csv[0].data == {"prompt": "hi", "api": "openai"}


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        # A quote opened on line 3 and never closed: today lines 3-4 merge into one prompt.
        (b'one,openai\n"two,openai\nthree,openai\n', 3),
        # A quote opened on line 2 swallows line 3 up to the next quote, which stands alone.
        (b'"one,openai\ntwo,"x",openai\nthree,openai\n', 2),
        # Text after a closing quote.
        (b'one,openai\n"two"x,openai\n', 3),
    ],
)
def test_a_csv_quote_left_open_or_stray_names_the_line(
    tmp_path: Path, rows: bytes, line: int
) -> None:
    path = _experiment(tmp_path, "e.csv", b"prompt,api\n" + rows)
    with pytest.raises(BadInputError, match=rf"e\.csv:{line}\b.*quote"):
        read_records(path)


def test_a_quoted_cell_over_several_lines_is_still_fine(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "e.csv", b'prompt,api\n"two\nlines, ""quoted""",openai\nb,x\n')
    records = read_records(path)
    assert records[0].data["prompt"] == 'two\nlines, "quoted"'
    assert records[1].line == 4


def test_an_answer_with_half_a_character_is_kept_not_a_crash(tmp_path: Path) -> None:
    from runner.output.writer import ResultWriter

    path = tmp_path / "completed.jsonl"
    with ResultWriter(path) as writer:
        writer.write({"id": "a", "response": "ok \ud83d\ude00 half \ud800 end"})
        writer.write({"id": "b", "response": "next"})
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["response"] == "ok \U0001f600 half \ufffd end"
    assert lines[1]["id"] == "b"
