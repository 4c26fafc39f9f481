"""One experiment split across workers (``shards=N shard=K``): which prompts go where.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_shards.py.
"""

from __future__ import annotations

from pathlib import Path

import runner.providers  # noqa: F401  (providers declare their traits to the grouping)
from runner.prompts.grouping import GroupAssigner
from runner.prompts.plan import plan_experiment
from runner.shards import shard_of, shard_run_name, split_shard_folder
from tests.helpers import write_jsonl


def test_shard_of_is_a_stable_hash_of_the_key() -> None:
    # Recorded once: the same on every machine and Python (no PYTHONHASHSEED), forever; a
    # change of hash would move prompts between the shards of a run being resumed.
    assert [shard_of(k, 2) for k in ("0", "1", "2", "3", "h-00ab")] == [1, 0, 0, 1, 1]
    assert [shard_of(f"k{i}", 4) for i in range(12)] == [3, 0, 2, 1, 3, 3, 0, 1, 1, 1, 0, 3]
    counts = [0, 0, 0]
    for i in range(3000):
        counts[shard_of(f"p{i}", 3)] += 1
    assert all(900 < c < 1100 for c in counts), counts


def test_shard_folder_names() -> None:
    assert shard_run_name("R", 1, 2) == "R.shard1of2"
    assert shard_run_name("R.shard0of2", 1, 2) == "R.shard1of2"
    assert shard_run_name("R", None, 1) == "R"
    assert split_shard_folder("20260101-000000.shard3of4") == ("20260101-000000", 3, 4)
    assert split_shard_folder("plain-run") is None


def _plan_keys(path: Path, shard: tuple[int, int] | None) -> list[str]:
    plan = plan_experiment(
        path,
        GroupAssigner(max_queries=60.0, parallel=False, max_queries_dict={}),
        lambda _r: [],
        lambda _r: "c",
        shard=shard,
    )
    try:
        return [r.key for g in plan.groups for r in plan.records(g)]
    finally:
        plan.close()


def test_shards_split_the_prompts_by_key_not_by_line(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "prompt": "x", "api": "openai"} for i in range(50)]
    rows.append({"prompt": "no id", "api": "openai"})  # keyed by a hash of its content
    rows.append({"id": "q3", "prompt": "again", "api": "openai"})  # a duplicate id
    forward = write_jsonl(tmp_path / "a.jsonl", rows)
    backward = write_jsonl(tmp_path / "b.jsonl", rows[:-1][::-1])
    whole = _plan_keys(forward, None)
    parts = [_plan_keys(forward, (k, 3)) for k in range(3)]
    # Every prompt in exactly one shard.
    assert sorted(k for keys in parts for k in keys) == sorted(whole)
    assert all(parts)
    for k, keys in enumerate(parts):
        assert all(shard_of(key, 3) == k for key in keys)
    # Another order of the same lines: the same prompts in each shard.
    again = [set(_plan_keys(backward, (k, 3))) for k in range(3)]
    assert again == [set(p) - {"q3@line52"} for p in parts]
