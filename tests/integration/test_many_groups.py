"""Issue 23 item 11: many groups share one connection pool and bounded descriptors.

100,000 groups (each prompt its own ``group``) gave "Too many open files" on 60% of the
prompts: every group opened its own connections, unbounded. Here 5,000 groups run under
``ulimit -n 256`` against aimock: every prompt is answered, none fails for descriptors.
"""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, runner_argv, runner_env

pytestmark = pytest.mark.integration
GROUPS = 5_000
FD_LIMIT = 256


@pytest.fixture(scope="module")
def aimock_ok(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    folder = tmp_path_factory.mktemp("fixtures")
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "ok"}}]}
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    with servers.aimock(folder) as server:
        yield server


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_five_thousand_groups_under_a_low_fd_limit(
    tmp_path: Path, aimock_ok: servers.Server
) -> None:
    experiment = tmp_path / "experiments" / "many.jsonl"
    experiment.parent.mkdir()
    with experiment.open("w") as out:
        for i in range(GROUPS):
            record = {"id": i, "api": "openai", "model_name": "gpt-4o", "prompt": f"p{i}"}
            out.write(json.dumps({**record, "group": f"g{i}"}) + "\n")
    argv = runner_argv(tmp_path, "experiment=many", "parallel=true", "cache=off")
    done = subprocess.run(
        argv,
        env=runner_env(aimock_ok.url, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_low_fd_limit,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = (tmp_path / "outputs" / "many").glob("*/completed.jsonl")
    lines = read_jsonl(results)
    assert len(lines) == GROUPS
    assert sum(line["status"] == "ok" for line in lines) == GROUPS, [
        line.get("error") for line in lines if line["status"] != "ok"
    ][:3]
    assert "Too many open files" not in done.stderr
