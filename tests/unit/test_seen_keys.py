"""Pass one's duplicate-id check in bounded memory (issue 22: ten million prompts).

At 10,000,000 prompts the check's dict of every key (first line by key) took the run to
1.3 GB before a request was sent; past a size the keys now move to SQLite on disk.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest

import runner.providers  # noqa: F401  (grouping needs the providers declared)
from runner.prompts import seen
from runner.prompts.grouping import GroupAssigner
from runner.prompts.plan import plan_experiment
from runner.prompts.seen import SeenKeys
from tests.helpers import write_jsonl


def test_first_lines_are_exact_before_and_after_the_keys_move_to_disk() -> None:
    rng = random.Random(7)
    keys = [f"k{rng.randrange(400)}" for _ in range(2000)] + ["é ключ", "", "k'1"] * 2
    want: dict[str, int] = {}
    found = SeenKeys(in_memory=50)
    try:
        for line, key in enumerate(keys, start=1):
            assert found.first_line(key, line) == want.setdefault(key, line), (line, key)
    finally:
        found.close()


def test_a_big_experiment_plans_in_bounded_python_memory() -> None:
    """200,000 distinct keys: the dict alone held ~24 MB of Python objects."""
    found = SeenKeys()
    tracemalloc.start()
    try:
        for line in range(1, 200_001):
            assert found.first_line(f"prompt-{line}", line) == line
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        found.close()
    assert peak < 16 * 2**20, peak  # the first 100,000 keys, then SQLite's own (C) memory


def test_duplicate_ids_past_the_in_memory_keys_are_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen, "IN_MEMORY_KEYS", 10)
    rows = [{"id": f"q{i}", "prompt": "x", "api": "openai"} for i in range(40)]
    rows += [{"id": "q3", "prompt": "again", "api": "openai"}, {"prompt": "no id"}] * 2
    plan = plan_experiment(
        write_jsonl(tmp_path / "exp.jsonl", rows),
        GroupAssigner(max_queries=60.0, parallel=False, max_queries_dict={}),
        lambda _r: [],
        lambda _r: "c",
    )
    try:
        keys = [r.key for g in plan.groups for r in plan.records(g)]
    finally:
        plan.close()
    assert keys[40:42] == ["q3@line41", keys[41]] and keys[43] == f"{keys[41]}@line44"
    assert keys[42] == "q3@line43" and len(set(keys)) == len(keys) == 44
    assert plan.warnings == [
        f"{tmp_path / 'exp.jsonl'}: id 'q3' is on lines 4, 41, 43; each line "
        "is sent and scored on its own (later ones keyed <id>@line<N>)"
    ]
