"""Sweeps on a real single-node SLURM cluster (``.ci/slurm.sh start``; ``pytest -m slurm``).

Each job of the sweep is a SLURM job that submitit starts with this venv's ``python``;
sbatch passes the submitting shell's environment (PYTHONPATH, the API key) to the job.
The tests check that the jobs really ran under SLURM (their job ids in ``run.json``, and
as SLURM's own ids), and that one API key's limit held across them through the file store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import get_json
from tests.integration.test_launchers import (
    LIMIT,
    MODELS,
    PROMPTS,
    _assert_within_limit,
    _check_sweep,
    _drain,
    _sweep,
)
from tests.integration.test_shards import check_sharded_run, sharded_sweep

ROOT = Path(__file__).resolve().parents[2]
SLURM_CONF = Path(os.environ.get("RUNNER_SLURM_DIR", "/tmp/runner-slurm")) / "slurm.conf"


def _cluster_up() -> str | None:
    """Why the cluster cannot be used, or None when its node answers."""
    if shutil.which("sbatch") is None:
        return "SLURM is not installed: .ci/slurm.sh start (make test runs it)"
    if not SLURM_CONF.is_file():
        return f"no {SLURM_CONF}: start the test cluster with .ci/slurm.sh start"
    env = {**os.environ, "SLURM_CONF": str(SLURM_CONF)}
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed ({exc}): .ci/slurm.sh start"
    if out.returncode != 0 or not {"idle", "mixed", "allocated"} & set(out.stdout.split()):
        return f"the test cluster is not up ({out.stderr.strip() or out.stdout.strip()})"
    return None


_WHY = _cluster_up()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.integration,
    pytest.mark.skipif(_WHY is not None, reason=_WHY or ""),
]


@pytest.fixture(autouse=True)
def _slurm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # sbatch, squeue and sacct (run by submitit in the sweep's process) find the cluster here.
    monkeypatch.setenv("SLURM_CONF", str(SLURM_CONF))
    # This worktree's runner, also inside the jobs (sbatch exports the environment).
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def quota_server() -> Iterator[servers.Server]:
    """llmock enforcing the limit per key, drained to a few requests of headroom."""
    # Jobs run as SLURM's children on this machine, so loopback reaches the server.
    with servers.llmock("--rpm", f"{LIMIT:g}") as server:
        _drain(server, leave=8)
        yield server


# One CPU and a little memory each, so both jobs fit on the 2-CPU node at once.
_LAUNCHER = (
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
)


def _slurm_ids(outputs: Path) -> list[dict[str, str]]:
    """The SLURM ids each run recorded in its ``run.json``."""
    found = []
    for meta in sorted(outputs.glob("exp/*/run.json")):
        record = json.loads(meta.read_text())
        found.append({k: v for k, v in record.items() if k.startswith("slurm_")})
    return found


def test_slurm_sweep_runs_both_models_as_slurm_jobs(
    tmp_path: Path, quota_server: servers.Server
) -> None:
    out = _sweep(tmp_path, quota_server, *_LAUNCHER, timeout=280)
    # Both runs complete in their own folders, both in the index, within the one limit.
    _check_sweep(tmp_path, quota_server, out)
    ids = _slurm_ids(tmp_path / "outputs")
    assert len(ids) == 2 and all("slurm_job_id" in i for i in ids), ids
    # Two tasks of one SLURM job array, each its own SLURM job.
    assert len({i["slurm_job_id"] for i in ids}) == 2, ids
    assert len({i["slurm_array_job_id"] for i in ids}) == 1, ids
    # submitit's record of each job is named by the ids SLURM gave out.
    submitit = tmp_path / "outputs" / ".sweeps"
    folders = {p.name for p in submitit.glob("*/.submitit/*_*") if p.is_dir()}
    assert folders == {f"{i['slurm_array_job_id']}_{i['slurm_array_task_id']}" for i in ids}


def test_slurm_jobs_share_one_key_limit_through_files(
    tmp_path: Path, quota_server: servers.Server
) -> None:
    limits = tmp_path / "limits"
    out = _sweep(tmp_path, quota_server, *_LAUNCHER, "shared_limits=file", timeout=280)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    records = get_json(f"{quota_server.url}/_llmock/requests")["requests"]
    spans = []
    for model in MODELS.values():
        times = sorted(float(r["started_at"]) for r in records if r.get("model") == model)
        assert len(times) == PROMPTS, model
        spans.append((times[0], times[-1]))
    # The two SLURM jobs sent at the same time (else nothing was shared) ...
    (a0, a1), (b0, b1) = spans
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * min(a1 - a0, b1 - b0), spans
    # ... yet together never faster than the one key's limit, and the server refused none.
    ours = [r for r in records if r.get("model") in MODELS.values()]
    assert {int(r["status"]) for r in ours} == {200}
    _assert_within_limit([float(r["started_at"]) for r in ours], LIMIT, 2 * PROMPTS)
    # The limit's state lives in the shared folder both jobs reached.
    assert any(limits.iterdir()), "no shared limit state was written"


def test_slurm_shards_of_one_experiment_share_the_limit(
    tmp_path: Path, quota_server: servers.Server
) -> None:
    """``shards=2 shard=0,1`` on SLURM: one run in two SLURM jobs, one key limit."""
    out = sharded_sweep(tmp_path, quota_server, *_LAUNCHER, timeout=280)
    run = check_sharded_run(tmp_path, quota_server, out)
    ids = _slurm_ids(tmp_path / "outputs")
    assert len({i.get("slurm_job_id") for i in ids} - {None}) == 2, ids
    assert run
