"""The viewer's compare page over a template experiment: its prompt variants are columns.

A run with two prompt variants (and a multirun, one variant a run) against llmock: each
variant is its own column, and rows are the data rows (``row_id`` and ``repeat``), since the
prompt's text differs from one variant to the next.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl

pytestmark = pytest.mark.integration

ROWS, REPEATS = 4, 2
EXPERIMENT = """\
# @package _global_
defaults:
  - override /evaluation: includes
experiment:
  name: {name}
  data: qs.jsonl
  prompt:
    plain: "Q: {{{{ question }}}}"
    chat:
      - {{role: system, content: "Answer briefly."}}
      - {{role: user, content: "{{{{ question }}}}"}}
  models: [gpt_4o_mini]
  repeats: {repeats}
  parameters: {{max_tokens: 16}}
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Experiment ``both``: one run, two variants; ``apart``: a multirun, a variant a run."""
    tmp = tmp_path_factory.mktemp("variants")
    experiments = tmp / "experiments"
    write_jsonl(
        experiments / "qs.jsonl",
        [
            {"id": f"q{i}", "question": f"question {i}?", "expected_response": "a"}
            for i in range(ROWS)
        ],
    )
    conf = experiments / "conf" / "experiment"
    conf.mkdir(parents=True)
    (conf / "both.yaml").write_text(EXPERIMENT.format(name="both", repeats=REPEATS), "utf-8")
    (conf / "apart.yaml").write_text(EXPERIMENT.format(name="apart", repeats=1), "utf-8")
    with servers.llmock() as server:
        for args in (["experiment=both"], ["-m", "experiment=apart", "prompt_variant=plain,chat"]):
            argv = [
                "index=true" if a == "index=false" else a
                for a in runner_argv(tmp, *args, "max_queries=6000")
            ]
            out = subprocess.run(
                argv, cwd=ROOT, env=runner_env(server.url), capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return tmp / "outputs"


@pytest.fixture(scope="module")
def viewer(outputs: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.view", "--outputs-dir", str(outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _page(viewer: str, experiment: str, **query: str) -> str:
    params = urllib.parse.urlencode({"experiment": experiment, "size": "100", **query})
    with urllib.request.urlopen(f"{viewer}compare?{params}", timeout=30) as resp:
        assert resp.status == 200
        text: str = resp.read().decode("utf-8")
    return text


def _grid(html: str) -> tuple[list[str], list[list[bool]]]:
    """The columns' variants, and per row which columns hold an answer."""
    variants = re.findall(r'<th class="model"[^>]*data-variant="([^"]*)"', html)
    rows = []
    for row in html.split('<tr class="prompt-row')[1:]:
        cells = re.findall(r'<td class="cell"[^>]*>(.*?)</td>', row, re.S)
        rows.append(['<div class="text">' in cell for cell in cells])
    return variants, rows


@pytest.mark.parametrize("order", ["input", "spread"])
def test_a_runs_variants_are_columns_joined_by_data_row(viewer: str, order: str) -> None:
    html = _page(viewer, "both", order=order)
    variants, rows = _grid(html)
    assert sorted(variants) == ["chat", "plain"]  # one run, one model: a column per variant
    # One row per data row and repeat (not per prompt text), each answered by both variants.
    assert len(rows) == ROWS * REPEATS, html[-3000:]
    assert all(row == [True, True] for row in rows)
    assert f"{ROWS * REPEATS} prompt(s)" in html
    assert "gpt-4o-mini · chat" in html and "gpt-4o-mini · plain" in html


def test_runs_that_differ_by_variant_are_compared_row_by_row(viewer: str) -> None:
    html = _page(viewer, "apart")
    variants, rows = _grid(html)
    assert sorted(variants) == ["chat", "plain"]  # two runs of a multirun, a variant each
    assert len(rows) == ROWS and all(row == [True, True] for row in rows)
    # Choosing columns by key (run|model|variant) keeps only those.
    keys = re.findall(r'<option value="([^"]*\|chat)"', html)
    assert len(keys) == 1
    only = _page(viewer, "apart", col=keys[0])
    assert _grid(only)[0] == ["chat"]
