"""A ``.env`` read at start-up (python-dotenv) and prompto's ``-mqj`` limits file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import read_jsonl, write_jsonl
from tests.providers_support import PROVIDER_ENV_PREFIXES, llmock_bodies, unique_model

ROOT = Path(__file__).resolve().parents[2]


SECRET = "dotenv-secret-value-123"


def _run(
    tmp_path: Path, env: dict[str, str], *args: str, module: str = "runner"
) -> subprocess.CompletedProcess[str]:
    """The command line run from ``tmp_path`` (where a .env is looked for)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            module,
            "experiment=exp",
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"limits_dir={tmp_path / 'limits'}",
            "progress=off",
            "index=false",
            *args,
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    env.update(extra)
    return env


def _experiment(tmp_path: Path, model: str) -> None:
    records = [{"id": i, "api": "openai", "model_name": model, "prompt": f"hi {i}"} for i in (0, 1)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)


@pytest.mark.integration
def test_dot_env_in_the_working_folder_is_read_and_never_logged(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-dotenv")
    _experiment(tmp_path, model)
    (tmp_path / ".env").write_text(
        f"# keys for prompto\nOPENAI_API_KEY={SECRET}\n"
        f'export OPENAI_BASE_URL="{llmock_server.url}/v1"\n'
    )
    out = _run(tmp_path, _clean_env())
    assert out.returncode == 0, out.stderr
    assert f"Read {tmp_path / '.env'}: set 2 variable(s)" in out.stderr
    assert len(llmock_bodies(llmock_server, model)) == 2
    logged = out.stdout + out.stderr
    for path in (tmp_path / "outputs").rglob("*"):
        if path.is_file():
            logged += path.read_text(errors="replace")
    assert SECRET not in logged


@pytest.mark.integration
def test_the_environment_wins_and_env_file_picks_another(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-envwins")
    _experiment(tmp_path, model)
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\n")
    other = tmp_path / "conf" / "keys.env"
    other.parent.mkdir()
    other.write_text(f"OPENAI_API_KEY={SECRET}\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n")
    env = _clean_env(OPENAI_BASE_URL=f"{llmock_server.url}/v1")
    out = _run(tmp_path, env, f"env_file={other}")
    assert out.returncode == 0, out.stderr
    assert f"Read {other}: set 1 variable(s); 1 already in the environment kept" in out.stderr
    assert str(tmp_path / ".env") not in out.stderr
    lines = read_jsonl(next((tmp_path / "outputs").rglob("completed*.jsonl")))
    assert {line["status"] for line in lines} == {"ok"}


def test_an_unreadable_env_line_or_missing_env_file_is_exit_2(tmp_path: Path) -> None:
    _experiment(tmp_path, "gpt-x")
    (tmp_path / ".env").write_text("GOOD=1\nthis line is not a setting\n")
    out = _run(tmp_path, _clean_env())
    assert out.returncode == 2
    assert f"{tmp_path / '.env'}:2: cannot read this line of the env file" in out.stderr
    assert "Traceback" not in out.stderr
    out = _run(tmp_path, _clean_env(), f"env_file={tmp_path / 'gone.env'}", module="runner.check")
    assert out.returncode == 2 and "gone.env: no such file" in out.stderr
    assert not (tmp_path / "outputs").exists()


def test_bad_max_queries_json_on_the_command_line_is_exit_2(tmp_path: Path) -> None:
    _experiment(tmp_path, "gpt-x")
    limits = tmp_path / "limits.json"
    limits.write_text('"just a string"')
    out = _run(tmp_path, _clean_env(OPENAI_API_KEY="k"), f"max_queries_json={limits}")
    assert out.returncode == 2, out.stderr
    assert f"{limits}: must be a JSON object" in out.stderr
    assert not list((tmp_path / "outputs").rglob("completed*.jsonl"))
