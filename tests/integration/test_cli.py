"""The command line as a user runs it: exit statuses, run folders, sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env.update(env or {})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            *args,
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "progress=off",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=120,
    )


def test_help_and_cfg_job_work_as_hydras(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0 and "Configuration groups" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "runner", "--cfg", "job", "experiment=demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0 and "max_queries:" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("experiment=exp", "max_queris=3"), "max_queris"),
        (("experiment=exp", "+max_querys=3"), "max_querys is not a runner setting"),
        (("experiment=exp", "+max_querys=3"), "did you mean max_queries?"),
        (("experiment=exp", "max_querys=3"), "did you mean max_queries?"),
        (("experiment=exp", "max_queries=fast"), "max_queries"),
        (("experiment=exp", "max_queries=0"), "max_queries must be a positive"),
        (("experiment=ghost",), "No experiment 'ghost'"),
        (("max_queries=3",), "No experiment chosen"),
    ],
)
def test_bad_config_exits_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"prompt": "p", "api": "openai"}])
    out = _cli(tmp_path, *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr + out.stdout
    assert "To append to your config" not in out.stderr + out.stdout
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.jsonl"))


def test_bad_records_exit_2_naming_every_line_and_nothing_is_sent(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"prompt": "fine", "api": "openai", "model_name": "m"},
            {"api": "openai", "model_name": "m"},
            {"prompt": "p", "api": "martian"},
            {"prompt": "p"},
        ],
    )
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    out = _cli(tmp_path, "experiment=exp", env=env)
    assert out.returncode == 2
    assert "exp.jsonl:2: missing field 'prompt'" in out.stderr
    assert "exp.jsonl:3: unknown api 'martian'" in out.stderr
    assert "exp.jsonl:4: missing field 'api'" in out.stderr
    assert "nothing was sent" in out.stderr
    assert not list((tmp_path / "outputs").rglob("completed.jsonl"))


def test_missing_key_is_bad_input(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"prompt": "p", "api": "openai", "model_name": "gpt-x"}],
    )
    out = _cli(tmp_path, "experiment=exp")
    assert out.returncode == 2
    assert "exp.jsonl:1: no OpenAI API key" in out.stderr


def test_run_writes_its_folder_and_exits_0(tmp_path: Path, llmock_server: servers.Server) -> None:
    source = write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": i, "prompt": f"p{i}", "api": "openai", "model_name": "gpt-cli", "extra": i}
            for i in range(3)
        ],
    )
    before = source.read_text()
    secret = "sk-test-SECRET-4711"
    env = {"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    out = _cli(tmp_path, "experiment=exp", "max_queries=600", "csv=true", env=env)
    assert out.returncode == 0, out.stderr
    assert "3 ok, 0 error" in out.stdout
    assert source.read_text() == before  # the user's file is untouched
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    assert (run_dir / "input" / "exp.jsonl").read_text() == before
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert (run_dir / "run.log").read_text()
    assert (run_dir / "results.csv").exists()
    lines = read_jsonl(run_dir / "completed.jsonl")
    assert sorted(line["extra"] for line in lines) == [0, 1, 2]
    for line in lines:
        assert line["run_id"] == run_dir.name
        for key in (
            "response",
            "status",
            "error",
            "attempts",
            "timestamp_sent",
            "timestamp_received",
            "latency_s",
            "usage",
        ):
            assert key in line
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["counts"] == {"ok": 3, "error": 0}
    for path in (tmp_path / "outputs").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_sweep_runs_each_model_in_its_own_folder(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": i, "prompt": f"p{i}", "api": "openai"} for i in range(2)],
    )
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    out = _cli(
        tmp_path,
        "-m",
        "experiment=exp",
        "model=gpt_4o_mini,gpt_4_1_nano",
        "max_queries=600",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    runs = sorted((tmp_path / "outputs" / "exp").iterdir())
    assert len(runs) == 2
    models = {read_jsonl(r / "completed.jsonl")[0]["model_name"] for r in runs}
    assert models == {"gpt-4o-mini", "gpt-4.1-nano"}


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_sweep_exit_status_is_the_worst_of_its_jobs(
    tmp_path: Path, llmock_server: servers.Server, launcher: str
) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the joblib extra")
    from tests.helpers import post_json

    post_json(
        f"{llmock_server.url}/_llmock/scenario",
        {
            "behaviors": [
                {"type": "fail", "status": 400, "times": 1, "match": {"model": "gpt-4.1-nano"}}
            ]
        },
    )
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"id": 0, "prompt": "p", "api": "openai"}])
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    out = _cli(
        tmp_path,
        "-m",
        "experiment=exp",
        "model=gpt_4o_mini,gpt_4_1_nano",
        f"hydra/launcher={launcher}",
        "max_queries=600",
        env=env,
    )
    assert out.returncode == 1, out.stderr


def test_csv_experiment_runs_with_folded_parameters(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "sheet.csv").write_text(
        "id,prompt,api,model_name,parameters-max_tokens,parameters-temperature,topic\n"
        "a,Hello there,openai,gpt-csv,12,0.5,greeting\n"
        'b,"Two, with a comma",openai,gpt-csv,8,,maths\n'
    )
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    out = _cli(tmp_path, "experiment=sheet", "max_queries=600", "csv=true", env=env)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "outputs" / "sheet").iterdir()
    assert (run_dir / "input" / "sheet.csv").exists()
    lines = {line["id"]: line for line in read_jsonl(run_dir / "completed.jsonl")}
    assert lines["a"]["parameters"] == {"max_tokens": 12, "temperature": 0.5}
    assert lines["b"]["parameters"] == {"max_tokens": 8}
    assert lines["b"]["topic"] == "maths" and lines["b"]["status"] == "ok"
    header = (run_dir / "results.csv").read_text().splitlines()[0]
    assert "parameters" in header and "usage" in header
