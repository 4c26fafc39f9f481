"""Sweeps through Hydra's launchers (joblib, submitit, Ray) with one API key's limit shared.

Each launcher test runs a real two-model sweep as a user would (``python -m runner -m ...``)
against llmock on a loopback port, then checks that every job wrote its own complete run
folder, that the index holds both runs, and that the server saw the two jobs *together*
stay within the one limit: no 429, and no window of a few seconds with more requests than
the limit allows (two unshared jobs would send twice as many).

llmock's ``--rpm`` bucket starts full (a minute's worth), so on its own it would only catch
an overrun lasting over a minute; the tests first drain it so that any overrun meets 429s
at once, and they also count the server's arrivals per window, which is the direct proof.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from tests import servers
from tests.helpers import get_json, read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


MODELS = {"gpt_4o_mini": "gpt-4o-mini", "gpt_4_1_nano": "gpt-4.1-nano"}


# The models' own limit (their YAML), which both jobs share since they use one API key.
# (A sweep cannot override model.max_queries: Hydra composes the sweep's base config with
# model unset.)
LIMIT = float(OmegaConf.load(ROOT / "conf" / "model" / "gpt_4o_mini.yaml").max_queries)


PROMPTS = 40  # per model: 80 requests in all, about 10 s at the shared limit


KEY = "sk-launcher-test-3f9a1c"  # distinctive, to check that no file records it


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _extra_missing(module: str, extra: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _has(module),
        reason=f"needs the '{extra}' extra: pip install -e '.[{extra}]' (make test installs it)",
    )


_LAUNCHERS = {
    # name: (plugin module, extra, a project default, an int key of the plugin's schema)
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib", "backend: loky", "n_jobs"),
    "submitit_local": (
        "hydra_plugins.hydra_submitit_launcher",
        "slurm",
        "timeout_min: 1440",
        "timeout_min",
    ),
    "submitit_slurm": (
        "hydra_plugins.hydra_submitit_launcher",
        "slurm",
        "max_num_timeout: 0",
        "array_parallelism",
    ),
    "ray": ("hydra_plugins.hydra_ray_launcher", "ray", "max_retries: 0", None),
}


def _cfg_launcher(name: str, *overrides: str) -> subprocess.CompletedProcess[str]:
    """``python -m runner ... --cfg hydra --package hydra.launcher``."""
    cfg = ("--cfg", "hydra", "--package", "hydra.launcher")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "experiment=demo",
            f"hydra/launcher={name}",
            *overrides,
            *cfg,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize("name", sorted(_LAUNCHERS))
def test_launcher_is_chosen_by_its_plugin_name_with_project_defaults(name: str) -> None:
    module, extra, ours, int_key = _LAUNCHERS[name]
    if not _has(module):
        pytest.skip(f"needs the '{extra}' extra: pip install -e '.[{extra}]'")
    out = _cfg_launcher(name)
    assert out.returncode == 0, out.stderr
    config = OmegaConf.create(out.stdout)
    assert isinstance(config, DictConfig)
    assert str(config["_target_"]).startswith(module), out.stdout
    assert ours in out.stdout, out.stdout
    if name == "joblib":
        # A key our file leaves out comes from the plugin's own config.
        assert "mmap_mode: r" in out.stdout
    if int_key is not None:
        # The file is checked against the plugin's schema: a wrong type fails.
        bad = _cfg_launcher(name, f"hydra.launcher.{int_key}=lots")
        assert bad.returncode != 0 and int_key in bad.stderr + bad.stdout


def _window_max(times: Sequence[float], width: float) -> int:
    """The most events in any window of ``width`` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > width:
            start += 1
        best = max(best, end - start + 1)
    return best


def _assert_within_limit(times: Sequence[float], limit: float, count: int) -> None:
    """``times`` (seconds) kept to ``limit`` per minute together, not twice it."""
    interval = 60.0 / limit
    burst = max(1.0, limit / 60)
    assert len(times) == count
    # Some slack for scheduling jitter; two unshared callers would show about twice the bound.
    for width in (2.0, 4.0):
        bound = burst + width / interval + 2
        assert _window_max(times, width) <= bound, (width, _window_max(times, width), bound)
    span = max(times) - min(times)
    assert span >= (count - burst - 1) * interval * 0.9, span
    achieved = (count - 1) / span * 60
    assert achieved <= limit * 1.1, achieved


def _drain(server: servers.Server, leave: int) -> None:
    """Empty llmock's per-key request bucket but for ``leave`` requests."""
    body = json.dumps(
        {"model": "drain", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    ).encode()
    for _ in range(int(LIMIT) - leave):
        request = urllib.request.Request(
            f"{server.url}/v1/chat/completions",
            data=body,
            headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            assert exc.code == 429
            break


def _server_times(server: servers.Server) -> tuple[list[float], list[int]]:
    """Arrival times and statuses of the sweep's requests, as the server saw them."""
    records = get_json(f"{server.url}/_llmock/requests")["requests"]
    assert len(records) < 10_000, "llmock's journal holds the last 10,000 only"
    ours = [r for r in records if r.get("model") in MODELS.values()]
    return [float(r["started_at"]) for r in ours], [int(r["status"]) for r in ours]


def _sweep(
    tmp_path: Path,
    server: servers.Server,
    *extra: str,
    timeout: float = 150,
) -> subprocess.CompletedProcess[str]:
    """``python -m runner -m`` over both models, as a user types it."""
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": i, "prompt": f"p{i}", "api": "openai"} for i in range(PROMPTS)],
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "RAY_ADDRESS"
    }
    env.update({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"{server.url}/v1"})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "-m",
            "experiment=exp",
            f"model={','.join(MODELS)}",
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


def _check_sweep(
    tmp_path: Path, server: servers.Server, out: subprocess.CompletedProcess[str]
) -> None:
    """Both jobs complete in their own folders, indexed, and within the shared limit."""
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = sorted(p for p in (tmp_path / "outputs" / "exp").iterdir() if p.is_dir())
    assert len(runs) == 2, runs
    seen = set()
    for run in runs:
        lines = read_jsonl(run / "completed.jsonl")
        assert len(lines) == PROMPTS
        assert {line["status"] for line in lines} == {"ok"}
        # attempts == 1 everywhere: no request was refused and retried.
        assert {line["attempts"] for line in lines} == {1}
        seen |= {line["model_name"] for line in lines}
    assert seen == set(MODELS.values())

    import duckdb

    with duckdb.connect(str(tmp_path / "outputs" / "index.duckdb"), read_only=True) as db:
        rows = db.sql("SELECT run_id, count(*) FROM responses GROUP BY run_id").fetchall()
    assert sorted(rows) == sorted((run.name, PROMPTS) for run in runs)

    # The key reached the jobs (through the environment, or Ray's runtime_env) but no file.
    for path in (tmp_path / "outputs").rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            assert KEY not in path.read_text(errors="replace"), path

    times, statuses = _server_times(server)
    assert statuses == [200] * len(statuses), statuses
    _assert_within_limit(times, LIMIT, 2 * PROMPTS)


@pytest.fixture
def quota_server() -> Iterator[servers.Server]:
    """llmock enforcing the limit per key, drained to a few requests of headroom."""
    with servers.llmock("--rpm", f"{LIMIT:g}") as server:
        _drain(server, leave=8)
        yield server


@pytest.mark.integration
@_extra_missing("hydra_plugins.hydra_joblib_launcher", "joblib")
def test_joblib_sweep_shares_the_limit(tmp_path: Path, quota_server: servers.Server) -> None:
    out = _sweep(tmp_path, quota_server, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    _check_sweep(tmp_path, quota_server, out)
    assert "Joblib.Parallel(n_jobs=2" in out.stdout + out.stderr


@pytest.mark.integration
@_extra_missing("hydra_plugins.hydra_submitit_launcher", "slurm")
def test_submitit_local_sweep_shares_the_limit(
    tmp_path: Path, quota_server: servers.Server
) -> None:
    out = _sweep(tmp_path, quota_server, "hydra/launcher=submitit_local")
    _check_sweep(tmp_path, quota_server, out)
    # submitit kept its own record of both jobs with the sweep's.
    assert len(list((tmp_path / "outputs" / ".sweeps").glob("*/.submitit/*"))) >= 2


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray instance owned by this test process, on 127.0.0.1; its address."""
    with pytest.MonkeyPatch.context() as patch:
        # Ray's single-machine mode: every Ray process binds and dials 127.0.0.1 instead of
        # the machine's network address (tests talk to loopback only). Set in the
        # environment for the processes the tests start, and on the module for this one.
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        # No token: nothing but this machine can reach a loopback cluster anyway.
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.delenv("RAY_ADDRESS", raising=False)
        ray = pytest.importorskip("ray", reason="needs the 'ray' extra (make test installs it)")
        patch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
        ray.init(
            num_cpus=4,
            include_dashboard=False,
            object_store_memory=80 * 1024 * 1024,
            log_to_driver=False,
        )
        try:
            address = str(ray.get_runtime_context().gcs_address)
            assert address.startswith("127.0.0.1:"), address
            yield address
        finally:
            # Stops the processes this ray.init started, and with them the detached actor.
            ray.shutdown()


def _reservations(name: str) -> int:
    from runner.limits.ray_limits import RayLimits

    limits = RayLimits()  # this process is connected already: the same cluster
    try:
        return sum(n for key, n in limits.reservations().items() if key.startswith(name))
    finally:
        limits.close()


_HAMMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from runner.limits.from_settings import request_limit
    from runner.limits.ray_limits import RayLimits

    async def main(address, name, count, rate, start_at):
        limits = RayLimits(address)
        bucket = limits.bucket(name, request_limit(rate))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        times = []
        for _ in range(count):
            await bucket.acquire()
            times.append(time.time())
        limits.close()
        print(json.dumps(times))

    a = sys.argv
    asyncio.run(main(a[1], a[2], int(a[3]), float(a[4]), float(a[5])))
    """
)


@pytest.mark.integration
def test_ray_limits_are_shared_by_separate_drivers(ray_address: str) -> None:
    """Two processes, each its own Ray driver (as on two machines), keep one schedule."""
    name, count, rate = f"test-{time.time_ns()}", 15, 240.0
    start_at = time.time() + 8  # both are connected by then, so they really overlap
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, *map(str, (ray_address, name, count, rate, start_at))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    times: list[float] = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr[-3000:]
        times += json.loads(stdout.strip().splitlines()[-1])
    _assert_within_limit(times, rate, 2 * count)
    assert _reservations(name) == 2 * count


@pytest.mark.integration
def test_ray_bucket_in_this_process(ray_address: str) -> None:
    """acquire() and adjust() through the actor from an asyncio caller."""
    from runner.limits.from_settings import request_limit
    from runner.limits.ray_limits import RayLimits

    limits = RayLimits(ray_address)
    bucket = limits.bucket(f"local-{time.time_ns()}", request_limit(120.0))
    assert limits.bucket(bucket.name.removesuffix(".q"), request_limit(120.0)) is bucket

    async def run() -> list[float]:
        start = time.monotonic()
        stamps = []
        for _ in range(3):
            await bucket.acquire()
            stamps.append(time.monotonic() - start)
        await bucket.adjust(-2.0)  # a refund: the next slot comes at once
        await bucket.acquire()
        stamps.append(time.monotonic() - start)
        return stamps

    stamps = asyncio.run(run())
    assert stamps[1] >= 0.4 and stamps[2] >= 0.9, stamps
    assert stamps[3] - stamps[2] < 0.3, stamps
    limits.close()


@pytest.mark.integration
@_extra_missing("hydra_plugins.hydra_ray_launcher", "ray")
def test_ray_sweep_shares_the_limit_through_the_actor(
    tmp_path: Path, quota_server: servers.Server, ray_address: str
) -> None:
    before = _reservations("")
    out = _sweep(
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
    _check_sweep(tmp_path, quota_server, out)
    # The jobs reserved every request through the cluster's actor, not through files.
    assert _reservations("") - before >= 2 * PROMPTS
    assert not any((tmp_path / "limits").glob("*")), "the file buckets were used"
