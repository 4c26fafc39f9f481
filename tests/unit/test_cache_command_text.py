"""``runner.cache stats`` and ``explain`` show names and keys from data as text.

A model named, or a prompt keyed, with ESC (``\\x1b]0;TITLE\\x07``) retitled the terminal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from runner.cache.__main__ import _do
from runner.cache.key import RequestKey
from runner.cache.store import CacheStore

HOSTILE = "m\x1b]0;TITLE\x07\x1b[2J"


def test_stats_and_explain_show_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = CacheStore(tmp_path)
    try:
        key = RequestKey({"api": "openai", "model": HOSTILE, "prompt": "hi"}, "d" * 32)
        store.put(key, {"response": "ok"}, "run1", 1.0)
        store.note_lookup("run1", HOSTILE, key, "miss", 1.0)
        store.flush(wait=True)
        _do(argparse.Namespace(command="stats"), store)
        _do(argparse.Namespace(command="explain", run_id="run1", prompt_id=HOSTILE), store)
    finally:
        store.close()
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "m\\u001b]0;TITLE\\u0007" in out
