"""The response cache against llmock: a second run sends nothing; refresh, only, ttl."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.cache.__main__ import main as cache_main
from runner.cache.key import RequestKey
from runner.cache.store import CacheStore
from runner.config.schema import RunConfig
from runner.engine.session import engine_session
from runner.limits.clock import Clock, SystemClock
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from tests import servers
from tests.helpers import ROOT, read_jsonl, run_cli, runner_argv, runner_env, write_jsonl
from tests.plain_server import plain_server
from tests.providers_support import llmock_bodies, scenario, unique_model

pytestmark = pytest.mark.integration


CANARY_KEY = "sk-canary-0123456789abcdef"


def _records(model: str, n: int = 3) -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"question {i}",
         "parameters": {"max_tokens": 8, "temperature": 0.5}}
        for i in range(n)
    ]  # fmt: skip


def _run(
    tmp_path: Path,
    server: servers.Server,
    records: list[dict[str, Any]],
    *overrides: str,
    clock: Clock | None = None,
) -> tuple[list[dict[str, Any]], int]:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"cache_dir={tmp_path / 'cache'}",
            "max_queries=6000",
            "backoff_base_s=0.05",
            "index=false",
            "progress=off",
            # The cache is off by default: these runs turn it on unless they say otherwise.
            *([] if any(o.startswith("cache=") for o in overrides) else ["cache=on"]),
            *overrides,
        ],
        env={"OPENAI_API_KEY": CANARY_KEY, "OPENAI_BASE_URL": f"{server.url}/v1"},
        clock=clock,
    )
    lines = sorted(read_jsonl(result.folder.completed), key=lambda line: str(line["id"]))
    return lines, result.exit_code


def test_second_run_sends_nothing_and_says_cached(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("cache")
    first, code = _run(tmp_path, llmock_server, _records(model))
    assert code == 0 and [line["cached"] for line in first] == [False] * 3
    assert len(llmock_bodies(llmock_server, model)) == 3
    second, code = _run(tmp_path, llmock_server, _records(model))
    assert code == 0
    assert len(llmock_bodies(llmock_server, model)) == 3  # nothing more was sent
    for a, b in zip(first, second, strict=True):
        assert b["cached"] is True and b["status"] == "ok"
        assert b["response"] == a["response"]
        assert b["usage"] == a["usage"] and b["latency_s"] == a["latency_s"]
        assert b["run_id"] != a["run_id"]
    # The key is never written: not in the store, nor in its WAL.
    for path in (tmp_path / "cache").iterdir():
        assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_a_key_the_server_echoes_is_not_cached(tmp_path: Path) -> None:
    """A server that echoes the key in its answer: the cache holds the masked answer."""
    model = unique_model("cache-echo")
    with plain_server(answer=f"you sent {CANARY_KEY}") as server:
        lines, code = _run(tmp_path, server, _records(model, 2))  # type: ignore[arg-type]
        again, _ = _run(tmp_path, server, _records(model, 2))  # type: ignore[arg-type]
    assert code == 0 and len(server.requests) == 2  # the rerun came from the cache
    assert all(line["cached"] for line in again)
    assert all(CANARY_KEY not in str(line["response"]) for line in [*lines, *again])
    for path in (tmp_path / "cache").iterdir():
        assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_repeated_prompt_keeps_its_samples(tmp_path: Path, llmock_server: servers.Server) -> None:
    """N identical requests in a run get N answers; a rerun gets those same N back."""
    model = unique_model("cache-samples")
    same = [{**_records(model, 1)[0], "id": f"s{i}"} for i in range(3)]
    first, _ = _run(tmp_path, llmock_server, same)
    assert len(llmock_bodies(llmock_server, model)) == 3  # each occurrence was sent
    second, _ = _run(tmp_path, llmock_server, same)
    assert len(llmock_bodies(llmock_server, model)) == 3
    assert [line["cached"] for line in second] == [True] * 3
    assert [line["response"] for line in second] == [line["response"] for line in first]
    # A run with one more sample sends only that one.
    more, _ = _run(tmp_path, llmock_server, [*same, {**same[0], "id": "s3"}])
    assert len(llmock_bodies(llmock_server, model)) == 4
    assert [line["cached"] for line in more] == [True, True, True, False]


def test_refresh_sends_and_overwrites_only_sends_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("cache-modes")
    records = _records(model, 2)
    _run(tmp_path, llmock_server, records)
    refreshed, code = _run(tmp_path, llmock_server, records, "cache=refresh")
    assert code == 0 and [line["cached"] for line in refreshed] == [False, False]
    assert len(llmock_bodies(llmock_server, model)) == 4
    new = _records(model + "-new", 1)
    only, code = _run(tmp_path, llmock_server, [*records, *new], "cache=only")
    assert len(llmock_bodies(llmock_server, model)) == 4
    assert llmock_bodies(llmock_server, model + "-new") == []
    by_id = {line["model_name"] + line["id"]: line for line in only}
    hit = by_id[model + "p0"]
    assert hit["cached"] and hit["response"] == refreshed[0]["response"]
    missed = by_id[model + "-newp0"]
    assert missed["status"] == "error" and missed["error_kind"] == "cache_miss"
    assert "cache=on" in missed["error"]
    assert code == 1  # as for any error line


def test_errors_are_never_cached(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = unique_model("cache-errors")
    scenario(llmock_server, {"type": "fail", "status": 400, "times": 1, "match": {"model": model}})
    lines, code = _run(tmp_path, llmock_server, _records(model, 1))
    assert lines[0]["status"] == "error" and code == 1
    again, code = _run(tmp_path, llmock_server, _records(model, 1))
    assert again[0]["status"] == "ok" and again[0]["cached"] is False and code == 0
    with sqlite3.connect(tmp_path / "cache" / "responses.sqlite") as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1


class _LaterClock(SystemClock):
    """The real clock, its wall time moved ``ahead`` seconds (TTL without waiting)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def wall(self) -> datetime:
        return super().wall() + timedelta(seconds=self.ahead)


def test_ttl_expiry_sends_again(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = unique_model("cache-ttl")
    records = _records(model, 1)
    _run(tmp_path, llmock_server, records, "cache_ttl=1h")
    soon, _ = _run(tmp_path, llmock_server, records, "cache_ttl=1h", clock=_LaterClock(1800))
    assert soon[0]["cached"] is True and len(llmock_bodies(llmock_server, model)) == 1
    late, _ = _run(tmp_path, llmock_server, records, "cache_ttl=3600", clock=_LaterClock(7200))
    assert late[0]["cached"] is False and len(llmock_bodies(llmock_server, model)) == 2
    # The answer sent again replaced the old one: it is fresh for another hour.
    again, _ = _run(tmp_path, llmock_server, records, "cache_ttl=1h", clock=_LaterClock(7300))
    assert again[0]["cached"] is True and len(llmock_bodies(llmock_server, model)) == 2
    # Forever (the default): the oldest entry still answers a year on.
    year, _ = _run(tmp_path, llmock_server, records, clock=_LaterClock(365 * 86400))
    assert year[0]["cached"] is True


async def test_identical_requests_in_flight_are_sent_once(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Two sessions of one process ask for the same request at once: one request is sent."""
    model = unique_model("cache-inflight")
    scenario(
        llmock_server, {"type": "delay", "seconds": 1.0, "times": 1, "match": {"model": model}}
    )
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    settings = RunConfig(max_queries=6000, cache="on", cache_dir=str(tmp_path / "cache"))
    outcomes: list[Outcome] = []

    async def one(name: str) -> None:
        context = ProviderContext(settings, env=env)
        record = PromptRecord(_records(model, 1)[0])
        async with engine_session(context, outcomes.append, apis=["openai"]) as engine:
            await engine.run({name: Group(name, 6000, [record])})

    await asyncio.gather(one("a"), one("b"))
    assert len(llmock_bodies(llmock_server, model)) == 1
    assert all(o.ok for o in outcomes) and sorted(o.cached for o in outcomes) == [False, True]
    assert outcomes[0].completion == outcomes[1].completion


def test_bad_cache_settings_exit_2_and_send_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("cache-bad")
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records(model, 1))
    for bad, named in (("cache=maybe", "cache must be on, off, refresh or only"),
                       ("cache_ttl=soon", "cache_ttl must be")):  # fmt: skip
        out = run_cli(tmp_path, llmock_server.url, "experiment=exp", bad)
        assert out.returncode == 2, out.stderr
        assert named in out.stderr and "Traceback" not in out.stderr
    # A cache file that is not a cache (garbage, another program's) is named, not a crash.
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "responses.sqlite").write_text("not a database")
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "cache=on", f"cache_dir={garbage}")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "responses.sqlite cannot be used" in out.stderr and "cache=off" in out.stderr
    assert (garbage / "responses.sqlite").read_text() == "not a database"  # left as it was
    assert llmock_bodies(llmock_server, model) == []


def test_explain_stats_and_clear(
    tmp_path: Path, llmock_server: servers.Server, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unique_model("cache-explain")
    _run(tmp_path, llmock_server, _records(model, 2))
    warmer = [
        {**r, "parameters": {"max_tokens": 8, "temperature": 0.9}} for r in _records(model, 2)
    ]
    lines, _ = _run(tmp_path, llmock_server, warmer)
    cache_dir = ["--cache-dir", str(tmp_path / "cache")]
    assert cache_main([*cache_dir, "explain", lines[0]["run_id"], "p0"]) == 0
    said = capsys.readouterr().out
    assert "missed the cache" in said and "nearest cached request" in said
    assert "parameters.temperature: this 0.9 | cached 0.5" in said
    assert "same: api, model, parameters.max_tokens, prompt, url" in said
    first = _run(tmp_path, llmock_server, _records(model, 2))[0]
    assert cache_main([*cache_dir, "explain", first[1]["run_id"], "p1"]) == 0
    assert "answered from the cache" in capsys.readouterr().out
    assert cache_main([*cache_dir, "explain", "no-such-run", "p1"]) == 2
    assert cache_main([*cache_dir, "stats"]) == 0
    stats = capsys.readouterr().out
    assert "entries: 4 answers of 4 requests" in stats and model in stats
    assert cache_main([*cache_dir, "clear"]) == 0
    assert "cleared 4 cached answer(s)" in capsys.readouterr().out
    again, _ = _run(tmp_path, llmock_server, _records(model, 2))
    assert [line["cached"] for line in again] == [False, False]


def test_two_runs_at_once_share_the_cache(tmp_path: Path, llmock_server: servers.Server) -> None:
    """Two processes write one cache at the same moment: both finish, nothing is lost."""
    model = unique_model("cache-two")
    cache = tmp_path / "cache"
    procs = []
    for side in ("a", "b"):
        folder = tmp_path / side
        records = [{**r, "prompt": f"{side} {r['prompt']}"} for r in _records(model, 150)]
        write_jsonl(folder / "experiments" / "exp.jsonl", records)
        argv = runner_argv(
            folder, "experiment=exp", "cache=on", f"cache_dir={cache}", "max_queries=60000"
        )
        env = runner_env(llmock_server.url)
        pipe = subprocess.PIPE
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=pipe, stderr=pipe, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with sqlite3.connect(cache / "responses.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (300,)
    assert len(llmock_bodies(llmock_server, model)) == 300


def _hammer(folder: str, side: str) -> None:
    """One process storing 3,000 answers, committing every 100 (a writer fighting another)."""
    store = CacheStore(Path(folder))
    for i in range(3000):
        key = RequestKey({"api": "openai", "model": side, "prompt": str(i)}, f"{side}{i:030d}")
        store.put(key, {"text": str(i)}, side, float(i))
        if i % 100 == 99:
            store.flush()
    store.close()


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_hammer, args=(str(tmp_path), s)) for s in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(180)  # a loaded 2-core CI box: 3,000 commits each, fighting for the lock
        assert writer.exitcode == 0
    store = CacheStore(tmp_path)
    assert store.stats()["entries"] == 6000
    entry = store.get("b" + "0" * 26 + "2999", 0)
    assert entry is not None and entry.answer == {"text": "2999"}
    store.close()


def _killed_mid_write(folder: str) -> None:
    """Store 1,000 answers and wait for them; hand 1,000 more to the writer; die at once."""
    store = CacheStore(Path(folder))
    for i in range(2000):
        key = RequestKey({"api": "openai", "model": "m", "prompt": str(i)}, f"{i:032d}")
        store.put(key, {"text": str(i)}, "r", float(i))
        if i == 999:
            store.flush(wait=True)
    store.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_writer_loses_only_unsaved_answers(tmp_path: Path) -> None:
    killed = multiprocessing.get_context("spawn").Process(
        target=_killed_mid_write, args=(str(tmp_path),)
    )
    killed.start()
    killed.join(60)
    assert killed.exitcode == -signal.SIGKILL
    with sqlite3.connect(tmp_path / "responses.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (saved,) = db.execute("SELECT count(*) FROM entries").fetchone()
    assert 1000 <= saved <= 2000
    store = CacheStore(tmp_path)  # and the file goes on being used
    entry = store.get(f"{999:032d}", 0)
    assert entry is not None and entry.answer == {"text": "999"}
    store.close()
