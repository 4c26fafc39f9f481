"""Issue 23 item 8: the viewer, the report and the terminal treat text from data as text.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_text_is_text.py.
"""

from __future__ import annotations

import io
import json
import math

import pytest

from runner.output.progress import GroupProgress
from runner.output.stats import GroupStats

SPOOF = "\u202egpt-4o"  # shows as "o4-tpg" reversed: one model passing for another


def test_progress_bars_draw_any_group_name() -> None:
    from runner.visible import visible

    names = ["g[/x]", "[bold red]g", "[link=https://evil.example]g", f"g{SPOOF}"]
    groups = [GroupStats(name, 60.0, 10) for name in names]
    progress = GroupProgress(groups, enabled=True)
    assert progress._progress is not None
    progress._progress.console.file = io.StringIO()
    with progress:
        for stats in groups:
            progress.update(stats)
        for name in names:
            line = progress.render_line(name)
            assert visible(name) in line, (name, line)
            assert "\u202e" not in line


def test_a_log_line_shows_bidi_controls(capsys: pytest.CaptureFixture[str]) -> None:
    from loguru import logger

    from runner import logs

    logs.configure("INFO")
    logger.info("model {}", SPOOF)
    err = capsys.readouterr().err
    assert "model \\u202egpt-4o" in err and "\u202e" not in err


def test_visible_escapes_bidi_and_control_characters_only() -> None:
    from runner.visible import visible

    assert visible("a\u202ab\u202bc\u202cd\u202de\u202ef") == (
        "a\\u202ab\\u202bc\\u202cd\\u202de\\u202ef"
    )
    assert visible("\u2066\u2067\u2068\u2069\u200e\u200f") == (
        "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f"
    )
    assert visible("\x1b[2Jx\x07") == "\\u001b[2Jx\\u0007"
    assert visible("\x1b[31m", controls=False) == "\x1b[31m"
    assert visible("tab\tnew\nline\r ü 日本 \u200d") == "tab\tnew\nline\r ü 日本 \u200d"


def test_chart_specs_hold_no_nan_and_no_markup() -> None:
    from runner.report.render import specs_json

    specs = {
        "c": {
            "data": {"values": [{"model": "<!--<script>", "v": math.nan, "w": math.inf}]},
            "title": f"</script><b>{SPOOF}",
        }
    }
    text = specs_json(specs)
    assert "<" not in text and ">" not in text and "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["c"]["data"]["values"][0] == {"model": "<!--<script>", "v": None, "w": None}
    assert back["c"]["title"] == "</script><b>\\u202egpt-4o"
