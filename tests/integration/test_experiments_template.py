"""Template experiments (conf/experiment/NAME.yaml with data and prompt) as commands.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_experiments_template.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.prompts.records import PromptRecord
from tests.helpers import ROOT, read_jsonl, write_jsonl
from tests.unit.test_experiments_template import QUESTIONS as QUESTIONS
from tests.unit.test_experiments_template import TEMPLATE as TEMPLATE
from tests.unit.test_experiments_template import VARIANTS as VARIANTS
from tests.unit.test_experiments_template import _experiment as _experiment


def _cli(tmp_path: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            module,
            *args,
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "k", "PYTHONPATH": str(ROOT)},
    )


def _refused(out: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "Traceback" not in text
    for part in parts:
        assert part in text, text


def test_a_missing_column_names_template_line_and_column_exit_2(tmp_path: Path) -> None:
    rows = [{"question": "ok", "answer": "1"}, {"question": "q"}, {"question": "x"}]
    _experiment(tmp_path, rows=rows)
    out = _cli(tmp_path, "runner", "experiment=t")
    data = tmp_path / "experiments" / "qs.jsonl"
    _refused(out, f"{data}:2", "prompt.chat", "'answer'")
    assert not (tmp_path / "outputs" / "t").exists()  # nothing sent, no run folder


def test_bad_template_syntax_names_the_yaml_and_its_line(tmp_path: Path) -> None:
    yaml = _experiment(
        tmp_path, prompt='\n    a: "fine"\n    b: |\n      line one\n      {{ oops }\n'
    )
    out = _cli(tmp_path, "runner.check", "experiment=t")
    _refused(out, f"{yaml}:9", "prompt.b", "bad syntax")  # line 9: {{ oops }


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        ('"{{ question.__class__.__mro__ }}"', "SecurityError"),  # the sandbox: text is data
        ('"{{ question + 1 }}"', "TypeError"),
    ],
)
def test_a_template_that_cannot_render_is_one_line_exit_2(
    tmp_path: Path, prompt: str, why: str
) -> None:
    _experiment(tmp_path, prompt=prompt)
    out = _cli(tmp_path, "runner", "experiment=t")
    _refused(out, "template prompt", why, "nothing was sent")
    assert not (tmp_path / "outputs" / "t").exists()


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('{"id": "q9", "question": "fine", "answer": 1', "not valid JSON"),
        ('{"id": ["q9"], "question": "x", "answer": "y"}', "field 'id'"),
    ],
)
def test_a_bad_data_line_names_file_line_and_field(tmp_path: Path, line: str, where: str) -> None:
    _experiment(tmp_path)
    data = tmp_path / "experiments" / "qs.jsonl"
    data.write_text(data.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    out = _cli(tmp_path, "runner", "experiment=t")
    _refused(out, f"{data}:4", where)
    assert not (tmp_path / "outputs" / "t").exists()


def test_check_shows_the_first_prompts_and_counts_per_model_and_variant(tmp_path: Path) -> None:
    _experiment(tmp_path)
    out = _cli(tmp_path, "runner.check", "experiment=t", "show=3")
    assert out.returncode == 0, out.stderr
    assert "24 prompt(s)" in out.stdout
    assert "openai/gpt-4o-mini  chat: 6" in out.stdout
    assert "openai/gpt-4.1-nano  plain: 6" in out.stdout
    assert "The first 3 prompt(s):" in out.stdout
    assert "[q1@plain@gpt-4o-mini#0]" in out.stdout
    assert "online" in out.stdout  # the cost estimate
    limited = _cli(tmp_path, "runner.check", "experiment=t", "limit=5")
    assert "OK:" in limited.stdout and " 5 prompt(s)" in limited.stdout


def test_limit_and_sample_work_on_files_too(tmp_path: Path) -> None:
    from runner.prompts.select import first, sample

    records = [PromptRecord({"id": i, "prompt": "p"}, "f", i + 1) for i in range(100)]
    assert [r.line for r in first(3)(iter(records))] == [1, 2, 3]
    drawn = [r.line for r in sample(10, seed=7)(iter(records))]
    assert len(drawn) == 10 and drawn == sorted(drawn)
    assert drawn == [r.line for r in sample(10, seed=7)(iter(records))]  # the seed decides
    assert drawn != [r.line for r in sample(10, seed=8)(iter(records))]
    write_jsonl(
        tmp_path / "experiments" / "f.jsonl",
        [{"id": f"p{i}", "prompt": "hi", "api": "openai", "model_name": "m"} for i in range(20)],
    )
    out = _cli(tmp_path, "runner.check", "experiment=f", "sample=4", "seed=1")
    assert out.returncode == 0 and " 4 prompt(s)" in out.stdout, out.stdout + out.stderr


def test_expand_writes_a_prompto_file_that_runs_as_a_file(tmp_path: Path) -> None:
    _experiment(tmp_path)
    out_file = tmp_path / "experiments" / "expanded.jsonl"
    out = _cli(tmp_path, "runner.expand", "experiment=t", f"out={out_file}")
    assert out.returncode == 0, out.stderr
    lines = read_jsonl(out_file)
    assert len(lines) == 24
    assert lines[0]["id"] == "q1@plain@gpt-4o-mini#0" and lines[0]["prompt"] == "Q: 2+2?"
    check = _cli(tmp_path, "runner.check", "experiment=expanded")
    assert check.returncode == 0 and "24 prompt(s)" in check.stdout, check.stdout + check.stderr
    again = _cli(tmp_path, "runner.expand", "experiment=t", f"out={out_file}")
    _refused(again, "exists")
    assert json.loads(out_file.read_text(encoding="utf-8").splitlines()[0]) == lines[0]
