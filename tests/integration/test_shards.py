"""One experiment split across workers (``shards=N shard=K``) under one API key's limit.

Shard K of N takes the prompts whose key hashes to K, into ``<run id>.shard<K>of<N>``; a
sweep over ``shard=0,...,N-1`` makes one run (the sweep's name) that the index shows as one
row of ``sharded_runs``. The sweeps here run against llmock enforcing the key's limit, as
the launcher tests do, and check the shards together never went faster than it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import runner.providers  # noqa: F401  (providers declare their traits to the grouping)
from runner.shards import shard_of, split_shard_folder
from tests import servers
from tests.helpers import get_json, read_jsonl, run_cli, write_jsonl
from tests.integration.test_launchers import KEY, LIMIT, _assert_within_limit, _drain
from tests.integration.test_launchers import ray_address as ray_address  # the module's Ray instance

ROOT = Path(__file__).resolve().parents[2]


PROMPTS = 80  # about 10 s at the shared limit


MODEL = "gpt-4o-mini"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("shards=2",), "shards=2 needs shard=K (0..1)"),
        (("shards=2", "shard=2"), "shard must be 0..1 with shards=2, got 2"),
        (("shards=0",), "shards must be at least 1"),
    ],
)
def test_bad_shard_settings_are_refused_before_sending(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"id": 1, "prompt": "x"}])
    out = run_cli(tmp_path, "http://127.0.0.1:9", "experiment=exp", "model=gpt_4o_mini", *args)
    assert out.returncode == 2, out.stderr[-2000:]
    assert message in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "outputs" / "exp").exists() or not any(
        (tmp_path / "outputs" / "exp").iterdir()
    )


@pytest.fixture
def quota_server() -> Iterator[servers.Server]:
    """llmock enforcing the limit per key, drained to a few requests of headroom."""
    with servers.llmock("--rpm", f"{LIMIT:g}") as server:
        _drain(server, leave=8)
        yield server


def sharded_sweep(
    tmp_path: Path, server: servers.Server, *extra: str, timeout: float = 200
) -> subprocess.CompletedProcess[str]:
    """``python -m runner -m ... shards=2 shard=0,1`` over one experiment."""
    exp = tmp_path / "experiments" / "exp.jsonl"
    if not exp.exists():
        write_jsonl(
            exp, [{"id": f"k{i}", "prompt": f"p{i}", "api": "openai"} for i in range(PROMPTS)]
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"{server.url}/v1"})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "-m",
            "experiment=exp",
            "model=gpt_4o_mini",
            "shards=2",
            "shard=0,1",
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"limits_dir={tmp_path / 'limits'}",
            "progress=off",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def check_sharded_run(
    tmp_path: Path, server: servers.Server, out: subprocess.CompletedProcess[str]
) -> str:
    """Both shards complete, disjoint, one run in the index, within the limit; the run id."""
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    folders = sorted(p for p in (tmp_path / "outputs" / "exp").iterdir() if p.is_dir())
    splits = [split_shard_folder(p.name) for p in folders]
    assert len(folders) == 2 and None not in splits, folders
    runs = {s[0] for s in splits if s}
    assert len(runs) == 1, folders
    seen: list[str] = []
    for folder, split in zip(folders, splits, strict=True):
        assert split is not None
        lines = read_jsonl(folder / "completed.jsonl")
        assert {line["status"] for line in lines} == {"ok"}
        keys = [str(line["prompt_key"]) for line in lines]
        assert all(shard_of(k, 2) == split[1] for k in keys)
        seen += keys
    assert sorted(seen) == sorted(f"k{i}" for i in range(PROMPTS))

    with duckdb.connect(str(tmp_path / "outputs" / "index.duckdb"), read_only=True) as db:
        shards = db.execute("SELECT sharded_run, shard, shards FROM runs ORDER BY shard")
        shards_found = shards.fetchall()
        merged = db.execute("SELECT run_id, shard_count, shards, total, n_ok FROM sharded_runs")
        merged_found = merged.fetchall()
        answered = db.execute("SELECT count(*) FROM responses").fetchall()
    (run,) = runs
    assert shards_found == [(run, 0, 2), (run, 1, 2)]
    assert merged_found == [(run, 2, 2, PROMPTS, PROMPTS)]
    assert answered == [(PROMPTS,)]

    records = get_json(f"{server.url}/_llmock/requests")["requests"]
    ours = [r for r in records if r.get("model") == MODEL]
    assert {int(r["status"]) for r in ours} == {200}
    _assert_within_limit([float(r["started_at"]) for r in ours], LIMIT, PROMPTS)
    return run


@pytest.mark.integration
def test_joblib_shards_share_the_limit_and_make_one_run(
    tmp_path: Path, quota_server: servers.Server
) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the joblib extra")
    out = sharded_sweep(tmp_path, quota_server, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    run = check_sharded_run(tmp_path, quota_server, out)

    # The viewer's compare view shows the whole run, both shards, as one column; the
    # report's run=R names both shards' folders, as does run=latest.
    from runner.report.runs import find_runs
    from runner.view import compare

    outputs = tmp_path / "outputs"
    cols = compare.columns(outputs, "exp")
    assert [(c.run_id, c.model, c.n) for c in cols] == [(run, MODEL, PROMPTS)]
    assert cols[0].runs == [f"{run}.shard{k}of2" for k in range(2)]
    assert compare.compare(outputs, "exp", cols).total == PROMPTS
    shards = [outputs / "exp" / f"{run}.shard{k}of2" for k in range(2)]
    assert find_runs(outputs, run, None) == shards
    assert find_runs(outputs, "latest", "exp") == shards

    # Resuming the run resumes each shard in its own folder: nothing left to send.
    again = sharded_sweep(
        tmp_path, quota_server, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"resume={run}"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    folders = sorted((tmp_path / "outputs" / "exp").iterdir())
    assert [p.name for p in folders] == [f"{run}.shard0of2", f"{run}.shard1of2"]
    assert sum(len(read_jsonl(p / "completed.jsonl")) for p in folders) == PROMPTS
    records = get_json(f"{quota_server.url}/_llmock/requests")["requests"]
    assert len([r for r in records if r.get("model") == MODEL]) == PROMPTS


@pytest.mark.integration
def test_ray_shards_share_the_limit_through_the_actor(
    tmp_path: Path, quota_server: servers.Server, ray_address: str
) -> None:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs the ray extra")
    out = sharded_sweep(
        tmp_path,
        quota_server,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={ray_address}",
        # Ray tasks run in workers that do not inherit this shell's environment.
        "+hydra.launcher.ray.init.runtime_env={env_vars:{OPENAI_API_KEY:${oc.env:OPENAI_API_KEY},"
        "OPENAI_BASE_URL:${oc.env:OPENAI_BASE_URL}}}",
        "shared_limits=ray",
        f"ray_address={ray_address}",
    )
    check_sharded_run(tmp_path, quota_server, out)
    assert not any((tmp_path / "limits").glob("*")), "the file buckets were used"
