"""Issue 10.5: a full disk is a clear stop.

One line on the console (what, where, how much space), exit 1, ``run.json`` ends
``failed`` and is never replaced by an empty file, every line already written is whole, and
a resume once there is room finishes with no duplicates. The disk is a real tmpfs of a few
hundred KB (the test is skipped where mounting is not permitted); the writers' own
behaviour on ENOSPC is checked with an injected failure as well.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.output.run_folder import RunFolder
from tests.helpers import ROOT, read_jsonl, runner_env, write_jsonl
from tests.plain_server import PlainServer, plain_server

ANSWER = "x" * 16_000  # 40 answers of 16 KB cannot fit on a 256 KB disk


def _mount(folder: Path, size: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 260 KB tmpfs, unmounted after the test.

    Sized so the results fill it with a page or two still free for the final run.json:
    what the run folder holds besides results (its config, run.json) moves that by a page
    when settings are added (the cache's three took 256 KB to 4 KB free, too few).
    """
    folder = tmp_path / "small"
    folder.mkdir()
    _mount(folder, "260k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _run(
    tmp_path: Path, server: PlainServer, outputs: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "experiment=e", *args,
         f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={outputs}",
         f"limits_dir={tmp_path / 'limits'}", "progress=off", "index=false",
         "max_queries=60000", "max_concurrency=4"],
        cwd=ROOT, env=runner_env(server.url), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _records(count: int, pad: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": f"q{i}", "pad": "y" * pad}
        for i in range(count)
    ]


def _one_clear_line(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # run.json may not fit either (how full the disk is decides): that has its own word.
    lines = [line for line in lines if "could not be updated either" not in line]
    assert len(lines) <= 3, done.stderr  # the stop, and at most a word about the run
    clear = [line for line in lines if what in line and "disk is full" in line]
    assert clear and "bytes free" in clear[0], done.stderr


@pytest.mark.integration
def test_a_disk_that_fills_with_results_stops_clearly_and_resumes(
    tmp_path: Path, small_disk: Path
) -> None:
    write_jsonl(tmp_path / "experiments" / "e.jsonl", _records(40))
    with plain_server(answer=ANSWER) as server:
        full = _run(tmp_path, server, small_disk, "run_id=r1")
        _one_clear_line(full, "could not write results")
        folder = RunFolder(small_disk / "e" / "r1")
        meta = json.loads(folder.meta.read_text())  # never empty, never half written
        # "failed" when the disk had room for it; else the old one, and the console says so.
        assert meta["status"] == "failed" or "could not be updated either" in full.stderr
        assert not list(folder.path.glob("*.tmp"))
        raw = folder.completed.read_bytes()
        assert raw.endswith(b"\n")
        written = [json.loads(line) for line in raw.splitlines()]  # every line whole
        assert 0 < len(written) < 40
        still_full = _run(tmp_path, server, small_disk, "resume=r1")
        _one_clear_line(still_full, "could not write results (repairing them to resume)")
        assert folder.completed.read_bytes() == raw  # untouched by the refused resume
        subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
        resumed = _run(tmp_path, server, small_disk, "resume=r1")
    assert resumed.returncode == 0, resumed.stderr
    ids = [line["id"] for line in read_jsonl(folder.completed)]
    assert sorted(ids) == sorted(f"p{i}" for i in range(40))  # each once: no duplicates
    assert json.loads(folder.meta.read_text())["status"] == "completed"


@pytest.mark.integration
def test_a_disk_that_fills_while_copying_the_input_stops_clearly(
    tmp_path: Path, small_disk: Path
) -> None:
    write_jsonl(tmp_path / "experiments" / "e.jsonl", _records(100, pad=4_000))  # ~400 KB
    with plain_server() as server:
        done = _run(tmp_path, server, small_disk, "run_id=r1")
    _one_clear_line(done, "could not write the copy of the input")
    assert server.requests == []  # nothing sent
    copy = small_disk / "e" / "r1" / "input" / "e.jsonl"
    assert not copy.exists()  # no partial copy left behind


def _index(outputs: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.index", "--outputs-dir", str(outputs), *flags],
        cwd=ROOT, env=runner_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.integration
def test_a_disk_that_fills_with_the_index_says_so_and_indexes_once_there_is_room(
    tmp_path: Path, small_disk: Path
) -> None:
    """The index hitting ENOSPC was 'unexpected FatalException ... please report it' (a run
    whose results were all written exited 1 on it), or a failed COMMIT sent the file down the
    bad-line pass, whose ROLLBACK then raised 'unexpected TransactionException'.
    """
    write_jsonl(tmp_path / "experiments" / "e.jsonl", _records(400))
    with plain_server() as server:
        assert _run(tmp_path, server, tmp_path / "outputs", "run_id=r1").returncode == 0
    run = small_disk / "e" / "r1"
    run.mkdir(parents=True)
    for name in ("completed.jsonl", "run.json"):  # ~100 KB: the index needs more than is left
        (run / name).write_bytes((tmp_path / "outputs" / "e" / "r1" / name).read_bytes())
    for flags in ((), ("--rebuild",)):
        full = _index(small_disk, *flags)
        assert full.returncode == 1, full.stderr
        assert "unexpected" not in full.stderr and "Traceback" not in full.stderr
        (line,) = full.stderr.splitlines()
        assert "could not write the index" in line and "the disk is full" in line
        assert "No space left on device" in line and "results are intact" in line
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    again = _index(small_disk)
    assert again.returncode == 0, again.stderr
    assert "400 response(s) added" in again.stderr + again.stdout  # no line taken for bad


@pytest.mark.integration
def test_a_full_disk_under_the_shared_limits_stops_in_one_line(
    tmp_path: Path, small_disk: Path
) -> None:
    """It stopped with 'ERROR ... sending failed', a traceback and 'the run stopped: [Errno 28]
    No space left on device', naming no file."""
    write_jsonl(tmp_path / "experiments" / "e.jsonl", _records(5))
    _fill(small_disk)
    argv = [sys.executable, "-m", "runner", "experiment=e", "max_queries=600", "progress=off",
            f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'out'}",
            "index=false"]  # fmt: skip
    with plain_server() as server:
        full = subprocess.run([*argv, f"limits_dir={small_disk}"], cwd=ROOT,
                              env=runner_env(server.url), capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        _one_clear_line(full, "could not write the shared limit state")
        (run,) = (tmp_path / "out" / "e").iterdir()
        assert json.loads((run / "run.json").read_text())["status"] == "failed"
        resumed = subprocess.run([*argv, f"resume={run.name}", f"limits_dir={tmp_path}"],
                                 cwd=ROOT, env=runner_env(server.url), capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(line["id"] for line in read_jsonl(run / "completed.jsonl")) == [
        f"p{i}" for i in range(5)
    ]


def _fill(disk: Path) -> None:
    with (disk / "fill").open("ab", buffering=0) as fill, contextlib.suppress(OSError):
        while True:  # until the disk is full
            fill.write(b"x" * 4096)


@pytest.mark.integration
def test_a_disk_full_before_the_run_starts_stops_in_one_line(
    tmp_path: Path, small_disk: Path
) -> None:
    """It was 'unexpected OSError: [Errno 28] No space left on device ... please report it'
    (the run's lock file), and left an empty run folder behind."""
    write_jsonl(tmp_path / "experiments" / "e.jsonl", _records(3))
    _fill(small_disk)
    with plain_server() as server:
        done = _run(tmp_path, server, small_disk, "run_id=r1")
    _one_clear_line(done, "could not write the run's lock file")
    assert server.requests == []
    assert not (small_disk / "e" / "r1").exists()
